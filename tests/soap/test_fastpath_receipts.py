"""paSendRT(V2) answered by the fast path in front of Pyramid, with the full path's outcomes:
stored and committed on OK, nothing kept on KO, PAA_SYSTEM_ERROR on a failed commit, and any
other failure handed to the full path untouched."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub import actor_names, payments
from hub.models import OutboxMessage, Receipt
from tests.soap.test_fastpath import spy_on
from tests.soap.test_operations import fault_code, verify_req
from tests.soap.test_station_today import (
    post,
    receipt_of,
    sanp_option,
    sanp_receipt,
    serialise,
)

pytestmark = pytest.mark.pg


@pytest.fixture
def stored_here(monkeypatch):
    """For each receipt: True if the fast path answered it, False if it handed it on."""
    return spy_on(monkeypatch, "_store")


def _receipts(factory, receipt_id: str) -> int:
    with factory() as s:
        return s.scalar(
            sa.select(sa.func.count()).select_from(Receipt).where(Receipt.receipt_id == receipt_id)
        )


def _outcomes(app) -> dict[str, int]:
    """The SLA recorder's paSendRTV2 outcomes so far (KPIs B.5/B.9)."""
    recorder = app.app.registry["sla.recorder"]
    counted: dict[str, int] = {}
    for key, n in recorder._outcomes.items():
        if key[1] == "paSendRTV2":
            counted[key[4]] = counted.get(key[4], 0) + n
    return counted


@pytest.mark.parametrize("version", [2, 1])
def test_a_receipt_is_stored_and_committed_by_the_fast_path_and_its_message_relayed(
    app, check, seeded, samples, stored_here, version, monkeypatch
):
    from actors import outbox as relay

    sent: list[dict] = []
    real_send = relay.send
    monkeypatch.setattr(
        relay, "send", lambda broker, message: (sent.append(message), real_send(broker, message))
    )
    root = sanp_receipt(samples, version)
    res = post(app, serialise(root))
    assert check(res.body).findtext("outcome") == "OK"
    assert stored_here == [True] and res.headers["X-Request-Id"]
    option = sanp_option(seeded)
    assert option.status == "paid" and option.paid_cents == option.amount_cents
    assert _receipts(seeded, receipt_of(root).findtext("receiptId")) == 1
    with seeded() as s:  # committed, and handed to the broker after the commit
        messages = s.scalars(
            sa.select(OutboxMessage).where(
                OutboxMessage.actor_name == actor_names.PAYMENT_STATUS_CHANGED
            )
        ).all()
    (message,) = [m for m in messages if m.args["option_id"] == option.id]
    assert message.args["event"] == "receive_receipt" and message.sent_at is not None
    assert [m["message_id"] for m in sent] == [message.message_id]  # sent after the commit


def test_a_duplicate_is_a_ko_from_the_fast_path_and_keeps_nothing_new(
    app, check, seeded, samples, stored_here
):
    body = serialise(sanp_receipt(samples))
    assert check(post(app, body).body).findtext("outcome") == "OK"
    again = check(post(app, body).body)
    assert fault_code(again) == "PAA_RECEIPT_DUPLICATA"
    assert stored_here == [True, True]
    assert _receipts(seeded, receipt_of(sanp_receipt(samples)).findtext("receiptId")) == 1


def test_a_failure_before_the_commit_hands_the_receipt_to_the_full_path_once(
    app, check, seeded, samples, stored_here, monkeypatch
):
    """An amount that differs (flagged): the general path, written in the session's
    transaction, which the failure rolls back before the full path runs it again."""
    real = payments.store_receipt
    failures: list[int] = []

    def fails_on_the_fast_path(session, *args, **kwargs):
        if not failures:  # the fast path's try; the full path's goes through
            failures.append(1)
            real(session, *args, **kwargs)  # written, then lost with the rollback
            raise RuntimeError("something below failed")
        return real(session, *args, **kwargs)

    monkeypatch.setattr(payments, "store_receipt", fails_on_the_fast_path)
    root = sanp_receipt(samples)
    _pay_more(root)
    res = post(app, serialise(root))
    assert check(res.body).findtext("outcome") == "OK"
    assert stored_here == [False] and failures == [1]
    assert _receipts(seeded, receipt_of(root).findtext("receiptId")) == 1
    assert sanp_option(seeded).status == "paid"


def test_a_failure_after_the_ordinary_receipts_statement_keeps_it_stored_once(
    app, check, seeded, samples, stored_here, monkeypatch
):
    """An ordinary receipt is committed by its one statement: a failure after it cannot take
    it back. The full path then finds it stored and answers PAA_RECEIPT_DUPLICATA, which ends
    the Node's deliveries as an OK would; the receipt and the move are there once."""
    real = payments.store_receipt
    failures: list[int] = []

    def fails_after(session, *args, **kwargs):
        outcome = real(session, *args, **kwargs)
        if not failures:
            failures.append(1)
            raise RuntimeError("something after the statement failed")
        return outcome

    monkeypatch.setattr(payments, "store_receipt", fails_after)
    root = sanp_receipt(samples)
    res = post(app, serialise(root))
    assert fault_code(check(res.body)) == "PAA_RECEIPT_DUPLICATA"
    assert stored_here == [False] and failures == [1]
    assert _receipts(seeded, receipt_of(root).findtext("receiptId")) == 1
    option = sanp_option(seeded)
    assert option.status == "paid" and option.paid_cents == option.amount_cents


def _pay_more(root) -> None:
    """Make the receipt's amount one euro more than the notice's: not an ordinary receipt
    (stored, settled and flagged on the general path)."""
    amount = receipt_of(root).find("paymentAmount")
    amount.text = str(Decimal(amount.text) + Decimal("1.00"))


def test_a_failed_commit_is_paa_system_error_and_counted_as_such(
    app, check, seeded, samples, stored_here, monkeypatch
):
    before = _outcomes(app)

    def broken_commit(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Session, "commit", broken_commit)
    root = sanp_receipt(samples)
    _pay_more(root)  # the general path: written in the session's transaction
    res = post(app, serialise(root))
    monkeypatch.undo()
    answer = check(res.body)
    assert fault_code(answer) == "PAA_SYSTEM_ERROR" and b"disk full" not in res.body
    assert stored_here == [True]
    assert _receipts(seeded, receipt_of(root).findtext("receiptId")) == 0
    assert sanp_option(seeded).status == "payable"
    after = _outcomes(app)
    assert after.get("OK", 0) == before.get("OK", 0)  # the view's OK taken back
    assert after.get("PAA_SYSTEM_ERROR", 0) == before.get("PAA_SYSTEM_ERROR", 0) + 1


def test_after_a_restart_an_ordinary_receipt_is_sent_again_and_another_handed_on(
    make_app, check, seeded, samples, stored_here, pg_engine
):
    """The database drops every connection the threads keep (a restart). An ordinary
    receipt's one statement is sent once more on a new connection (it may run twice: a
    second run finds the notice paid); a receipt on the general path, written in the
    session's transaction, is handed to the full path; the next is stored here again. The
    station is cached, as in service (read, it would meet the dropped connection first)."""
    app = make_app(**{"payhub.soap_station_cache_seconds": "60"})
    first = sanp_receipt(samples)
    receipt_of(first).find("outcome").text = "KO"  # stored, settles nothing: warms the path
    assert check(post(app, serialise(first)).body).findtext("outcome") == "OK"
    assert check(post(app, verify_req()).body).findtext("outcome") == "OK"  # its connection
    with pg_engine.connect() as conn:  # a restart, as the kept connections see it
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    second = sanp_receipt(samples)
    receipt_of(second).find("receiptId").text = "after-the-restart"
    res = post(app, serialise(second))
    assert check(res.body).findtext("outcome") == "OK"
    assert stored_here == [True, True]
    assert _receipts(seeded, "after-the-restart") == 1
    assert sanp_option(seeded).status == "paid"
    third = sanp_receipt(samples)
    receipt_of(third).find("receiptId").text = "on-the-general-path"
    receipt_of(third).find("outcome").text = "KO"
    assert check(post(app, serialise(third)).body).findtext("outcome") == "OK"
    assert stored_here[-1] is False  # its session's connection had been dropped
    assert _receipts(seeded, "on-the-general-path") == 1
    fourth = sanp_receipt(samples)
    receipt_of(fourth).find("receiptId").text = "on-a-new-connection"
    receipt_of(fourth).find("outcome").text = "KO"
    assert check(post(app, serialise(fourth)).body).findtext("outcome") == "OK"
    assert stored_here[-1] is True  # the next receipt is stored here again


def test_with_the_setting_off_receipts_take_the_full_path(
    make_app, check, seeded, samples, stored_here
):
    app = make_app(**{"payhub.soap_fast_receipts": "false"})
    root = sanp_receipt(samples)
    assert check(post(app, serialise(root)).body).findtext("outcome") == "OK"
    assert stored_here == []
    assert sanp_option(seeded).status == "paid"


@pytest.mark.parametrize("ordinary", [True, False], ids=["one-statement", "general-path"])
def test_with_deferred_messages_a_receipts_follow_up_is_left_unsent_for_the_relay(
    make_app, check, seeded, samples, stored_here, monkeypatch, ordinary
):
    import dramatiq

    from actors import outbox as relay

    sent: list[dict] = []
    monkeypatch.setattr(relay, "send", lambda broker, message: sent.append(message))
    app = make_app(**{"payhub.soap_defer_messages": "true"})
    root = sanp_receipt(samples)
    if not ordinary:
        _pay_more(root)
    assert check(post(app, serialise(root)).body).findtext("outcome") == "OK"
    assert stored_here == [True] and sent == []  # the request sent nothing to the broker
    option = sanp_option(seeded)
    assert option.status == "paid"

    def follow_up() -> OutboxMessage:
        with seeded() as s:
            (row,) = s.scalars(
                sa.select(OutboxMessage).where(
                    OutboxMessage.actor_name == actor_names.PAYMENT_STATUS_CHANGED,
                    OutboxMessage.args["option_id"].as_integer() == option.id,
                )
            ).all()
            return row

    unsent = follow_up()
    assert (unsent.sent_at, unsent.lease_until, unsent.attempts) == (None, None, 0)
    broker = dramatiq.get_broker()
    broker.flush_all()
    assert relay.relay_unsent(broker, seeded) >= 1  # the scheduler's relay loop
    queued = [dramatiq.Message.decode(m) for m in broker.queues["default"].queue]
    assert unsent.message_id in {m.message_id for m in queued}
    relayed = follow_up()
    assert relayed.sent_at is not None and relayed.attempts == 1
