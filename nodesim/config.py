"""nodesim's settings (``nodesim.*`` keys, see the package docstring) -> the objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodesim.delivery import RetryPolicy
from nodesim.faults import Faults
from nodesim.standin import StandInPolicy
from nodesim.station import StationConfig, parse_header

DEFAULTS = {
    "nodesim.payhub_url": "http://127.0.0.1:6543",
    "nodesim.soap_path": "/soap/paForNode",
    "nodesim.broker": "77777777777",
    "nodesim.station": "77777777777_01",
    "nodesim.primitive_version": "2",
    "nodesim.sendrt_timeout_seconds": "15",
    "nodesim.verify_timeout_seconds": "7",
    "nodesim.retry_max_attempts": "5",
    "nodesim.retry_backoff_seconds": "2",
    "nodesim.retry_backoff_max_seconds": "3600",
    "nodesim.retry_poll_seconds": "0.2",
    "nodesim.background": "true",
    "nodesim.station_auth_header": "",
    "nodesim.standin_probe_seconds": "300",
    "nodesim.standin_exit_successes": "3",
    "nodesim.standin_after_failures": "0",
    "nodesim.standin_probe_placeholders": "true",
}


def effective(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {**DEFAULTS, **{k: v for k, v in settings.items() if v is not None}}


def station_config(settings: Mapping[str, Any]) -> StationConfig:
    s = effective(settings)
    return StationConfig(
        url=s["nodesim.payhub_url"].rstrip("/") + s["nodesim.soap_path"],
        broker=s["nodesim.broker"],
        station=s["nodesim.station"],
        primitive_version=int(s["nodesim.primitive_version"]),
        verify_timeout=float(s["nodesim.verify_timeout_seconds"]),
        auth_header=parse_header(s["nodesim.station_auth_header"]),
    )


def standin_policy(settings: Mapping[str, Any]) -> StandInPolicy:
    s = effective(settings)
    policy = StandInPolicy(
        probe_seconds=float(s["nodesim.standin_probe_seconds"]),
        exit_successes=int(s["nodesim.standin_exit_successes"]),
        after_failures=int(s["nodesim.standin_after_failures"]),
        placeholders=as_bool(s["nodesim.standin_probe_placeholders"]),
    )
    if policy.probe_seconds <= 0 or policy.exit_successes < 1 or policy.after_failures < 0:
        raise ValueError(
            "nodesim.standin_probe_seconds must be > 0, "
            "nodesim.standin_exit_successes >= 1, "
            "nodesim.standin_after_failures >= 0"
        )
    return policy


def retry_policy(settings: Mapping[str, Any]) -> RetryPolicy:
    s = effective(settings)
    return RetryPolicy(
        timeout_seconds=float(s["nodesim.sendrt_timeout_seconds"]),
        max_attempts=int(s["nodesim.retry_max_attempts"]),
        backoff_seconds=float(s["nodesim.retry_backoff_seconds"]),
        backoff_max_seconds=float(s["nodesim.retry_backoff_max_seconds"]),
    )


def faults(settings: Mapping[str, Any]) -> Faults:
    return Faults.from_settings(settings)


def as_bool(value: Any) -> bool:
    return (
        value
        if isinstance(value, bool)
        else str(value).strip().lower() in {"1", "true", "yes", "on"}
    )
