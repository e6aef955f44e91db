"""`payhub admin`: a new Ente onboarded end to end with the command line alone (intermediary,
station, Ente, service, operator), then a citizen pays one of its notices through nodesim, the
receipt lands, and the Ente's operator sees it; every change audited; errors in one line."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hub.models import AuditEvent, Receipt
from payhub.cli import main
from tests.hub.admin.flow import build_site, citizen_pays, operator_sees_paid

pytestmark = [pytest.mark.pg]

BROKER, STATION, EC = "80000000001", "80000000001_01", "80000000002"
IBAN = "IT60X0542811101000000123456"
PASSWORD = "operator-secret-1"


@pytest.fixture
def cli(pg_url, committed_factory, tmp_path):
    """cli(*args, input=None) -> parsed JSON of `payhub admin --json ...` (exit 0 checked)."""
    runner = CliRunner()
    env = {"DATABASE_URL": pg_url, "PAYHUB_BROKER": "stub", "PAYHUB_EMBEDDED_WORKER": "false"}

    def run(*args: str, input: str | None = None, ok: bool = True):
        result = runner.invoke(main, ["admin", "--json", *args], env=env, input=input)
        if not ok:
            return result
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    run.plain = lambda *args, **kw: runner.invoke(main, list(args), env=env, **kw)
    return run


def test_a_new_ente_onboarded_with_the_cli_alone_collects_a_payment_its_operator_sees(
    cli, pg_url, committed_factory
):
    assert (
        cli("intermediary", "create", "--broker-code", BROKER, "--name", "Intermediario")[
            "brokerCode"
        ]
        == BROKER
    )
    station = cli(
        "station", "create", "--station-code", STATION, "--broker-code", BROKER,
        "--primitive-version", "1", "--password", "Station-pw-01",
    )  # fmt: skip
    assert station == {
        "stationCode": STATION,
        "brokerCode": BROKER,
        "primitiveVersion": 1,
        "passwordSet": True,
        "subscriptionKeySet": False,
        "test": False,
        "enti": [],
    }
    ente = cli(
        "ente", "create", "--fiscal-code", EC, "--name", "Comune di Nuovo",
        "--segregation-code", "07", "--stations", STATION, "--iban", IBAN,
        "--referente-name", "Anna", "--referente-surname", "Verdi",
        "--referente-email", "anna@nuovo.example.it", "--referente-phone", "+39 051 123456",
    )  # fmt: skip
    assert ente["stations"] == [STATION] and ente["referente"]["surname"] == "Verdi"
    service = cli(
        "service", "create", EC, "--code", "TARI", "--label", "Tassa rifiuti",
        "--taxonomy", "9/0101101IM/", "--iban", IBAN,
    )  # fmt: skip
    assert service["kind"] == "precomputed" and service["iban"] == IBAN
    operator = cli(
        "operator", "create", "--username", "nuovo-op", "--enti", EC, "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert operator["role"] == "operator" and operator["enti"] == [EC]
    assert [i["iban"] for i in cli("ente", "ibans", EC)] == [IBAN]

    # the Ente's application gets its key from the CLI and loads a notice
    key = cli.plain("api-key", "create", "--name", "Gestionale", "--ente", EC)
    assert key.exit_code == 0, key.output
    secret = key.output.split()[0]
    site = build_site(pg_url)
    created = site.post_json(
        f"/api/v1/enti/{EC}/debt-positions?publish=true",
        {
            "iupd": "TARI-NUOVO-1",
            "debtorType": "F",
            "debtorFiscalCode": "RSSMRA80A01H501U",
            "debtorName": "Mario Rossi",
            "description": "TARI 2026",
            "options": [
                {
                    "amount": "42.00",
                    "dueDate": "2099-12-31",
                    "transfers": [
                        {
                            "amount": "42.00",
                            "remittanceInformation": "TARI 2026",
                            "category": "9/0101101IM/",
                            "iban": IBAN,
                        }
                    ],
                }
            ],
        },
        headers={"Authorization": f"Bearer {secret}"},
    )
    notice = created.json["options"][0]["noticeNumber"]
    assert notice.startswith("307")  # aux digit 3, the Ente's segregation code

    paid = citizen_pays(site, broker=BROKER, station=STATION, version=1, ec=EC, notice=notice)
    assert paid["delivered"].status == "delivered"
    with committed_factory() as session:
        receipt = session.scalar(sa.select(Receipt).where(Receipt.notice_number == notice))
        assert receipt is not None and receipt.ec_fiscal_code == EC
        assert receipt.payment_amount_cents == 4200 and receipt.primitive_version == 1
    page = operator_sees_paid(site, "nuovo-op", PASSWORD, EC, notice)
    assert paid["payment"]["receiptId"] in page

    with committed_factory() as session:
        actions = list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.actor == "cli", AuditEvent.action.like("admin.%"))
                .order_by(AuditEvent.id)
            )
        )
        station_event = session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "admin.station.create")
        )
    assert actions == [
        "admin.intermediary.create",
        "admin.station.create",
        "admin.ente.create",
        "admin.iban.add",
        "admin.service.create",
    ]
    assert station_event.detail["after"]["password"] == "***"  # never the secret
    assert station_event.detail["before"]["station_code"] is None


def test_updates_are_audited_with_before_and_after_and_a_rerun_changes_nothing(
    cli, committed_factory
):
    cli("intermediary", "create", "--broker-code", BROKER, "--name", "Intermediario")
    cli("station", "create", "--station-code", STATION, "--broker-code", BROKER)
    cli("ente", "create", "--fiscal-code", EC, "--name", "Comune", "--segregation-code", "07",
        "--stations", STATION)  # fmt: skip
    updated = cli("ente", "update", EC, "--name", "Comune di Nuovo", "--office", "Tributi")
    assert updated["name"] == "Comune di Nuovo" and updated["office"] == "Tributi"
    cli("ente", "update", EC, "--name", "Comune di Nuovo")  # the same again
    with committed_factory() as session:
        [event] = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "admin.ente.update")
        ).all()
    assert event.detail == {
        "before": {"name": "Comune", "office": None},
        "after": {"name": "Comune di Nuovo", "office": "Tributi"},
    }
    assert event.target == f"ente:{EC}"


def test_bad_input_is_one_line_naming_the_field(cli):
    cli("intermediary", "create", "--broker-code", BROKER, "--name", "Intermediario")
    bad = cli("station", "create", "--station-code", "80000000009_01", "--broker-code", BROKER,
              ok=False)  # fmt: skip
    assert bad.exit_code == 1
    assert "station code is the broker code" in bad.output and "Traceback" not in bad.output
    bad = cli("ente", "create", "--fiscal-code", "123", "--name", "X", "--segregation-code", "1",
              "--stations", STATION, ok=False)  # fmt: skip
    assert bad.exit_code == 1 and "fiscal_code: String should match" in bad.output
    unknown = cli("ente", "create", "--fiscal-code", EC, "--name", "X", "--segregation-code",
                  "01", "--stations", "80000000001_09", ok=False)  # fmt: skip
    assert unknown.exit_code == 1 and "no station 80000000001_09" in unknown.output
    again = cli("intermediary", "create", "--broker-code", BROKER, "--name", "Altro", ok=False)
    assert again.exit_code == 1 and "exists" in again.output


def test_import_dry_run_then_load_then_unchanged_and_exit_status_on_refused_rows(cli, tmp_path):
    cli("intermediary", "create", "--broker-code", BROKER, "--name", "Intermediario")
    cli("station", "create", "--station-code", STATION, "--broker-code", BROKER)
    enti = [
        {"fiscalCode": f"8000000001{k}", "name": f"Comune {k}", "segregationCode": f"1{k}",
         "stations": [STATION],
         "services": [{"code": "TARI", "label": "Tassa rifiuti", "taxonomy": "9/0101101IM/"}]}
        for k in range(3)
    ]  # fmt: skip
    good = tmp_path / "enti.json"
    good.write_text(json.dumps(enti))
    dry = cli("import", str(good))
    assert dry["dryRun"] is True and dry["totals"]["created"] == 6
    assert cli("ente", "list") == []
    loaded = cli("import", str(good), "--load")
    assert loaded["totals"] == {"created": 6, "updated": 0, "unchanged": 0, "error": 0}
    assert len(cli("ente", "list")) == 3
    again = cli("import", str(good), "--load")
    assert again["totals"] == {"created": 0, "updated": 0, "unchanged": 6, "error": 0}
    enti[0]["segregationCode"] = "11"  # Comune 1's, on the same station
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(enti))
    refused = cli("import", str(bad), "--load", ok=False)
    assert refused.exit_code == 1
    report = json.loads(refused.output)
    [row] = [r for r in report["rows"] if r["action"] == "error"]
    assert row["row"] == 1 and "segregation code 11" in row["message"]


def test_from_json_preview_portal_and_webhook_secrets_shown_once(cli, tmp_path):
    cli("intermediary", "create", "--broker-code", BROKER, "--name", "Intermediario")
    cli("station", "create", "--station-code", STATION, "--broker-code", BROKER)
    body = tmp_path / "ente.json"
    body.write_text(json.dumps({"fiscalCode": EC, "name": "Comune", "segregationCode": "07",
                                "stations": [STATION]}))  # fmt: skip
    assert cli("ente", "create", "--from-json", str(body), "--office", "Tributi")["office"] == (
        "Tributi"
    )
    form = tmp_path / "form.json"
    form.write_text(
        json.dumps({"fields": [{"name": "plate", "label": {"it": "Targa", "en": "Plate"}}]})
    )
    preview = cli("service", "preview", f"@{form}", "--lang", "en")
    assert preview["fields"][0]["label"] == "Plate"
    portal = cli("portal", "create", "--name", "Portale", "--enti", EC,
                 "--return-url-prefix", "https://portale.example.it/")  # fmt: skip
    assert portal["secret"] and portal["keyId"].startswith("l1_")
    assert all("secret" not in p for p in cli("portal", "list"))
    hook = cli("webhook", "create", EC, "--url", "https://gestionale.example.it/payhub")
    assert hook["secret"].startswith("whsec_")
    assert [w["id"] for w in cli("webhook", "list", EC)] == [hook["id"]]
    assert "secret" not in cli("webhook", "list", EC)[0]


def test_a_payer_portal_its_switch_and_the_history_of_changes_from_the_cli(cli):
    cli("intermediary", "create", "--broker-code", BROKER, "--name", "Intermediario")
    cli("station", "create", "--station-code", STATION, "--broker-code", BROKER,
        "--password", "station-pw-1")  # fmt: skip
    cli("ente", "create", "--fiscal-code", EC, "--name", "Comune", "--segregation-code", "07",
        "--stations", STATION)  # fmt: skip
    payer = cli("portal", "create", "--name", "Portale PayER", "--enti", EC,
                "--return-url-prefix", "https://payer.example.it/", "--legacy-buffer",
                "--legacy-code", "PORTALE01", "--legacy-iv", "iv-1",
                "--legacy-key", "key-2")  # fmt: skip
    assert payer["keyId"] == "payer:PORTALE01" and payer["secret"] is None
    refused = cli("portal", "rotate", "payer:PORTALE01", ok=False)
    assert refused.exit_code == 1 and "legacy_portal" in refused.output
    assert cli("portal", "set-active", "payer:PORTALE01", "false")["active"] is False
    cli("ente", "update", EC, "--name", "Comune di Nuovo")
    changes = cli("history", "--ente", EC)
    assert changes[0]["action"] == "admin.ente.update" and changes[0]["actor"] == "cli"
    assert changes[0]["before"] == {"name": "Comune"}
    assert changes[0]["after"] == {"name": "Comune di Nuovo"}
    station = cli("history", "--target", f"station:{STATION}")
    assert [c["action"] for c in station] == ["admin.station.create"]
    assert station[0]["after"]["password"] == "***"
    everything = cli("history", "--limit", "2")
    assert [c["action"] for c in everything] == ["admin.ente.update", "admin.portal.update"]
    portal = next(c for c in cli("history") if c["action"] == "admin.portal.create")
    assert "key-2" not in json.dumps(portal) and portal["after"]["legacy_key"] == "***"
    text = cli.plain("admin", "history", "--ente", EC)
    assert text.exit_code == 0 and "'Comune' -> 'Comune di Nuovo'" in text.output


def test_a_portals_enti_and_urls_are_changed_from_the_cli_and_audited(cli):
    cli("intermediary", "create", "--broker-code", BROKER, "--name", "Intermediario")
    cli("station", "create", "--station-code", STATION, "--broker-code", BROKER)
    for code, segregation in ((EC, "07"), ("80000000004", "08")):
        cli("ente", "create", "--fiscal-code", code, "--name", "Comune",
            "--segregation-code", segregation, "--stations", STATION)  # fmt: skip
    key_id = cli("portal", "create", "--name", "Portale", "--enti", EC,
                 "--return-url-prefix", "https://portale.example.it/")["keyId"]  # fmt: skip
    changed = cli("portal", "update", key_id, "--name", "Portale Unione", "--enti", EC,
                  "--enti", "80000000004", "--return-url-prefix", "https://pagamenti.example.it/",
                  "--notify-url", "https://pagamenti.example.it/esito")  # fmt: skip
    assert changed["name"] == "Portale Unione" and changed["enti"] == [EC, "80000000004"]
    assert changed["returnUrlPrefix"] == "https://pagamenti.example.it/"
    assert changed["notifySecret"].startswith("whsec_")  # the first notification URL's, once
    stopped = cli("portal", "update", key_id, "--no-notify-url")
    assert stopped["notifyUrl"] is None and stopped["notifySecret"] is None
    refused = cli("portal", "update", key_id, "--notify-url", "https://10.0.0.1/esito", ok=False)
    assert refused.exit_code == 1 and "notify_url" in refused.output
    assert "refused" in refused.output
    both = cli("portal", "update", key_id, "--notify-url", "https://pagamenti.example.it/x",
               "--no-notify-url", ok=False)  # fmt: skip
    assert both.exit_code == 2
    history = cli("history", "--target", f"portal:{key_id}")
    assert [c["action"] for c in history] == [
        "admin.portal.update",
        "admin.portal.update",
        "admin.portal.create",
    ]
    assert history[1]["before"]["enti"] == [EC]
    assert history[1]["after"]["enti"] == [EC, "80000000004"]
    assert history[0]["before"]["notify_url"] == "https://pagamenti.example.it/esito"
    assert history[0]["after"]["notify_url"] is None
    text = cli.plain("admin", "portal", "update", key_id, "--name", "Portale")
    assert text.exit_code == 0 and text.output.strip() == f"portal {key_id} updated"
