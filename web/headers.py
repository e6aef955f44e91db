"""Security headers on every answer, set in one tween.

- ``X-Content-Type-Options: nosniff`` everywhere.
- The pages (``/ops/``, ``/pay/``, level 1's pages): ``X-Frame-Options: DENY`` and a CSP with
  ``frame-ancestors 'none'`` (no clickjacking of dashboard actions), scripts and styles from
  this site only.
- ``Cache-Control: no-store`` on every dynamic answer (pages, the REST API, PDFs, CSV exports:
  they carry personal data) that did not choose its own caching; static files keep theirs.
- ``Strict-Transport-Security`` on answers served over https (behind the proxy that ends TLS:
  the scheme of ``payhub.public_url``, which production requires, see ``web.gate``), for
  ``payhub.hsts_seconds`` (one year; 0: off).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.config import from_registry

PAGES = ("/ops", "/pay", "/level1")
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def security_headers_tween_factory(handler: Callable[[Any], Any], registry: Any) -> Any:
    hsts = from_registry(registry).hsts_seconds

    def tween(request: Any) -> Any:
        response = handler(request)
        _apply(request, response, hsts)
        return response

    return tween


def _apply(request: Any, response: Any, hsts: int) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    path = request.path_info
    if path.startswith(PAGES):
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Content-Security-Policy", CSP)
    if "/static/" not in path and "Cache-Control" not in headers and path != "/metrics":
        headers["Cache-Control"] = "no-store"
    if hsts and request.scheme == "https":
        headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")


def includeme(config: Any) -> None:
    # above the exception view tween: error pages get the headers too
    config.add_tween(
        "web.headers.security_headers_tween_factory", over="pyramid_tm.tm_tween_factory"
    )
