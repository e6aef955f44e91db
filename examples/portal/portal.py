"""A tiny Ente portal that sends its citizens to payhub (level 1) and gets the outcome back.

    PAYHUB_URL=http://127.0.0.1:6543 PORTAL_KEY_ID=l1_... PORTAL_SECRET=... \
    PORTAL_NOTIFY_SECRET=whsec_... PORTAL_URL=http://127.0.0.1:8800 python examples/portal/portal.py

Pages: ``/`` offers a payment (a spontaneous "Pagamento generico" of the demo, paid by a demo
citizen), ``POST /pay`` starts it on payhub and redirects the browser to the payment URL,
``/return?outcome=...`` verifies the signed outcome and asks payhub for the details,
``POST /notify`` receives payhub's signed server-to-server notification.
"""

from __future__ import annotations

import html
import json
import os
import uuid
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIServer, make_server

from payhub_client import PayhubClient, PayhubError


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request: payhub's notification may arrive while a page is being served."""

    daemon_threads = True


class Portal:
    def __init__(
        self, client: PayhubClient, public_url: str, ec: str = "00112233445", service: str = "GENER"
    ) -> None:
        self.client, self.public_url, self.ec, self.service = client, public_url, ec, service
        self.notifications: list[dict[str, Any]] = []
        self.outcomes: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        if path == "/" and method == "GET":
            return self._page(
                start_response,
                "<form method='post' action='/pay'>"
                "<p>Diritti di segreteria: € 16,00</p>"
                "<button>Paga con pagoPA</button></form>",
            )
        if path == "/pay" and method == "POST":
            started = self.client.start_payment(
                external_id=uuid.uuid4().hex,
                return_url=f"{self.public_url}/return",
                items=[
                    {
                        "enteFiscalCode": self.ec,
                        "service": self.service,
                        "amount": "16.00",
                        "description": "Diritti di segreteria",
                        "payer": {"fiscalCode": "RSSMRA80A01H501U", "name": "Mario Rossi"},
                    }
                ],
            )
            start_response("303 See Other", [("Location", started["paymentUrl"])])
            return [b""]
        if path == "/return":
            token = parse_qs(environ.get("QUERY_STRING", "")).get("outcome", [""])[0]
            try:
                outcome = self.client.read_outcome(token)
            except PayhubError as exc:
                return self._page(start_response, f"<p>Esito non valido: {exc}</p>", "400 Bad")
            detail = self.client.payment(outcome["paymentId"])
            self.outcomes.append(detail)
            return self._page(
                start_response,
                f"<h2 id='outcome'>{html.escape(detail['status'])}"
                f"</h2><pre>{html.escape(json.dumps(detail, indent=1))}</pre>",
            )
        if path == "/notify" and method == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            headers = {
                k[5:].replace("_", "-").title(): v
                for k, v in environ.items()
                if k.startswith("HTTP_")
            }
            if not self.client.verify_notification(headers, body):
                start_response("401 Unauthorized", [("Content-Type", "text/plain")])
                return [b"bad signature"]
            self.notifications.append(json.loads(body))
            start_response("204 No Content", [])
            return [b""]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    @staticmethod
    def _page(start_response: Any, body: str, status: str = "200 OK") -> list[bytes]:
        start_response(status, [("Content-Type", "text/html; charset=utf-8")])
        return [
            f"<!doctype html><html lang='it'><title>Portale dell'Ente</title>"
            f"<h1>Portale servizi dell'Ente</h1>{body}</html>".encode()
        ]


def main() -> None:
    client = PayhubClient(
        os.environ.get("PAYHUB_URL", "http://127.0.0.1:6543"),
        os.environ["PORTAL_KEY_ID"],
        os.environ["PORTAL_SECRET"],
        os.environ.get("PORTAL_NOTIFY_SECRET"),
    )
    public = os.environ.get("PORTAL_URL", "http://127.0.0.1:8800")
    port = int(public.rsplit(":", 1)[1])
    make_server(
        "127.0.0.1", port, Portal(client, public), server_class=ThreadingWSGIServer
    ).serve_forever()


if __name__ == "__main__":
    main()
