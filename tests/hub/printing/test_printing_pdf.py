"""PDF notices: the text shows what a payer and a PSP need; plans get a page per instalment;
the bilingual variants carry both languages; the output is the same bytes every time."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
from pypdf import PdfReader

from hub.printing.data import document_of
from hub.printing.i18n import format_amount
from hub.printing.pdf import render_pdf
from tests.hub.printing.conftest import ente, option, position


def _pages(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def test_single_notice_text_shows_number_amount_due_date_and_fiscal_codes(single):
    (page,) = _pages(render_pdf(document_of(*single)))
    assert "AVVISO DI PAGAMENTO" in page
    assert "3007 1570 0000 0000 32" in page
    assert "123,45" in page
    assert "31/12/2026" in page
    assert "00085240950" in page and "BSCMTT83A12L719R" in page
    assert "Comune di Zerfaliu" in page and "Matteo Bosca" in page
    assert "TARI 2026 - tassa rifiuti" in page
    assert "A0EDT" in page  # CBILL
    assert "BOLLETTINO POSTALE PA" in page and "000016302093" in page


def test_without_postal_account_there_is_no_postal_slip():
    doc = document_of(ente(postal=False), position(option("300715700000000032", 5_000)))
    (page,) = _pages(render_pdf(doc))
    assert "BANCHE E ALTRI CANALI" in page
    assert "BOLLETTINO POSTALE" not in page


def test_instalment_plan_prints_pay_in_full_then_a_page_per_instalment(plan):
    pages = _pages(render_pdf(document_of(*plan)))
    assert len(pages) == 4
    assert "3007 1570 0000 0000 32" in pages[0] and "300,00" in pages[0]
    assert "3 rate" in pages[0]
    for n, (page, number, due) in enumerate(
        zip(
            pages[1:],
            ("3007 1570 0000 0001 33", "3007 1570 0000 0002 34", "3007 1570 0000 0003 35"),
            ("31/10/2026", "30/11/2026", "31/12/2026"),
            strict=True,
        ),
        start=1,
    ):
        assert f"Rata {n} di 3" in page
        assert number in page and "100,00" in page and due in page


@pytest.mark.parametrize(
    ("variant", "words"),
    [
        ("it-de", ("ZAHLUNGSMITTEILUNG", "GLÄUBIGERKÖRPERSCHAFT", "bis zum")),
        ("it-en", ("PAYMENT NOTICE", "CREDITOR ENTITY", "WHERE TO PAY?")),
    ],
)
def test_bilingual_variants_print_italian_and_the_second_language(single, variant, words):
    (page,) = _pages(render_pdf(document_of(*single), variant=variant))
    assert "AVVISO DI PAGAMENTO" in page and "3007 1570 0000 0000 32" in page
    for word in words:
        assert word in page


def test_unknown_language_is_refused(single):
    with pytest.raises(ValueError, match="it-de"):
        render_pdf(document_of(*single), variant="fr")


def test_same_notice_gives_the_same_bytes_with_fonts_embedded(single):
    first, second = render_pdf(document_of(*single)), render_pdf(document_of(*single))
    assert first == second
    reader = PdfReader(io.BytesIO(first))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert fonts
    for ref in fonts.values():  # no standard-14 font left to the viewer's choice
        font = ref.get_object()
        assert font["/Subtype"] == "/TrueType" and "Vera" in font["/BaseFont"]
        assert "/FontFile2" in font["/FontDescriptor"].get_object()


def test_amounts_are_printed_the_italian_way():
    from decimal import Decimal

    assert format_amount(Decimal("1234567.05")) == "1.234.567,05"
    assert format_amount(Decimal("0.01")) == "0,01"


def test_symbols_on_the_rendered_page_decode_to_the_payloads(single, tmp_path):
    """Render the page with pdftoppm and read both symbols off the picture."""
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) not installed; run scripts/ensure-system-packages.sh")
    image = pytest.importorskip("PIL.Image")
    try:
        from pylibdmtx import pylibdmtx
        from pyzbar import pyzbar
    except ImportError as exc:
        pytest.skip(f"libdmtx/libzbar not installed ({exc})")
    doc = document_of(*single)
    (tmp_path / "n.pdf").write_bytes(render_pdf(doc))
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "200",
            "-singlefile",
            str(tmp_path / "n.pdf"),
            str(tmp_path / "n"),
        ],
        check=True,
    )
    page = image.open(tmp_path / "n.png").convert("L")
    qr = [d.data.decode() for d in pyzbar.decode(page) if d.type == "QRCODE"]
    assert qr == [doc.first.qr_payload]
    dm = [d.data.decode() for d in pylibdmtx.decode(page, max_count=1, timeout=20_000)]
    assert dm == [doc.first.datamatrix_payload]
    assert re.fullmatch(r"PAGOPA\|002\|\d{18}\|\d{11}\|\d+", qr[0])


@pytest.mark.parametrize("variant", ["it", "it-de", "it-en"])
def test_cached_font_subsets_give_the_bytes_reportlab_itself_writes(plan, variant):
    """The font programs are made and compressed once per process; the PDF is unchanged."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFontFace

    from hub.printing import pdf

    accented = (
        ente(),
        position(
            option("300715700000000032", 100), description="Mensa scolastica · città di Núoro € ß"
        ),
    )
    for doc in (document_of(*plan), document_of(*accented)):
        cached = render_pdf(doc, variant=variant)
        faces = [pdfmetrics.getFont(name).face for name in (pdf.SANS, pdf.BOLD, pdf.ITALIC)]
        assert all(type(face) is pdf._CachedSubsetFace for face in faces)
        try:
            for face in faces:
                face.__class__ = TTFontFace
            plain = render_pdf(doc, variant=variant)
        finally:
            for face in faces:
                face.__class__ = pdf._CachedSubsetFace
        assert cached == plain
