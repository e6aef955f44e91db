"""Logging: our records and the stdlib's come out as JSON in production, with the bound ids."""

from __future__ import annotations

import json
import logging

import structlog

from hub import logging as hub_logging


def test_json_format_renders_structlog_and_stdlib_records_with_bound_context(capsys):
    hub_logging._configured = None
    hub_logging.configure_logging("json", "INFO")
    try:
        structlog.contextvars.bind_contextvars(request_id="req-1")
        structlog.get_logger("payhub.test").info("receipt.stored", receipt_pk=7)
        logging.getLogger("dramatiq.worker").warning("worker started")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        structlog.contextvars.clear_contextvars()
        hub_logging._configured = None
        hub_logging.configure_logging("console", "INFO")
    ours, theirs = lines
    assert ours["event"] == "receipt.stored" and ours["receipt_pk"] == 7
    assert theirs["event"] == "worker started" and theirs["logger"] == "dramatiq.worker"
    assert ours["request_id"] == theirs["request_id"] == "req-1"
    assert {"timestamp", "level"} <= ours.keys() & theirs.keys()


def test_spyne_envelope_logging_is_silenced():
    hub_logging._configured = None
    hub_logging.configure_logging("console", "DEBUG")
    try:
        assert not logging.getLogger("spyne.protocol.xml").isEnabledFor(logging.INFO)
    finally:
        hub_logging._configured = None
        hub_logging.configure_logging("console", "INFO")
