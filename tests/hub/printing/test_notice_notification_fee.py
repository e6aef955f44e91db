"""A notice whose option carries a SEND notification fee prints the amount with the fee and
says, as the notice guide does, that notification costs may change it."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from hub.positions.fees import set_notification_fee
from hub.printing.data import document_of
from hub.printing.pdf import render_pdf
from tests.factories import make_ente, make_position

pytestmark = pytest.mark.pg


def test_the_printed_amount_includes_the_fee_and_the_note_names_notification_costs(db):
    ente = make_ente(db)
    position = make_position(db, ente, amount="30.00")
    set_notification_fee(db, position.options[0].id, 265)
    db.refresh(position)
    pdf = render_pdf(document_of(ente, position), variant="it-en")
    text = " ".join(
        " ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(pdf)).pages
    )
    assert "32,65 Euro" in text
    assert "costi di notifica" in text and "notification costs" in text
