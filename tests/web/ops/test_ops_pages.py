"""The operators' pages: each account sees only its Enti (404 otherwise), support sees all;
search, payment detail, CSV export, and the audit of personal-data views."""

from __future__ import annotations

import codecs

import sqlalchemy as sa

from hub.models import AuditEvent, DebtPosition, Ente, PaymentOption
from hub.seed import DEMO_SUPPORT
from tests.web.ops.conftest import A, B


def _options(ops, ec: str) -> list[PaymentOption]:
    with ops.factory() as session:
        return list(
            session.scalars(
                sa.select(PaymentOption)
                .join(Ente, Ente.id == PaymentOption.ente_id)
                .where(Ente.fiscal_code == ec)
                .order_by(PaymentOption.id)
            )
        )


def _export(ops, ec: str, status: int | str = 200, **fields):
    return ops.post(f"/ops/enti/{ec}/search.csv", fields, status=status)


def _audits(ops, view: str) -> list[AuditEvent]:
    with ops.factory() as session:
        return [
            e
            for e in session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.action == "ops.view_personal_data")
                .order_by(AuditEvent.id)
            )
            if e.detail["view"] == view
        ]


def test_operator_sees_only_its_ente_and_gets_404_for_another(ops):
    ops.login()
    assert "Comune di Demo" in ops.app.get(f"/ops/enti/{A}/").text
    other = _options(ops, B)[0]
    mine = _options(ops, A)[0]
    ops.app.get(f"/ops/enti/{B}/", status=404)
    ops.app.get(f"/ops/enti/{B}/search?state=payable", status=404)
    ops.app.get(f"/ops/enti/{B}/payments/{other.id}", status=404)
    ops.app.get(f"/ops/enti/{A}/payments/{other.id}", status=404)  # B's option under A
    ops.app.get(f"/ops/enti/{A}/payments/{mine.id}", status=200)
    ops.app.get(f"/ops/enti/{B}/flows", status=404)
    ops.app.get(f"/ops/enti/{B}/credits", status=404)
    _export(ops, B, status=404)
    home = ops.app.get("/ops/", status=303)  # one Ente: straight to it
    assert home.location.endswith(f"/ops/enti/{A}/")


def test_operator_cannot_open_support_pages(ops):
    ops.login()
    ops.app.get("/ops/support/stuck", status=403)
    ops.app.get("/ops/support/anomalies", status=200)  # their own Ente's, read-only (issue 19)
    ops.post("/ops/support/anomalies/1/resolve", {"note": "x"}, status=403)
    ops.post("/ops/support/deliveries/1/replay", {}, status=403)


def test_support_sees_every_ente(ops):
    ops.login(DEMO_SUPPORT)
    home = ops.app.get("/ops/")
    assert "Comune di Demo" in home.text and "Unione dei Comuni della Bassa" in home.text
    ops.app.get(f"/ops/enti/{B}/", status=200)
    ops.app.get(f"/ops/enti/{B}/payments/{_options(ops, B)[0].id}", status=200)
    ops.app.get("/ops/support/stuck", status=200)


def test_dashboard_counts_and_refreshes_itself_until_told_not_to(ops):
    ops.login()
    page = ops.app.get(f"/ops/enti/{A}/")
    box = page.html.find("input", id="auto-refresh")
    assert box["data-seconds"] == "10" and box.has_attr("checked")
    script = page.html.find("script")["src"]
    assert script.startswith("/ops/static/") and "reload" in ops.app.get(script).text
    assert page.html.find("caption") is not None
    assert all(th.get("scope") for th in page.html.find_all("th"))
    paid_row = [tr for tr in page.html.find_all("tr") if tr.th and tr.th.text.strip() == "paid"]
    assert paid_row and paid_row[0].find_all("td")[0].text == "1"


def test_search_by_debtor_fiscal_code_is_posted_and_audited(ops):
    ops.login()
    form = ops.app.get(f"/ops/enti/{A}/search").forms[1]
    assert form.method.lower() == "post"
    form["debtor_fiscal_code"] = "rssmra80a01h501u"
    page = form.submit()
    with ops.factory() as session:
        expected = set(
            session.scalars(
                sa.select(PaymentOption.notice_number)
                .join(DebtPosition, DebtPosition.id == PaymentOption.position_id)
                .join(Ente, Ente.id == PaymentOption.ente_id)
                .where(Ente.fiscal_code == A, DebtPosition.debtor_fiscal_code == "RSSMRA80A01H501U")
            )
        )
    shown = {a.text for a in page.html.select("tbody a")}
    assert expected and shown == expected
    assert "RSSMRA80A01H501U" not in page.request.url
    [audit] = _audits(ops, "search")
    assert audit.actor == "ops:demo-operator" and audit.detail["rows"] == len(expected)
    assert "RSSMRA80A01H501U" not in str(audit.detail)
    by_state = ops.app.get(f"/ops/enti/{A}/search?state=paid")
    assert len(by_state.html.select("tbody tr")) == 1
    ops.app.post(f"/ops/enti/{A}/search", {"state": "paid"}, status=400)  # no CSRF token


def test_payment_detail_shows_history_in_order_and_is_audited(ops):
    ops.login()
    paid = next(o for o in _options(ops, A) if o.status == "paid")
    page = ops.app.get(f"/ops/enti/{A}/payments/{paid.id}")
    events = [tr.find_all("td")[1].text for tr in page.html.select("tr.transition")]
    # events and states in words, not their codes (receive_receipt, in_progress)
    assert events == ["published", "payment started at a PSP", "receipt received"]
    states = [tr.find_all("td")[3].text for tr in page.html.select("tr.transition")]
    assert states == ["payable", "in progress", "paid"]
    assert "seed-receipt-0001" in page.text and "RSSMRA80A01H501U" in page.text
    [audit] = _audits(ops, "payment")
    assert audit.target == f"payment_option:{paid.id}"


def test_csv_export_has_bom_semicolons_decimals_and_a_row_per_option(ops):
    ops.login()
    answer = _export(ops, A)
    assert answer.content_type == "text/csv"
    assert answer.body.startswith(codecs.BOM_UTF8)
    lines = answer.body.decode("utf-8-sig").splitlines()
    assert lines[0].split(";")[:3] == ["ente", "iupd", "notice_number"]
    options = _options(ops, A)
    assert len(lines) == 1 + len(options)
    amounts = {line.split(";")[7] for line in lines[1:]}
    assert all("," in a and len(a.split(",")[1]) == 2 for a in amounts)
    assert {line.split(";")[2] for line in lines[1:]} == {o.notice_number for o in options}
    paid_only = _export(ops, A, state="paid").body.decode("utf-8-sig").splitlines()
    assert len(paid_only) == 2
    assert [a.detail["rows"] for a in _audits(ops, "export")] == [len(options), 1]


def test_csv_chunks_are_produced_lazily(ops):
    from hub.dashboard import Filters
    from web.ops.views import csv_chunks

    with ops.factory() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == A))
    chunks = csv_chunks(ops.factory, ente, Filters())
    assert next(chunks).startswith(codecs.BOM_UTF8)
    assert len(list(chunks)) == len(_options(ops, A))


def test_the_dashboard_shows_stand_in_probes_and_receipts(ops):
    """pagoPA probing a station of the Ente means Stand-In: a warning with the probe's time in
    Italian time, the Stand-In receipts counted, and each marked in the payment's history."""
    import datetime as dt

    from hub.db import ROME, utcnow
    from hub.models import StandInProbe
    from tests.factories import make_receipt

    ops.login()
    page = ops.app.get(f"/ops/enti/{A}/")
    assert "standin-active" not in page.text
    assert page.html.select_one("#standin dd").text.strip() == "0"
    probed = utcnow() - dt.timedelta(minutes=4)
    option = _options(ops, A)[0]
    with ops.factory.begin() as session:
        session.add(
            StandInProbe(
                station_code="{idStation}",
                broker_code="{idBrokerPA}",
                first_at=probed,
                last_at=probed,
                count=3,
            )
        )
        ente = session.scalars(sa.select(Ente).where(Ente.fiscal_code == A)).one()
        receipt = make_receipt(
            session.get(PaymentOption, option.id), A, receipt_id="si-1", standin=True
        )
        receipt.ente_id, receipt.option_id = ente.id, option.id
        receipt.received_at = utcnow()
        session.add(receipt)
    page = ops.app.get(f"/ops/enti/{A}/")
    warning = page.html.select_one("#standin-active").text
    assert probed.astimezone(ROME).strftime("%d/%m/%Y %H:%M") in warning
    assert [dd.text.strip() for dd in page.html.select("#standin dd")][:2] == ["1", "1"]
    detail = ops.app.get(f"/ops/enti/{A}/payments/{option.id}")
    assert detail.html.select_one(".badge-standin") is not None
    with ops.factory.begin() as session:  # an old probe: pagoPA has let the station go
        session.execute(sa.update(StandInProbe).values(last_at=probed - dt.timedelta(hours=2)))
    assert "standin-active" not in ops.app.get(f"/ops/enti/{A}/").text
