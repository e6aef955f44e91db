"""The SLA pages in /ops (issue 19): the report with its charts and its PDF, the help desk's
tickets, planned maintenance with its notices, and anomalies an Ente's operators may see."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from hub.db import ROME
from hub.models import Anomaly, AuditEvent, Ente
from hub.models.sla import SlaTicket
from hub.models.sla_contract import SlaMail, SlaMaintenance
from hub.seed import DEMO_SUPPORT
from tests.web.ops.conftest import A, B


def _ente(session, ec: str) -> Ente:
    return session.scalar(sa.select(Ente).where(Ente.fiscal_code == ec))


def test_operators_see_their_own_entes_anomalies_read_only(ops):
    with ops.factory.begin() as session:
        session.add_all(
            [
                Anomaly(kind="double_payment", ente_id=_ente(session, A).id, detail="ours"),
                Anomaly(kind="flow_without_credit", ente_id=_ente(session, B).id, detail="theirs"),
            ]
        )
    ops.login()
    page = ops.app.get("/ops/support/anomalies", status=200)
    assert "ours" in page.text and "theirs" not in page.text
    assert not [f for f in page.forms.values() if "/resolve" in (f.action or "")]
    assert "theirs" not in ops.app.get(f"/ops/support/anomalies?ente={B}").text
    ops.post("/ops/support/anomalies/1/resolve", {"note": "x"}, status=403)
    ops.app.get("/ops/sla/report", status=403)
    ops.app.get("/ops/sla/tickets", status=403)
    ops.app.get("/ops/sla/maintenance", status=403)


def test_support_opens_and_takes_over_a_ticket_and_the_reporter_is_mailed(ops):
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/sla/tickets")
    form = next(f for f in page.forms.values() if f.action.endswith("/sla/tickets"))
    form["subject"] = "Avvisi non pagabili"
    form["description"] = "I cittadini ricevono un errore."
    form["severity"] = "blocking"
    form["severity_reason"] = "nessuno può pagare"
    form["reporter_kind"] = "referente"
    form["reporter_name"] = "Mario Rossi"
    form["reporter_email"] = "mario.rossi@comune.demo.it"
    form["ente_code"] = A
    answer = form.submit(status=303)
    detail = answer.follow()
    assert "Avvisi non pagabili" in detail.text and 'id="ticket-state">opened' in detail.text
    with ops.factory() as session:
        ticket = session.scalars(sa.select(SlaTicket)).one()
    ops.post(f"/ops/sla/tickets/{ticket.id}", {"event": "take_over", "owner": "anna"}, status=303)
    ops.post(f"/ops/sla/tickets/{ticket.id}", {"event": "close"}, status=303)  # not allowed
    page = ops.app.get(f"/ops/sla/tickets/{ticket.id}")
    assert 'id="ticket-state">taken_over' in page.text
    with ops.factory() as session:
        mails = session.scalars(sa.select(SlaMail).where(SlaMail.ticket_id == ticket.id)).all()
        assert [m.recipient for m in mails] == ["mario.rossi@comune.demo.it"]
        actions = list(session.scalars(sa.select(AuditEvent.action)))
        assert actions.count("ops.sla_ticket_event") == 1  # the refused change is not recorded
    bad = ops.post("/ops/sla/tickets", {"subject": "x", "severity": "urgent"}, status=400)
    assert "severity" in bad.text


def test_support_plans_maintenance_and_every_referente_gets_a_notice(ops):
    ops.login(DEMO_SUPPORT)
    start = (dt.datetime.now(ROME) + dt.timedelta(days=5)).replace(second=0, microsecond=0)
    end = start + dt.timedelta(hours=2)
    fields = {
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": end.strftime("%Y-%m-%dT%H:%M"),
        "affects": "pagamenti",
        "enti": "",
    }
    ops.post("/ops/sla/maintenance", fields, status=303)
    with ops.factory() as session:
        window = session.scalars(sa.select(SlaMaintenance)).one()
        assert window.starts_at == start.astimezone(dt.UTC)
        recipients = set(session.scalars(sa.select(SlaMail.recipient)))
        referenti = set(
            session.scalars(
                sa.select(Ente.referente_email).where(Ente.referente_email.is_not(None))
            )
        )
        assert recipients == referenti and recipients
    page = ops.app.get("/ops/sla/maintenance")
    assert "pagamenti" in page.text
    ops.post(f"/ops/sla/maintenance/{window.id}/cancel", {}, status=303)
    with ops.factory() as session:
        assert session.get(SlaMaintenance, window.id).cancelled_at is not None
    wrong = dict(fields, ends_at=fields["starts_at"])
    assert "after the start" in ops.post("/ops/sla/maintenance", wrong, status=400).text
    garbage = dict(fields, starts_at="tomorrow")
    ops.post("/ops/sla/maintenance", garbage, status=400)


def test_the_report_page_and_its_pdf(ops):
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/sla/report?period=2026-Q3")
    for key in ("availability", "answers_2s", "take_over", "activation", "maintenance_notice"):
        assert f'id="verdict-{key}"' in page.text
    assert 'id="verdict-activation" data-status="no data"' in page.text
    assert page.text.count("data:image/svg+xml;base64,") == 4
    pdf = ops.app.get("/ops/sla/report.pdf?period=2026-Q3")
    assert pdf.content_type == "application/pdf" and pdf.body.startswith(b"%PDF")
    ops.app.get("/ops/sla/report?period=2026-Q9", status=400)


def test_the_report_of_any_range_of_days_and_its_pdf_for_the_same_range(ops):
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/sla/report?from=2026-01-05&to=2026-02-10")
    assert "SLA 05/01/2026 – 10/02/2026" in page.text
    assert 'value="2026-01-05"' in page.text and 'value="2026-02-10"' in page.text
    link = page.html.find(id="report-pdf")["href"]
    assert "from=2026-01-05" in link and "to=2026-02-10" in link
    pdf = ops.app.get(link)
    assert pdf.content_type == "application/pdf" and pdf.body.startswith(b"%PDF")
    assert 'filename="sla-2026-01-05_2026-02-10.pdf"' in pdf.headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-01-05", "Give both days"),
        ("from=2026-01-05&to=5/2/2026", "YYYY-MM-DD"),
        ("from=2026-02-10&to=2026-01-05", "comes after the last"),
        ("from=2099-01-01&to=2099-01-02", "cannot start after today"),
        ("from=2024-01-01&to=2025-12-31", "at most 366 days"),
        ("period=2026-Q9", "four-month period"),
    ],
)
def test_a_bad_range_is_refused_with_the_reason_on_the_page_and_for_the_pdf(ops, query, message):
    ops.login(DEMO_SUPPORT)
    page = ops.app.get(f"/ops/sla/report?{query}", status=400)
    assert message in page.html.find(id="range-error").text
    assert 'id="verdict-availability"' in page.text  # the current period is still shown
    pdf = ops.app.get(f"/ops/sla/report.pdf?{query}", status=400)
    assert message in pdf.text


def test_the_reasons_for_a_bad_range_are_translated(ops):
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/sla/report?from=2026-02-10&to=2026-01-05&lang=it", status=400)
    assert "The first day" not in page.html.find(id="range-error").text


def _pdf_text(body: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(body)
    return "\n".join(page.get_textpage().get_text_range() for page in document)


def test_the_report_in_german_names_an_anomaly_kind_in_german_on_the_page_and_in_the_pdf(ops):
    with ops.factory.begin() as session:
        session.add(Anomaly(kind="double_payment", ente_id=_ente(session, A).id, detail="x"))
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/sla/report?period=2026-Q3&lang=de")
    kinds = [th.text for th in page.html.find(attrs={"aria-labelledby": "h-anomalies"})("th")]
    assert "zweimal bezahlt" in kinds and "double_payment" not in kinds
    text = _pdf_text(ops.app.get("/ops/sla/report.pdf?period=2026-Q3&lang=de").body)
    assert "zweimal bezahlt" in text and "double_payment" not in text
    assert "Offene Anomalien am Ende jedes Tages" in text  # a chart's title
    assert "Open anomalies" not in text and "Service levels" not in text
    english = _pdf_text(ops.app.get("/ops/sla/report.pdf?period=2026-Q3&lang=en").body)
    assert "paid twice" in english and "Open anomalies at the end of each day" in english


def test_the_report_names_the_tickets_severities_in_words(ops):
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/sla/report?period=2026-Q3&lang=de")
    rows = [th.text for th in page.html.find(attrs={"aria-labelledby": "h-tickets"}).tbody("th")]
    assert rows == ["blockierend", "nicht blockierend"]
