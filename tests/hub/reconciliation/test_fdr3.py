"""FdR 3 and receipt recovery against nodesim's REST services over HTTP, read by the real
clients (hub.reconciliation.pagopa_rest): paging past 1000, revisions, the checkpoint, 429s,
a receipt the Node withheld recovered through the flow, the operator's request; and every
request the clients sent checked against fdr_organization.json / biz_events.json."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import pytest
import requests
import sqlalchemy as sa
from webtest.http import StopableWSGIServer

from hub import payments
from hub.models import (
    Anomaly,
    FdrCheckpoint,
    PaymentOption,
    ReceiptRecovery,
    ReportingEntry,
    ReportingFlow,
    StateTransition,
)
from hub.reconciliation import fdr3, recovery
from hub.reconciliation.pagopa_rest import (
    FdrClient,
    JsonClient,
    RateLimited,
    ReceiptsClient,
    RetryPolicy,
)
from nodesim import fdr3 as simrest
from nodesim import psps
from nodesim.app import make_app
from nodesim.receipts import Payment
from tests.conftest import shared_path
from tests.factories import make_ente, make_position

pytestmark = pytest.mark.pg
KEY = "sub-key-1"
NOW = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)


class Recorder(requests.Session):
    """A requests session that keeps (method, url, headers) of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        self.sent.append((method, response.request.url, dict(response.request.headers)))
        return response


@pytest.fixture
def sim():
    app = make_app({"nodesim.background": "false", "nodesim.rest_key": KEY})
    server = StopableWSGIServer.create(app)
    rest: simrest.RestServices = app.registry["nodesim.rest"]
    base = server.application_url.rstrip("/")
    yield base, rest, app.registry["nodesim.node"]
    server.shutdown()


def clients(base: str, sleeps: list[float]):
    recorder = Recorder()
    policy = RetryPolicy(retries=3, sleep=sleeps.append)
    fdr = FdrClient(
        JsonClient(base + "/fdr-org/service/v1", KEY, policy=policy, session=recorder, verify=True)
    )
    receipts = ReceiptsClient(
        JsonClient(
            base + "/bizevents/service/v1", KEY, policy=policy, session=recorder, verify=True
        )
    )
    return fdr, receipts, recorder


def published(org: str, fdr_id: str, payments_: list[dict], *, revision: int = 1, at=NOW):
    total = sum(Decimal(str(p["pay"])) for p in payments_)
    flow = {
        "status": "PUBLISHED",
        "revision": revision,
        "fdr": fdr_id,
        "fdrDate": simrest.instant(at - dt.timedelta(hours=1)),
        "regulation": f"SEPA-{fdr_id[-6:]}",
        "regulationDate": at.date().isoformat(),
        "bicCodePouringBank": "BCITITMM",
        "sender": {
            "type": "BIC_CODE",
            "id": "BCITITMM",
            "pspId": "BCITITMM",
            "pspName": "Banca di prova",
            "pspBrokerId": "BCITITMM",
            "channelId": "BCITITMM_01",
        },
        "receiver": {"id": org, "organizationId": org, "organizationName": "Ente"},
        "published": simrest.instant(at),
        "totPayments": len(payments_),
        "sumPayments": float(total),
    }
    return simrest.Published(org, fdr_id, revision, "BCITITMM", at, flow, payments_)


def pay(n: int, iuv: str, iur: str, amount: str = "10.00", status: str = "EXECUTED") -> dict:
    return {
        "index": n,
        "iuv": iuv,
        "iur": iur,
        "idTransfer": 1,
        "pay": float(amount),
        "payStatus": status,
        "payDate": simrest.instant(NOW - dt.timedelta(days=1)),
    }


# --- the contract ---------------------------------------------------------------------------


def _operations(document: str) -> list[tuple[re.Pattern, dict, dict]]:
    spec = json.loads(shared_path("pagopa", "openapi", document).read_text())
    base = urlsplit(spec["servers"][0]["url"]).path
    out = []
    for template, item in spec["paths"].items():
        pattern = re.sub(
            r"\{[^}]+\}",
            r"([^/]+)",
            re.escape(base + template).replace(r"\{", "{").replace(r"\}", "}"),
        )
        out.append((re.compile(pattern + "$"), item.get("get", {}), spec))
    return out


def check_against_contract(sent, document: str) -> int:
    """Every GET sent matches a path of ``document``, carries only its parameters, each valid
    against its schema, and the subscription key in the header the contract names."""
    operations = _operations(document)
    checked = 0
    for method, url, headers in sent:
        parts = urlsplit(url)
        if not any(p.match(parts.path) for p, _, _ in operations):
            continue
        assert method == "GET"
        _, operation, spec = next(o for o in operations if o[0].match(parts.path))
        params = {p["name"]: p for p in operation.get("parameters", [])}
        query = dict(parse_qsl(parts.query))
        for name, value in query.items():
            assert name in params and params[name]["in"] == "query", (url, name)
            schema = dict(params[name]["schema"])
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
            typed = int(value) if schema.get("type") == "integer" else value
            jsonschema.validate(typed, schema, format_checker=jsonschema.FormatChecker())
        security = spec["components"]["securitySchemes"]["apiKeyHeader"]["name"]
        assert headers.get(security) == KEY
        checked += 1
    return checked


# --- FdR 3 ----------------------------------------------------------------------------------


def test_paging_past_1000_flows_and_1000_payments_in_a_flow(db, sim):
    base, rest, _ = sim
    ente = make_ente(db)
    for n in range(1001):
        rest.add(
            published(
                ente.fiscal_code,
                f"2026-12-07BCITITMM-{n:05d}",
                [pay(1, f"{n:017d}", f"r{n}")],
                at=NOW + dt.timedelta(seconds=n),
            )
        )
    big = [pay(i, f"9{i:016d}", f"big-{i}") for i in range(1, 1502)]
    rest.add(
        published(ente.fiscal_code, "2026-12-07BCITITMM-BIG", big, at=NOW + dt.timedelta(hours=2))
    )
    api, _, recorder = clients(base, [])

    pending = fdr3.pending_flows(db, api, ente, now=NOW)
    assert len(pending) == 1002
    outcome = fdr3.ingest_flow(db, api, ente, "2026-12-07BCITITMM-BIG", 1, "BCITITMM")
    assert outcome.created and outcome.flow.computed_count == 1501
    assert outcome.flow.computed_total_cents == 1501 * 1000
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportingEntry)) == 1501
    assert rest.calls.count("fdr.list") == 2 and rest.calls.count("fdr.payments") == 2
    assert check_against_contract(recorder.sent, "fdr_organization.json") == 5


def test_revision_2_replaces_revision_1_and_the_checkpoint_survives_a_restart(db, sim):
    base, rest, _ = sim
    ente = make_ente(db)
    rest.add(
        published(
            ente.fiscal_code, "2026-12-07BCITITMM-0001", [pay(1, "01", "a"), pay(2, "02", "b")]
        )
    )
    api, _, _ = clients(base, [])
    for ref in fdr3.pending_flows(db, api, ente, now=NOW):
        fdr3.ingest_flow(
            db, api, ente, ref.fdr, ref.revision, ref.psp_id, published_at=ref.published
        )
    assert fdr3.pending_flows(db, api, ente, now=NOW) == []  # the next poll: checkpoint moves
    rest.republish("2026-12-07BCITITMM-0001", drop_last=True)

    api2, _, recorder = clients(base, [])  # a new process: only the database remembers
    pending = fdr3.pending_flows(db, api2, ente, now=NOW)
    assert [(r.fdr, r.revision) for r in pending] == [("2026-12-07BCITITMM-0001", 2)]
    assert "publishedGt" in recorder.sent[0][1]
    fdr3.ingest_flow(
        db, api2, ente, pending[0].fdr, 2, "BCITITMM", published_at=pending[0].published
    )
    again = fdr3.ingest_flow(db, api2, ente, pending[0].fdr, 2, "BCITITMM")
    assert not again.created  # idempotent per (flow, revision, PSP)

    rows = db.execute(
        sa.select(
            ReportingFlow.revision,
            ReportingFlow.status,
            ReportingFlow.computed_count,
            ReportingFlow.source,
        ).order_by(ReportingFlow.revision)
    ).all()
    assert [(r, s, c, src) for r, s, c, src in rows] == [
        (1, "superseded", 2, "fdr3"),
        (2, "anomalous", 1, "fdr3"),
    ]
    assert fdr3.pending_flows(db, api2, ente, now=NOW) == []
    checkpoint = db.scalars(sa.select(FdrCheckpoint)).one()
    assert checkpoint.published_gt == rest.published[-1].published


def test_429_is_honoured_with_retry_after_then_given_up(db, sim):
    base, rest, _ = sim
    ente = make_ente(db)
    rest.add(published(ente.fiscal_code, "2026-12-07BCITITMM-0001", [pay(1, "01", "a")]))
    sleeps: list[float] = []
    api, _, _ = clients(base, sleeps)
    rest.throttle(2, retry_after=7)
    assert len(fdr3.pending_flows(db, api, ente, now=NOW)) == 1
    assert sleeps == [7.0, 7.0]
    rest.throttle(10, retry_after=3)
    with pytest.raises(RateLimited) as caught:
        api.list_flows(ente.fiscal_code)
    assert caught.value.retry_after == 3.0 and sleeps[2:] == [3.0, 3.0, 3.0]


def test_a_flow_that_cannot_be_read_is_refused_without_storing(db, sim):
    base, rest, _ = sim
    ente = make_ente(db)
    rest.add(
        published(
            ente.fiscal_code, "2026-12-07BCITITMM-0001", [pay(1, "01", "a", status="REVOKED")]
        )
    )
    api, _, _ = clients(base, [])
    from hub.reconciliation.flows import InvalidFlow

    with pytest.raises(InvalidFlow, match="payStatus"):
        fdr3.ingest_flow(db, api, ente, "2026-12-07BCITITMM-0001", 1, "BCITITMM")
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportingFlow)) == 0


# --- recovery -------------------------------------------------------------------------------


def _withheld_payment(db, node, ente):
    option = make_position(db, ente, amount="25.00").options[0]
    payments.activate(
        db,
        ente,
        option.notice_number,
        requested_cents=2500,
        primitive="paGetPaymentV2",
        now=NOW - dt.timedelta(hours=3),
    )
    db.flush()
    psp = psps.find("BCITITMM")
    payment = Payment(
        receipt_id=f"tok-{option.iuv}",
        ec=ente.fiscal_code,
        notice_number=option.notice_number,
        iuv=option.iuv,
        amount=Decimal("25.00"),
        description="Tassa",
        company_name=ente.name,
        office_name=None,
        debtor=None,
        transfers=[
            {
                "idTransfer": 1,
                "amount": Decimal("25.00"),
                "fiscalCodePA": ente.fiscal_code,
                "IBAN": "IT60X0542811101000000123456",
            }
        ],
        metadata=None,
        psp=psp,
        method="creditCard",
        fee=Decimal("1.00"),
        payer=None,
        paid_at=NOW - dt.timedelta(hours=3),
    )
    node.payments[payment.receipt_id] = payment  # the Node took it, and never sent paSendRT
    return option, payment


def test_a_withheld_receipt_is_recovered_through_its_flow_paid_then_reported(db, sim):
    base, rest, node = sim
    ente = make_ente(db)
    option, payment = _withheld_payment(db, node, ente)
    rest.add(
        published(
            ente.fiscal_code,
            "2026-12-07BCITITMM-0001",
            [pay(1, option.iuv, payment.receipt_id, "25.00")],
        )
    )
    api, receipts, recorder = clients(base, [])

    for ref in fdr3.pending_flows(db, api, ente, now=NOW):
        fdr3.ingest_flow(db, api, ente, ref.fdr, ref.revision, ref.psp_id, now=NOW)
    entry = db.scalars(sa.select(ReportingEntry)).one()
    assert entry.match == "no_receipt"
    wanted = db.scalars(sa.select(ReceiptRecovery)).one()
    assert (wanted.reason, wanted.status, wanted.iur) == (
        "flow_entry",
        "pending",
        payment.receipt_id,
    )

    summary = recovery.run_due(db, receipts, now=NOW + dt.timedelta(minutes=5))
    assert (summary.asked, summary.recovered) == (1, 1)
    db.flush()
    db.refresh(option)
    assert option.status == "reported"
    history = db.execute(
        sa.select(StateTransition.event, StateTransition.cause)
        .where(StateTransition.option_id == option.id)
        .order_by(StateTransition.id)
    ).all()
    assert history[-2:] == [
        ("receive_receipt", "recovered:bizevents"),
        ("report", "fdr:2026-12-07BCITITMM-0001"),
    ]
    matches = db.scalars(sa.select(ReportingEntry.match)).all()
    assert matches == ["matched"]
    assert rest.calls.count("receipts.by_iuv") == 1
    assert check_against_contract(recorder.sent, "biz_events.json") == 1
    # a second run asks nothing
    assert recovery.run_due(db, receipts, now=NOW + dt.timedelta(hours=2)).asked == 0


def test_recovery_backs_off_on_429_keeps_a_budget_and_gives_up_with_an_anomaly(db, sim):
    base, rest, _node = sim
    ente = make_ente(db)
    rest.add(
        published(
            ente.fiscal_code, "2026-12-07BCITITMM-0001", [pay(1, "01234567890123456", "lost-1")]
        )
    )
    api, receipts, _ = clients(base, [])
    for ref in fdr3.pending_flows(db, api, ente, now=NOW):
        fdr3.ingest_flow(db, api, ente, ref.fdr, ref.revision, ref.psp_id, now=NOW)

    rest.throttle(100, retry_after=0)
    assert recovery.run_due(db, receipts, now=NOW).stopped == "rate_limited"
    rest.throttle(0)
    assert (
        recovery.run_due(db, receipts, now=NOW + dt.timedelta(hours=2), budget=1).stopped
        == "no_budget"
    )
    later = NOW + dt.timedelta(days=8)
    assert recovery.run_due(db, receipts, now=later).given_up == 1
    anomaly = db.scalars(sa.select(Anomaly).where(Anomaly.kind == "receipt_not_recovered")).one()
    assert "lost-1" in anomaly.detail


def test_an_operator_recovers_one_receipt_by_ente_iuv_and_iur(db, sim):
    base, _rest, node = sim
    ente = make_ente(db)
    option, payment = _withheld_payment(db, node, ente)
    _, receipts, _ = clients(base, [])
    result = recovery.recover_one(
        db, receipts, ente, option.iuv, payment.receipt_id, operator="ops:anna", now=NOW
    )
    assert result.status == "recovered"
    assert db.get(PaymentOption, option.id).status == "paid"
    row = db.scalars(sa.select(ReceiptRecovery)).one()
    assert (row.reason, row.status, row.requested_by) == ("operator", "recovered", "ops:anna")
    again = recovery.recover_one(
        db, receipts, ente, option.iuv, payment.receipt_id, operator="ops:anna", now=NOW
    )
    assert again.status == "already_here"
    missing = recovery.recover_one(
        db, receipts, ente, option.iuv, "no-such-iur", operator="ops:anna", now=NOW
    )
    assert missing.status == "not_found"
