"""Settings: read from the .ini file, overridden by the environment, in one place.

Real deployments set ``DATABASE_URL`` and ``REDIS_URL`` (or write them in ``production.ini``);
the embedded default (``development.ini``) needs neither. Containers configure by environment:
every ``payhub.<key>`` setting can be given as ``PAYHUB_<KEY>`` (``payhub.soap_auth_header`` as
``PAYHUB_SOAP_AUTH_HEADER``), which wins over the .ini; a few variables that are not settings
(``PAYHUB_CONFIG``, the test and benchmark ones) are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

# environment variable -> settings key it overrides
ENV_OVERRIDES = {
    "DATABASE_URL": "sqlalchemy.url",
    "REDIS_URL": "payhub.redis_url",
    "PAYHUB_BROKER": "payhub.broker",
    "PAYHUB_LOG_FORMAT": "payhub.log_format",
    "PAYHUB_LOG_LEVEL": "payhub.log_level",
}

# PAYHUB_* variables that name something other than a setting
NOT_SETTINGS = (
    "PAYHUB_CONFIG",
    "PAYHUB_TEST_",
    "PAYHUB_BENCH_",
    "PAYHUB_CHAOS_",  # the chaos test's size (tests/chaos)
    "PAYHUB_URL",
    "PAYHUB_SCREENSHOTS",
    "PAYHUB_DB_PRE_PING",
    # `payhub web`'s options
    "PAYHUB_BIND",
    "PAYHUB_WEB_",
)

DEFAULTS: dict[str, str] = {
    "sqlalchemy.url": "sqlite:///var/payhub.sqlite",
    "payhub.broker": "stub",
    "payhub.redis_url": "redis://127.0.0.1:6379/0",
    "payhub.embedded_worker": "true",
    "payhub.log_format": "console",
    "payhub.log_level": "INFO",
    "payhub.outbox_sweep_seconds": "10",
    "payhub.outbox_sweep_grace_seconds": "5",
}


def load_settings(
    settings: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the effective settings: DEFAULTS, then ``settings``, then the environment."""
    environ = os.environ if environ is None else environ
    result: dict[str, Any] = dict(DEFAULTS)
    result.update(settings or {})
    for var, value in environ.items():
        if (
            var.startswith("PAYHUB_")
            and value
            and var not in ENV_OVERRIDES
            and not var.startswith(NOT_SETTINGS)
        ):
            result["payhub." + var[len("PAYHUB_") :].lower()] = value
    for var, key in ENV_OVERRIDES.items():
        if environ.get(var):
            result[key] = environ[var]
    result["sqlalchemy.url"] = normalise_database_url(result["sqlalchemy.url"])
    return result


# secrets the web app signs with; production.ini ships them as CHANGE-ME placeholders
SECRETS = ("payhub.session_secret", "payhub.ops_secret")
PLACEHOLDER = "change-me"
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """The settings cannot run a deployment; the message names the settings to fix."""


def check_secrets(settings: Mapping[str, Any]) -> None:
    """Refuse to start with secrets that are placeholders, or, where
    ``payhub.require_secrets`` is true (production.ini) or the broker is not the embedded
    ``stub`` (several processes), missing, shorter than 32 characters or development.ini's.

    The placeholder (the value CHANGE-ME, in any case) is refused everywhere: it is what a copied
    production.ini holds until someone sets the secret. Without ``require_secrets`` (the
    embedded default, tests) a missing secret is made up per process by its user, with a
    warning; with several web processes, sessions then break, hence the requirement in
    production. In production (``payhub.require_secrets``) ``payhub.public_url`` is required
    too: links and the WSDL's address are never written from a client's Host header.
    """
    # Several processes (a Redis broker: workers apart, web worker processes) need the same
    # secrets in every process: outside the embedded default, a made-up secret breaks logins
    # and CSRF.
    required = (
        as_bool(settings.get("payhub.require_secrets", False))
        or str(settings.get("payhub.broker", "stub")).strip() != "stub"
    )
    bad = []
    for key in SECRETS:
        value = str(settings.get(key) or "").strip()
        if value.lower() == PLACEHOLDER:
            bad.append(f"{key} is a CHANGE-ME placeholder")
        elif required and value.lower().endswith(PLACEHOLDER):
            bad.append(f"{key} is development.ini's, public in the repository")
        elif required and len(value) < MIN_SECRET_LENGTH:
            bad.append(f"{key} is {'missing' if not value else 'too short'}")
    if bad:
        env = " / ".join("PAYHUB_" + k.split(".", 1)[1].upper() for k in SECRETS)
        raise SettingsError(
            "; ".join(bad) + f": set each to a random string of at least {MIN_SECRET_LENGTH} "
            f"characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`), "
            f"in the .ini or as {env}; every web process must share the same values"
        )

    public = str(settings.get("payhub.public_url") or "").strip()
    if as_bool(settings.get("payhub.require_secrets", False)) and (
        not public or public.lower() == PLACEHOLDER
    ):
        # production: every link, redirect and the WSDL's address are written from it, never
        # from the Host header a client sent (issue 17: Host header injection)
        raise SettingsError(
            "payhub.public_url is "
            + ("a CHANGE-ME placeholder" if public else "missing")
            + ": set it to the address citizens and the Node use, e.g. "
            "https://pagamenti.example.it (or PAYHUB_PUBLIC_URL); links are never taken from "
            "the Host header in production"
        )


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way (postgres://, postgresql://)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def as_bool(value: Any) -> bool:
    """Interpret an .ini value as a boolean ("true", "yes", "on", "1")."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}
