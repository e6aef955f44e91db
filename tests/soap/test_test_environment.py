"""Test and production at the station (issue 15): a receipt delivered through a test station,
or for an Ente active in test only, is stored and settles as any other, marked as a test; the
Enti that existed before keep being served as production."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.models import Ente, Receipt, Station
from tests.soap.test_operations import EC
from tests.soap.test_station_today import AUTH, answer, post, sanp_option, sanp_receipt, serialise

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
