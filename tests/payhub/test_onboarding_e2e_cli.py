"""Issue 15's "Must show", with the command line alone: a NEW Ente is registered (`payhub
admin`), its activation request opened and configured in test (`payhub activation`), the
referente confirms through the link of a real e-mail, a citizen pays through nodesim while it is
in test only (a test receipt), then production is configured and confirmed the same way, the
request closed, a citizen pays again (a real receipt) and the Ente's operator sees both in /ops."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from payhub.cli import main
from tests.hub.admin.flow import (
    build_site,
    citizen_pays,
    load_notice,
    mail_worker,
    operator_sees_paid,
    payment_page,
    receipt_of,
    referente_confirms,
    send_activation_links,
)

pytestmark = [pytest.mark.pg]

BROKER = "80000000021"
TEST_STATION, PROD_STATION = f"{BROKER}_90", f"{BROKER}_01"
EC = "80000000022"
IBAN = "IT60X0542811101000000123456"
TAXONOMY = "9/0101101IM/"
REFERENTE = "carla.neri@nuovissimo.example.it"
PASSWORD = "operator-secret-9"


@pytest.fixture
def payhub(pg_url):
    """payhub(*args, input=None) -> parsed JSON of `payhub ... --json` (exit 0 checked)."""
    runner = CliRunner()
    env = {"DATABASE_URL": pg_url, "PAYHUB_BROKER": "stub", "PAYHUB_EMBEDDED_WORKER": "false"}

    def run(*args: str, input: str | None = None, ok: bool = True):
        result = runner.invoke(main, list(args), env=env, input=input)
        if not ok:
            return result
        assert result.exit_code == 0, result.output
        return json.loads(result.output) if "--json" in args else result.output

    return run


def test_a_new_ente_activated_with_the_cli_alone_test_then_production_then_paid(
    payhub, pg_url, committed_factory, smtp
):
    admin = ("admin", "--json")
    payhub(*admin, "intermediary", "create", "--broker-code", BROKER, "--name", "Intermediario")
    test_station = payhub(*admin, "station", "create", "--station-code", TEST_STATION,
                          "--broker-code", BROKER, "--test")  # fmt: skip
    assert test_station["test"] is True
    assert payhub(*admin, "station", "create", "--station-code", PROD_STATION,
                  "--broker-code", BROKER, "--primitive-version", "1")["test"] is False  # fmt: skip
    payhub(
        *admin, "ente", "create", "--fiscal-code", EC, "--name", "Comune di Nuovissimo",
        "--segregation-code", "08", "--stations", TEST_STATION, "--iban", IBAN,
        "--referente-name", "Carla", "--referente-surname", "Neri",
        "--referente-email", REFERENTE,
    )  # fmt: skip
    payhub(*admin, "service", "create", EC, "--code", "TARI", "--label", "Tassa rifiuti",
           "--taxonomy", TAXONOMY, "--iban", IBAN)  # fmt: skip
    payhub(*admin, "operator", "create", "--username", "nuovissimo-op", "--enti", EC,
           "--password-stdin", input=PASSWORD + "\n")  # fmt: skip
    ente_key = payhub("api-key", "create", "--name", "Gestionale", "--ente", EC).split()[0]

    # the request received, configured in pagoPA's test environment
    opened = payhub("activation", "open", EC, "--subject", "Attivazione TARI", "--json")
    request_id = opened["id"]
    assert opened["state"] == "received" and opened["clock"]["running"] is True
    moved = payhub("activation", "move", str(request_id), "configure_test",
                   "--station", TEST_STATION, "--json")  # fmt: skip
    assert moved["state"] == "configured_test" and moved["enteInProduction"] is False
    refused = payhub("activation", "move", str(request_id), "close", ok=False)
    assert refused.exit_code == 1 and "Traceback" not in refused.output

    site = build_site(pg_url)
    with mail_worker(committed_factory, smtp) as broker:
        # the referente gets the e-mail and confirms through its signed link
        assert send_activation_links(broker, committed_factory) == 1
        [message] = smtp.wait_for(1)
        assert message["To"] == REFERENTE and f"Richiesta {request_id}" in message["Subject"]
        assert "test environment" in referente_confirms(site, message)
        shown = payhub("activation", "show", str(request_id), "--json")
        assert shown["state"] == "confirmed_test"
        assert shown["steps"][-1]["actor"] == f"referente:{REFERENTE}"

        # in test only: a citizen's payment through the test station is a test
        notice = load_notice(site, ente_key, EC, iupd="TARI-PROVA", amount="1.00", iban=IBAN,
                             taxonomy=TAXONOMY)  # fmt: skip
        paid = citizen_pays(site, broker=BROKER, station=TEST_STATION, version=2, ec=EC,
                            notice=notice)  # fmt: skip
        assert paid["delivered"].status == "delivered"
        trial = receipt_of(committed_factory, notice)
        assert trial.ec_fiscal_code == EC and trial.test is True

        # production configured, the referente confirms again, the request is closed
        moved = payhub("activation", "move", str(request_id), "configure_production",
                       "--station", PROD_STATION, "--json")  # fmt: skip
        assert moved["state"] == "configured_production" and moved["enteInProduction"] is True
        assert send_activation_links(broker, committed_factory) == 1
        second = smtp.wait_for(2)[1]
        assert "in production" in referente_confirms(site, second)
    closed = payhub("activation", "move", str(request_id), "close", "--json")
    assert closed["state"] == "closed" and closed["clock"]["running"] is False
    history = payhub("activation", "show", str(request_id), "--json")["steps"]
    assert [(s["event"], s["actor"]) for s in history] == [
        ("open", "cli"),
        ("configure_test", "cli"),
        ("confirm_test", f"referente:{REFERENTE}"),
        ("configure_production", "cli"),
        ("confirm_production", f"referente:{REFERENTE}"),
        ("close", "cli"),
    ]
    assert [s["stationCode"] for s in history if s["event"].startswith("configure")] == [
        TEST_STATION,
        PROD_STATION,
    ]

    # in production: a citizen pays through the production station, a real receipt
    notice = load_notice(site, ente_key, EC, iupd="TARI-2026", amount="42.00", iban=IBAN,
                         taxonomy=TAXONOMY)  # fmt: skip
    paid = citizen_pays(site, broker=BROKER, station=PROD_STATION, version=1, ec=EC,
                        notice=notice)  # fmt: skip
    assert paid["delivered"].status == "delivered"
    real = receipt_of(committed_factory, notice)
    assert real.payment_amount_cents == 4200 and real.test is False

    # the Ente's operator sees both, the first one marked as a test
    page = operator_sees_paid(site, "nuovissimo-op", PASSWORD, EC, notice)
    assert paid["payment"]["receiptId"] in page and "badge-test" not in page
    page = payment_page(site, EC, trial.notice_number)
    assert trial.receipt_id in page and "badge-test" in page
