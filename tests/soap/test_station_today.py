"""The station against pagoPA as it runs today: it fails closed, never refuses money for schema
novelty, never settles a KO receipt, keeps receipts that come through another station of ours,
answers pagoPA's Stand-In probe, and refuses values and encodings it cannot handle with a clear
PAA_SINTASSI_* or SOAP fault, never PAA_SYSTEM_ERROR.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from lxml import etree

from hub.models import Anomaly, PaymentOption, Receipt, StandInProbe, StateTransition, Station
from soap import dispatch, standin
from tests.soap import soapcheck
from tests.soap.test_caller_auth import assert_refused, state
from tests.soap.test_operations import BROKER, EC, PATH, SANP, envelope, verify_req

pytestmark = pytest.mark.pg

ROOT = Path(__file__).resolve().parents[2]
KEY = ("Ocp-Apim-Subscription-Key", "the-key-agreed-with-pagopa")
AUTH = {"payhub.soap_auth_header": f"{KEY[0]}: {KEY[1]}"}


def post(app, body: bytes, *, auth: bool = True, headers=None, addr="203.0.113.7"):
    return app.post(
        PATH,
        body,
        expect_errors=True,
        extra_environ={"REMOTE_ADDR": addr},
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            **(dict([KEY]) if auth else {}),
            **(headers or {}),
        },
    )


def answer(res, official_xsd) -> etree._Element:
    assert res.status_int == 200, res.body[:300]
    return soapcheck.check_response(res.body, official_xsd)


def ko(res, official_xsd) -> str | None:
    wrapper = answer(res, official_xsd)
    assert wrapper.findtext("outcome") == "KO"
    return wrapper.findtext("fault/faultCode")


def sanp_receipt(samples, version: int = 2) -> etree._Element:
    name = "paSendRTV2Request.xml" if version == 2 else "paSendRTReq.xml"
    return etree.fromstring((samples / "official-sanp" / name).read_bytes())


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def receipt_of(root: etree._Element) -> etree._Element:
    return root.find(".//receipt")


def sanp_option(factory) -> PaymentOption:
    with factory() as s:
        return s.scalars(sa.select(PaymentOption).where(PaymentOption.notice_number == SANP)).one()


def anomalies(factory) -> list[str]:
    with factory() as s:
        return sorted(s.scalars(sa.select(Anomaly.kind)))


# -- fail closed ------------------------------------------------------------------------------
PRODUCTION_LIKE = {
    "sqlalchemy.url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
    "payhub.broker": "redis",
}


def test_outside_the_embedded_default_an_unprotected_station_refuses_to_start():
    with pytest.raises(dispatch.StationNotProtected) as refused:
        dispatch.StationConfig.from_settings(PRODUCTION_LIKE)
    for setting in dispatch.PROTECTION_SETTINGS:
        assert setting in str(refused.value)


@pytest.mark.parametrize(
    "extra",
    [
        {"payhub.soap_allowed_networks": "CHANGE-ME"},
        {"payhub.soap_auth_header": "CHANGE-ME"},
        {"payhub.soap_auth_header": "Ocp-Apim-Subscription-Key: CHANGE-ME"},
        {"payhub.soap_allowed_networks": "10.0.0.0/8, nonsense"},
    ],
    ids=["networks-placeholder", "header-placeholder", "secret-placeholder", "bad-network"],
)
def test_a_placeholder_or_malformed_protection_setting_stops_the_start(extra):
    with pytest.raises(ValueError) as refused:
        dispatch.StationConfig.from_settings({**PRODUCTION_LIKE, **extra})
    assert next(iter(extra)) in str(refused.value)


@pytest.mark.parametrize(
    "extra",
    [
        {"payhub.soap_allowed_networks": "203.0.113.0/24"},
        AUTH,
        {"payhub.soap_behind_mtls_proxy": "true"},
        {"payhub.soap_open_station": "true"},
    ],
)
def test_any_one_protection_or_an_explicit_open_station_lets_it_start(extra):
    config = dispatch.StationConfig.from_settings({**PRODUCTION_LIKE, **extra})
    assert bool(config.protections) != ("payhub.soap_open_station" in extra)


def _ini(tmp_path: Path, pg_url: str, **soap: str) -> Path:
    """production.ini as shipped, with a reachable database and the given SOAP settings."""
    text = (ROOT / "production.ini").read_text()
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key.startswith("payhub.soap_") or key == "sqlalchemy.url":
            continue
        lines.append(line)
        if line.strip() == "[app:main]":
            lines.append(f"sqlalchemy.url = {pg_url}")
            lines.extend(f"{k} = {v}" for k, v in soap.items())
    ini = tmp_path / "station.ini"
    ini.write_text("\n".join(lines) + "\n")
    return ini


def production_env(**extra: str) -> dict[str, str]:
    """This process's environment without PAYHUB_* and with the secrets and public address
    production.ini asks for (``extra`` added): only what a test sets is missing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")}
    env.update(
        PAYHUB_SESSION_SECRET="s" * 40,
        PAYHUB_OPS_SECRET="o" * 40,
        PAYHUB_PUBLIC_URL="https://pagamenti.example.it",
        **extra,
    )
    return env


def _serve(ini: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    # the secrets production.ini asks for are given; only the station's protection is missing
    env = production_env()
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "payhub.cli",
            "-c",
            str(ini),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_payhub_serve_with_production_ini_and_no_station_protection_exits_naming_settings(
    tmp_path, pg_url
):
    done = _serve(_ini(tmp_path, pg_url))
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "payhub.soap_allowed_networks" in out and "payhub.soap_auth_header" in out


def test_payhub_serve_with_production_ini_as_shipped_exits_on_the_placeholders(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "payhub.cli",
            "-c",
            str(ROOT / "production.ini"),
            "serve",
            "--port",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "CHANGE-ME" in done.stdout + done.stderr


def test_with_the_header_configured_a_forged_receipt_is_refused_and_changes_nothing(
    make_app, seeded, samples
):
    app = make_app(**AUTH, **{"payhub.broker": "stub"})
    before = state(seeded)
    forged = sanp_receipt(samples)
    receipt_of(forged).find("paymentAmount").text = "0.01"
    res = post(app, serialise(forged), auth=False)
    assert_refused(res)
    res = post(app, serialise(forged), headers={KEY[0]: "guessed"}, auth=False)
    assert_refused(res)
    assert state(seeded) == before and sanp_option(seeded).status == "payable"


@pytest.mark.parametrize(
    ("header", "allowed"),
    [(None, False), ("FAILED:unable to verify", False), ("NONE", False), ("SUCCESS", True)],
)
def test_behind_an_mtls_proxy_only_requests_the_proxy_verified_pass(
    make_app, official_xsd, header, allowed
):
    app = make_app(**{"payhub.soap_behind_mtls_proxy": "true"})
    res = post(
        app, verify_req(), auth=False, headers={"X-SSL-Client-Verify": header} if header else {}
    )
    if allowed:
        assert answer(res, official_xsd).findtext("outcome") == "OK"
    else:
        assert_refused(res)


# -- Stand-In ---------------------------------------------------------------------------------
def probe(broker: str = "{idBrokerPA}", station: str = "{idStation}") -> bytes:
    return envelope(
        f"<pafn:paVerifyPaymentNoticeReq><idPA>00000000000</idPA><idBrokerPA>{broker}"
        f"</idBrokerPA><idStation>{station}</idStation><qrCode><fiscalCode>00000000000"
        "</fiscalCode><noticeNumber>000000000000000000</noticeNumber></qrCode>"
        "</pafn:paVerifyPaymentNoticeReq>"
    )


@pytest.mark.parametrize(
    ("broker", "station"),
    [("{idBrokerPA}", "{idStation}"), (BROKER, "77777777777_01"), ("00000000000", "x")],
)
def test_the_standin_probe_gets_http_200_sconosciuto_before_any_caller_check(
    make_app, seeded, official_xsd, broker, station
):
    app = make_app(**AUTH, **{"payhub.soap_allowed_networks": "10.0.0.0/8"})
    res = post(app, probe(broker, station), auth=False, addr="198.51.100.1")
    assert res.status_int == 200 and b"SCONOSCIUTO" in res.body
    assert ko(res, official_xsd) == "PAA_PAGAMENTO_SCONOSCIUTO"
    post(app, probe(broker, station), auth=False)
    with seeded() as s:
        row = s.get(StandInProbe, station)
        assert row is not None and row.count == 2 and row.broker_code == broker
        assert row.last_at >= row.first_at


def test_the_standin_probe_is_counted_apart_from_the_stations_answers(make_app, seeded):
    app = make_app(**AUTH)
    counted: list[str] = []

    class Recorder:
        def record(self, operation, seconds, outcome=None, station=""):
            counted.append(operation)

    app.app.registry["soap.paForNode"].recorder = Recorder()
    post(app, probe())
    post(app, verify_req())
    assert counted == [standin.OPERATION, "paVerifyPaymentNotice"]


def test_a_probe_while_the_database_is_down_does_not_bring_the_station_back(
    make_app, seeded, official_xsd, monkeypatch
):
    app = make_app(**AUTH)

    def down(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(standin, "record_standin_probe", down)
    res = post(app, probe())
    assert b"SCONOSCIUTO" not in res.body
    assert ko(res, official_xsd) == "PAA_SYSTEM_ERROR"


def test_only_the_probe_passes_without_credentials(make_app, seeded):
    """A real verify, or another operation carrying the probe's numbers, is still refused."""
    app = make_app(**AUTH)
    assert_refused(post(app, verify_req(), auth=False))
    disguised = probe().replace(b"paVerifyPaymentNoticeReq", b"paGetPaymentV2Request")
    assert_refused(post(app, disguised, auth=False))
    with_id = verify_req(notice="000000000000000000")  # our EC's idPA: not the probe
    assert_refused(post(app, with_id, auth=False))


def test_standin_receipts_are_stored_and_marked(make_app, seeded, samples):
    app = make_app(**AUTH)
    root = sanp_receipt(samples)
    flag = receipt_of(root).find("standIn")
    if flag is None:
        flag = etree.SubElement(receipt_of(root), "standIn")
    flag.text = "true"
    assert answer_ok(post(app, serialise(root)))
    with seeded() as s:
        assert (
            s.scalars(
                sa.select(Receipt.standin).where(
                    Receipt.receipt_id == receipt_of(root).findtext("receiptId")
                )
            ).one()
            is True
        )


def answer_ok(res) -> bool:
    wrapper = soapcheck.body_element(res.body)
    return res.status_int == 200 and wrapper.findtext("outcome") == "OK"


# -- tolerant receipts, strict answers ----------------------------------------------------------
@pytest.mark.parametrize("version", [1, 2])
def test_a_receipt_with_elements_newer_than_our_schema_is_stored_and_settles(
    make_app, seeded, samples, official_xsd, version
):
    from structlog.testing import capture_logs

    app = make_app(**AUTH)
    root = sanp_receipt(samples, version)
    receipt = receipt_of(root)
    note = etree.Element("paymentNote")
    note.text = "nota del pagatore"
    receipt.find("description").addnext(note)  # where the Node puts it, not where the XSD has it
    etree.SubElement(receipt.find("transferList/transfer"), "futureTransferField").text = "x"
    etree.SubElement(receipt, "totallyNewGroup").append(etree.Element("inner"))
    receipt.getparent().append(etree.Element("requestLevelNovelty"))
    with capture_logs() as logs:
        res = post(app, serialise(root))
    assert answer(res, official_xsd).findtext("outcome") == "OK"
    with seeded() as s:
        stored = s.scalars(
            sa.select(Receipt).where(Receipt.receipt_id == receipt.findtext("receiptId"))
        ).one()
        assert "nota del pagatore" in stored.raw_xml and "futureTransferField" in stored.raw_xml
        assert stored.payment_amount_cents == 3000
    assert sanp_option(seeded).status == "paid"
    unknown = [e for e in logs if e["event"] == "soap.unknown_elements"]
    # paymentNote is known to V2 (only misplaced, so put back in order), new to V1
    assert unknown and unknown[0]["unknown_count"] == (3 if version == 2 else 4)
    assert unknown[0]["reordered"] == (1 if version == 2 else 0)
    assert "nota del pagatore" not in repr(logs)


def test_a_verify_with_an_unknown_element_is_answered(app, official_xsd):
    body = verify_req().replace(b"</qrCode>", b"</qrCode><newOptionalThing>1</newOptionalThing>")
    assert answer(post(app, body), official_xsd).findtext("outcome") == "OK"


def test_a_receipt_missing_a_field_we_read_is_still_refused(
    make_app, seeded, samples, official_xsd
):
    app = make_app(**AUTH)
    root = sanp_receipt(samples)
    receipt = receipt_of(root)
    receipt.remove(receipt.find("paymentAmount"))
    assert ko(post(app, serialise(root)), official_xsd) == "PAA_SINTASSI_XSD"


# -- receipt outcome ---------------------------------------------------------------------------
def test_a_ko_receipt_is_stored_flagged_and_settles_nothing(
    make_app, seeded, samples, official_xsd
):
    app = make_app(**AUTH)
    root = sanp_receipt(samples)
    receipt_of(root).find("outcome").text = "KO"
    assert answer(post(app, serialise(root)), official_xsd).findtext("outcome") == "OK"
    option = sanp_option(seeded)
    assert option.status == "payable" and option.paid_cents == 0
    assert anomalies(seeded) == ["receipt_ko"]
    with seeded() as s:
        assert s.scalars(
            sa.select(Receipt.outcome).where(
                Receipt.receipt_id == receipt_of(root).findtext("receiptId")
            )
        ).all() == ["KO"]
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(StateTransition)
                .where(
                    StateTransition.event == "receive_receipt",
                    StateTransition.option_id == option.id,
                )
            )
            == 0
        )


# -- a receipt through another station of ours -------------------------------------------------
def test_a_receipt_through_the_old_station_of_a_moved_ente_is_stored_settled_and_flagged(
    make_app, seeded, samples, official_xsd
):
    with seeded() as s:
        old = s.scalars(sa.select(Station)).one()
        moved = [e for e in old.enti if e.fiscal_code == EC]
        new = Station(
            station_code="77777777777_02",
            intermediary=old.intermediary,
            primitive_version=2,
            enti=moved,
        )
        old.enti.remove(moved[0])
        s.add(new)
        s.commit()
    app = make_app(**AUTH)
    res = post(app, serialise(sanp_receipt(samples)))  # idStation 77777777777_01, the old one
    assert answer(res, official_xsd).findtext("outcome") == "OK"
    assert sanp_option(seeded).status == "paid"
    assert anomalies(seeded) == ["station_mismatch"]


def test_a_receipt_through_a_retired_station_of_our_broker_is_kept(
    make_app, seeded, samples, official_xsd
):
    app = make_app(**AUTH)
    root = sanp_receipt(samples)
    root.find(".//idStation").text = "77777777777_09"
    assert answer(post(app, serialise(root)), official_xsd).findtext("outcome") == "OK"
    assert sanp_option(seeded).status == "paid"
    assert anomalies(seeded) == ["station_mismatch"]


def test_a_receipt_for_an_ec_we_do_not_have_is_still_refused(
    make_app, seeded, samples, official_xsd
):
    app = make_app(**AUTH)
    root = sanp_receipt(samples)
    root.find(".//idPA").text = "12345678901"
    assert ko(post(app, serialise(root)), official_xsd) == "PAA_ID_DOMINIO_ERRATO"


# -- values the schema admits but nothing can hold -----------------------------------------------
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("paymentDateTime", "2026-03-01T24:00:00"),
        ("paymentDateTime", "10000-01-01T10:00:00"),
        ("paymentDateTime", "0001-01-01T00:00:00"),
        ("applicationDate", "-0001-01-01"),
        ("transferDate", "10000-12-31"),
        ("PSPCompanyName", "P" * 10_000),
        ("debtor/fullName", "N" * 10_000),
        ("channelDescription", "C" * 10_000),
    ],
)
def test_bad_values_in_a_receipt_are_a_syntax_error_never_a_system_error(
    make_app, seeded, samples, official_xsd, path, value
):
    app = make_app(**AUTH)
    root = sanp_receipt(samples)
    receipt = receipt_of(root)
    target = receipt.find(path)
    if target is None:
        target = etree.SubElement(receipt, path)
    target.text = value
    before = state(seeded)
    code = ko(post(app, serialise(root)), official_xsd)
    assert code in ("PAA_SINTASSI_XSD", "PAA_SINTASSI_EXTRAXSD")
    assert state(seeded) == before


# -- XML hardening -------------------------------------------------------------------------------
def test_a_utf32_body_with_a_doctype_is_refused_without_touching_files(make_app):
    app = make_app(**AUTH)
    for target in ("/etc/passwd", "/nonexistent/file"):
        text = (
            '<?xml version="1.0" encoding="UTF-32"?>'
            f'<!DOCTYPE x [<!ENTITY e SYSTEM "file://{target}">]>'
            + verify_req().decode().replace("<idPA>", "<idPA>&e;")
        )
        res = post(app, text.encode("utf-32"))
        fault = soapcheck.body_element(res.body)
        assert res.status_int == 500 and fault.findtext("faultcode") == "soapenv:Client"
        assert "UTF-8" in fault.findtext("faultstring")
        assert target not in res.text


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-32", "EBCDIC-US"])
def test_any_encoding_but_utf8_and_utf16_is_refused(make_app, encoding):
    app = make_app(**AUTH)
    body = verify_req().replace(
        b"<soapenv:Envelope",
        f'<?xml version="1.0" encoding="{encoding}"?><soapenv:Envelope'.encode(),
    )
    fault = soapcheck.body_element(post(app, body).body)
    assert fault.findtext("faultcode") == "soapenv:Client"


def test_a_utf16_request_is_answered(make_app, official_xsd):
    app = make_app(**AUTH)
    body = ('<?xml version="1.0" encoding="UTF-16"?>' + verify_req().decode()).encode("utf-16")
    assert answer(post(app, body), official_xsd).findtext("outcome") == "OK"


def test_the_parser_resolver_refuses_every_uri(tmp_path):
    """Even a parser told to load DTDs opens no file: the resolver refuses every URI."""
    from hub.xmlsafe import UnsafeXml, safe_parser

    dtd = tmp_path / "x.dtd"
    dtd.write_text('<!ENTITY secret "top secret">')
    document = f'<!DOCTYPE a SYSTEM "{dtd.as_uri()}"><a>&secret;</a>'.encode()
    with pytest.raises((etree.XMLSyntaxError, UnsafeXml)):
        etree.fromstring(document, safe_parser(load_dtd=True, resolve_entities=True))
    # the same parser without our resolver does open it: the test can fail
    plain = etree.XMLParser(load_dtd=True, resolve_entities=True, no_network=True)
    assert etree.fromstring(document, plain).text == "top secret"


def demand_req(data: bytes, service: str = "OSAP1") -> bytes:
    payload = base64.b64encode(data).decode()
    return envelope(
        f"<pafn:paDemandPaymentNoticeRequest><idPA>{EC}</idPA><idBrokerPA>{BROKER}</idBrokerPA>"
        f"<idStation>77777777777_01</idStation><idServizio>{service}</idServizio>"
        "<idSoggettoServizio>00001</idSoggettoServizio>"
        f"<datiSpecificiServizioRequest>{payload}</datiSpecificiServizioRequest>"
        "</pafn:paDemandPaymentNoticeRequest>"
    )


def service_data(amount="12.50", code="RSSMRA80A01H501U", name="Mario Rossi") -> str:
    return (
        f"<service><amount>{amount}</amount><debtorFiscalCode>{code}</debtorFiscalCode>"
        f"<debtorName>{name}</debtorName></service>"
    )


@pytest.mark.parametrize(
    "data",
    [
        ('<!DOCTYPE s [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + service_data()).encode(),
        ('<?xml version="1.0" encoding="UTF-32"?><!DOCTYPE s>' + service_data()).encode("utf-32"),
        service_data(amount="1e3").encode(),
        service_data(amount="10").encode(),
        service_data(code="NOTAFISCALCODE00").encode(),
        service_data(name="N" * 200).encode(),
    ],
    ids=["doctype", "utf32-doctype", "exponent", "no-decimals", "bad-fiscal-code", "long-name"],
)
def test_demand_refuses_bad_service_data_with_extraxsd_and_creates_nothing(
    make_app, seeded, official_xsd, data
):
    app = make_app(**AUTH)
    before = state(seeded)
    assert ko(post(app, demand_req(data)), official_xsd) == "PAA_SINTASSI_EXTRAXSD"
    assert state(seeded) == before


def test_demand_with_good_service_data_creates_a_payable_notice(make_app, seeded, official_xsd):
    app = make_app(**AUTH)
    res = answer(post(app, demand_req(service_data().encode())), official_xsd)
    assert res.findtext("outcome") == "OK", res.findtext("fault/description")


def test_payhub_web_with_no_station_protection_exits_before_any_worker_starts(tmp_path, pg_url):
    ini = _ini(tmp_path, pg_url)
    done = subprocess.run(
        [sys.executable, "-m", "payhub.cli", "-c", str(ini), "web", "--bind", "127.0.0.1:1"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "payhub.soap_allowed_networks" in out and "payhub.soap_auth_header" in out
    assert "Traceback" not in out  # said by the command itself, not by a worker that died
