"""The one typed settings object, built once at start-up by web, worker and scheduler.

``load(settings)`` is how every process starts: the .ini's ``[app:main]`` settings merged with
the defaults and the environment (``hub.settings.load_settings``: ``PAYHUB_<KEY>``,
``DATABASE_URL``, ``REDIS_URL``), validated into a :class:`Config` (one field per
``payhub.<key>``, typed, with its default and what it is for), then the secrets checked
(``hub.settings.check_secrets``). An unknown ``payhub.*`` key (a typo in the .ini) or a value of
the wrong type stops the start with a :class:`SettingsError` naming the key. Other keys
(``sqlalchemy.url``, ``pyramid.*``, ``retry.*``, ``tm.*``, ``nodesim.*``) pass through to
Pyramid untouched (``Config.source``).

No other module reads a ``payhub.`` setting: the web app finds the object in its registry
(``request.registry["payhub.config"]``), actors through their middleware
(``actors.middleware.current_settings()``), the scheduler and commands from ``payhub.cli``.
Tests build one from a dict: ``Config.from_settings({"payhub.broker": "stub"})``.
"""

from __future__ import annotations

import difflib
import ipaddress
import zoneinfo
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.settings import (
    DEFAULTS,
    SettingsError,
    check_secrets,
    load_settings,
    normalise_database_url,
)

PREFIX = "payhub."
REGISTRY_KEY = "payhub.config"
DEFAULT_DATABASE_URL = DEFAULTS["sqlalchemy.url"]

__all__ = ["REGISTRY_KEY", "Config", "SettingsError", "as_config", "from_registry", "load", "start"]


def _d(description: str, default: Any = None) -> Any:
    return Field(default, description=description)


class Config(BaseModel):
    """Every ``payhub.<key>`` setting, as attribute ``<key>``; see docs/deployment.md."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    # database and broker
    sqlalchemy_url: str = _d("the database (sqlalchemy.url, DATABASE_URL)", DEFAULT_DATABASE_URL)
    db_pool_size: int = _d("connections kept per process (PostgreSQL)", 20)
    db_max_overflow: int = _d("extra connections per process under load", 20)
    db_pre_ping: bool = _d("test a pooled connection before use", True)
    broker: Literal["stub", "redis"] = _d(
        "redis in production; stub runs messages in-process", "stub"
    )
    redis_url: str = _d("Dramatiq's Redis (REDIS_URL)", "redis://127.0.0.1:6379/0")
    redis_namespace: str = _d("key prefix of the queues in Redis", "payhub")
    embedded_worker: bool = _d("run a worker and the scheduler in the web process (demo)", True)
    heartbeat_timeout_ms: int = _d("a dead worker's messages return to the queue after", 10_000)
    maintenance_chance: int = _d("(per million commands) how often Redis maintenance runs", 100_000)
    extra_actor_modules: tuple[str, ...] = _d("more actor modules to import (space-separated)", ())
    # secrets and sessions
    session_secret: str | None = _d("signs the citizens' checkout session cookie")
    ops_secret: str | None = _d("signs the /ops/ login cookie")
    require_secrets: bool = _d("refuse to start without both secrets (>= 32 characters)", False)
    session_cookie_secure: bool = _d("checkout cookie only over HTTPS", True)
    session_timeout: int = _d("checkout session lifetime, seconds", 3600)
    ops_cookie_secure: bool = _d("/ops/ cookie only over HTTPS", True)
    ops_session_timeout: int = _d("/ops/ login lifetime, seconds", 28_800)
    ops_statement_max_bytes: int = _d("largest bank statement uploaded in /ops/", 5 * 1024 * 1024)
    ops_stuck_activation_grace_minutes: int = _d("a payment in progress longer is stuck", 60)
    ops_stuck_paid_days: int = _d("paid but not reported after this many days is stuck", 3)
    ops_stuck_reported_days: int = _d("reported but not reconciled after this is stuck", 5)
    # outgoing e-mail (hub/mail.py): referenti, daily files, SLA notices
    smtp_host: str | None = _d("SMTP server; unset: payhub sends no e-mail")
    smtp_port: int = _d("SMTP port (587 for STARTTLS, 465 for TLS)", 587)
    smtp_security: Literal["starttls", "tls", "none"] = _d(
        "starttls or tls; none only to a loopback relay", "starttls"
    )
    smtp_username: str | None = _d("SMTP login (with smtp_password)")
    smtp_password: str | None = _d("SMTP password")
    smtp_timeout_seconds: float = _d("SMTP connect/command timeout", 30.0)
    mail_from: str = _d("From: of every message", "payhub <noreply@localhost>")
    link_max_age_days: int = _d("signed links in e-mails expire after", 14)
    # activation and change requests (issue 15: hub.onboarding.sla)
    activation_target_days: int = _d("working days to process a request (the SLA)", 15)
    activation_warning_days: int = _d("a request is near its target with fewer days left", 3)
    # the daily file (issue 18): hub/dailyfile/, actors/dailyfile.py
    daily_file_dir: str = _d("where the daily files (zips) are kept", "var/daily-files")
    daily_file_at: str = _d("when yesterday's files are built (HH:MM, Europe/Rome)", "01:00")
    daily_file_attach_max_bytes: int = _d("larger files are e-mailed as a link", 10 * 1024 * 1024)
    daily_file_max_retries: int = _d("delivery retries before a dead letter", 8)
    daily_file_min_backoff_ms: int = _d("first delivery retry after", 60_000)
    daily_file_max_backoff_ms: int = _d("longest wait between delivery retries", 3_600_000)
    daily_file_timeout_seconds: float = _d("one SFTP/FTPS transfer's time limit", 300.0)
    daily_file_sweep_seconds: int = _d("how often due deliveries are looked for", 30)
    # logging
    log_format: Literal["console", "json"] = _d("json in production", "console")
    log_level: str = _d("root log level", "INFO")
    # the SOAP station
    soap_enabled: bool = _d("mount the paForNode station", True)
    soap_path: str = _d("where the station is mounted", "/soap/paForNode")
    soap_public_url: str | None = _d("address written in ?wsdl; the probes' default target")
    soap_allowed_networks: str = _d("CIDRs allowed to call the station (comma-separated)", "")
    soap_auth_header: str = _d("'Header-Name: secret' every Node call must carry", "")
    soap_behind_mtls_proxy: bool = _d("a proxy verified the Node's client certificate", False)
    soap_mtls_verify_header: str = _d("where that proxy says SUCCESS", "X-SSL-Client-Verify")
    soap_open_station: bool = _d("knowingly run the station unprotected (test station)", False)
    soap_max_body_bytes: int = _d("larger SOAP requests are refused unread", 256 * 1024)
    soap_station_cache_seconds: float = _d("station configuration cache", 30.0)
    soap_activation_ttl_seconds: int = _d("how long a paGetPayment activation holds", 1800)
    soap_fast_receipts: bool = _d("store receipts in front of Pyramid (soap.fastpath)", True)
    soap_defer_messages: bool = _d(
        "the fast path's receipts leave their follow-up messages to the scheduler's relay", False
    )
    # bulk loads and notice batches
    bulk_load_dir: str = _d("uploaded bulk loads, shared by web and workers", "var/bulk-loads")
    bulk_max_bytes: int = _d("largest bulk load", 200 * 1024 * 1024)
    bulk_dry_run_inline_bytes: int = _d(
        "larger dry runs are checked by a worker (202; read the result at the load's status "
        "and report), smaller ones answered at once",
        2 * 1024 * 1024,
    )
    bulk_dry_run_max_errors: int = _d(
        "a dry run reports at most this many row errors (and their total count)", 1000
    )
    notice_batch_dir: str = _d("notice zips, shared by web and workers", "var/notice-batches")
    # pagoPA Checkout and back-office lookups
    checkout_client: Literal["http", "fake"] = _d("http (pagoPA Checkout) or fake (tests)", "http")
    checkout_url: str = _d(
        "Checkout's POST /carts", "https://api.platform.pagopa.it/checkout/ec/v1/carts"
    )
    checkout_api_key: str | None = _d("Checkout subscription key")
    checkout_timeout: float = _d("Checkout call timeout, seconds", 10.0)
    lookup_per_minute: float = _d("back-office lookups per client per minute", 10.0)
    lookup_burst: int = _d("back-office lookups a client may burst", 10)
    # outgoing HTTPS
    outgoing_ca_bundle: str | None = _d("PEM file of private CAs for outgoing HTTPS")
    outgoing_ca_only: bool = _d("trust the bundle alone", False)
    # the request gate and headers (web/gate.py, web/headers.py)
    max_body_bytes: int = _d("largest request body, but routes with their own limit", 1048576)
    public_url: str | None = _d("scheme://host[:port] every link uses (never the Host header)")
    hsts_seconds: int = _d("Strict-Transport-Security max-age over https (0: off)", 31_536_000)
    # webhooks
    webhook_timeout_seconds: float = _d("per delivery attempt", 5.0)
    webhook_max_retries: int = _d("attempts before a delivery is dead", 8)
    webhook_min_backoff_ms: int = _d("retry backoff, lower bound", 10_000)
    webhook_max_backoff_ms: int = _d("retry backoff, upper bound", 3_600_000)
    webhook_sweep_seconds: float = _d("how often the scheduler sends due deliveries", 10.0)
    webhook_allow_http: bool = _d("accept http:// webhook URLs (tests only)", False)
    # outbox
    outbox_sweep_seconds: float = _d("how often the scheduler's sweeper runs", 10.0)
    outbox_sweep_grace_seconds: float = _d("younger messages are left to the relay", 5.0)
    outbox_relay_seconds: float = _d("how often the scheduler's relay sends unsent ones", 0.2)
    outbox_lease_seconds: float = _d("a sent message not recorded by then is sent again", 60.0)
    outbox_max_attempts: int = _d("sends before a message is given up (dead)", 10)
    outbox_retention_days: float = _d("processed outbox rows kept this long (0: kept)", 14.0)
    # metrics and health
    metrics_allowed_networks: str = _d("who may read /metrics", "127.0.0.0/8, ::1/128")
    metrics_token: str = _d("bearer token that also opens /metrics", "")
    worker_metrics_port: int | None = _d("Dramatiq's metrics port of each worker (off)")
    worker_metrics_host: str = _d("its address", "127.0.0.1")
    health_outbox_max_backlog: int = _d("above it, /health says degraded", 1000)
    health_outbox_max_age_seconds: float = _d("an older outbox message degrades /health", 300.0)
    # the Node's nodeForPa (reporting flows)
    node_url: str | None = _d("the Node's nodeForPa; without it, no polling")
    node_id_broker_pa: str | None = _d("our intermediary id at the Node")
    node_id_station: str | None = _d("our station id at the Node")
    node_password: str | None = _d("the station password")
    node_id_pa: str | None = _d("the Ente asked about (default: every Ente)")
    node_subscription_key: str | None = _d("the Node's subscription key")
    node_list_timeout_seconds: float = _d("timeout of the list of flows", 15.0)
    node_flow_timeout_seconds: float = _d("timeout of one flow", 60.0)
    node_client_factory: str | None = _d("replaceable Node client (module:callable; tests)")
    reporting_poll_minutes: float = _d("how often flows are polled", 60.0)
    reconciliation_credit_days: int = _d("a flow without a bank credit after is an anomaly", 3)
    fdr_xsd: tuple[str, ...] = _d("FlussoRiversamento XSDs to validate flows (space-separated)", ())
    # SLA monitor
    sla_recorder: bool = _d("record the station's answer times per minute", True)
    sla_flush_seconds: float = _d("how often they are written", 5.0)
    sla_target_share: float = _d("share of answers within 2 s the SLA wants", 0.98)
    sla_window_minutes: int = _d("window judged for breaches", 5)
    sla_min_requests: int = _d("fewer answers in a window are not judged", 20)
    sla_breach_grace_seconds: float = _d("late minutes waited for before judging", 15.0)
    sla_probe_seconds: float = _d("probe interval (the scheduler runs the probes)", 60.0)
    sla_probe_url: str | None = _d("the station as the Node calls it (soap_public_url)")
    sla_probe_notice: str = _d("'idPA idBrokerPA idStation noticeNumber' kept payable", "")
    sla_probe_health_url: str | None = _d("/health URL to probe")
    sla_probe_timeout_seconds: float = _d("probe timeout", 5.0)
    sla_retention_days: float = _d(
        "probes and per-minute SLA rows older are compacted, daily (0: kept)", 400.0
    )
    sla_timezone: str = _d("help-desk clock", "Europe/Rome")
    sla_business_hours: str = _d("help-desk hours", "08:30-17:30")
    sla_business_days: str = _d("help-desk days", "mon tue wed thu fri")
    sla_local_holidays: str = _d("MM-DD or YYYY-MM-DD, space-separated", "")
    sla_san_francesco_from: int = _d("first year 4 October is a national holiday", 2026)
    sla_ticket_targets: str = _d(
        "response/resolution business hours per priority", "high:1/9 medium:4/27 low:9/45"
    )
    # the SLA contract (issue 19): anomalies watched, alerts
    sla_anomaly_max_working_days: int = _d("an anomaly open longer is flagged", 5)
    sla_alert_emails: tuple[str, ...] = _d("platform operators alerted (space-separated)", ())
    sla_alert_webhook_url: str | None = _d("webhook (e.g. a chat) alerted on breaches")
    sla_alert_anomalies: int = _d("this many old anomalies open is an alert", 10)
    # pagoPA's REST services: FdR 3 and receipts (Biz Events); defaults in pagopa_rest
    fdr3_url: str | None = _d("FdR 3 for organizations, base URL (default: pagoPA's)")
    fdr3_key: str | None = _d("FdR 3 subscription key")
    fdr3_client_factory: str | None = _d("replaceable FdR 3 client (module:callable; tests)")
    fdr3_fake_name: str = _d("which in-memory FdR 3 the fake client uses (tests)", "default")
    receipts_url: str | None = _d("receipts service (Biz Events), base URL (default: pagoPA's)")
    receipts_key: str | None = _d("receipts service subscription key")
    receipts_client_factory: str | None = _d("replaceable receipts client (module:callable)")
    receipts_fake_name: str = _d("which in-memory receipts service the fake uses", "default")
    pagopa_rest_timeout_seconds: float = _d("timeout of a call to pagoPA's REST services", 30.0)
    pagopa_rest_retries: int = _d("retries of a throttled or unavailable call", 4)
    pagopa_rest_max_wait_seconds: float = _d("longest wait between two retries", 60.0)
    recovery_daily_budget: int = _d("receipts-service calls per UTC day for recovery", 5000)
    reporting_source: Literal["soap", "fdr3"] = _d(
        "where flows come from: fdr3 (FdR 3 REST) or soap (deprecated nodeForPa)", "soap"
    )
    fdr3_page_size: int = _d("page size asked of FdR 3 (1..1000)", 1000)
    reporting_stations: tuple[str, ...] = _d(
        "stations whose Enti are polled (space-separated; default: every station)", ()
    )
    recovery_minutes: float = _d("how often receipt recovery runs (0 = never)", 60.0)
    recovery_retry_minutes: float = _d("a receipt not found is asked again after", 60.0)
    recovery_max_age_days: int = _d("recovery gives up (an anomaly) after this many days", 7)
    recovery_stuck_minutes: int = _d("in progress this long past its activation: recover it", 60)
    recovery_batch: int = _d("receipts asked per recovery run at most", 500)
    # ACA feed (issue 20): positions of the Enti switched on, kept in step with pagoPA's ACA
    aca_url: str | None = _d("ACA (gpd-4-aca.json) base URL; without it, no ACA feed")
    aca_key: str | None = _d("ACA subscription key")
    aca_sync_seconds: int = _d("how often positions out of step with ACA are queued", 60)
    aca_max_attempts: int = _d("failed sends of one position before it is dead-lettered", 8)
    aca_client_factory: str | None = _d("replaceable ACA client (module:callable; tests)")
    aca_upload_url: str | None = _d(
        "ACA bulk v2 (gpd-4-aca_massive_v2.json) base URL; without it, positions go one by one"
    )
    aca_bulk_threshold: int = _d(
        "an Ente with more new positions than this in one sweep sends them as one file", 200
    )
    aca_upload_poll_seconds: int = _d("wait between two polls of an uploaded file's status", 30)
    aca_broker_code: str | None = _d(
        "our broker code in ACA bulk v2's paths; default payhub.node_id_broker_pa"
    )
    # SEND notification fees (issue 20): SEND's price service
    send_url: str | None = _d("SEND's API base URL (price service); without it, stored fees")
    send_key: str | None = _d("SEND's API key (x-api-key)")
    send_timeout_seconds: float = _d("longest wait for SEND's price during paGetPayment", 2.0)
    # stuck payments no flow names (issue 14): the receipts service needs their IUR
    recovery_iur_unknown_hours: float = _d(
        "a stuck payment no flow names after this long: anomaly receipt_needs_iur", 48.0
    )
    # where outgoing calls may go
    outgoing_allowed_networks: str = _d("private networks outgoing calls may reach", "")
    # client addresses and rate limits (web/clientaddr.py, hub/ratelimit.py)
    trusted_proxies: str = _d("CIDRs of the proxies whose X-Forwarded-For is believed", "")
    ratelimit_storage: str | None = _d("memory:// or redis://; default: Redis with the broker")
    # demo
    mount_nodesim: bool = _d("mount the pagoPA simulator at /sim (demo only)", False)

    # every setting as given (payhub.* and the others), for Pyramid and the passthrough keys
    source: Mapping[str, Any] = Field(default_factory=dict, exclude=True, repr=False)

    @field_validator(
        "extra_actor_modules", "fdr_xsd", "reporting_stations", "sla_alert_emails", mode="before"
    )
    @classmethod
    def _words(cls, value: Any) -> Any:
        return tuple(value.split()) if isinstance(value, str) else value

    @field_validator("daily_file_at")  # issue 18: the daily file
    @classmethod
    def _daily_file_at(cls, value: str) -> str:
        hour, _, minute = value.partition(":")
        if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            raise ValueError(f"{value!r} is not a time of day as HH:MM")
        return value

    @field_validator("sqlalchemy_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("sla_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (such as Europe/Rome)") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.replace(",", " ").split():
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an address or CIDR network") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"{value!r} is not a log level (DEBUG, INFO, WARNING, ERROR)")
        return value.upper()

    @classmethod
    def keys(cls) -> list[str]:
        """Every ``payhub.*`` key the object knows."""
        return [
            PREFIX + name for name in cls.model_fields if name not in ("sqlalchemy_url", "source")
        ]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Config:
        """Validate a dict of settings (``payhub.<key>`` names, .ini strings or typed values);
        no environment, no defaults file, no secret check: what tests and ``load`` use.
        An empty value means "not set" (the default), except for a text setting."""
        values: dict[str, Any] = {}
        unknown = []
        for key, value in settings.items():
            if key == "sqlalchemy.url":
                name = "sqlalchemy_url"
            elif key.startswith(PREFIX):
                name = key[len(PREFIX) :]
                if name not in cls.model_fields or name in ("sqlalchemy_url", "source"):
                    unknown.append(key)
                    continue
            else:
                continue
            if isinstance(value, str):
                value = value.strip()
                if not value and cls.model_fields[name].annotation is not str:
                    continue  # an empty value is "not set", except where text is expected
            values[name] = value
        if unknown:
            raise SettingsError("; ".join(_unknown(key) for key in sorted(unknown)))
        try:
            return cls(**values, source=dict(settings))
        except ValidationError as exc:
            raise SettingsError(_explain(exc, settings)) from None

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated), e.g. ``embedded_worker=False``."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        try:
            return type(self)(**{**values, **changes})
        except ValidationError as exc:
            raise SettingsError(_explain(exc, {})) from None

    def get(self, key: str, default: Any = None) -> Any:
        """Mapping-style read by setting name, for code not yet reading attributes: the typed
        value of a ``payhub.*`` key (words joined again for list settings; ``default`` where
        unset), any other key as given."""
        if key == "sqlalchemy.url":
            return self.sqlalchemy_url
        name = key[len(PREFIX) :] if key.startswith(PREFIX) else None
        if name is None or name not in type(self).model_fields or name == "source":
            return self.source.get(key, default)
        value = getattr(self, name)
        if isinstance(value, tuple):
            value = " ".join(value)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def pyramid_settings(self) -> dict[str, Any]:
        """The dict Pyramid's Configurator gets: every key as given, the database URL
        normalised."""
        return {**self.source, "sqlalchemy.url": self.sqlalchemy_url}


def _key(name: str) -> str:
    return "sqlalchemy.url" if name == "sqlalchemy_url" else PREFIX + name


def setting_name(field: str) -> str:
    """The .ini name of a Config field, for messages: ``soap_path`` -> ``payhub.soap_path``."""
    if field not in Config.model_fields or field == "source":
        raise KeyError(field)
    return _key(field)


def _unknown(key: str) -> str:
    close = difflib.get_close_matches(key, Config.keys(), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{key} is not a setting{hint}; see docs/deployment.md"


def _explain(exc: ValidationError, settings: Mapping[str, Any]) -> str:
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        key = _key(name)
        given = settings.get(key, error.get("input"))
        problems.append(f"{key} = {given!r}: {error['msg']}")
    return "bad settings: " + "; ".join(problems)


def as_config(settings: Config | Mapping[str, Any]) -> Config:
    """``settings`` if it is a Config already, else one validated from the dict (tests)."""
    return settings if isinstance(settings, Config) else Config.from_settings(settings)


def from_registry(registry: Any) -> Config:
    """The web app's Config (``registry["payhub.config"]``, set by ``payhub.app.configure``);
    a Configurator built from a bare dict of settings (tests) gets one validated from it."""
    config = registry.get(REGISTRY_KEY) if hasattr(registry, "get") else None
    if config is None:
        config = Config.from_settings(registry.settings or {})
        registry[REGISTRY_KEY] = config
    return config


def load(
    settings: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    web: bool = False,
) -> Config:
    """How every process builds its settings at start-up: defaults, the .ini's settings, the
    environment; validated. ``web``: the secrets the web app signs with are checked too
    (``hub.settings.check_secrets``). Raises SettingsError naming the key to fix."""
    merged = load_settings(settings, environ)
    config = Config.from_settings(merged)
    if web:
        check_secrets(merged)
    return config


def start(settings: Mapping[str, Any] | None = None, *, web: bool = False) -> Config:
    """What every process (web, worker, scheduler, commands) does first, the same way:
    ``load`` (an unknown or bad ``payhub.*`` key, a placeholder secret stop here), then
    logging and the CAs every outgoing HTTPS call trusts (a bad bundle stops here too)."""
    from hub import http
    from hub.logging import configure_logging

    config = load(settings, web=web)
    configure_logging(config.log_format, config.log_level)
    http.configure(config)
    return config
