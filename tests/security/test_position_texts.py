"""Issue 17 item 12 (the rest): the API's position texts and the citizen forms refuse control
characters and direction overrides, naming the field; no two Enti of a station share a
segregation code."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from pyramid.i18n import make_localizer

from hub.models import Ente, Station
from hub.models.tenants import SegregationCodeTaken
from tests.web.api.conftest import position_body, transfer

URL = "/api/v1/enti/77777777777/debt-positions"
LOCALE = Path(__file__).resolve().parents[2] / "web" / "checkout" / "locale"
BAD = ["Mario\u202eissoR", "Mario\u2067Rossi", "Mario\x07Rossi", "Mario\x85Rossi", "a\nb"]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize(
    "field, body",
    [
        ("debtorName", lambda v: position_body("T-1", debtorName=v)),
        ("description", lambda v: position_body("T-1", description=v)),
        ("debtorCity", lambda v: position_body("T-1", debtorCity=v)),
        (
            "remittanceInformation",
            lambda v: position_body(
                "T-1",
                options=[
                    {
                        "amount": "30.00",
                        "dueDate": "2030-01-31",
                        "transfers": [transfer(remittanceInformation=v)],
                    }
                ],
            ),
        ),
    ],
)
def test_the_api_refuses_control_characters_and_direction_overrides(site, field, body, value):
    answer = site.app.post_json(URL, body(value), headers=site.api(), status="*")
    assert answer.status_int == 422, answer.text
    assert field in answer.json["field"] or field in answer.json["detail"], answer.json


def test_the_api_refuses_them_in_a_patch_too(site):
    site.app.post_json(URL, position_body("T-2"), headers=site.api(), status=201)
    answer = site.app.patch_json(
        URL + "/T-2", {"debtorName": "Mario\u202eRossi"}, headers=site.api(), status="*"
    )
    assert answer.status_int in (422, 428) and (
        answer.status_int == 428 or "debtorName" in answer.text
    )


@pytest.mark.parametrize(
    "value, italian",
    [
        ("Mario\u202eRossi", "direzione del testo"),
        ("Mario\u2066Rossi", "direzione del testo"),
        ("Mario\x85Rossi", "caratteri non ammessi"),
        ("Mario\x07Rossi", "caratteri non ammessi"),
    ],
)
def test_the_citizen_forms_refuse_them_with_a_message_in_the_users_language(value, italian):
    from web.checkout import forms

    spec = forms.parse_spec(
        {"fields": [{"name": "address", "label": "Indirizzo", "required": True}]}
    )
    post = {"address": value, "payer_fiscal_code": "RSSMRA80A01H501U", "payer_name": value}
    errors = forms.validate(spec, post).errors
    assert {"address", "payer_name"} <= set(errors)
    it = make_localizer("it", [str(LOCALE)])
    en = make_localizer("en", [str(LOCALE)])
    for name in ("address", "payer_name"):
        assert italian in it.translate(errors[name])
        assert "characters" in en.translate(errors[name])


def test_a_pasted_address_may_still_hold_line_breaks():
    from web.checkout import forms

    spec = forms.parse_spec({"fields": [{"name": "address", "label": "Indirizzo"}]})
    values, errors = forms.validate_fields(spec.fields, {"address": "Via Roma 1\r\n00100 Roma"})
    assert errors == {} and values["address"].startswith("Via Roma")


def test_an_ente_may_not_take_the_segregation_code_of_an_ente_on_its_station(site):
    def station(session):
        return session.scalar(sa.select(Station).where(Station.station_code == "77777777777_01"))

    with site.factory() as session:
        second = session.scalar(sa.select(Ente).where(Ente.fiscal_code == "00112233445"))
        second.segregation_code = "01"  # the demo Ente's
        with pytest.raises(SegregationCodeTaken, match=r"01.*77777777777"):
            session.flush()
        session.rollback()
        served = station(session)
        session.add(
            Ente(fiscal_code="12345678901", name="Nuovo", segregation_code="02", stations=[served])
        )
        with pytest.raises(SegregationCodeTaken, match="00112233445"):
            session.flush()
        session.rollback()
        served = station(session)
        session.add_all(
            [
                Ente(fiscal_code=code, name="A", segregation_code="33", stations=[served])
                for code in ("12345678901", "12345678902")
            ]
        )
        with pytest.raises(SegregationCodeTaken):
            session.flush()
        session.rollback()
        moved = Ente(fiscal_code="12345678901", name="Nuovo", segregation_code="02")
        session.add(moved)
        session.flush()  # on no station (or another station), the code is free
        served = station(session)
        moved.stations.append(served)  # joining the station where "02" is taken
        with pytest.raises(SegregationCodeTaken, match="00112233445"):
            session.flush()
        session.rollback()
        served = station(session)
        session.add(
            Ente(fiscal_code="12345678901", name="Nuovo", segregation_code="34", stations=[served])
        )
        session.flush()  # a free code is fine
        session.rollback()
