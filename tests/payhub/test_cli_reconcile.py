"""`payhub reconcile statement FILE --ente EC`: a statement from the simulator's bank
reconciles a stored flow on PostgreSQL; loading it again adds nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hub import payments
from hub.models import OutboxMessage, PaymentOption
from hub.reconciliation import flows
from nodesim.bank import statement_csv
from nodesim.reporting import Credit
from payhub.cli import main
from tests.factories import FLOW_DAY, entry, flow_bytes, make_ente, paid_option

pytestmark = pytest.mark.pg
ROOT = Path(__file__).resolve().parents[2]


def test_reconcile_statement_reconciles_once(tmp_path, pg_url, committed_factory, monkeypatch):
    with committed_factory.begin() as session:
        ente = make_ente(session)
        paid = [paid_option(session, ente) for _ in range(2)]
        flow = flows.store_flow(session, flow_bytes(ente, [entry(o, r) for o, r in paid])).flow
        fiscal_code, flow_id, total = ente.fiscal_code, flow.flow_id, flow.computed_total_cents
        ids = [o.id for o, _ in paid]  # matching in bulk expires the session's options
    statement = tmp_path / "statement.csv"
    statement.write_text(
        statement_csv(
            [
                Credit(
                    FLOW_DAY + dt.timedelta(days=1),
                    Decimal(total) / 100,
                    "IT60X0542811101000000123456",
                    fiscal_code,
                    flow_id,
                    "Banca di prova",
                    "BCITITMM",
                    "RIV20261127BCITITMM0001",
                )
            ]
        )
    )
    ini = tmp_path / "cli.ini"
    ini.write_text(
        (ROOT / "development.ini")
        .read_text()
        .replace("payhub.log_level = INFO", "payhub.log_level = WARNING")
    )
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.delenv("PAYHUB_BROKER", raising=False)
    runner = CliRunner()
    args = ["-c", str(ini), "reconcile", "statement", str(statement), "--ente", fiscal_code]

    first = runner.invoke(main, args)
    again = runner.invoke(main, args)

    assert first.exit_code == 0, first.output
    assert "1 credits added (1 matched to a flow)" in first.output
    assert "2 payments reconciled" in first.output
    assert again.exit_code == 0 and "0 credits added" in again.output
    assert "1 already loaded" in again.output
    with committed_factory() as session:
        assert set(
            session.scalars(sa.select(PaymentOption.status).where(PaymentOption.id.in_(ids)))
        ) == {"reconciled"}
        # the stub broker of a CLI process is nobody's: the app's sweeper sends these
        unsent = session.scalars(
            sa.select(OutboxMessage.args).where(OutboxMessage.sent_at.is_(None))
        ).all()
        reconciled = [a for a in unsent if a.get("to_state") == "reconciled"]
        assert len(reconciled) == 1  # one message for the two options (a chunk)
        assert sorted(c[0] for c in payments.followed_up(reconciled[0])) == sorted(ids)


def test_reconcile_statement_for_an_unknown_ente_fails_clearly(
    tmp_path, pg_url, committed_factory, monkeypatch
):
    statement = tmp_path / "s.csv"
    statement.write_text(statement_csv([]))
    ini = tmp_path / "cli.ini"
    ini.write_text((ROOT / "development.ini").read_text())
    monkeypatch.setenv("DATABASE_URL", pg_url)
    result = CliRunner().invoke(
        main, ["-c", str(ini), "reconcile", "statement", str(statement), "--ente", "00000000000"]
    )
    assert result.exit_code != 0 and "no Ente 00000000000" in result.output
