"""Issue 17 item 3: names, descriptions and PSP names in the receipt PDF are text, never
ReportLab markup (no embedded file, no link, no 500 for an unclosed tag)."""

from __future__ import annotations

import datetime as dt
import io
from types import SimpleNamespace

import pypdf
from reportlab.lib.styles import getSampleStyleSheet

from hub.printing.markup import paragraph, plain
from web.checkout.receipt_pdf import render_receipt

HOSTILE = (
    '<img src="/etc/passwd" width="100" height="100"/>',
    '<link href="https://evil.example/">click</link>',
    "<b>unclosed",
    "&amp; &#0; \x00 </para>",
)


class Localizer:
    def translate(self, ts):
        return ts.interpolate()


def _receipt(description: str, psp: str, ente_name: str) -> bytes:
    item = SimpleNamespace(ente_id=1, description=description, amount_cents=1600)
    receipt = SimpleNamespace(
        payment_date_time=dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC),
        received_at=None,
        notice_number="311111111112222222",
        receipt_id="R1",
        psp_company_name=psp,
        id_psp="PSP1",
        fee_cents=100,
    )
    option = SimpleNamespace(notice_number="311111111112222222")
    result = SimpleNamespace(
        items=[SimpleNamespace(item=item, option=option, paid=True, receipt=receipt)]
    )
    cart = SimpleNamespace(public_id="cart-1")
    return render_receipt(Localizer(), cart, result, {1: SimpleNamespace(name=ente_name)})


def test_hostile_descriptions_psp_and_ente_names_print_as_text():
    for text in HOSTILE:
        pdf = pypdf.PdfReader(io.BytesIO(_receipt(text, text, text)))
        page = pdf.pages[0]
        assert "/Annots" not in page, text  # no link
        xobjects = page["/Resources"].get("/XObject") or {}
        assert not list(xobjects), text  # no image
        shown = page.extract_text()
        visible = text.replace("\x00", " ").split()[0]
        assert visible in shown, (text, shown)


def test_the_escaper_keeps_the_text_and_never_raises():
    style = getSampleStyleSheet()["BodyText"]
    for text in (*HOSTILE, "Mensa <novembre> & dicembre"):
        assert "<" not in plain(text)
        paragraph(text, style).wrap(400, 400)
