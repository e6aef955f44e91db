"""SEND's price service, simulated: ``GET /delivery/v2.3/price/{paTaxId}/{noticeCode}``
answers the notification's cost (``totalPrice``, euro cents) for notices SEND has notified.

Prices are set with ``POST /api/send/prices`` (``{"paTaxId", "noticeCode", "totalPrice"}``);
an unknown notice is 404. ``x-api-key`` is ``nodesim.rest_key`` when set (403 otherwise).
Faults: ``{"fail": N}`` on the same control answers the next N calls with 500.
"""

from __future__ import annotations

import threading
from typing import Any


class SendPrices:
    def __init__(self, key: str | None = None) -> None:
        self.key = key
        self.prices: dict[tuple[str, str], int] = {}
        self.fail = 0
        self.calls = 0
        self._lock = threading.Lock()

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if "fail" in body:
                self.fail = int(body["fail"])
            if "noticeCode" in body:
                self.prices[(str(body["paTaxId"]), str(body["noticeCode"]))] = int(
                    body["totalPrice"]
                )
            return {"prices": len(self.prices), "fail": self.fail}

    def price(self, tax_id: str, notice: str, api_key: str | None) -> tuple[int, Any]:
        with self._lock:
            self.calls += 1
            if self.key and api_key != self.key:
                return 403, {"status": 403, "title": "Forbidden"}
            if self.fail:
                self.fail -= 1
                return 500, {"status": 500, "title": "injected fault"}
            price = self.prices.get((tax_id, notice))
            if price is None:
                return 404, {"status": 404, "title": "Not Found", "detail": "no notification"}
            return 200, {
                "iun": f"SIM-{notice[-8:]}",
                "totalPrice": price,
                "partialPrice": price,
                "refinementDate": None,
                "notificationViewDate": None,
            }
