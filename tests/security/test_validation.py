"""Issue 17 item 12 (level 1 and the route patterns): amounts are strings such as "16.00";
names and descriptions refuse control characters and direction overrides; digits are ASCII."""

from __future__ import annotations

import re

import pytest
from pyramid.interfaces import IRoutesMapper

from tests.security.test_level1_return_url import ITEM, PREFIX, _start, portal  # noqa: F401

ARABIC_EC = "\u0667" * 11  # eleven Arabic-Indic sevens: \\d matches them


@pytest.mark.parametrize("amount", [10, 10.5, "1e3", "10", "10.5", "١٠.٠٠"])
def test_level1_refuses_an_amount_that_is_not_a_two_decimal_string(site, portal, amount):  # noqa: F811
    body = {"externalId": "a1", "returnUrl": PREFIX + "/b", "items": [{**ITEM, "amount": amount}]}
    answer = _start(site, portal, body)
    assert answer.status_int == 422 and "amount" in answer.text


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "Mario\u202eissoR"),
        ("name", "Mario\u2066Rossi"),
        ("name", "Mario\x07Rossi"),
        ("name", "Mario\x85Rossi"),
        ("description", "Mensa\u202dnovembre"),
    ],
)
def test_level1_refuses_control_characters_and_direction_overrides(site, portal, field, value):  # noqa: F811
    item = {**ITEM, "payer": {**ITEM["payer"], "name": value}}
    if field == "description":
        item = {**ITEM, "description": value}
    body = {"externalId": "t1", "returnUrl": PREFIX + "/b", "items": [item]}
    answer = _start(site, portal, body)
    assert answer.status_int == 422 and field in answer.text


def test_a_well_formed_item_is_still_accepted(site, portal):  # noqa: F811
    body = {"externalId": "ok", "returnUrl": PREFIX + "/b", "items": [ITEM]}
    assert _start(site, portal, body).status_int == 201


PLACEHOLDER = re.compile(r"\{(\w+)(?::(?:[^{}]|\{[^{}]*\})*)?\}")
IDS = {"fiscal_code": "77777777777", "ec": "77777777777", "notice_number": "3" * 18}


def test_route_patterns_take_ascii_digits_only(site):
    mapper = site.app.app.registry.getUtility(IRoutesMapper)
    swap = {"77777777777": ARABIC_EC, "3" * 18: "\u0663" * 18}
    matched, checked = [], 0
    for route in mapper.get_routes():
        if "{11}" not in route.pattern and "{18}" not in route.pattern:
            continue  # no digits asked of the placeholder (the view looks the Ente up)
        path = "/" + PLACEHOLDER.sub(lambda m: IDS.get(m.group(1), "1"), route.pattern).lstrip("/")
        for ascii_digits, other in swap.items():
            if ascii_digits in path and route.match(path):
                checked += 1
                if route.match(path.replace(ascii_digits, other)):
                    matched.append(route.name)
    assert checked > 20 and matched == [], matched


@pytest.mark.parametrize(
    "annotation, value",
    [
        ("FiscalCode11", ARABIC_EC),
        ("NoticeNumber", "\u0663" * 18),
        ("Amount", "\u0661.\u0660\u0660"),
    ],
)
def test_the_position_model_takes_ascii_digits_only(annotation, value):
    from pydantic import TypeAdapter, ValidationError

    from hub.positions import inputs

    with pytest.raises(ValidationError):
        TypeAdapter(getattr(inputs, annotation)).validate_python(value)
