"""XML attacks and broken requests: a SOAP Fault within milliseconds, nothing resolved."""

from __future__ import annotations

import socket
import time

import pytest

from tests.soap.test_operations import PATH, verify_req

pytestmark = pytest.mark.pg

ENV = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:pafn="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><soapenv:Body>'
    "<pafn:paVerifyPaymentNoticeReq><idPA>{x}</idPA></pafn:paVerifyPaymentNoticeReq>"
    "</soapenv:Body></soapenv:Envelope>"
)
LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
ATTACKS = {
    "xxe_file": '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + ENV.format(x="&x;"),
    "xxe_http": '<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>' + ENV.format(x="&x;"),
    "parameter_entity": (
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>' + ENV.format(x="1")
    ),
    "billion_laughs": f'<!DOCTYPE r [<!ENTITY l0 "ha">{LAUGHS}]>' + ENV.format(x="&l9;"),
    # kept under WebOb's 10 KiB in-memory body limit (see test_oversized_body_is_refused_unread)
    "quadratic": (f'<!DOCTYPE r [<!ENTITY a "{"a" * 4_000}">]>' + ENV.format(x="&a;" * 1000)),
    "external_dtd": '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/r.dtd">' + ENV.format(x="1"),
    "lowercase_doctype": '<!doctype r [<!ENTITY x "y">]>' + ENV.format(x="&x;"),
    "utf16_doctype": None,  # built below
    "not_xml": "hello",
    "truncated": ENV.format(x="1")[:-20],
    "not_soap": "<a/>",
    "empty_body": (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soapenv:Body/></soapenv:Envelope>"
    ),
    "unknown_operation": ENV.replace("paVerifyPaymentNoticeReq", "paSomethingElse").format(x="1"),
}


def _payload(name: str) -> bytes:
    if name == "utf16_doctype":
        return (
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "y">]>'
            + ENV.format(x="&x;")
        ).encode("utf-16")
    return ATTACKS[name].encode()


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_gets_a_soap_fault_fast_without_connecting_anywhere(app, name, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the parser tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    started = time.perf_counter()
    resp = app.post(PATH, _payload(name), headers={"Content-Type": "text/xml"}, status=500)
    assert time.perf_counter() - started < 0.2
    assert b"<soapenv:Fault>" in resp.body and b"root:" not in resp.body


def test_oversized_body_is_refused_unread(make_app):
    # a small limit: bodies over 10 KiB go to a temporary file that WebOb leaves open
    limit = 2048
    app = make_app(**{"payhub.soap_max_body_bytes": str(limit)})
    body = verify_req().replace(b"<soapenv:Body>", b"<soapenv:Body>" + b" " * limit)
    resp = app.post(PATH, body, headers={"Content-Type": "text/xml"}, status=500)
    assert b"larger than" in resp.body


def test_failed_commit_is_answered_system_error_not_a_bare_500(app, check, monkeypatch):
    """The commit happens after the view returned: its failure still gets a SOAP answer."""
    import transaction

    from tests.soap.test_operations import get_payment_req

    def broken_commit(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(transaction.TransactionManager, "commit", broken_commit)
    resp = app.post(PATH, get_payment_req(), headers={"Content-Type": "text/xml"})
    res = check(resp.body)
    assert res.findtext("fault/faultCode") == "PAA_SYSTEM_ERROR"
    assert b"disk full" not in resp.body


def test_internal_error_in_a_handler_is_system_error(app, check, monkeypatch):
    from soap import handlers

    def boom(call):
        raise ValueError("secret detail")

    monkeypatch.setitem(handlers.HANDLERS, "paVerifyPaymentNotice", boom)
    resp = app.post(PATH, verify_req(), headers={"Content-Type": "text/xml"})
    res = check(resp.body)
    assert res.findtext("fault/faultCode") == "PAA_SYSTEM_ERROR"
    assert b"secret detail" not in resp.body


def test_logs_carry_ids_never_bodies(app):
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        app.post(PATH, verify_req(), headers={"Content-Type": "text/xml"})
    text = repr(logs)
    assert "soap.request" in text
    assert "<idPA>" not in text and "JHNDOE" not in text
