"""Issue 17 items 8 and 11 (level 1): returnUrl judged by its parsed origin; a long e-mail is a
400, not a 500 later."""

from __future__ import annotations

import json

import pytest

from hub.checkout import level1

PREFIX = "https://portal.example.it"
ITEM = {
    "enteFiscalCode": "00112233445",
    "service": "GENER",
    "amount": "16.00",
    "payer": {"fiscalCode": "RSSMRA80A01H501U", "name": "Mario Rossi"},
}


@pytest.mark.parametrize(
    "url",
    [
        "https://portal.example.it.evil.example/",
        "https://portal.example.it@evil.example/",
        "https://portal.example.it:pw@evil.example/",
        "https://portal.example.it:8443/",
        "http://portal.example.it/",
        "https://portal.example.it\\@evil.example/",
        "https://portal.example.itx/",
        "https://portal.example.it/\t/evil",
    ],
)
def test_a_return_url_outside_the_portal_is_refused(url):
    assert not level1.within_prefix(url, PREFIX)


@pytest.mark.parametrize(
    "url",
    [
        "https://portal.example.it",
        "https://portal.example.it/",
        "https://PORTAL.example.it:443/x?y=1",
    ],
)
def test_a_return_url_of_the_portal_is_accepted(url):
    assert level1.within_prefix(url, PREFIX)


def test_a_path_prefix_is_matched_segment_by_segment():
    assert level1.within_prefix("https://p.example/app/back", "https://p.example/app")
    assert not level1.within_prefix("https://p.example/application", "https://p.example/app")


@pytest.fixture
def portal(site):
    with site.factory.begin() as session:
        done = level1.register_portal(session, "Portale", ["00112233445"], PREFIX + "/")
        return done.portal.key_id, done.secret


def _start(site, portal, body):
    raw = json.dumps(body).encode()
    headers = level1.signed_headers(*portal, "POST", "/level1/v1/payments", raw)
    return site.app.post(
        "/level1/v1/payments",
        raw,
        headers={**headers, "Content-Type": "application/json"},
        status="*",
    )


def test_the_api_refuses_a_look_alike_return_url_and_a_long_email(site, portal):
    answer = _start(
        site,
        portal,
        {
            "externalId": "x1",
            "returnUrl": "https://portal.example.it.evil.example/",
            "items": [ITEM],
        },
    )
    assert answer.status_int == 422 and "returnUrl" in answer.text
    long_mail = {**ITEM, "payer": {**ITEM["payer"], "email": "a" * 250 + "@example.it"}}
    answer = _start(
        site, portal, {"externalId": "x2", "returnUrl": PREFIX + "/back", "items": [long_mail]}
    )
    assert answer.status_int == 422 and "email" in answer.text
