"""The dashboard at /ops/: Ente operators see their Enti's payments, flows and bank credits;
support staff see every Ente plus stuck payments and anomalies, and act on them.

Server-rendered Jinja2 pages in Italian and English (the checkout's catalogues, domain
``payhub``, and its CSS). Included after web.checkout, whose signed session carries the CSRF
token and the chosen language; the login itself is a separate ticket cookie
(web.ops.security). Settings:

- ``payhub.ops_secret``: signs the login cookie (random per process when unset, with a warning)
- ``payhub.ops_cookie_secure`` (true), ``payhub.ops_session_timeout`` (seconds, 28800)
- ``payhub.ops_statement_max_bytes`` (5 MiB): largest bank statement accepted by the upload
- ``payhub.ops_stuck_activation_grace_minutes`` (60), ``payhub.ops_stuck_paid_days`` (3),
  ``payhub.ops_stuck_reported_days`` (5): when a payment counts as stuck
"""

from __future__ import annotations

import secrets
from typing import Any

import structlog
from pyramid.events import BeforeRender

from hub.config import from_registry
from web.gate import add_body_limit
from web.ops import anomaly_text
from web.ops.security import OpsSecurityPolicy

log = structlog.get_logger(__name__)

# ids are PostgreSQL integers: more than 9 digits is no row (a 404), never an overflow (500)
ROUTES = (
    ("ops.home", "/"),
    ("ops.login", "/login"),
    ("ops.logout", "/logout"),
    ("ops.ente", "/enti/{ec}/"),
    ("ops.search", "/enti/{ec}/search"),
    ("ops.export", "/enti/{ec}/search.csv"),
    ("ops.option", "/enti/{ec}/payments/{option:[0-9]{1,9}}"),
    ("ops.flows", "/enti/{ec}/flows"),
    ("ops.flow", "/enti/{ec}/flows/{flow:[0-9]{1,9}}"),
    ("ops.flow_xml", "/enti/{ec}/flows/{flow:[0-9]{1,9}}.xml"),
    ("ops.flow_csv", "/enti/{ec}/flows/{flow:[0-9]{1,9}}.csv"),
    ("ops.credits", "/enti/{ec}/credits"),
    ("ops.credits_export", "/enti/{ec}/credits.csv"),
    ("ops.statement", "/enti/{ec}/statement"),
    ("ops.stuck", "/support/stuck"),
    ("ops.anomalies", "/support/anomalies"),
    ("ops.resolve", "/support/anomalies/{anomaly:[0-9]{1,9}}/resolve"),
    ("ops.replay", "/support/deliveries/{delivery:[0-9]{1,9}}/replay"),
    ("ops.revive", "/support/outbox/{message:[0-9]{1,9}}/revive"),
    ("ops.recover", "/support/recover"),
    # issue 18: the daily files
    ("ops.daily_files", "/enti/{ec}/daily-files"),
    ("ops.daily_file_zip", "/enti/{ec}/daily-files/{file:[0-9]{1,9}}.zip"),
    ("ops.daily_file_build", "/enti/{ec}/daily-files/build"),
    ("ops.daily_file_redeliver", "/enti/{ec}/daily-files/deliveries/{delivery:[0-9]{1,9}}"),
    ("ops.daily_files_missing", "/support/daily-files"),
    ("ops.daily_file_link", "/daily-files/link/{token}"),
    # the daily files' delivery targets (web/ops/dailyfile_targets.py)
    ("ops.daily_file_targets", "/enti/{ec}/daily-files/targets"),
    ("ops.daily_file_target_disable", "/enti/{ec}/daily-files/targets/{target:[0-9]{1,9}}/disable"),
    ("ops.daily_file_target_probe", "/enti/{ec}/daily-files/targets/{target:[0-9]{1,9}}/probe"),
    # the SLA contract (issue 19): web.ops.sla
    ("ops.sla_report", "/sla/report"),
    ("ops.sla_report_pdf", "/sla/report.pdf"),
    ("ops.sla_tickets", "/sla/tickets"),
    ("ops.sla_ticket", "/sla/tickets/{ticket:[0-9]{1,9}}"),
    ("ops.sla_maintenance", "/sla/maintenance"),
    ("ops.sla_maintenance_cancel", "/sla/maintenance/{window:[0-9]{1,9}}/cancel"),
    # ACA feed (issue 20)
    ("ops.aca", "/enti/{ec}/aca"),
    ("ops.aca_switch", "/enti/{ec}/aca/switch"),
    ("ops.aca_requeue", "/enti/{ec}/aca/{position:[0-9]{1,9}}/requeue"),
    # refund cases (issue 16): web/ops/refunds.py
    ("ops.refunds", "/refunds"),
    ("ops.refund_new", "/support/refunds/new"),
    ("ops.refund", "/refunds/{case:[0-9a-f-]{36}}"),
    ("ops.refund_step", "/refunds/{case:[0-9a-f-]{36}}/step"),
)


def includeme(config: Any) -> None:
    settings = from_registry(config.registry)
    secret = settings.ops_secret
    if not secret:
        # fine for one process; every process of a real deployment needs the same secret
        log.warning("ops.secret_missing")
        secret = secrets.token_hex(32)
    config.set_security_policy(
        OpsSecurityPolicy(
            secret,
            secure=settings.ops_cookie_secure,
            timeout=settings.ops_session_timeout,
        )
    )
    config.add_subscriber(_template_globals, BeforeRender)
    config.add_static_view("static", "web.ops:static", cache_max_age=3600)
    for name, pattern in ROUTES:
        config.add_route(name, pattern)
    config.scan("web.ops.views")
    config.scan("web.ops.reporting")
    # a statement somewhat too large gets the form's message; far too large, the gate's 413
    statement_max = from_registry(config.registry).ops_statement_max_bytes
    add_body_limit(config, "ops.statement", 2 * statement_max + 64 * 1024)
    config.scan("web.ops.support")
    config.scan("web.ops.recon")
    config.include("web.ops.activation")  # issue 15: activation requests (routes, views)
    config.scan("web.ops.dailyfiles")  # issue 18: the daily files
    config.scan("web.ops.dailyfile_targets")  # the daily files' delivery targets
    config.scan("web.ops.sla")  # the SLA contract (issue 19)
    config.scan("web.ops.aca")  # ACA feed (issue 20)
    config.include("web.ops.admin")  # administration (issue 15): /ops/admin/...
    config.scan("web.ops.refunds")  # refund cases (issue 16)


def _template_globals(event: Any) -> None:
    name = event.get("renderer_name") or ""
    if not name.startswith("web.ops:"):
        return
    from pyramid.csrf import get_csrf_token

    request = event["request"]
    event["csrf_token"] = get_csrf_token(request)
    event["lang"] = request.localizer.locale_name
    event["account"] = request.identity
    event.setdefault("refresh", 0)
    event.setdefault("errors", {})
    event.setdefault("messages", request.session.pop_flash())
    event.setdefault("flash_errors", request.session.pop_flash("error"))
    event["money"] = lambda cents: format_cents(cents, event["lang"])
    # an anomaly's detail (a code and its parameters) in the page's language
    event["anomaly_detail"] = lambda text: anomaly_text.sentence(request, text)
    event["anomaly_kind"] = lambda code: anomaly_text.kind(request, code)


def format_cents(cents: int | None, lang: str = "it") -> str:
    """12345 -> "123,45" in Italian and German, "123.45" in English (no thousands
    separator)."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    text = f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
    return text.replace(".", ",") if lang in ("it", "de") else text
