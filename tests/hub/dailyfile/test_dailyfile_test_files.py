"""Test receipts in the daily file: an Ente or service active in test only gets its test
receipts in a test file of their own (TEST in its names, an eighth header field, ``"test":
true`` in the manifest), never mixed with real payments; in production, test receipts are in
no file; a test receipt's refund steps follow it; the e-mail says TEST."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest

from hub import refunds
from hub.dailyfile import delivery, files, layout, targets
from hub.models import DailyFile, DailyFileDelivery
from tests.factories import make_ente
from tests.hub.dailyfile.data import DAY, add_receipt, at, paid_option, service

pytestmark = pytest.mark.pg


def members(path: str) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def receipts_in(file: DailyFile) -> set[bytes]:
    return {data for name, data in members(file.path).items() if name.startswith("RT/")}


def trial(db, ente, svc, hour, cents=1000):
    """A test receipt (receipt.test, as the receipt path marks it for an Ente or service in
    test only, or through a test station)."""
    receipt = add_receipt(
        db, ente, paid_option(db, ente, svc, "1.00"), paid_at=at(hour), cents=cents
    )
    receipt.test = True
    db.flush()
    return receipt


def built(db, ente, tmp_path, day=DAY) -> dict[tuple[str, bool], DailyFile]:
    return {(f.service_code, f.test): f for f, _ in files.build_day(db, ente, day, tmp_path)}


def test_an_ente_in_test_gets_its_test_receipts_in_a_file_marked_test(db, tmp_path):
    ente = make_ente(db)
    ente.production = False
    mensa = service(db, ente, "MENSA")
    receipts = [trial(db, ente, mensa, 9, 1250), trial(db, ente, mensa, 11, 700)]
    assert ente.id in files.enti_of_day(db, DAY)
    made = built(db, ente, tmp_path)
    assert list(made) == [("MENSA", True)]
    file = made["MENSA", True]
    assert file.test and file.version == 1
    assert (file.payments, file.total_cents) == (2, 1950)
    assert receipts_in(file) == {r.raw_xml.encode() for r in receipts}
    stem = f"{ente.fiscal_code}_MENSA_20261205_TEST"
    assert file.file_name.startswith(f"{stem}_v1_") and file.sha256[:16] in file.file_name
    content = members(file.path)
    assert list(content)[:2] == [f"PAGAMENTI_{stem}.txt", f"RICEVUTE_{stem}.csv"]
    header = content[f"PAGAMENTI_{stem}.txt"].decode().split("\r\n")[0]
    assert header.split("|") == [
        "H", "DF01", ente.fiscal_code, ente.name, "MENSA", "2026-12-05", "1", "TEST",
    ]  # fmt: skip
    manifest = json.loads(content["manifest.json"])
    assert manifest["test"] is True and manifest["payments"] == 2
    assert list(manifest)[:6] == ["layout", "ente", "service", "business_date", "version", "test"]


def test_a_service_in_test_gets_a_test_file_and_real_payments_never_share_one(db, tmp_path):
    """MENSA in test only, TARI live: MENSA's test receipts make a test file, TARI's real ones
    a real file; a test receipt of the live TARI (a test station) is in neither."""
    ente = make_ente(db)
    mensa, tari = service(db, ente, "MENSA"), service(db, ente, "TARI")
    mensa.production = False
    mensa_trial = trial(db, ente, mensa, 9)
    tari_real = add_receipt(db, ente, paid_option(db, ente, tari, "50.00"), paid_at=at(10))
    tari_trial = trial(db, ente, tari, 11)
    generic_trial = trial(db, ente, None, 12)  # no service: the Ente's mode, live
    made = built(db, ente, tmp_path)
    assert sorted(made) == [("MENSA", True), ("TARI", False)]
    assert receipts_in(made["MENSA", True]) == {mensa_trial.raw_xml.encode()}
    assert receipts_in(made["TARI", False]) == {tari_real.raw_xml.encode()}
    real = made["TARI", False]
    assert not real.test and "TEST" not in real.file_name
    header = members(real.path)[f"PAGAMENTI_{ente.fiscal_code}_TARI_20261205.txt"]
    assert len(header.decode().split("\r\n")[0].split("|")) == 7  # a real header, as always
    assert "test" not in json.loads(members(real.path)["manifest.json"])
    everything = receipts_in(made["MENSA", True]) | receipts_in(real)
    assert tari_trial.raw_xml.encode() not in everything
    assert generic_trial.raw_xml.encode() not in everything


def test_a_real_file_is_byte_for_byte_what_it_was_before_test_files(db, tmp_path):
    """The same payments written with the layout's defaults (no test flag) and through a
    live Ente's build give the same bytes: test files changed nothing for real ones."""
    ente = make_ente(db)
    add_receipt(db, ente, None, paid_at=at(9), cents=1200)
    ((file, _),) = files.build_day(db, ente, DAY, tmp_path / "a")
    again = layout.write_zip(
        tmp_path / "b" / "same.zip",
        layout.FileHeader(ente.fiscal_code, ente.name, "GENERICO", DAY, 1),
        files.payments(db, ente.id, "GENERICO", DAY),
        files.receipts_xml(db),
    )
    assert again.sha256 == file.sha256


def test_going_live_leaves_the_test_file_and_the_real_one_takes_the_next_version(db, tmp_path):
    ente = make_ente(db)
    ente.production = False
    test_receipt = trial(db, ente, None, 9)
    ((v1, _),) = files.build_day(db, ente, DAY, tmp_path)
    assert v1.test and v1.version == 1
    # live from the afternoon: a real payment; the morning's test receipt is in no file now
    ente.production = True
    real = add_receipt(db, ente, None, paid_at=at(15), cents=4200)
    ((v2, new),) = files.build_day(db, ente, DAY, tmp_path)
    assert new and not v2.test and v2.version == 2 and "TEST" not in v2.file_name
    assert receipts_in(v2) == {real.raw_xml.encode()}
    assert Path(v1.path).exists() and receipts_in(v1) == {test_receipt.raw_xml.encode()}
    # a re-run builds nothing; the test file is found by its version, the newest is the real
    assert files.build_day(db, ente, DAY, tmp_path) == [(v2, False)]
    assert files.find(db, ente.id, DAY, "GENERICO", 1) is v1
    assert files.find(db, ente.id, DAY, "GENERICO") is v2
    listed = files.summaries(db, ente.id, since=DAY, until=DAY)
    assert [(r["file"].version, r["file"].test) for r in listed] == [(2, False), (1, True)]


def test_an_ente_in_test_with_a_target_and_no_payment_gets_an_empty_test_file(db, tmp_path):
    ente = make_ente(db)
    ente.production = False
    targets.add_target(db, ente, "email", recipients=["ragioneria@comune.example.it"])
    ((file, new),) = files.build_day(db, ente, DAY, tmp_path)
    assert new and file.test and file.payments == 0 and "_TEST_v1_" in file.file_name


def test_a_late_test_receipt_of_an_ente_in_test_names_its_day_for_the_nights_run(db):
    ente = make_ente(db)
    ente.production = False
    late = trial(db, ente, None, 23)
    late.received_at = at(2, 0, DAY + dt.timedelta(days=1))
    live = make_ente(db)
    late_live = trial(db, live, None, 23)
    late_live.received_at = late.received_at
    db.flush()
    next_day = DAY + dt.timedelta(days=1)
    assert files.late_days(db, ente.id, next_day) == [DAY]
    assert files.late_days(db, live.id, next_day) == []
    enti = files.enti_of_day(db, next_day)
    assert ente.id in enti and live.id not in enti


def test_a_test_receipts_refund_steps_go_in_the_test_file_only(db, tmp_path):
    ente = make_ente(db)
    mensa = service(db, ente, "MENSA")
    mensa.production = False
    test_receipt = trial(db, ente, mensa, 9)
    real = add_receipt(db, ente, paid_option(db, ente, None, "20.00"), paid_at=at(9, 30))
    for receipt, hour in ((test_receipt, 10), (real, 11)):
        refunds.open_case(
            db,
            ente_id=ente.id,
            reason="double_payment",
            amount_cents=receipt.payment_amount_cents,
            by="hub",
            option_id=receipt.option_id,
            receipt_pk=receipt.id,
            now=at(hour),
        )
    made = built(db, ente, tmp_path)
    assert sorted(made) == [("GENERICO", False), ("MENSA", True)]

    def refund_receipts(file: DailyFile) -> list[str]:
        content = members(file.path)
        name = next(n for n in content if n.startswith("RIMBORSI_"))
        rows = [line.split("|") for line in content[name].decode().split("\r\n")[1:-2]]
        return [row[8] for row in rows]

    assert refund_receipts(made["MENSA", True]) == [test_receipt.receipt_id]
    assert refund_receipts(made["GENERICO", False]) == [real.receipt_id]
    # in production, the test receipt's refund step is in no file at all
    mensa.production = True
    db.flush()
    assert files.services_of_day(db, ente.id, DAY, test=True) == []


def test_a_test_file_is_delivered_and_its_parcel_says_test(db, tmp_path):
    ente = make_ente(db)
    ente.production = False
    trial(db, ente, None, 9)
    targets.add_target(db, ente, "email", recipients=["ragioneria@comune.example.it"])
    ((file, _),) = files.build_day(db, ente, DAY, tmp_path)
    (row,) = db.query(DailyFileDelivery).filter_by(file_id=file.id).all()
    claimed = delivery.claim(db, row.id, lease=dt.timedelta(minutes=5), max_attempts=3)
    assert claimed is not None
    assert claimed.parcel.test is True and claimed.parcel.name == file.file_name
