"""Fault injection: what the simulator does wrong on purpose, per request or by default."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Faults:
    """Every knob is off by default. Set defaults with ``nodesim.fault.<name>`` (or
    ``PUT /api/faults``); override any of them in a request's ``faults`` object."""

    # answers: nodeForPa (reporting) answers after this many seconds
    slow_seconds: float = 0.0
    # the Node's own wait for paSendRT, overriding the policy's timeout (a short one = timeouts)
    sendrt_timeout_seconds: float | None = None
    # paSendRT the same receipt this many extra times once it has been delivered
    duplicate_receipts: int = 0
    # hold the first paSendRT back this many simulated seconds (a receipt "lost and re-sent
    # hours later": set 10800, then move the clock forward)
    hold_receipt_seconds: float = 0.0
    # cart receipts sent last-to-first
    out_of_order: bool = False
    # receipts flagged standIn=true (the /psp/standin desk also skips paVerify/paGetPayment)
    standin: bool = False
    # receipts carry elements newer than paForNode.xsd, as pagoPA's since the April 2026 V2
    # switch: <paymentNote> right after <description>, and an unknown element in each transfer
    newer_elements: bool = False
    # deliver the receipt through this idStation (same broker) instead of the one the notice
    # was verified and activated through: an Ente moved between stations (govpay#832)
    receipt_station: str | None = None
    # never send the paSendRT (a receipt lost upstream): only the reporting flow and the
    # receipts service know of the payment
    withhold_receipt: bool = False
    # reporting: header totals that disagree with the body
    inconsistent_flow: bool = False
    # reporting: one extra entry for an IUV nobody ever issued
    unknown_iuv: bool = False
    # the bank: no credit for the flows of that day
    missing_bank_credit: bool = False

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def merged(self, overrides: Mapping[str, Any] | None) -> Faults:
        """These faults with ``overrides`` applied (unknown names are an error)."""
        if not overrides:
            return self
        unknown = set(overrides) - set(self.names())
        if unknown:
            raise ValueError(
                f"unknown fault(s): {', '.join(sorted(unknown))}; known: {', '.join(self.names())}"
            )
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in overrides.items()})

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Faults:
        prefix = "nodesim.fault."
        return cls().merged(
            {k[len(prefix) :]: v for k, v in settings.items() if k.startswith(prefix)}
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TEXT = {"receipt_station"}


def _coerce(name: str, value: Any) -> Any:
    default = next(f.default for f in dataclasses.fields(Faults) if f.name == name)
    if value is None:
        return None
    if name in TEXT:
        return str(value).strip() or None
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes"}
    if isinstance(default, int):
        return int(value)
    return float(value)
