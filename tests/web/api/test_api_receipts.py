"""GET /enti/{ec}/receipts: the Ente's receipts, newest first, filtered, a page at a time."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
import sqlalchemy as sa

from hub import clock, payments
from hub.models import Ente, PaymentOption
from tests.factories import make_position, make_receipt
from web import api
from web.api import bulk, webhooks
from web.api.openapi import build

pytestmark = pytest.mark.pg
DAY = dt.datetime(2026, 3, 10, 9, 30, tzinfo=dt.UTC)


def _store(
    world,
    *receipts: tuple[str, dt.datetime],
    ente: str | None = None,
    same_notice_as: str | None = None,
) -> dict[str, dict[str, str]]:
    """Store receipts (receiptId, received at) for new positions of the Ente; a receipt in
    ``same_notice_as``'s notice instead is a second payment of it. Returns, per receiptId,
    its notice number and IUV."""
    out: dict[str, dict[str, str]] = {}
    with world.factory.begin() as session:
        ente_row = session.scalar(sa.select(Ente).where(Ente.fiscal_code == (ente or world.ente)))
        for receipt_id, at in receipts:
            option = make_position(session, ente_row).options[0]
            payments.store_receipt(
                session, make_receipt(option, ente_row.fiscal_code, receipt_id=receipt_id), now=at
            )
            out[receipt_id] = {"notice": option.notice_number, "iuv": option.iuv}
    return out


def _url(world, query: str = "", ente: str | None = None) -> str:
    return f"/api/v1/enti/{ente or world.ente}/receipts" + (f"?{query}" if query else "")


def _ids(world, query: str = "", key: str | None = None, ente: str | None = None) -> list[str]:
    page = world.app.get(_url(world, query, ente), headers=world.auth(key)).json
    assert page["nextCursor"] is None
    return [r["receiptId"] for r in page["items"]]


def test_lists_the_entes_receipts_newest_first_with_their_fields(world):
    stored = _store(
        world,
        ("r-old", DAY - dt.timedelta(days=2)),
        ("r-new", DAY),
        ("r-mid", DAY - dt.timedelta(days=1)),
    )
    _store(world, ("r-of-b", DAY), ente=world.other)
    page = world.app.get(_url(world), headers=world.auth())
    assert page.content_type == "application/json"
    assert [r["receiptId"] for r in page.json["items"]] == ["r-new", "r-mid", "r-old"]
    assert page.json["nextCursor"] is None
    newest = page.json["items"][0]
    assert newest | {"transfers": None} == {
        "receiptId": "r-new",
        "noticeNumber": stored["r-new"]["notice"],
        "iuv": stored["r-new"]["iuv"],
        "ecFiscalCode": world.ente,
        "outcome": "OK",
        "amount": "30.00",
        "fee": "1.00",
        "description": None,
        "debtorFiscalCode": None,
        "payerFiscalCode": None,
        "pspId": "BCITITMM",
        "pspCompanyName": None,
        "paymentMethod": None,
        "paymentDateTime": None,
        "applicationDate": None,
        "transferDate": None,
        "standin": False,
        "transfers": None,
        "receivedAt": "2026-03-10T09:30:00Z",
    }
    # the Ente's other key (an intermediary's) sees the same; Ente B's key sees only B's
    assert _ids(world, key=world.broker_key) == ["r-new", "r-mid", "r-old"]
    assert _ids(world, key=world.other_key, ente=world.other) == ["r-of-b"]


def test_an_ente_without_receipts_gets_an_empty_page(world):
    assert world.app.get(_url(world), headers=world.auth()).json == {
        "items": [],
        "nextCursor": None,
    }


def test_filter_by_iuv_and_by_notice_number(world):
    stored = _store(world, ("r-1", DAY), ("r-2", DAY + dt.timedelta(minutes=1)))
    other = _store(world, ("r-b", DAY), ente=world.other)
    first = stored["r-1"]
    # a second payment of r-1's notice: both receipts answer for its notice and IUV
    with world.factory.begin() as session:
        option = session.scalar(
            sa.select(PaymentOption).where(PaymentOption.notice_number == first["notice"])
        )
        payments.store_receipt(
            session,
            make_receipt(option, world.ente, receipt_id="r-1bis"),
            now=DAY + dt.timedelta(minutes=2),
        )
    assert _ids(world, f"iuv={first['iuv']}") == ["r-1bis", "r-1"]
    assert _ids(world, f"noticeNumber={first['notice']}") == ["r-1bis", "r-1"]
    assert _ids(world, f"iuv={stored['r-2']['iuv']}") == ["r-2"]
    assert _ids(world, f"iuv={first['iuv']}&noticeNumber={stored['r-2']['notice']}") == []
    # Ente B's IUV and notice number find nothing at Ente A
    assert _ids(world, f"iuv={other['r-b']['iuv']}") == []
    assert _ids(world, f"noticeNumber={other['r-b']['notice']}") == []


def test_filter_by_received_day_both_ends_included(world):
    _store(
        world,
        # days are Italian calendar days (hub.clock): 10 March is 09T23:00Z to 10T23:00Z
        ("r-9", dt.datetime(2026, 3, 9, 23, 59, 59, 999999, tzinfo=clock.ROME)),
        ("r-10a", dt.datetime(2026, 3, 10, 0, 0, tzinfo=clock.ROME)),
        ("r-10b", dt.datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=clock.ROME)),
        ("r-11", dt.datetime(2026, 3, 11, 0, 0, tzinfo=clock.ROME)),
    )
    assert _ids(world, "from=2026-03-10") == ["r-11", "r-10b", "r-10a"]
    assert _ids(world, "to=2026-03-10") == ["r-10b", "r-10a", "r-9"]
    assert _ids(world, "from=2026-03-10&to=2026-03-10") == ["r-10b", "r-10a"]
    assert _ids(world, "from=2026-03-12") == []
    assert _ids(world, "from=0001-01-01&to=9999-12-31") == ["r-11", "r-10b", "r-10a", "r-9"]


def test_pages_cover_every_receipt_once_in_order(world):
    # ties on receivedAt too: the order is (receivedAt, then the row) newest first
    times = [
        DAY,
        DAY,
        DAY - dt.timedelta(hours=1),
        DAY - dt.timedelta(hours=1),
        DAY - dt.timedelta(hours=1),
        DAY - dt.timedelta(days=1),
        DAY - dt.timedelta(days=3),
    ]
    _store(world, *((f"p-{n}", at) for n, at in enumerate(times)))
    _store(world, ("p-b", DAY - dt.timedelta(hours=1)), ente=world.other)
    everything = _ids(world)
    assert len(everything) == 7 and set(everything) == {f"p-{n}" for n in range(7)}
    received = [
        dt.datetime.fromisoformat(
            world.app.get(f"/api/v1/enti/{world.ente}/receipts/{r}", headers=world.auth()).json[
                "receivedAt"
            ]
        )
        for r in everything
    ]
    assert received == sorted(received, reverse=True)
    for limit in (1, 2, 3, 7):
        seen, cursor, pages = [], None, 0
        while True:
            query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = world.app.get(_url(world, query), headers=world.auth()).json
            assert len(page["items"]) <= limit
            seen += [r["receiptId"] for r in page["items"]]
            cursor, pages = page["nextCursor"], pages + 1
            if cursor is None:
                break
        assert seen == everything, limit  # none twice, none lost, same order
        assert pages == -(-7 // limit)
    # filters hold across pages
    first = world.app.get(_url(world, "limit=2&from=2026-03-10"), headers=world.auth()).json
    rest = world.app.get(
        _url(world, f"limit=2&from=2026-03-10&cursor={first['nextCursor']}"), headers=world.auth()
    ).json
    assert [r["receiptId"] for r in first["items"] + rest["items"]] == everything[:4]
    assert len(rest["items"]) == 2 and rest["nextCursor"] is not None
    last = world.app.get(
        _url(world, f"limit=2&from=2026-03-10&cursor={rest['nextCursor']}"), headers=world.auth()
    ).json
    assert [r["receiptId"] for r in last["items"]] == everything[4:5]
    assert last["nextCursor"] is None


def test_a_receipt_arriving_between_pages_is_neither_repeated_nor_shifting_the_rest(world):
    _store(world, *((f"q-{n}", DAY - dt.timedelta(minutes=n)) for n in range(4)))
    first = world.app.get(_url(world, "limit=2"), headers=world.auth()).json
    _store(world, ("q-new", DAY + dt.timedelta(minutes=5)))
    rest = world.app.get(
        _url(world, f"limit=2&cursor={first['nextCursor']}"), headers=world.auth()
    ).json
    assert [r["receiptId"] for r in first["items"] + rest["items"]] == ["q-0", "q-1", "q-2", "q-3"]


def test_another_entes_receipts_are_404_and_a_key_is_needed(world):
    _store(world, ("r-of-b", DAY), ente=world.other)
    for ente in (world.other, "12345678901"):
        problem = world.app.get(_url(world, ente=ente), headers=world.auth(), status=404)
        assert problem.content_type == "application/problem+json"
        assert problem.json["status"] == 404 and "r-of-b" not in problem.text
    # the same answer with a filter that would match B's receipt
    world.app.get(_url(world, "iuv=1", ente=world.other), headers=world.auth(), status=404)
    world.app.get(_url(world), status=401)
    world.app.get(_url(world), headers={"Authorization": "Bearer ph_00000000_x"}, status=401)
    world.app.post_json(_url(world), {}, headers=world.auth(), status=405)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("iuv=", "iuv"),
        ("iuv=" + "1" * 36, "iuv"),
        ("iuv=01-2", "iuv"),
        ("iuv=%00", "iuv"),
        ("noticeNumber=30100000000000010", "noticeNumber"),
        ("noticeNumber=30100000000000010A", "noticeNumber"),
        ("from=2026-02-30", "from"),
        ("from=10%2F03%2F2026", "from"),
        ("from=0", "from"),
        ("to=20260310", "to"),
        ("to=2026-03-10T00:00:00", "to"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=zzz", "cursor"),
        ("cursor=" + "A" * 41, "cursor"),
        ("debtor=RSSMRA80A01H501U", "debtor"),
        ("iuv=1&iuv=2", "iuv"),
    ],
)
def test_bad_filter_values_are_problems_naming_the_parameter(world, query, field):
    """Malformed query values are 400, as on every list of this API (the document's 400:
    "malformed ... query string"); a well-formed range that is empty by construction is 422."""
    problem = world.app.get(_url(world, query), headers=world.auth(), status=400)
    assert problem.content_type == "application/problem+json"
    assert problem.json["field"] == field and problem.json["status"] == 400, problem.json


def test_from_after_to_is_422_naming_from(world):
    problem = world.app.get(
        _url(world, "from=2026-03-11&to=2026-03-10"), headers=world.auth(), status=422
    )
    assert problem.content_type == "application/problem+json"
    assert (problem.json["field"], problem.json["code"]) == ("from", "invalid_range")


def test_a_cursor_is_opaque_but_checked(world):
    _store(world, ("c-1", DAY), ("c-2", DAY - dt.timedelta(hours=1)))
    for forged in ("p12", "r.1", "rx.1", "r1.", "r-1.2", "r1.2.3", "r" + "9" * 18 + ".1"):
        cursor = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
        problem = world.app.get(_url(world, f"cursor={cursor}"), headers=world.auth(), status=400)
        assert problem.json["field"] == "cursor", forged
    # a well-formed cursor from the far future starts at the newest receipt
    cursor = base64.urlsafe_b64encode(b"r99999999999999999.1").decode().rstrip("=")
    assert _ids(world, f"cursor={cursor}") == ["c-1", "c-2"]


def test_the_list_is_in_the_openapi_document_and_every_route_is_documented(world):
    document = build()
    op = document["paths"]["/enti/{fiscalCode}/receipts"]["get"]
    assert op["operationId"] == "listReceipts"
    assert {p["name"] for p in op["parameters"]} == {
        "fiscalCode",
        "iuv",
        "noticeNumber",
        "from",
        "to",
        "limit",
        "cursor",
    }
    assert {"200", "400", "401", "404", "422"} <= set(op["responses"])
    undocumented = {"api.openapi", "api.docs", "api.operations", "api.docs_init"}
    for routes in (api.ROUTES, webhooks.ROUTES, bulk.ROUTES):
        for name, (pattern, methods) in routes.items():
            if name in undocumented:
                continue
            path = re.sub(
                r"\{(\w+):[^{}]*(?:\{[^{}]*\}[^{}]*)*\}",
                lambda m: "{" + re.sub(r"_(\w)", lambda c: c.group(1).upper(), m.group(1)) + "}",
                pattern,
            )
            assert path in document["paths"], (name, path)
            assert {m.lower() for m in methods} == set(document["paths"][path]), name
