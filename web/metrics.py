"""``/metrics``: the platform's figures in Prometheus text format, for the monitoring network only.

The figures come from ``hub.metrics.collect`` at scrape time (PostgreSQL and Redis are shared, so
every web worker process answers the same). Dramatiq's own counters (messages, errors, durations per
actor) are served by each ``payhub worker`` on ``payhub.worker_metrics_port``.

Settings:
  payhub.metrics_allowed_networks  comma-separated CIDRs that may scrape (default: loopback only;
                                   empty: nobody by address, only with the token)
  payhub.metrics_token             a bearer token that also lets a scraper in from anywhere
                                   (``Authorization: Bearer <token>``; default: none)

Behind a reverse proxy every request comes from the proxy's address: the proxy must not forward
``/metrics`` from the internet (deploy/nginx/payhub.conf refuses it).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pyramid.httpexceptions import HTTPForbidden
from pyramid.response import Response

from hub import metrics
from hub.config import Config, as_config, from_registry

log = structlog.get_logger(__name__)

DEFAULT_ALLOWED_NETWORKS = "127.0.0.0/8, ::1/128"


def parse_networks(value: str) -> list[Any]:
    return [
        ipaddress.ip_network(n.strip(), strict=False) for n in str(value).split(",") if n.strip()
    ]


class Guard:
    """Who may read the figures: a caller from an allowed network, or one with the token."""

    def __init__(self, settings: Config | dict[str, Any]) -> None:
        config = as_config(settings)
        self.networks = parse_networks(config.metrics_allowed_networks)
        self.token = config.metrics_token.strip()

    def allows(self, request: Any) -> bool:
        if self.token:
            given = request.headers.get("Authorization", "")
            if hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return True
        try:
            addr = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            return False
        return any(addr in net for net in self.networks)


class StatusCollector:
    """A prometheus_client collector that reads ``hub.metrics.collect`` on every scrape."""

    def __init__(self, session_factory: Any, broker: Any) -> None:
        self.session_factory, self.broker = session_factory, broker

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.session_factory() as session:
            status = metrics.collect(session, self.broker)
            session.rollback()
        yield from families(status)


def families(status: metrics.Status) -> Iterator[GaugeMetricFamily]:
    yield GaugeMetricFamily(
        "payhub_outbox_backlog",
        "Outbox messages whose work is not recorded as done yet.",
        value=status.outbox_backlog,
    )
    yield GaugeMetricFamily(
        "payhub_outbox_oldest_age_seconds",
        "Age of the oldest unfinished outbox message (0: none).",
        value=status.outbox_oldest_age_seconds,
    )
    yield GaugeMetricFamily(
        "payhub_outbox_dead",
        "Outbox messages given up after their attempt cap (not backlog).",
        value=status.outbox_dead,
    )
    deliveries = GaugeMetricFamily(
        "payhub_webhook_deliveries", "Webhook deliveries by state.", labels=["state"]
    )
    for state in sorted(
        {"pending", "sending", "retrying", "delivered", "dead", *status.deliveries}
    ):
        deliveries.add_metric([state], status.deliveries.get(state, 0))
    yield deliveries
    yield GaugeMetricFamily(
        "payhub_webhook_expired_claims",
        "Sending leases that expired, over all deliveries: attempts of unknown outcome "
        "(the receiver may have had the event twice, with the same X-Payhub-Event-Id).",
        value=status.deliveries_expired_claims,
    )
    yield GaugeMetricFamily(
        "payhub_webhook_oldest_undelivered_age_seconds",
        "Age of the oldest delivery neither delivered nor dead (0: none).",
        value=status.deliveries_oldest_undelivered_age_seconds,
    )
    yield GaugeMetricFamily(
        "payhub_receipts_per_minute",
        f"Receipts received per minute over the last {status.receipts_window_minutes} minutes.",
        value=status.receipts_per_minute,
    )
    window = f"over the last {status.station_window_minutes} minutes"
    gauges = {
        "count": GaugeMetricFamily(
            "payhub_station_answers", f"paForNode answers {window}.", labels=["operation"]
        ),
        "mean_seconds": GaugeMetricFamily(
            "payhub_station_answer_seconds_mean",
            f"Mean paForNode answer time {window}.",
            labels=["operation"],
        ),
        "max_seconds": GaugeMetricFamily(
            "payhub_station_answer_seconds_max",
            f"Longest paForNode answer time {window}.",
            labels=["operation"],
        ),
        "within_threshold_ratio": GaugeMetricFamily(
            "payhub_station_answers_within_2s_ratio",
            f"Share of paForNode answers within 2 s {window} (the SLA wants 0.98).",
            labels=["operation"],
        ),
        "p98_seconds": GaugeMetricFamily(
            "payhub_station_answer_seconds_p98",
            f"Upper bound of the histogram bucket holding the 98th percentile {window}.",
            labels=["operation"],
        ),
    }
    for op, times in status.station.items():
        for name, gauge in gauges.items():
            value = getattr(times, name)
            gauge.add_metric([op], float("inf") if value is None else value)
    yield from gauges.values()
    if status.queues is not None:
        queues = GaugeMetricFamily(
            "payhub_queue_messages",
            "Dramatiq messages in Redis by queue and kind.",
            labels=["queue", "kind"],
        )
        for queue, kinds in status.queues.items():
            for kind, n in kinds.items():
                queues.add_metric([queue, kind], n)
        yield queues
        yield GaugeMetricFamily(
            "payhub_redis_up",
            "Whether Redis answered this scrape.",
            value=0 if status.errors else 1,
        )


def metrics_view(request: Any) -> Response:
    guard: Guard = request.registry["metrics.guard"]
    if not guard.allows(request):
        log.info("metrics.refused", remote_addr=request.remote_addr)
        raise HTTPForbidden()
    body = generate_latest(request.registry["metrics.registry"])
    return Response(
        body=body,
        content_type=CONTENT_TYPE_LATEST.split(";")[0],
        charset="utf-8",
        cache_control="no-store",
    )


def includeme(config: Any) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        StatusCollector(config.registry["db.session_factory"], config.registry["dramatiq.broker"])
    )
    config.registry["metrics.registry"] = registry
    config.registry["metrics.guard"] = Guard(from_registry(config.registry))
    config.add_route("metrics", "/metrics")
    config.add_view(metrics_view, route_name="metrics", request_method="GET")
