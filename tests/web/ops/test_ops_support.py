"""Flows, bank credits and the statement upload; support's stuck payments, anomalies and
dead letters, and their audited actions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from webtest import Upload

from hub import payments
from hub.models import Anomaly, AuditEvent, Ente, PaymentOption, StateTransition, WebhookDelivery
from hub.notify import webhooks
from hub.reconciliation import flows
from hub.seed import DEMO_SUPPORT
from nodesim.bank import statement_csv
from nodesim.reporting import Credit
from tests.factories import FLOW_DAY, entry, flow_bytes, make_position, paid_option
from tests.web.ops.conftest import A, B


def _ente(session, ec: str) -> Ente:
    return session.scalar(sa.select(Ente).where(Ente.fiscal_code == ec))


def _reported(ops, ec: str = A):
    """A paid option of ``ec`` reported by a stored flow; (option id, flow id, statement)."""
    with ops.factory.begin() as session:
        ente = _ente(session, ec)
        option, rid = paid_option(session, ente)
        flow = flows.store_flow(session, flow_bytes(ente, [entry(option, rid)])).flow
        credit = Credit(
            booking_date=FLOW_DAY + dt.timedelta(days=1),
            amount=Decimal(flow.computed_total_cents) / 100,
            iban="IT60X0542811101000000123456",
            ec=ec,
            flow_id=flow.flow_id,
            debtor_name="Banca di prova",
            debtor_bic="BCITITMM",
            reference="RIV20261127BCITITMM0001",
        )
        return option.id, flow.id, statement_csv([credit]).encode()


def _audit_actions(ops) -> list[str]:
    with ops.factory() as session:
        return list(session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_flows_list_and_detail_with_matched_notices_and_scope(ops):
    option_id, flow_pk, _ = _reported(ops)
    ops.login()
    flows = ops.app.get(f"/ops/enti/{A}/flows")
    assert "2026-11-27BCITITMM-0001" in flows.text
    detail = ops.app.get(f"/ops/enti/{A}/flows/{flow_pk}")
    assert f"/ops/enti/{A}/payments/{option_id}" in detail.text
    ops.app.get(f"/ops/enti/{B}/flows/{flow_pk}", status=404)


def test_statement_upload_reconciles_a_reported_payment_and_a_second_load_adds_nothing(ops):
    option_id, _flow_pk, statement = _reported(ops)
    ops.login()
    form = ops.app.get(f"/ops/enti/{A}/credits").forms[1]
    form["statement"] = Upload("statement.csv", statement, "text/csv")
    page = form.submit(status=303).follow()
    assert "1 credits added, 0 already loaded, 1 payments reconciled" in page.text
    assert "2026-11-27BCITITMM-0001" in page.text  # the credit names its flow
    with ops.factory() as session:
        assert session.get(PaymentOption, option_id).status == "reconciled"
    form = page.forms[1]
    form["statement"] = Upload("statement.csv", statement, "text/csv")
    again = form.submit(status=303).follow()
    assert "0 credits added, 1 already loaded, 0 payments reconciled" in again.text
    assert _audit_actions(ops).count("ops.statement_upload") == 2
    flows = ops.app.get(f"/ops/enti/{A}/flows")
    assert "reconciled" in flows.text


def test_statement_upload_needs_csrf_refuses_big_and_bad_files(ops):
    ops.login()
    ops.app.post(
        f"/ops/enti/{A}/statement",
        upload_files=[("statement", "s.csv", b"x")],
        status=400,
        headers={"Referer": "https://payhub.test/ops/"},
    )
    big = ops.post(
        f"/ops/enti/{A}/statement",
        {},
        upload_files=[("statement", "s.csv", b"x" * 6000)],
        status=413,
    )
    assert "larger than" in big.text
    bad = ops.post(
        f"/ops/enti/{A}/statement",
        {},
        upload_files=[("statement", "s.csv", b"not;a;statement\n")],
        status=400,
    )
    assert "could not be read" in bad.text


def test_stuck_payments_lists_each_category(ops):
    now = dt.datetime.now(dt.UTC)
    with ops.factory.begin() as session:
        ente = _ente(session, B)
        lapsed = make_position(session, ente).options[0]
        payments.activate(
            session,
            ente,
            lapsed.notice_number,
            requested_cents=lapsed.amount_cents,
            primitive="paGetPaymentV2",
            now=now - dt.timedelta(hours=3),
        )
        old_paid, _ = paid_option(session, ente)
        old_paid.paid_at = now - dt.timedelta(days=4)
        endpoint = webhooks.register_endpoint(session, ente, "https://ente.example/h").endpoint
        dead = webhooks.notify(
            session, endpoint, "evt-1", "payment.paid", {"noticeNumber": old_paid.notice_number}
        )
        dead.status = "dead"
        notices = {"in-progress": lapsed.notice_number, "paid": old_paid.notice_number}
    option_id, _flow, _stmt = _reported(ops, B)
    with ops.factory.begin() as session:
        session.execute(
            sa.update(StateTransition)
            .where(StateTransition.option_id == option_id, StateTransition.to_state == "reported")
            .values(created_at=now - dt.timedelta(days=6))
        )
        notices["reported"] = session.get(PaymentOption, option_id).notice_number
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/support/stuck")
    for section, notice in notices.items():
        table = page.html.find("table", attrs={"aria-labelledby": section})
        assert table is not None and notice in table.text, section
    undelivered = page.html.find("table", attrs={"aria-labelledby": "undelivered"}).text
    assert notices["paid"] in undelivered and "dead" in undelivered


def test_resolve_an_anomaly_with_a_note(ops):
    with ops.factory.begin() as session:
        anomaly = Anomaly(kind="double_payment", ente_id=_ente(session, A).id, detail="twice")
        other = Anomaly(kind="credit_unknown_flow", ente_id=_ente(session, B).id, detail="?")
        session.add_all([anomaly, other])
    ops.login(DEMO_SUPPORT)
    listed = ops.app.get(f"/ops/support/anomalies?kind=double_payment&ente={A}")
    assert "twice" in listed.text and "credit_unknown_flow</td>" not in listed.text
    assert "<td>paid twice</td>" in listed.text  # the kind in words, not its code
    ops.post(f"/ops/support/anomalies/{anomaly.id}/resolve", {"note": ""}, status=303)
    form = next(
        f for f in listed.forms.values() if f.action.endswith(f"/anomalies/{anomaly.id}/resolve")
    )
    form["note"] = "refunded by bank transfer"
    form.submit(status=303).follow()
    with ops.factory() as session:
        row = session.get(Anomaly, anomaly.id)
        assert (row.resolution_note, row.resolved_by) == (
            "refunded by bank transfer",
            "ops:demo-support",
        )
        assert session.get(Anomaly, other.id).resolved_at is None
    assert "ops.anomaly_resolve" in _audit_actions(ops)
    assert "<td>twice" not in ops.app.get("/ops/support/anomalies").text  # the detail


def test_replay_a_dead_letter(ops):
    with ops.factory.begin() as session:
        ente = _ente(session, A)
        endpoint = webhooks.register_endpoint(session, ente, "https://ente.example/h").endpoint
        delivery = webhooks.notify(
            session, endpoint, "evt-9", "payment.paid", {"noticeNumber": "301000000000000001"}
        )
        delivery.status, delivery.attempts = "dead", 8
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/support/stuck")
    assert "Next attempt" in page.text  # the due time of the delivery's next send
    form = next(
        f for f in page.forms.values() if f.action.endswith(f"/deliveries/{delivery.id}/replay")
    )
    assert "The delivery will be sent again" in form.submit(status=303).follow().text
    with ops.factory() as session:
        row = session.get(WebhookDelivery, delivery.id)
        assert (row.status, row.attempts, row.replays) == ("pending", 0, 1)
    assert "ops.webhook_replay" in _audit_actions(ops)
    with ops.factory.begin() as session:
        session.get(WebhookDelivery, delivery.id).status = "delivered"
    again = ops.post(f"/ops/support/deliveries/{delivery.id}/replay", {}, status=303).follow()
    assert "cannot be replayed: it was delivered, is being sent right now" in again.text


def test_send_a_dead_outbox_message_again(ops):
    from hub import outbox
    from hub.models import OutboxMessage

    with ops.factory.begin() as session:
        row = outbox.enqueue(session, "noop", n=1)
    with ops.factory.begin() as session:
        outbox.give_up(session, [row.id], reason="not processed after 10 sends")
    ops.login()  # not support staff: no list, no action
    ops.app.get("/ops/support/stuck", status=403)
    ops.post(f"/ops/support/outbox/{row.id}/revive", {}, status=403)
    ops.app.reset()
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/support/stuck")
    table = page.html.find("table", attrs={"aria-labelledby": "dead-messages"})
    assert table is not None and "noop" in table.text and "10 sends" in table.text
    form = next(
        f for f in page.forms.values() if f.action.endswith(f"/support/outbox/{row.id}/revive")
    )
    assert "The message will be sent again" in form.submit(status=303).follow().text
    with ops.factory() as session:
        revived = session.get(OutboxMessage, row.id)
        assert (revived.dead_at, revived.attempts, revived.sent_at) == (None, 0, None)
    assert "ops.outbox_revive" in _audit_actions(ops)
    again = ops.post(f"/ops/support/outbox/{row.id}/revive", {}, status=303).follow()
    assert "cannot be sent again" in again.text
    ops.app.post(
        f"/ops/support/outbox/{row.id}/revive",
        status=400,
        headers={"Referer": "https://payhub.test/ops/"},
    )  # no CSRF token
