"""QR and Poste Data Matrix payloads match pagoPA's vectors; the symbols decode back."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hub.printing import codes
from hub.printing.data import document_of
from tests.hub.printing.conftest import vectors

# --- QR payloads ------------------------------------------------------------------------------


def test_qr_payload_has_the_five_pagopa_fields():
    assert (
        codes.qr_payload("300715700000000032", "00085240950", 12_345)
        == "PAGOPA|002|300715700000000032|00085240950|12345"
    )


def test_one_cent_is_written_with_two_digits_as_in_pagopa_examples():
    assert codes.qr_payload("322201151398574181", "81005750021", 1).endswith("|01")


def test_every_accepted_qr_vector_is_rebuilt_exactly():
    rows = [
        r for r in vectors("qr_payloads.csv") if r["io_pagopa_commons_rule_verdict"] == "accept"
    ]
    assert rows
    for row in rows:
        _, _, notice, ec, amount = row["payload"].split("|")
        rebuilt = codes.qr_payload(notice, ec, int(amount))
        # pagoPA prints cents without padding; a vector written with leading zeros means the same
        assert rebuilt.rsplit("|", 1)[0] == row["payload"].rsplit("|", 1)[0]
        assert int(rebuilt.rsplit("|", 1)[1]) == int(amount)


@pytest.mark.parametrize(
    ("notice", "ec", "cents", "code"),
    [
        ("12345678901234567X", "12345678901", 100, "notice_number"),
        ("30071570000000003", "12345678901", 100, "notice_number"),
        ("300715700000000032", "X2345678901", 100, "ec_fiscal_code"),
        ("300715700000000032", "123456789012", 100, "ec_fiscal_code"),
        ("300715700000000032", "12345678901", 0, "amount"),
        ("300715700000000032", "12345678901", 1.5, "amount"),
        ("300715700000000032", "12345678901", codes.MAX_CODE_CENTS + 1, "amount"),
    ],
)
def test_malformed_qr_fields_are_refused_naming_the_field(notice, ec, cents, code):
    with pytest.raises(codes.NoticeCodeError) as err:
        codes.qr_payload(notice, ec, cents)
    assert err.value.code == code


# --- Data Matrix payloads ---------------------------------------------------------------------


def _dm(**overrides):
    args = dict(
        notice_number="300715700000000032",
        postal_account="000016302093",
        amount_cents=1,
        ec_fiscal_code="00085240950",
        debtor_fiscal_code="BSCMTT83A12L719R",
        debtor_name="Name Surname",
        subject="test",
    )
    return codes.datamatrix_payload(**{**args, **overrides})


def test_datamatrix_payload_matches_the_io_app_vector_field_by_field():
    row = next(r for r in vectors("poste_datamatrix.csv") if r["vector"] == "io-app valid")
    ours, theirs = _dm(), row["payload"]
    assert len(ours) == 256
    assert ours[:93] == theirs[:93]  # every fixed-offset field
    assert ours[15:33] == row["notice_number[15:33]"]
    assert ours[49:59] == row["amount_cents[49:59]"]
    assert ours[66:77] == row["ec_fiscal_code[66:77]"]
    assert ours[77:93] == row["debtor_cf[77:93]"]
    # the vector's name field is one short (39 wide); the free-text fields agree once stripped
    assert ours[93:133].strip() == theirs[93:132].strip()
    assert ours[133:243].strip() == theirs[132:242].strip()
    assert ours.endswith(" " * 12 + "A") and theirs.endswith("A")


def test_datamatrix_payload_follows_the_layout_file():
    payload = _dm(debtor_name="Àngela Dell'Òlio " * 5, subject="Servizio\tmensa\nscolastica")
    for field in vectors("poste_datamatrix_layout.csv"):
        value = payload[int(field["start"]) : int(field["end"])]
        assert len(value) == int(field["length"]), field["field"]
        fixed = field["fixed_value_or_pattern"]
        if fixed and not fixed.startswith("[") and fixed.strip():
            assert value == fixed, field["field"]
        if fixed.startswith("[0-9]"):
            assert value.isdigit(), field["field"]
    assert payload.isascii()
    assert payload[93:133] == "Angela Dell'Olio Angela Dell'Olio Angela"
    assert payload[133:243].rstrip() == "Servizio mensa scolastica"


def test_postal_account_comes_from_the_postal_iban_or_a_bare_account_number():
    assert codes.postal_account_number("IT57N0760103200000016302093") == "000016302093"
    assert codes.postal_account_number("16302093") == "000016302093"
    with pytest.raises(codes.NoticeCodeError):
        codes.postal_account_number("IT60X0542811101000000123456X")


def test_no_datamatrix_where_the_ente_has_no_postal_account():
    from tests.hub.printing.conftest import ente, option, position

    doc = document_of(ente(postal=False), position(option("300715700000000032", 100)))
    assert doc.first.datamatrix_payload is None
    assert doc.first.qr_payload.startswith("PAGOPA|002|")


# --- symbols decode back ----------------------------------------------------------------------


def _decoders():
    image = pytest.importorskip("PIL.Image", reason="Pillow is in the test extra")
    try:
        from pylibdmtx import pylibdmtx
        from pyzbar import pyzbar
    except ImportError as exc:  # the shared libraries are missing
        pytest.skip(f"libdmtx/libzbar not installed ({exc}); run scripts/ensure-system-packages.sh")
    return image, pyzbar, pylibdmtx


def test_qr_png_decodes_back_to_its_payload_with_version_4_and_ecc_m(single):
    image, pyzbar, _ = _decoders()
    payload = document_of(*single).first.qr_payload
    decoded = pyzbar.decode(image.open(io.BytesIO(codes.qr_png(payload))))
    assert [d.data.decode() for d in decoded] == [payload]
    assert len(codes.qr_matrix(payload)) == 33  # version 4
    import segno

    assert segno.make_qr(payload, error="m", version=4, boost_error=False).error == "M"


def test_qr_svg_is_an_svg_of_the_same_symbol(single):
    payload = document_of(*single).first.qr_payload
    svg = codes.qr_svg(payload)
    assert svg.startswith(b"<?xml") and b"<svg" in svg


def test_datamatrix_png_and_svg_decode_back_to_the_256_characters(single):
    image, _, pylibdmtx = _decoders()
    payload = document_of(*single).first.datamatrix_payload
    assert payload is not None
    decoded = pylibdmtx.decode(image.open(io.BytesIO(codes.datamatrix_png(payload))))
    assert [d.data.decode() for d in decoded] == [payload]
    assert b"<path" in codes.datamatrix_svg(payload)


# --- pagoPA's own decoder (npm @pagopa/io-pagopa-commons) -------------------------------------

DECODE_JS = """
const { PaymentNoticeQrCodeFromString } = require("@pagopa/io-pagopa-commons/lib/pagopa");
const out = JSON.parse(require("fs").readFileSync(0, "utf8")).map((s) => {
  const r = PaymentNoticeQrCodeFromString.decode(s);
  return r._tag === "Right" ? { ok: true, value: r.right } : { ok: false };
});
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="session")
def pagopa_commons(tmp_path_factory) -> Path:
    """@pagopa/io-pagopa-commons@4 installed once into a cache directory."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        pytest.skip("npm/node not installed: cannot run pagoPA's QR decoder")
    cache = Path.home() / ".cache" / "payhub-npm" / "io-pagopa-commons-4"
    if not (cache / "node_modules" / "@pagopa" / "io-pagopa-commons").exists():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(cache),
                "@pagopa/io-pagopa-commons@4",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.skip(f"npm install @pagopa/io-pagopa-commons@4 failed: {done.stderr[-300:]}")
    return cache


def _pagopa_decode(cache: Path, payloads: list[str]) -> list[dict]:
    done = subprocess.run(
        ["node", "-e", DECODE_JS],
        input=json.dumps(payloads),
        cwd=cache,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_pagopa_decoder_accepts_our_payloads_with_the_same_fields(pagopa_commons, plan):
    notices = document_of(*plan).notices
    extra = [
        codes.qr_payload("300715700000000032", "77777777777", cents)
        for cents in (1, 99, 100, codes.MAX_CODE_CENTS)
    ]
    payloads = [n.qr_payload for n in notices] + extra
    results = _pagopa_decode(pagopa_commons, payloads)
    assert all(r["ok"] for r in results), list(zip(payloads, results, strict=True))
    first = results[0]["value"]
    assert first["identifier"] == "PAGOPA" and first["version"] == "002"
    number = first["paymentNoticeNumber"]
    assert (
        number["auxDigit"] + number["segregationCode"] + number["iuv13"] + number["checkDigit"]
    ) == notices[0].notice_number
    assert first["organizationFiscalCode"] == notices[0].creditor.fiscal_code
    assert int(first["amount"]) == notices[0].amount_cents


def test_pagopa_decoder_agrees_with_the_vector_verdicts(pagopa_commons):
    rows = vectors("qr_payloads.csv")
    results = _pagopa_decode(pagopa_commons, [r["payload"] for r in rows])
    for row, result in zip(rows, results, strict=True):
        assert result["ok"] == row["io_pagopa_commons_rule_verdict"].startswith("accept"), row


# --- speed choices: the QR mask scored on bitboards, libdmtx with a pure-Python fallback ------


def _random_payloads(n: int) -> list[tuple[str, str]]:
    import random

    rng = random.Random(5)
    names = ["Mario Rossi", "Àngela Dell'Òlio", "società agricola la collina", "ZZ TOP SRL"]
    out = []
    for _ in range(n):
        notice, ec = f"3{rng.randrange(10**17):017d}", f"{rng.randrange(10**11):011d}"
        cents = rng.randrange(1, codes.MAX_CODE_CENTS + 1)
        out.append(
            (
                codes.qr_payload(notice, ec, cents),
                _dm(
                    notice_number=notice,
                    ec_fiscal_code=ec,
                    amount_cents=cents,
                    debtor_name=rng.choice(names) * rng.randint(1, 3),
                    subject=rng.choice(names).lower() * rng.randint(1, 6),
                ),
            )
        )
    return out


def test_qr_symbols_use_the_iso_lowest_penalty_mask_and_decode_back_across_payloads():
    import segno

    image, pyzbar, _ = _decoders()
    for qr, _ in _random_payloads(40):
        # segno without a mask argument evaluates all eight (ISO/IEC 18004 7.8.3.1)
        iso = segno.make_qr(qr, error="m", version=4, mode="byte", boost_error=False)
        assert codes._qr(qr).mask == iso.mask
        assert codes._qr(qr).matrix == iso.matrix
        decoded = pyzbar.decode(image.open(io.BytesIO(codes.qr_png(qr, scale=3))))
        assert [d.data.decode() for d in decoded] == [qr]


def test_datamatrix_from_libdmtx_and_from_the_pure_python_fallback_decode_back():
    image, _, pylibdmtx = _decoders()
    assert codes._libdmtx is not None  # libdmtx is installed wherever the decoder is
    for _, payload in _random_payloads(12):
        for matrix in (codes._libdmtx_matrix(payload.encode()), codes._ppf_matrix(payload)):
            png = codes.matrix_png(matrix, scale=3, border=2)
            decoded = pylibdmtx.decode(image.open(io.BytesIO(png)))
            assert [d.data.decode() for d in decoded] == [payload]
            assert len(matrix) == len(matrix[0]) <= 52


def test_without_libdmtx_the_pure_python_encoder_is_used(single, monkeypatch):
    payload = document_of(*single).first.datamatrix_payload
    monkeypatch.setattr(codes, "_libdmtx", None)
    codes.datamatrix_matrix.cache_clear()
    try:
        assert codes.datamatrix_matrix(payload) == codes._ppf_matrix(payload)
    finally:
        codes.datamatrix_matrix.cache_clear()
