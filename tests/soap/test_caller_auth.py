"""The optional caller checks of the station (soap/__init__.py): ``payhub.soap_allowed_networks``
(CIDR allow-list on the peer address) and ``payhub.soap_auth_header`` ("Header-Name: secret").

A refused caller gets HTTP 403 with a SOAP 1.1 Fault (faultcode soapenv:Client, faultstring
"caller not authorised"), before the body is read: nothing is written.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.models import Anomaly, PaymentAttempt, PaymentOption, Receipt, StateTransition
from tests.soap import soapcheck
from tests.soap.test_operations import PATH, SANP, get_payment_req, verify_req

pytestmark = pytest.mark.pg

NETWORKS = "payhub.soap_allowed_networks"
AUTH = "payhub.soap_auth_header"
HEADER, SECRET = "X-Payhub-Station-Key", "s3cr:et with spaces"
ALLOWED = "10.0.0.0/8, 192.168.7.0/24 ,2001:db8::/32"


def call(app, body: bytes, *, addr: str | None = "10.20.30.40", headers=None, action=None):
    environ = {"REMOTE_ADDR": addr} if addr is not None else {}
    return app.post(
        PATH,
        body,
        expect_errors=True,
        extra_environ=environ,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            **({"SOAPAction": action} if action else {}),
            **(headers or {}),
        },
    )


def state(factory) -> dict[str, object]:
    """Everything a paGetPayment or paSendRT could write."""
    with factory() as s:

        def count(model):
            return s.scalar(sa.select(sa.func.count()).select_from(model))

        return {
            "receipts": count(Receipt),
            "attempts": count(PaymentAttempt),
            "transitions": count(StateTransition),
            "anomalies": count(Anomaly),
            "options": sorted(
                s.execute(sa.select(PaymentOption.notice_number, PaymentOption.status)).all()
            ),
        }


def sanp_status(factory) -> str:
    with factory() as s:
        return s.scalars(
            sa.select(PaymentOption.status).where(PaymentOption.notice_number == SANP)
        ).one()


def assert_refused(res) -> None:
    assert res.status_int == 403
    assert res.content_type == "text/xml"
    fault = soapcheck.body_element(res.body)
    assert fault.tag == f"{{{soapcheck.SOAP11}}}Fault"
    assert fault.findtext("faultcode") == "soapenv:Client"
    assert fault.findtext("faultstring") == "caller not authorised"


def assert_ok(res) -> None:
    assert res.status_int == 200
    wrapper = soapcheck.body_element(res.body)
    assert wrapper.findtext("outcome") == "OK", wrapper.findtext("fault/faultCode")


@pytest.fixture
def rt_body(samples) -> bytes:
    """The official SANP paSendRT for the seeded SANP notice."""
    return (samples / "official-sanp" / "paSendRTReq.xml").read_bytes()


# -- no setting: anyone may call ---------------------------------------------------------------
def test_without_settings_any_address_and_no_header_may_call(app):
    assert_ok(call(app, verify_req(), addr="203.0.113.9"))
    assert_ok(call(app, verify_req(), addr=None))


# -- allow-list --------------------------------------------------------------------------------
@pytest.mark.parametrize("addr", ["10.20.30.40", "10.255.255.255", "192.168.7.1", "2001:db8::5"])
def test_an_address_in_an_allowed_network_passes(make_app, seeded, addr):
    app = make_app(**{NETWORKS: ALLOWED})
    assert_ok(call(app, get_payment_req(), addr=addr, action="paGetPaymentV2"))
    assert sanp_status(seeded) == "in_progress"


@pytest.mark.parametrize(
    "addr", ["11.0.0.1", "192.168.8.1", "127.0.0.1", "2001:db9::1", "", "not-an-address"]
)
def test_an_address_outside_the_allowed_networks_is_refused_and_nothing_is_written(
    make_app, seeded, addr
):
    app = make_app(**{NETWORKS: ALLOWED})
    before = state(seeded)
    assert_refused(call(app, get_payment_req(), addr=addr, action="paGetPaymentV2"))
    assert state(seeded) == before


def test_a_refused_receipt_is_not_stored_and_the_notice_stays_payable(make_app, seeded, rt_body):
    app = make_app(**{NETWORKS: ALLOWED})
    before = state(seeded)
    assert_refused(call(app, rt_body, addr="198.51.100.4", action="paSendRT"))
    assert state(seeded) == before
    assert sanp_status(seeded) == "payable"
    # the same receipt from an allowed address is stored
    assert_ok(call(app, rt_body, addr="10.1.1.1", action="paSendRT"))
    assert state(seeded)["receipts"] == before["receipts"] + 1
    assert sanp_status(seeded) == "paid"


def test_x_forwarded_for_does_not_get_a_caller_in(make_app, seeded):
    """Only the peer address counts (the README: allow-list the proxy's address)."""
    app = make_app(**{NETWORKS: ALLOWED})
    before = state(seeded)
    res = call(
        app,
        get_payment_req(),
        addr="198.51.100.4",
        headers={
            "X-Forwarded-For": "10.0.0.1",
            "X-Real-IP": "10.0.0.1",
            "Forwarded": "for=10.0.0.1",
        },
    )
    assert_refused(res)
    assert state(seeded) == before


def test_the_wsdl_is_refused_to_other_networks_too(make_app):
    app = make_app(**{NETWORKS: ALLOWED})
    res = app.get(PATH + "?wsdl", expect_errors=True, extra_environ={"REMOTE_ADDR": "198.51.100.4"})
    assert_refused(res)
    ok = app.get(PATH + "?wsdl", extra_environ={"REMOTE_ADDR": "10.0.0.1"})
    assert b"paForNode" in ok.body


# -- shared-secret header ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {HEADER: ""},
        {HEADER: "wrong"},
        {HEADER: SECRET.upper()},
        {HEADER: SECRET + "x"},
        {HEADER: SECRET[:-1]},
        {"X-Other-Header": SECRET},
        {"Authorization": SECRET},
    ],
    ids=["missing", "empty", "wrong", "case", "longer", "shorter", "other-name", "authz"],
)
def test_a_missing_or_wrong_header_is_refused_and_nothing_is_written(make_app, seeded, headers):
    app = make_app(**{AUTH: f"{HEADER}: {SECRET}"})
    before = state(seeded)
    assert_refused(call(app, get_payment_req(), headers=headers, action="paGetPaymentV2"))
    assert state(seeded) == before
    assert sanp_status(seeded) == "payable"


@pytest.mark.parametrize("name", [HEADER, HEADER.lower(), HEADER.upper()])
def test_the_right_header_passes_whatever_the_case_of_its_name(make_app, seeded, name):
    """The secret may contain ':' and spaces (only the first ':' separates the name)."""
    app = make_app(**{AUTH: f"{HEADER}: {SECRET}"})
    assert_ok(call(app, get_payment_req(), headers={name: SECRET}, action="paGetPaymentV2"))
    assert sanp_status(seeded) == "in_progress"


def test_a_refused_receipt_without_the_header_is_not_stored(make_app, seeded, rt_body):
    app = make_app(**{AUTH: f"{HEADER}: {SECRET}"})
    before = state(seeded)
    assert_refused(call(app, rt_body, action="paSendRT"))
    assert state(seeded) == before
    assert_ok(call(app, rt_body, headers={HEADER: SECRET}, action="paSendRT"))
    assert sanp_status(seeded) == "paid"


# -- both --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("addr", "secret", "allowed"),
    [
        ("10.0.0.7", SECRET, True),
        ("10.0.0.7", "wrong", False),
        ("198.51.100.4", SECRET, False),
        ("198.51.100.4", "wrong", False),
    ],
)
def test_with_both_checks_a_caller_needs_both(make_app, seeded, addr, secret, allowed):
    app = make_app(**{NETWORKS: ALLOWED, AUTH: f"{HEADER}: {SECRET}"})
    before = state(seeded)
    res = call(app, get_payment_req(), addr=addr, headers={HEADER: secret})
    if allowed:
        assert_ok(res)
        assert state(seeded)["attempts"] == before["attempts"] + 1
    else:
        assert_refused(res)
        assert state(seeded) == before


def test_an_invalid_network_setting_stops_the_app_from_starting(make_app):
    with pytest.raises(ValueError):
        make_app(**{NETWORKS: "10.0.0.0/8, not-a-network"})


@pytest.mark.parametrize("setting", ["s3cret", f"{HEADER}:", f"{HEADER}: "])
def test_an_auth_header_setting_without_a_secret_does_not_open_the_station(
    make_app, seeded, setting
):
    try:
        app = make_app(**{AUTH: setting})
    except ValueError:
        return  # refused at start-up: what we want
    before = state(seeded)
    assert_refused(call(app, get_payment_req()))
    assert state(seeded) == before
