"""GET /enti/{ec}/reporting-flows, /reporting-flows/{flowId}, /bank-credits and /anomalies:
reconciliation read by the Ente's back-office, built from real receipts, flows and statements."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from lxml import etree

from hub import dashboard
from hub.models import Anomaly, Ente, ReportingFlow
from hub.reconciliation import flows, statements
from nodesim.bank import statement_csv
from nodesim.reporting import Credit, Flow, flow_xml
from tests.factories import FLOW_DAY, IBAN, entry, make_position, paid_option
from web.api.openapi import build

pytestmark = pytest.mark.pg
F1, F2, F3 = "2026-11-27BCITITMM-0001", "2026-11-28UNCRITMM-0002", "2026-11-29BCITITMM-0003"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _flow(ente, entries, flow_id: str, created_at: dt.datetime, psp: str = "BCITITMM") -> bytes:
    return flow_xml(
        Flow(
            id=flow_id,
            day=FLOW_DAY,
            created_at=created_at,
            psp_id=psp,
            psp_name=f"Banca {psp}",
            psp_bic=psp,
            ec=ente.fiscal_code,
            ec_name=ente.name,
            iban=IBAN,
            settlement_id=f"RIV-{flow_id[-4:]}",
            entries=entries,
        )
    )


def _credit(ente, amount: str, day: dt.date, flow_id: str = "", ref: str = "") -> Credit:
    return Credit(
        booking_date=day,
        amount=Decimal(amount),
        iban=IBAN,
        ec=ente.fiscal_code,
        flow_id=flow_id,
        debtor_name="Banca di prova",
        debtor_bic="BCITITMM",
        reference=ref,
    )


def _load(session, ente, credits: list[Credit], *, without_flow_id: bool = False) -> None:
    data = statement_csv(credits).encode()
    if without_flow_id:
        data = data.replace(b"/PUR/LGPE-RIVERSAMENTO/URI/", b"Rimborso spese")
    statements.load_statement(session, ente, data, source_file="s.csv", now=NOW)


def _at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, 0, tzinfo=dt.UTC)


@pytest.fixture
def seeded(world) -> dict:
    """Ente A: F1 (2 entries, credited: reconciled), F2 (PSP UNCRITMM, one entry without a
    receipt: anomalous, credited with the wrong amount), F3 in two versions; four credits;
    four anomalies, one resolved. Ente B: a flow, a credit and an anomaly of its own."""
    out: dict = {}
    with world.factory.begin() as session:
        a = session.scalar(sa.select(Ente).where(Ente.fiscal_code == world.ente))
        b = session.scalar(sa.select(Ente).where(Ente.fiscal_code == world.other))
        (o1, r1), (o2, r2) = paid_option(session, a), paid_option(session, a, "12.50")
        flows.store_flow(session, _flow(a, [entry(o1, r1), entry(o2, r2)], F1, _at(28, 1)))
        (o3, r3), unpaid = paid_option(session, a), make_position(session, a).options[0]
        flows.store_flow(
            session,
            _flow(a, [entry(o3, r3), entry(unpaid, "never-sent")], F2, _at(29, 2), psp="UNCRITMM"),
        )
        o4, r4 = paid_option(session, a)
        for hour in (1, 5):
            flows.store_flow(session, _flow(a, [entry(o4, r4)], F3, _at(30, hour)))
        _load(
            session,
            a,
            [
                _credit(a, "42.50", dt.date(2026, 11, 28), F1, "REF-1"),
                _credit(a, "59.99", dt.date(2026, 11, 29), F2, "REF-2"),
            ],
        )
        _load(
            session,
            a,
            [
                _credit(a, "5.00", dt.date(2026, 11, 30), ref="REF-3"),
                _credit(a, "7.00", dt.date(2026, 11, 29), ref="REF-4"),
            ],
            without_flow_id=True,
        )
        resolved = session.scalars(
            sa.select(Anomaly).where(Anomaly.ente_id == a.id).order_by(Anomaly.id.desc())
        ).first()
        dashboard.resolve_anomaly(
            session, resolved.id, note="refund of fees", by="ops:anna", now=NOW
        )
        ob, rb = paid_option(session, b)
        flows.store_flow(session, _flow(b, [entry(ob, rb)], "2026-11-27BCITITMM-0009", _at(28, 3)))
        _load(
            session,
            b,
            [_credit(b, "1.00", dt.date(2026, 11, 28), ref="REF-B")],
            without_flow_id=True,
        )
        out.update(
            notices=[o.notice_number for o in (o1, o2, o3, unpaid)],
            iuvs=[o.iuv for o in (o1, o2, o3, unpaid)],
            receipts=[r1, r2, r3],
        )
    return out


def _get(
    world,
    tail: str,
    query: str = "",
    *,
    key: str | None = None,
    ente: str | None = None,
    status: int = 200,
):
    url = f"/api/v1/enti/{ente or world.ente}/{tail}" + (f"?{query}" if query else "")
    return world.app.get(url, headers=world.auth(key), status=status)


def _all(world, tail: str, query: str = "", field: str = "flowDateTime") -> list:
    page = _get(world, tail, query).json
    assert page["nextCursor"] is None
    return [item[field] for item in page["items"]]


def _walk(world, tail: str, limit: int, query: str = "") -> tuple[list[dict], int]:
    seen, cursor, pages = [], None, 0
    while True:
        q = "&".join(filter(None, (query, f"limit={limit}", cursor and f"cursor={cursor}")))
        page = _get(world, tail, q).json
        assert len(page["items"]) <= limit
        seen += page["items"]
        cursor, pages = page["nextCursor"], pages + 1
        if cursor is None:
            return seen, pages


# --- reporting flows -------------------------------------------------------------------------


def test_flows_are_listed_newest_first_with_their_fields(world, seeded):
    page = _get(world, "reporting-flows").json
    assert [(f["flowId"], f["flowDateTime"], f["status"]) for f in page["items"]] == [
        (F3, "2026-11-30T05:00:00", "received"),
        (F3, "2026-11-30T01:00:00", "superseded"),
        (F2, "2026-11-29T02:00:00", "anomalous"),
        (F1, "2026-11-28T01:00:00", "reconciled"),
    ]
    assert page["nextCursor"] is None
    credits = {c["amount"]: c["id"] for c in _get(world, "bank-credits").json["items"]}
    f1 = page["items"][3]
    assert f1.pop("receivedAt")
    assert f1 == {
        "flowId": F1,
        "flowDateTime": "2026-11-28T01:00:00",
        "pspId": "BCITITMM",
        "pspName": "Banca BCITITMM",
        "settlementId": "RIV-0001",
        "settlementDate": "2026-11-28",
        "declaredCount": 2,
        "declaredTotal": "42.50",
        "computedCount": 2,
        "computedTotal": "42.50",
        "status": "reconciled",
        "credited": True,
        "creditId": credits["42.50"],
    }
    f2 = page["items"][2]
    # F2 was credited with the wrong amount: not credited
    assert (f2["credited"], f2["creditId"], f2["computedTotal"]) == (False, None, "60.00")
    # Ente B's key sees B's flow only
    theirs = _get(world, "reporting-flows", key=world.other_key, ente=world.other).json
    assert [f["flowId"] for f in theirs["items"]] == ["2026-11-27BCITITMM-0009"]


def test_flows_filtered_by_flow_id_psp_status_and_flow_day(world, seeded):
    def flows(query: str) -> list[tuple[str, str]]:
        page = _get(world, "reporting-flows", query).json
        assert page["nextCursor"] is None
        return [(f["flowId"], f["flowDateTime"][8:13]) for f in page["items"]]

    assert flows(f"flowId={F3}") == [(F3, "30T05"), (F3, "30T01")]
    assert flows("flowId=2026-11-27BCITITMM-0009") == []  # Ente B's
    assert flows("psp=UNCRITMM") == [(F2, "29T02")]
    assert flows("status=superseded") == [(F3, "30T01")]
    assert flows("status=reconciled") == [(F1, "28T01")]
    assert flows("from=2026-11-29") == [(F3, "30T05"), (F3, "30T01"), (F2, "29T02")]
    assert flows("to=2026-11-29") == [(F2, "29T02"), (F1, "28T01")]
    assert flows("from=2026-11-29&to=2026-11-29") == [(F2, "29T02")]
    assert flows("from=0001-01-01&to=9999-12-31&psp=BCITITMM&status=received") == [(F3, "30T05")]


def test_flow_pages_cover_every_flow_once_in_order(world, seeded):
    everything = _get(world, "reporting-flows").json["items"]
    for limit in (1, 2, 3, 4):
        seen, pages = _walk(world, "reporting-flows", limit)
        assert seen == everything and pages == -(-4 // limit), limit
    seen, pages = _walk(world, "reporting-flows", 1, "psp=BCITITMM")
    assert [f["flowId"] for f in seen] == [F3, F3, F1] and pages == 3


def test_one_flow_newest_version_with_its_entries_or_an_older_version(world, seeded):
    flow = _get(world, f"reporting-flows/{F2}").json
    assert (flow["flowId"], flow["status"], flow["versions"]) == (
        F2,
        "anomalous",
        ["2026-11-29T02:00:00"],
    )
    paid, missing = flow["entries"]
    assert paid == {
        "iuv": seeded["iuvs"][2],
        "iur": seeded["receipts"][2],
        "transferIndex": 1,
        "amount": "30.00",
        "outcomeCode": "0",
        "outcomeDate": "2026-11-27",
        "match": "matched",
        "noticeNumber": seeded["notices"][2],
    }
    assert (missing["iuv"], missing["iur"], missing["match"]) == (
        seeded["iuvs"][3],
        "never-sent",
        "no_receipt",
    )
    f1 = _get(world, f"reporting-flows/{F1}").json
    assert [e["noticeNumber"] for e in f1["entries"]] == seeded["notices"][:2]
    assert [e["amount"] for e in f1["entries"]] == ["30.00", "12.50"]
    assert f1["credited"] is True
    newest = _get(world, f"reporting-flows/{F3}").json
    assert (newest["flowDateTime"], newest["status"], newest["versions"]) == (
        "2026-11-30T05:00:00",
        "received",
        ["2026-11-30T05:00:00", "2026-11-30T01:00:00"],
    )
    older = _get(world, f"reporting-flows/{F3}", "version=2026-11-30T01:00:00").json
    assert (older["flowDateTime"], older["status"]) == ("2026-11-30T01:00:00", "superseded")
    # matched when it arrived; the newer version then took over (it reports nothing again)
    assert [e["iur"] for e in older["entries"]] == [e["iur"] for e in newest["entries"]]
    for tail, query in (
        (f"reporting-flows/{F3}", "version=2026-11-30T02:00:00"),
        ("reporting-flows/2026-11-27UNKNOWN-0001", ""),
        ("reporting-flows/2026-11-27BCITITMM-0009", ""),
    ):  # B's flow
        problem = _get(world, tail, query, status=404)
        assert problem.content_type == "application/problem+json"


def test_a_flow_as_xml_and_csv_original_or_rebuilt_from_fdr3(world, seeded):
    from tests.hub.reconciliation.test_fdr3 import pay, published

    xml = _get(world, f"reporting-flows/{F3}/xml", "version=2026-11-30T01:00:00")
    assert xml.content_type == "application/xml"
    with world.factory() as session:
        a = session.scalar(sa.select(Ente).where(Ente.fiscal_code == world.ente))
        stored = session.scalar(
            sa.select(ReportingFlow.raw_xml).where(
                ReportingFlow.ente_id == a.id,
                ReportingFlow.flow_id == F3,
                ReportingFlow.flow_datetime == dt.datetime(2026, 11, 30, 1),
            )
        )
    assert xml.text == stored  # a SOAP flow: the original
    csv = _get(world, f"reporting-flows/{F2}/csv")
    assert csv.content_type == "text/csv"
    lines = csv.body.decode("utf-8-sig").splitlines()
    assert lines[0].split(";")[:3] == ["flow_id", "revision", "flow_datetime"]
    assert [line.split(";")[6:8] for line in lines[1:]] == [
        [seeded["iuvs"][2], seeded["receipts"][2]],
        [seeded["iuvs"][3], "never-sent"],
    ]
    _get(world, "reporting-flows/2026-11-27BCITITMM-0009/xml", status=404)  # B's flow
    _get(world, "reporting-flows/2026-11-27BCITITMM-0009/csv", status=404)

    with world.factory.begin() as session:  # an FdR 3 flow, with a Stand-In payment
        a = session.scalar(sa.select(Ente).where(Ente.fiscal_code == world.ente))
        option, rid = paid_option(session, a)
        item = published(
            a.fiscal_code,
            "2026-12-07BCITITMM-0077",
            [pay(1, option.iuv, rid, "30.00", "STAND_IN"), pay(2, "0" * 17, "x-2", "1.00")],
        )
        flows.store_fdr3_flow(
            session, item.flow, item.payments, revision=1, published_at=item.published
        )
    rebuilt = _get(world, "reporting-flows/2026-12-07BCITITMM-0077/xml").body
    parsed = flows.parse_flow(rebuilt, flows.schemas([flows.DEFAULT_XSD[1]]))  # 1.0.5
    assert [(e.iuv, e.outcome_code) for e in parsed.entries] == [
        (option.iuv, "4"),
        ("0" * 17, "0"),
    ]
    assert not flows.schemas([flows.DEFAULT_XSD[0]])[0].validate(
        etree.fromstring(rebuilt)
    )  # 1.0.4 has no Stand-In code


# --- bank credits ----------------------------------------------------------------------------


def test_credits_are_listed_newest_first_by_value_date_with_their_fields(world, seeded):
    page = _get(world, "bank-credits").json
    items = page["items"]
    # 11-30, then the two of 11-29 (the later row first), then 11-28
    assert [(c["valueDate"], c["amount"]) for c in items] == [
        ("2026-11-30", "5.00"),
        ("2026-11-29", "7.00"),
        ("2026-11-29", "59.99"),
        ("2026-11-28", "42.50"),
    ]
    matched = items[3]
    assert matched.pop("receivedAt") and matched.pop("id")
    assert matched == {
        "valueDate": "2026-11-28",
        "bookingDate": "2026-11-28",
        "amount": "42.50",
        "description": f"/PUR/LGPE-RIVERSAMENTO/URI/{F1}",
        "reference": "REF-1",
        "flowId": F1,
        "matchedFlowId": F1,
        "matchedFlowDateTime": "2026-11-28T01:00:00",
        "status": "matched",
    }
    assert (items[2]["status"], items[2]["flowId"], items[2]["matchedFlowId"]) == (
        "amount_mismatch",
        F2,
        F2,
    )
    assert (items[0]["status"], items[0]["flowId"], items[0]["matchedFlowId"]) == (
        "no_flow_id",
        None,
        None,
    )
    theirs = _get(world, "bank-credits", key=world.other_key, ente=world.other).json
    assert [c["reference"] for c in theirs["items"]] == ["REF-B"]


def test_credits_filtered_by_value_day_and_matched(world, seeded):
    assert _all(world, "bank-credits", "matched=true", "amount") == ["42.50"]
    assert _all(world, "bank-credits", "matched=false", "amount") == ["5.00", "7.00", "59.99"]
    assert _all(world, "bank-credits", "from=2026-11-29", "amount") == ["5.00", "7.00", "59.99"]
    assert _all(world, "bank-credits", "to=2026-11-29", "amount") == ["7.00", "59.99", "42.50"]
    assert _all(world, "bank-credits", "from=2026-11-29&to=2026-11-29&matched=false", "amount") == [
        "7.00",
        "59.99",
    ]
    assert _all(world, "bank-credits", "from=2026-12-01", "amount") == []


def test_credit_pages_cover_every_credit_once_in_order(world, seeded):
    everything = _get(world, "bank-credits").json["items"]
    for limit in (1, 2, 3, 4):
        seen, pages = _walk(world, "bank-credits", limit)
        assert seen == everything and pages == -(-4 // limit), limit
    seen, _ = _walk(world, "bank-credits", 1, "matched=false")
    assert [c["amount"] for c in seen] == ["5.00", "7.00", "59.99"]


# --- anomalies -------------------------------------------------------------------------------


def test_open_anomalies_by_default_resolved_or_all_newest_first(world, seeded):
    page = _get(world, "anomalies").json
    assert [(a["kind"], a["creditReference"]) for a in page["items"]] == [
        ("credit_without_flow_id", "REF-3"),
        ("credit_amount_mismatch", "REF-2"),
        ("fdr_entry_without_receipt", None),
    ]
    assert page["nextCursor"] is None
    mismatch, missing = page["items"][1], page["items"][2]
    assert (mismatch["flowId"], mismatch["noticeNumber"], mismatch["resolvedAt"]) == (
        F2,
        None,
        None,
    )
    assert isinstance(mismatch["creditId"], int) and mismatch["createdAt"]
    assert (missing["flowId"], missing["creditReference"], missing["creditId"]) == (F2, None, None)
    assert missing["noticeNumber"] == seeded["notices"][3] and missing["detail"]
    resolved = _get(world, "anomalies", "status=resolved").json["items"]
    assert [
        (a["kind"], a["creditReference"], a["resolutionNote"], a["resolvedAt"]) for a in resolved
    ] == [("credit_without_flow_id", "REF-4", "refund of fees", "2026-12-01T09:00:00Z")]
    every = _all(world, "anomalies", "status=all", "id")
    assert every == sorted(every, reverse=True) and len(every) == 4
    assert _all(world, "anomalies", "kind=credit_without_flow_id", "creditReference") == ["REF-3"]
    assert _all(
        world, "anomalies", "kind=credit_without_flow_id&status=all", "creditReference"
    ) == ["REF-4", "REF-3"]
    assert _all(world, "anomalies", "kind=double_payment", "id") == []
    theirs = _get(world, "anomalies", key=world.other_key, ente=world.other).json
    assert [a["creditReference"] for a in theirs["items"]] == ["REF-B"]


def test_an_anomaly_answers_its_detail_code_and_parameters_with_an_english_sentence(world, seeded):
    """Machine-readable for back-offices (issue 16); the sentence stays English in the API."""
    items = _get(world, "anomalies").json["items"]
    mismatch, missing = items[1], items[2]
    assert mismatch["detailCode"] == "credit_amount_mismatch"
    params = mismatch["detailParams"]
    assert {"amount_cents", "value_on", "flow", "total_cents"} <= set(params)
    assert params["flow"] == F2 and isinstance(params["amount_cents"], int)
    assert mismatch["detail"].startswith("bank credit of ") and " EUR on " in mismatch["detail"]
    assert f"for flow {F2}" in mismatch["detail"] and "${" not in mismatch["detail"]
    assert missing["detailCode"] == "fdr_entry_without_receipt"
    assert missing["detail"].endswith(": no receipt here")


def test_anomaly_pages_cover_every_anomaly_once_in_order(world, seeded):
    everything = _get(world, "anomalies", "status=all").json["items"]
    for limit in (1, 2, 3, 4):
        seen, pages = _walk(world, "anomalies", limit, "status=all")
        assert seen == everything and pages == -(-4 // limit), limit
    seen, _ = _walk(world, "anomalies", 1)
    assert [a["kind"] for a in seen] == [a["kind"] for a in _get(world, "anomalies").json["items"]]


# --- scoping, validation, document -----------------------------------------------------------

ENDPOINTS = ["reporting-flows", f"reporting-flows/{F1}", "bank-credits", "anomalies"]


@pytest.mark.parametrize("tail", ENDPOINTS)
def test_another_entes_data_is_404_and_a_key_is_needed(world, seeded, tail):
    for ente in (world.other, "12345678901"):
        problem = _get(world, tail, ente=ente, status=404)
        assert problem.content_type == "application/problem+json"
        assert problem.json["status"] == 404 and "REF-B" not in problem.text
    world.app.get(f"/api/v1/enti/{world.ente}/{tail}", status=401)
    world.app.post_json(f"/api/v1/enti/{world.ente}/{tail}", {}, headers=world.auth(), status=405)


@pytest.mark.parametrize(
    ("tail", "query", "field"),
    [
        ("reporting-flows", "flowId=", "flowId"),
        ("reporting-flows", "flowId=a%2Fb", "flowId"),
        ("reporting-flows", "psp=" + "B" * 36, "psp"),
        ("reporting-flows", "status=paid", "status"),
        ("reporting-flows", "from=2026-02-30", "from"),
        ("reporting-flows", "to=20261130", "to"),
        ("reporting-flows", "limit=0", "limit"),
        ("reporting-flows", "limit=201", "limit"),
        ("reporting-flows", "cursor=zzz", "cursor"),
        ("reporting-flows", "cursor=" + base64.urlsafe_b64encode(b"c1.1").decode(), "cursor"),
        ("reporting-flows", "iuv=1", "iuv"),
        ("reporting-flows", "psp=A&psp=B", "psp"),
        (f"reporting-flows/{F1}", "version=2026-11-28", "version"),
        (f"reporting-flows/{F1}", "version=2026-11-28T01:00:00Z", "version"),
        (f"reporting-flows/{F1}", "version=2026-13-28T01:00:00", "version"),
        (f"reporting-flows/{F1}", "limit=1", "limit"),
        ("bank-credits", "matched=yes", "matched"),
        ("bank-credits", "from=0", "from"),
        ("bank-credits", "to=2026-11-31", "to"),
        ("bank-credits", "limit=ten", "limit"),
        ("bank-credits", "cursor=" + base64.urlsafe_b64encode(b"f1.1").decode(), "cursor"),
        ("bank-credits", "cursor=" + base64.urlsafe_b64encode(b"c99999999.1").decode(), "cursor"),
        ("anomalies", "status=closed", "status"),
        ("anomalies", "kind=Double-Payment", "kind"),
        ("anomalies", "kind=" + "a" * 33, "kind"),
        ("anomalies", "limit=-1", "limit"),
        ("anomalies", "cursor=a1", "cursor"),
    ],
)
def test_bad_values_are_400_naming_the_parameter(world, seeded, tail, query, field):
    problem = _get(world, tail, query, status=400)
    assert problem.content_type == "application/problem+json"
    assert problem.json["field"] == field and problem.json["status"] == 400, problem.json


@pytest.mark.parametrize("tail", ["reporting-flows", "bank-credits"])
def test_from_after_to_is_422_naming_from(world, tail):
    problem = _get(world, tail, "from=2026-11-30&to=2026-11-29", status=422)
    assert (problem.json["field"], problem.json["code"]) == ("from", "invalid_range")


def test_the_four_endpoints_are_in_the_openapi_document(world):
    paths = build()["paths"]
    ops = {
        "listReportingFlows": (
            "/enti/{fiscalCode}/reporting-flows",
            {"flowId", "psp", "status", "from", "to"},
        ),
        "getReportingFlow": ("/enti/{fiscalCode}/reporting-flows/{flowId}", {"version"}),
        "listBankCredits": ("/enti/{fiscalCode}/bank-credits", {"from", "to", "matched"}),
        "listAnomalies": ("/enti/{fiscalCode}/anomalies", {"status", "kind"}),
    }
    for op_id, (path, params) in ops.items():
        op = paths[path]["get"]
        assert op["operationId"] == op_id
        assert params <= {p["name"] for p in op["parameters"]}
        assert {"200", "400", "401", "404"} <= set(op["responses"])
