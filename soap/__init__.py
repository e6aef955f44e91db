"""SOAP adapter for the pagoPA Node (paForNode): wire format only, translating to hub/."""

from __future__ import annotations

from typing import Any


def includeme(config: Any) -> None:
    """Mount the paForNode station (being built: see issue 3)."""
