"""Test and production at the station (issue 15): a receipt delivered through a test station,
or for an Ente active in test only, is stored and settles as any other, marked as a test; the
Enti that existed before keep being served as production; a deactivated Ente is served no
more, but a receipt pagoPA still delivers for it is kept and settled."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.models import Ente, Receipt, Station
from hub.onboarding import requests
from tests.soap.test_operations import EC, verify_req
from tests.soap.test_station_today import (
    AUTH,
    anomalies,
    answer,
    ko,
    post,
    sanp_option,
    sanp_receipt,
    serialise,
)

pytestmark = pytest.mark.pg


def _stored(seeded) -> Receipt:
    """The SANP receipt just delivered (the seed has another, of its own)."""
    option = sanp_option(seeded)
    with seeded() as s:
        return s.scalars(sa.select(Receipt).where(Receipt.option_id == option.id)).one()


def test_existing_enti_are_in_production_and_their_receipts_are_real(
    make_app, seeded, samples, official_xsd
):
    res = post(make_app(**AUTH), serialise(sanp_receipt(samples)))
    assert answer(res, official_xsd).findtext("outcome") == "OK"
    assert sanp_option(seeded).status == "paid"
    assert _stored(seeded).test is False


def test_a_receipt_through_a_test_station_is_a_test(make_app, seeded, samples, official_xsd):
    with seeded.begin() as s:
        s.execute(sa.update(Station).values(test=True))
    res = post(make_app(**AUTH), serialise(sanp_receipt(samples)))
    assert answer(res, official_xsd).findtext("outcome") == "OK"
    assert sanp_option(seeded).status == "paid"
    assert _stored(seeded).test is True


def test_a_receipt_for_an_ente_in_test_only_is_a_test(make_app, seeded, samples, official_xsd):
    with seeded.begin() as s:
        s.execute(sa.update(Ente).where(Ente.fiscal_code == EC).values(production=False))
    res = post(make_app(**AUTH), serialise(sanp_receipt(samples)))
    assert answer(res, official_xsd).findtext("outcome") == "OK"
    assert sanp_option(seeded).status == "paid"
    assert _stored(seeded).test is True


def test_a_deactivated_ente_is_no_longer_served_but_a_late_receipt_is_kept_and_settled(
    make_app, seeded, samples, official_xsd
):
    with seeded.begin() as s:
        ente = requests.ente_by_code(s, EC)
        leaving = requests.open_request(
            s, ente=ente, kind="deactivation", subject="Cessazione", actor="cli"
        )
        for step in ("configure_test", "confirm_test", "configure_production"):
            requests.move(s, leaving.id, step, actor="cli")
        assert ente.stations == []
    app = make_app(**AUTH)
    assert ko(post(app, verify_req()), official_xsd) == "PAA_ID_DOMINIO_ERRATO"
    res = post(app, serialise(sanp_receipt(samples)))
    assert answer(res, official_xsd).findtext("outcome") == "OK"
    assert sanp_option(seeded).status == "paid"
    assert anomalies(seeded) == ["station_mismatch"]
    assert _stored(seeded).test is False
