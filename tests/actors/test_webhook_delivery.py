"""Webhook delivery end to end: a payment's transition reaches a local HTTP receiver once, signed;
failures are retried with backoff, then dead-lettered and replayed; other Enti hear nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dramatiq
import pytest
import sqlalchemy as sa

from actors import outbox as relay
from actors.middleware import current_settings, use_settings
from hub import outbox, payments
from hub.models import OutboxMessage, PaymentOption, WebhookAttempt, WebhookDelivery
from hub.notify import webhooks
from tests.factories import make_ente, make_position, make_receipt

pytestmark = pytest.mark.pg


@dataclass
class Receiver:
    """A local endpoint that records every request and answers from a script."""

    url: str = ""
    answers: list[int] = field(default_factory=lambda: [200])  # the last one repeats
    delays: list[float] = field(default_factory=list)  # seconds before answering, per request
    requests: list[dict] = field(default_factory=list)

    def answer(self) -> tuple[int, float]:
        n = len(self.requests)
        status = self.answers[min(n - 1, len(self.answers) - 1)]
        return status, self.delays[n - 1] if n - 1 < len(self.delays) else 0.0


@pytest.fixture
def receivers(local_targets) -> Iterator[callable]:
    servers = []

    def start(*answers: int, delays: tuple[float, ...] = ()) -> Receiver:
        receiver = Receiver(answers=list(answers) or [200], delays=list(delays))

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, delay = receiver.answer()
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the client gave up (timeout)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fast_retries(stub_broker):
    use_settings(
        stub_broker,
        current_settings().replace(
            webhook_max_retries=2,
            webhook_min_backoff_ms=10,
            webhook_max_backoff_ms=50,
            webhook_timeout_seconds=0.5,
        ),
    )
    return stub_broker


def _drain(broker, worker) -> None:
    for _ in range(3):  # delivery messages follow the status-change messages
        broker.join("default", timeout=20_000)
        broker.join("webhooks", timeout=20_000)
        worker.join()


def _setup(factory, receiver: Receiver, **kw) -> dict:
    with factory.begin() as session:
        ente = make_ente(session)
        endpoint = webhooks.register_endpoint(session, ente, receiver.url, **kw)
        option = make_position(session, ente).options[0]
        return {
            "ente_id": ente.id,
            "ec": ente.fiscal_code,
            "notice": option.notice_number,
            "option_id": option.id,
            "secret": endpoint.secret,
            "key_id": endpoint.endpoint.key_id,
        }


def _pay(factory, world: dict, receipt_id: str = "r-1") -> None:
    with factory.begin() as session:
        option = session.get(PaymentOption, world["option_id"])
        payments.store_receipt(session, make_receipt(option, world["ec"], receipt_id=receipt_id))


def _verify(request: dict, secret: str, key_id: str) -> dict:
    """Check the signature as an Ente would, independently of hub.notify.webhooks."""
    parts = dict(p.split("=", 1) for p in request["headers"]["X-Payhub-Signature"].split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(time.time() - int(parts["t"])) < 60
    assert request["headers"]["X-Payhub-Key-Id"] == key_id
    return json.loads(request["body"])


def _deliveries(factory) -> list[WebhookDelivery]:
    with factory() as session:
        return list(session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _attempts(factory) -> list[tuple[int | None, str | None]]:
    with factory() as session:
        return [
            (a.status_code, a.error)
            for a in session.scalars(sa.select(WebhookAttempt).order_by(WebhookAttempt.id))
        ]


def test_a_payment_is_delivered_once_with_a_valid_signature_even_if_redelivered(
    committed_factory, stub_broker, stub_worker, receivers
):
    receiver = receivers(200)
    world = _setup(committed_factory, receiver)
    _pay(committed_factory, world)
    _drain(stub_broker, stub_worker)

    [request] = receiver.requests
    body = _verify(request, world["secret"], world["key_id"])
    assert body["type"] == "payment.paid" and body["noticeNumber"] == world["notice"]
    assert body["fromState"] == "payable" and body["toState"] == "paid"
    assert body["amount"] == body["paidAmount"] == "30.00"
    assert body["positionStatus"] == "paid" and body["enteFiscalCode"] == world["ec"]
    assert request["headers"]["X-Payhub-Event-Id"] == body["id"]
    assert b"RSSMRA80A01H501U" not in request["body"] and b"Rossi" not in request["body"]

    # the same status-change message again (a sweeper re-send), and a twin with a new id
    with committed_factory() as session:
        message = outbox.message_dict(
            session.scalar(
                sa.select(OutboxMessage).where(
                    OutboxMessage.actor_name == "payment_status_changed",
                    OutboxMessage.args["to_state"].as_string() == "paid",
                )
            )
        )
    relay.send(stub_broker, message)
    relay.send(stub_broker, {**message, "message_id": "a-brand-new-message-id"})
    _drain(stub_broker, stub_worker)
    assert len(receiver.requests) == 1
    [delivery] = _deliveries(committed_factory)
    assert delivery.status == "delivered" and delivery.attempts == 1


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    committed_factory, fast_retries, stub_worker, receivers
):
    receiver = receivers(200, 500, 200, delays=(2.0,))  # a timeout, a 500, then 200
    world = _setup(committed_factory, receiver)
    _pay(committed_factory, world)
    _drain(fast_retries, stub_worker)

    assert len(receiver.requests) == 3
    ids = {_verify(r, world["secret"], world["key_id"])["id"] for r in receiver.requests}
    assert len(ids) == 1  # the same event each time
    [delivery] = _deliveries(committed_factory)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 3, None)
    attempts = _attempts(committed_factory)
    # a timeout reads as any other failure: stored errors never tell port states apart
    assert attempts[0][0] is None and attempts[0][1] == "connection failed"
    assert [a[0] for a in attempts[1:]] == [500, 200]


def test_a_receiver_that_always_fails_gives_a_dead_letter_and_replay_delivers_it(
    committed_factory, fast_retries, stub_worker, receivers
):
    receiver = receivers(500)
    world = _setup(committed_factory, receiver)
    _pay(committed_factory, world)
    _drain(fast_retries, stub_worker)

    assert len(receiver.requests) == 3  # max_retries = 2
    [delivery] = _deliveries(committed_factory)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("dead", 3, 500)
    assert delivery.last_error == "HTTP 500"
    with committed_factory() as session:
        assert [d.id for d in webhooks.dead_letters(session, world["ente_id"])] == [delivery.id]

    receiver.answers = [200]
    with committed_factory.begin() as session:
        webhooks.replay(session, session.get(WebhookDelivery, delivery.id))
    _drain(fast_retries, stub_worker)
    assert len(receiver.requests) == 4
    _verify(receiver.requests[-1], world["secret"], world["key_id"])
    [delivery] = _deliveries(committed_factory)
    assert (delivery.status, delivery.attempts, delivery.replays) == ("delivered", 1, 1)
    assert [a[0] for a in _attempts(committed_factory)] == [500, 500, 500, 200]
    with committed_factory() as session:
        assert webhooks.dead_letters(session, world["ente_id"]) == []


def test_endpoints_of_another_ente_never_receive(
    committed_factory, stub_broker, stub_worker, receivers
):
    ours, theirs = receivers(200), receivers(200)
    world = _setup(committed_factory, ours)
    with committed_factory.begin() as session:
        other = make_ente(session, segregation_code="02")
        webhooks.register_endpoint(session, other, theirs.url)
        make_position(session, other)
    _pay(committed_factory, world)
    _drain(stub_broker, stub_worker)
    assert len(ours.requests) == 1 and theirs.requests == []


def test_an_endpoint_hears_only_the_events_it_subscribed_to(
    committed_factory, stub_broker, stub_worker, receivers
):
    receiver = receivers(200)
    world = _setup(committed_factory, receiver, events=["payment.cancelled"])
    with committed_factory.begin() as session:
        option = payments.lock_option_by_id(session, world["option_id"])
        payments.apply_event(session, option, "cancel", cause="test")
    _drain(stub_broker, stub_worker)
    [request] = receiver.requests
    assert _verify(request, world["secret"], world["key_id"])["type"] == "payment.cancelled"

    _pay(committed_factory, world)  # paid after cancel: not subscribed
    _drain(stub_broker, stub_worker)
    assert len(receiver.requests) == 1


def _wait_for(predicate, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_retry_survives_a_redis_wipe_because_its_due_time_is_in_postgresql(
    committed_factory, stub_broker, receivers
):
    import datetime as dt

    from actors.webhooks import sweep_due
    from hub.db import utcnow

    use_settings(
        stub_broker,
        current_settings().replace(webhook_min_backoff_ms=60000, webhook_timeout_seconds=0.5),
    )
    receiver = receivers(500, 200)
    world = _setup(committed_factory, receiver)
    _pay(committed_factory, world)
    worker = dramatiq.Worker(stub_broker, worker_timeout=100, worker_threads=2)
    worker.start()
    _wait_for(lambda: [d.status for d in _deliveries(committed_factory)] == ["retrying"])
    worker.stop()  # Redis and the workers restart empty: the delayed retry is gone
    stub_broker.flush_all()
    [delivery] = _deliveries(committed_factory)
    assert delivery.next_attempt_at > delivery.updated_at + dt.timedelta(seconds=50)
    lease = dt.timedelta(seconds=60)
    assert sweep_due(stub_broker, committed_factory, lease=lease) == 0  # not due yet

    with committed_factory.begin() as session:  # the due time comes
        session.get(WebhookDelivery, delivery.id).next_attempt_at = utcnow()
    assert sweep_due(stub_broker, committed_factory, lease=lease) == 1
    worker = dramatiq.Worker(stub_broker, worker_timeout=100, worker_threads=2)
    worker.start()
    try:  # (a stub queue emptied under a worker cannot be joined: watch the row instead)
        _wait_for(lambda: _deliveries(committed_factory)[0].status == "delivered")
    finally:
        worker.stop()
    assert len(receiver.requests) == 2
    [delivery] = _deliveries(committed_factory)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("delivered", 2, None)
    assert sweep_due(stub_broker, committed_factory, lease=lease) == 0


def test_a_flow_reporting_many_options_sends_one_message_and_each_option_its_webhook_once(
    committed_factory, stub_broker, stub_worker, receivers, monkeypatch
):
    from actors import payments as consumer
    from hub.reconciliation import flows
    from tests.factories import entry, flow_bytes, paid_option

    receiver = receivers(200)
    with committed_factory.begin() as session:
        ente = make_ente(session)
        endpoint = webhooks.register_endpoint(
            session, ente, receiver.url, events=["payment.reported"]
        )
        secret, key_id = endpoint.secret, endpoint.endpoint.key_id
        paid = [paid_option(session, ente) for _ in range(3)]
        ids = sorted(o.id for o, _ in paid)
        data = flow_bytes(ente, [entry(o, rid) for o, rid in paid])
    _drain(stub_broker, stub_worker)  # the receipts' own messages (not subscribed)
    # the chunk's second option fails once: the whole chunk is rolled back and retried
    failed: list[int] = []
    real = consumer.level1.notify_for_option

    def flaky(session, option_id):
        if option_id == ids[1] and not failed:
            failed.append(option_id)
            raise RuntimeError("a portal lookup failed")
        return real(session, option_id)

    monkeypatch.setattr(consumer.level1, "notify_for_option", flaky)
    monkeypatch.setitem(consumer.payment_status_changed.options, "min_backoff", 10)
    monkeypatch.setitem(consumer.payment_status_changed.options, "max_backoff", 50)
    with committed_factory.begin() as session:
        assert flows.store_flow(session, data).reported == 3
    with committed_factory() as session:
        [message] = session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.args["event"].as_string() == "report")
        ).all()
        assert message.args["option_ids"] == ids and "option_id" not in message.args
        sent = outbox.message_dict(message)
    for _ in range(3):
        _drain(stub_broker, stub_worker)
        if len(receiver.requests) >= 3:
            break
        time.sleep(0.2)
    assert failed == [ids[1]]
    bodies = [_verify(r, secret, key_id) for r in receiver.requests]
    assert sorted(b["type"] for b in bodies) == ["payment.reported"] * 3
    assert len({b["noticeNumber"] for b in bodies}) == 3
    # the chunk again (a sweeper re-send) and a twin with a new id: nothing more is sent
    relay.send(stub_broker, sent)
    relay.send(stub_broker, {**sent, "message_id": "another-chunk-message-id"})
    _drain(stub_broker, stub_worker)
    assert len(receiver.requests) == 3
    with committed_factory() as session:
        positions = session.scalars(sa.select(PaymentOption).where(PaymentOption.id.in_(ids))).all()
        assert {o.position.status for o in positions} == {"reported"}
