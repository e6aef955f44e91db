"""production.ini as shipped refuses to start until its secrets are set; the private CA setting
reaches every outgoing HTTPS call."""

from __future__ import annotations

import configparser
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests

from hub import http
from hub.settings import SECRETS, SettingsError, check_secrets, load_settings
from payhub.app import configure

ROOT = Path(__file__).resolve().parents[2]


def _production_settings() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "production.ini")
    return dict(parser["app:main"])


def test_production_ini_as_shipped_is_refused_naming_both_secrets():
    with pytest.raises(SettingsError) as refused:
        check_secrets(load_settings(_production_settings(), environ={}))
    message = str(refused.value)
    assert "payhub.session_secret" in message and "payhub.ops_secret" in message
    assert "PAYHUB_SESSION_SECRET" in message


def test_the_app_factory_refuses_a_placeholder_before_starting(sqlite_engine):
    with pytest.raises(SettingsError, match=r"payhub\.ops_secret is a CHANGE-ME placeholder"):
        configure(
            {
                "sqlalchemy.url": sqlite_engine.url.render_as_string(False),
                "payhub.embedded_worker": "false",
                "payhub.ops_secret": "CHANGE-ME",
            }
        )


def test_secrets_from_the_environment_are_accepted():
    environ = {
        "PAYHUB_SESSION_SECRET": "s" * 48,
        "PAYHUB_OPS_SECRET": "o" * 48,
        "PAYHUB_PUBLIC_URL": "https://pagamenti.example.it",
    }
    check_secrets(load_settings(_production_settings(), environ=environ))


def test_required_secrets_must_be_present_and_long():
    with pytest.raises(SettingsError, match=r"session_secret is missing.*ops_secret is too short"):
        check_secrets({"payhub.require_secrets": "true", "payhub.ops_secret": "short"})
    check_secrets({})  # the embedded default and tests: made up per process, with a warning
    check_secrets(
        {key: "x" * 32 for key in SECRETS}
        | {"payhub.require_secrets": "true", "payhub.public_url": "https://pay.example.it"}
    )


def test_production_needs_its_public_address_not_the_host_header():
    secrets = {key: "x" * 32 for key in SECRETS} | {"payhub.require_secrets": "true"}
    for value in (None, "", "CHANGE-ME"):
        with pytest.raises(SettingsError, match=r"payhub.public_url is"):
            check_secrets(secrets | ({"payhub.public_url": value} if value is not None else {}))
    check_secrets({key: "x" * 32 for key in SECRETS})  # not production: links from the request


# -- a private CA for outgoing TLS ------------------------------------------------------------


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory) -> dict[str, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it (openssl)."""
    d = tmp_path_factory.mktemp("ca")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=payhub test CA",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    )
    return {"ca": d / "ca.pem", "cert": d / "srv.pem", "key": d / "srv.key"}


@pytest.fixture
def https_server(private_ca):
    class Ok(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(private_ca["cert"], private_ca["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


# the test server listens on 127.0.0.1: a private address the outgoing URL policy must allow
LOCAL = {"payhub.outgoing_allowed_networks": "127.0.0.0/8"}


@pytest.fixture
def restore_verify():
    yield
    http.configure({})


def test_without_the_setting_a_private_ca_is_not_trusted(https_server, restore_verify):
    http.configure({})
    assert http.verify() is True
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(https_server, data=b"{}", timeout=5, verify=http.verify())


def test_the_ca_setting_reaches_webhook_deliveries(https_server, private_ca, restore_verify):
    from sqlalchemy.orm import sessionmaker

    from actors import broker as broker_mod

    broker_mod.setup({"payhub.broker": "stub"}, sessionmaker())  # the actors' broker
    from actors.webhooks import post
    from hub.notify.webhooks import SignedRequest

    http.configure({"payhub.outgoing_ca_bundle": str(private_ca["ca"]), **LOCAL})
    bundle = Path(http.verify())
    assert bundle.read_bytes().count(b"BEGIN CERTIFICATE") > 100  # the public CAs stay trusted
    result = post(SignedRequest(https_server, b"{}", {"Content-Type": "application/json"}), 5)
    assert result.status_code == 204, result.error


def test_the_ca_setting_reaches_the_checkout_client(https_server, private_ca, restore_verify):
    from hub.checkout import CheckoutError, HttpCheckoutClient

    client = HttpCheckoutClient(https_server)
    http.configure(LOCAL)
    with pytest.raises(CheckoutError, match="cannot be reached"):  # TLS refused
        client.open_cart(_Cart())
    http.configure({"payhub.outgoing_ca_bundle": str(private_ca["ca"]), **LOCAL})
    with pytest.raises(CheckoutError, match="answered 204"):  # TLS passed: the server answered
        client.open_cart(_Cart())


class _Cart:
    def as_json(self) -> dict:
        return {}


def test_ca_only_trusts_the_private_bundle_alone(private_ca):
    value = http.verify_setting(
        {"payhub.outgoing_ca_bundle": str(private_ca["ca"]), "payhub.outgoing_ca_only": "true"}
    )
    assert value == str(private_ca["ca"])


def test_an_unreadable_bundle_is_refused_by_name(tmp_path):
    with pytest.raises(SettingsError, match=r"payhub\.outgoing_ca_bundle: cannot read"):
        http.verify_setting({"payhub.outgoing_ca_bundle": str(tmp_path / "absent.pem")})
    (tmp_path / "empty.pem").write_text("not a certificate")
    with pytest.raises(SettingsError, match="holds no PEM certificate"):
        http.verify_setting({"payhub.outgoing_ca_bundle": str(tmp_path / "empty.pem")})
