"""/metrics: the figures in Prometheus format, read at scrape time, for allowed callers only."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from webtest import TestApp

from hub import outbox
from hub.db import utcnow
from hub.models import OutboxMessage
from hub.models.sla import SlaMinute
from hub.notify import webhooks
from tests.factories import make_ente

pytestmark = pytest.mark.pg


def scrape(app: TestApp, **kwargs) -> dict[tuple[str, tuple], float]:
    response = app.get("/metrics", **kwargs)
    assert response.content_type == "text/plain"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_scrape_follows_the_outbox_and_the_deliveries(build_app, pg_url, committed_factory):
    app = build_app(pg_url)
    before = scrape(app)
    assert before[("payhub_outbox_backlog", ())] == 0
    assert before[("payhub_webhook_deliveries", (("state", "pending"),))] == 0
    assert ("payhub_queue_messages", (("kind", "ready"), ("queue", "default"))) not in before

    with committed_factory.begin() as session:
        ente = make_ente(session)
        endpoint = webhooks.register_endpoint(session, ente, "https://ente.example/hook").endpoint
        webhooks.notify(session, endpoint, "evt-1", "payment.paid", {"n": 1})
        outbox.enqueue(session, "noop", n=1)
        old = outbox.enqueue(session, "noop", n=2)
    with committed_factory.begin() as session:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == old.id)
            .values(created_at=utcnow() - dt.timedelta(minutes=10))
        )

    after = scrape(app)
    assert after[("payhub_outbox_backlog", ())] == 3  # the delivery's message and two more
    assert 590 < after[("payhub_outbox_oldest_age_seconds", ())] < 700
    assert after[("payhub_webhook_deliveries", (("state", "pending"),))] == 1
    assert after[("payhub_webhook_oldest_undelivered_age_seconds", ())] >= 0


def test_dead_outbox_rows_are_counted_apart_and_expired_claims_are_summed(
    build_app, pg_url, committed_factory
):
    with committed_factory.begin() as session:
        ente = make_ente(session)
        endpoint = webhooks.register_endpoint(session, ente, "https://ente.example/hook").endpoint
        delivery = webhooks.notify(session, endpoint, "evt-2", "payment.paid", {"n": 2})
        delivery.expired_claims = 2
        other = webhooks.notify(session, endpoint, "evt-3", "payment.paid", {"n": 3})
        other.expired_claims = 1
        dead = outbox.enqueue(session, "noop", n=3)
        late = outbox.enqueue(session, "noop", n=4)  # given up, then processed after all
    with committed_factory.begin() as session:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.message_id.not_in([dead.message_id, late.message_id]))
            .values(processed_at=utcnow())
        )
        outbox.give_up(session, [dead.id, late.id], reason="not processed after 10 sends")
        outbox.mark_processed(session, late.message_id)
    samples = scrape(build_app(pg_url))
    assert samples[("payhub_outbox_backlog", ())] == 0  # dead rows are not the backlog
    assert samples[("payhub_outbox_oldest_age_seconds", ())] == 0
    assert samples[("payhub_outbox_dead", ())] == 1
    assert samples[("payhub_webhook_expired_claims", ())] == 3


def test_scrape_shows_station_answer_times_and_receipts_rate(build_app, pg_url, committed_factory):
    minute = utcnow().replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    with committed_factory.begin() as session:
        for source, count, over in (("a:1", 60, 0), ("b:2", 40, 2)):
            session.add(
                SlaMinute(
                    minute=minute,
                    operation="paVerifyPaymentNotice",
                    source=source,
                    count=count,
                    over_threshold=over,
                    total_seconds=count * 0.01,
                    max_seconds=2.5 if over else 0.05,
                    histogram=[count - over, 0, 0, 0, 0, 0, 0, over, 0, 0],
                )
            )
    samples = scrape(build_app(pg_url))
    op = (("operation", "paVerifyPaymentNotice"),)
    assert samples[("payhub_station_answers", op)] == 100
    assert samples[("payhub_station_answers_within_2s_ratio", op)] == pytest.approx(0.98)
    assert samples[("payhub_station_answer_seconds_max", op)] == 2.5
    assert samples[("payhub_station_answer_seconds_p98", op)] == 0.025
    assert samples[("payhub_receipts_per_minute", ())] == 0


def test_scrape_counts_the_redis_queues(build_app, pg_url, redis_url, committed_factory):
    import redis

    app = build_app(
        pg_url,
        **{
            "payhub.broker": "redis",
            "payhub.redis_url": redis_url,
            "payhub.redis_namespace": "metrics-test",
            "payhub.session_secret": "s" * 40,
            "payhub.ops_secret": "o" * 40,
        },
    )
    broker = app.app.registry["dramatiq.broker"]
    actor = broker.get_actor(sorted(broker.get_declared_actors())[0])
    broker.enqueue(actor.message())
    broker.enqueue(actor.message())
    samples = scrape(app)
    ready = ("payhub_queue_messages", (("kind", "ready"), ("queue", actor.queue_name)))
    assert samples[ready] == 2
    assert samples[("payhub_redis_up", ())] == 1
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    assert scrape(app)[ready] == 0


def test_metrics_are_refused_outside_the_allowed_networks(build_app, pg_url):
    app = build_app(pg_url)
    app.get("/metrics", extra_environ={"REMOTE_ADDR": "203.0.113.9"}, status=403)
    app.get("/metrics", extra_environ={"REMOTE_ADDR": "::1"}, status=200)
    assert (
        "payhub_outbox_backlog"
        not in app.get("/metrics", extra_environ={"REMOTE_ADDR": "10.1.2.3"}, status=403).text
    )


def test_allowed_networks_and_token_are_settings(build_app, pg_url):
    app = build_app(
        pg_url,
        **{"payhub.metrics_allowed_networks": "10.0.0.0/8", "payhub.metrics_token": "s3cret"},
    )
    app.get("/metrics", status=403)  # loopback is no longer in the list
    app.get("/metrics", extra_environ={"REMOTE_ADDR": "10.9.9.9"}, status=200)
    far = {"REMOTE_ADDR": "198.51.100.7"}
    app.get("/metrics", extra_environ=far, headers={"Authorization": "Bearer nope"}, status=403)
    app.get("/metrics", extra_environ=far, headers={"Authorization": "Bearer s3cret"}, status=200)
