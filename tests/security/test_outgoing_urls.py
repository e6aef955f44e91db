"""Issue 17 item 5: one policy for outgoing calls (webhooks, back-office lookups, Checkout):
public https hosts only, checked at registration and at each call, the connection pinned to
the checked address, and errors that do not tell port states apart."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util.connection

from hub import http
from hub.notify.webhooks import SignedRequest

HOSTILE = (
    "https://127.0.0.1:6624/",
    "https://[::1]/",
    "https://169.254.169.254/latest/meta-data/",
    "https://2130706433/",
    "https://0x7f.1/",
    "https://017700000001/",
    "https://127.1/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://10.0.0.8/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",
    "https://224.0.0.1/",
    "https://0.0.0.0/",
    "https://240.0.0.1/",
    "https://localhost/",
    "https://user:pw@hooks.example.it/",
    "http://hooks.example.it/",
    "ftp://hooks.example.it/",
)


@pytest.mark.parametrize("url", HOSTILE)
def test_private_and_disguised_hosts_are_refused(url):
    with pytest.raises(http.UrlRefused):
        http.check_url(url, http.UrlPolicy())


@pytest.mark.parametrize("url", HOSTILE[:6])
def test_the_api_refuses_them_as_webhook_urls(site, url):
    answer = site.app.post_json(
        "/api/v1/enti/77777777777/webhooks", {"url": url}, headers=site.api(), status="*"
    )
    assert answer.status_int == 422, answer.text
    assert answer.json["field"] == "url" or "url" in answer.text


def test_a_name_resolving_to_a_private_address_is_refused_and_a_public_one_pinned():
    policy = http.UrlPolicy()
    with pytest.raises(http.UrlRefused):
        http.check_url("https://hooks.example.it/", policy, resolve=lambda h, p: ["10.1.2.3"])
    with pytest.raises(http.UrlRefused):  # one private address among public ones is enough
        http.check_url(
            "https://hooks.example.it/", policy, resolve=lambda h, p: ["8.8.8.8", "127.0.0.1"]
        )
    target = http.check_url("https://hooks.example.it/", policy, resolve=lambda h, p: ["8.8.8.8"])
    assert target is not None and target.address == "8.8.8.8" and target.port == 443


def test_an_allow_list_admits_the_private_targets_a_deployment_needs():
    policy = http.UrlPolicy.from_settings(
        {"payhub.outgoing_allowed_networks": "10.20.0.0/16, fd00::/8"}
    )
    assert http.check_url("https://10.20.1.1/", policy) is not None
    with pytest.raises(http.UrlRefused):
        http.check_url("https://10.21.1.1/", policy)


def test_the_connection_goes_to_the_checked_address_without_a_second_lookup(monkeypatch):
    """DNS rebinding: the name is resolved once, by the check; urllib3 connects to the address
    the check approved and never asks the resolver again."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def spy(host, *args, **kwargs):
        looked_up.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection.socket, "getaddrinfo", spy)
    monkeypatch.setattr(http, "_resolve", lambda host, port: ["127.0.0.1"])
    policy = http.UrlPolicy(True, (ipaddress.ip_network("127.0.0.1/32"),))
    try:
        url = f"http://rebind.example:{server.server_port}/hook"
        with http.post(url, timeout=5, policy=policy, data=b"{}") as answer:
            assert answer.status_code == 204
    finally:
        server.shutdown()
        server.server_close()
    assert hits == [f"rebind.example:{server.server_port}"]
    assert "rebind.example" not in looked_up


def test_a_delivery_to_a_refused_host_is_not_made_and_port_states_read_the_same(site, monkeypatch):
    from actors.webhooks import post  # once the app has set up the broker (site)

    monkeypatch.setattr(http, "_policy", http.UrlPolicy())
    refused = post(SignedRequest("https://127.0.0.1:6624/", b"{}", {}), 1)
    assert refused.status_code is None and "policy" in (refused.error or "")

    local = http.UrlPolicy(True, (ipaddress.ip_network("127.0.0.0/8"),))
    monkeypatch.setattr(http, "_policy", local)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()  # listens, never answers: a filtered-looking port
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        a = post(SignedRequest(f"http://127.0.0.1:{closed_port}/", b"{}", {}), 0.3)
        b = post(SignedRequest(f"http://127.0.0.1:{silent.getsockname()[1]}/", b"{}", {}), 0.3)
    finally:
        silent.close()
    assert a.error == b.error == "connection failed"
