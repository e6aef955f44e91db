"""A portal's side of payhub's level-1 protocol, standalone (stdlib + requests): sign requests,
start a payment, read its outcome, verify the outcome token and the notifications."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import requests


class PayhubError(Exception):
    pass


class PayhubClient:
    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        notify_secret: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id, self.secret, self.notify_secret = key_id, secret, notify_secret
        self.timeout = timeout

    def _headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(18)
        canonical = "\n".join(
            [method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()]
        ).encode()
        signature = hmac.new(self.secret.encode(), canonical, hashlib.sha256).hexdigest()
        return {
            "X-Payhub-Key-Id": self.key_id,
            "X-Payhub-Timestamp": timestamp,
            "X-Payhub-Nonce": nonce,
            "X-Payhub-Signature": signature,
            "Content-Type": "application/json",
        }

    def _call(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        body = b"" if payload is None else json.dumps(payload).encode()
        url = self.base_url + path
        answer = requests.request(
            method,
            url,
            data=body,
            timeout=self.timeout,
            headers=self._headers(method, urlsplit(url).path, body),
        )
        if answer.status_code >= 400:
            raise PayhubError(f"{answer.status_code}: {answer.text}")
        return dict(answer.json())

    def start_payment(
        self,
        external_id: str,
        return_url: str,
        items: list[dict[str, Any]],
        mode: str = "direct",
        language: str = "it",
    ) -> dict[str, Any]:
        """→ {"paymentId", "paymentUrl", ...}: send the citizen's browser to paymentUrl."""
        return self._call(
            "POST",
            "/level1/v1/payments",
            {
                "externalId": external_id,
                "returnUrl": return_url,
                "items": items,
                "mode": mode,
                "language": language,
            },
        )

    def payment(self, payment_id: str) -> dict[str, Any]:
        return self._call("GET", f"/level1/v1/payments/{payment_id}")

    def read_outcome(self, token: str) -> dict[str, Any]:
        """The signed outcome the browser brings back; raises PayhubError if forged/expired."""
        payload, _, mac = token.partition(".")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac):
            raise PayhubError("forged outcome token")
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if data["exp"] < time.time():
            raise PayhubError("expired outcome token")
        return dict(data)

    def verify_notification(self, headers: Any, body: bytes, max_age: int = 300) -> bool:
        """Check ``X-Payhub-Signature: t=<unix>,v1=<hex HMAC(secret, "<t>.<body>")>``."""
        if not self.notify_secret:
            return False
        parts = dict(
            p.split("=", 1) for p in headers.get("X-Payhub-Signature", "").split(",") if "=" in p
        )
        try:
            timestamp = int(parts["t"])
        except (KeyError, ValueError):
            return False
        expected = hmac.new(
            self.notify_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return abs(time.time() - timestamp) <= max_age and hmac.compare_digest(
            expected, parts.get("v1", "")
        )
