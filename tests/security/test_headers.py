"""Issue 17 item 14: security headers; the Host header is not reflected once a public address
is configured."""

from __future__ import annotations

from tests.security.conftest import build


def test_pages_refuse_framing_and_caching_and_sniffing(site):
    for path in ("/ops/login", "/pay/"):
        answer = site.app.get(path, status="*")
        assert answer.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


def test_api_answers_with_personal_data_are_not_stored(site):
    answer = site.app.get("/api/v1/enti/77777777777/debt-positions", headers=site.api())
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_no_hsts_over_plain_http(site):
    answer = site.app.get("/health", extra_environ={"wsgi.url_scheme": "http"})
    assert "Strict-Transport-Security" not in answer.headers


def test_the_wsdl_and_links_use_the_public_url_not_the_host_header(pg_url, committed_factory):
    app = build(
        pg_url,
        **{
            "payhub.public_url": "https://pagamenti.example.it",
            "payhub.soap_enabled": "true",
            "payhub.soap_open_station": "true",
        },
    )
    wsdl = app.get("/soap/paForNode?wsdl", headers={"Host": "evil.example"}, status="*")
    assert "evil.example" not in wsdl.text
    assert "https://pagamenti.example.it/soap/paForNode" in wsdl.text
    answer = app.get("/pay", headers={"Host": "evil.example"}, status="*")
    assert answer.location.startswith("https://pagamenti.example.it/")
