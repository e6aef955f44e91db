"""Structured logging: one structlog processor chain for our logs and the stdlib's.

Dramatiq, SQLAlchemy and Spyne log through the stdlib; a ProcessorFormatter renders their
records with the same processors, as JSON in production and for humans in development.
Context (request_id, message_id, notice_number, ente) is bound with contextvars per unit of work.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

_configured: tuple[str, str] | None = None


def shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger; ``fmt`` is "json" or "console"."""
    global _configured
    if _configured == (fmt, level):
        return
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # drop what the level hides before any work
            *shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # cached loggers keep the configuration of their first use: fast, but a test suite
        # that configures logging in-process (CLI commands) and later captures logs must not
        # cache (tests/conftest.py sets PAYHUB_TEST_LOG_NO_CACHE)
        cache_logger_on_first_use=not os.environ.get("PAYHUB_TEST_LOG_NO_CACHE"),
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Spyne logs whole envelopes at DEBUG: never let bodies (personal data) reach the logs.
    logging.getLogger("spyne").setLevel(max(logging.INFO, root.level))
    logging.getLogger("spyne.protocol.xml").setLevel(logging.WARNING)
    _configured = (fmt, level)
