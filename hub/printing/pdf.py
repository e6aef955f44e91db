"""PDF payment notices after pagoPA's notice model, drawn with reportlab's canvas.

One A4 page per notice: header (title, subject, the Ente's logo area), creditor and debtor,
"how much and when" and "where to pay", then the bank slip (QR code, CBILL, notice code) and,
where the Ente has a postal account, the postal slip (Data Matrix). An instalment plan prints the
pay-in-full page first, then a page per instalment. The fonts (Bitstream Vera, shipped with
reportlab) are embedded and the document is written in reportlab's invariant mode, so the same
notice gives the same bytes on every machine.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import reportlab
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, TTFont, TTFontFace
from reportlab.pdfgen.canvas import Canvas

from hub.printing.codes import Matrix, datamatrix_matrix, qr_matrix
from hub.printing.data import Notice, NoticeDocument
from hub.printing.i18n import format_amount, format_date, text

SANS, BOLD, ITALIC = "PayhubSans", "PayhubSans-Bold", "PayhubSans-Oblique"
WIDTH, HEIGHT = A4
MARGIN = 28.0
INK = (0.05, 0.15, 0.3)  # pagoPA's dark blue for headings
GREY = (0.35, 0.35, 0.35)
RULE = (0.7, 0.75, 0.8)
_FONTS_READY = False
_SUBSET_CACHE_SIZE = 64  # per font; a subset is ~20 KB compressed


class _CachedSubsetFace(TTFontFace):
    """reportlab's TrueType face, with each subset's font program made and compressed once.

    ``addSubsetObjects`` is reportlab's own (4.x/5.x) with the ``FontFile2`` stream given its
    content already deflated (the ``Filter`` entry set, so reportlab does not compress it again);
    the PDF objects, and so the bytes, are the same."""

    _font_files: dict[tuple[int, ...], tuple[bytes, int]]

    def addSubsetObjects(self, doc, fontname, subset):
        if not doc.compression:
            return super().addSubsetObjects(doc, fontname, subset)
        key = tuple(subset)
        cached = self._font_files.get(key)
        if cached is None:
            raw = self.makeSubset(subset)
            cached = (pdfdoc.PDFZCompress.encode(raw), len(raw))
            if len(self._font_files) >= _SUBSET_CACHE_SIZE:
                self._font_files.pop(next(iter(self._font_files)))
            self._font_files[key] = cached
        font_file = pdfdoc.PDFStream()
        font_file.content = cached[0]
        font_file.dictionary["Length1"] = cached[1]
        font_file.dictionary["Filter"] = pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])
        font_file_ref = doc.Reference(font_file, f"fontFile:{self.filename}({fontname})")
        descriptor = pdfdoc.PDFDictionary(
            {
                "Type": "/FontDescriptor",
                "Ascent": self.ascent,
                "CapHeight": self.capHeight,
                "Descent": self.descent,
                "Flags": (self.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC,
                "FontBBox": pdfdoc.PDFArray(self.bbox),
                "FontName": pdfdoc.PDFName(fontname),
                "ItalicAngle": self.italicAngle,
                "StemV": self.stemV,
                "FontFile2": font_file_ref,
                "MissingWidth": self.defaultWidth,
            }
        )
        return doc.Reference(descriptor, "fontDescriptor:" + fontname)


def _register_fonts() -> None:
    global _FONTS_READY
    if _FONTS_READY:
        return
    fonts = Path(reportlab.__file__).parent / "fonts"
    for name, file in ((SANS, "Vera.ttf"), (BOLD, "VeraBd.ttf"), (ITALIC, "VeraIt.ttf")):
        font = TTFont(name, str(fonts / file))
        font.face.__class__ = _CachedSubsetFace  # TTFont makes its face itself
        font.face._font_files = {}
        pdfmetrics.registerFont(font)
    _FONTS_READY = True


def render_pdf(
    document: NoticeDocument, *, variant: str = "it", logo: bytes | None = None
) -> bytes:
    """The notice(s) of ``document`` as PDF bytes; ``variant`` is "it", "it-de" or "it-en";
    ``logo`` an optional PNG/JPEG drawn in the logo area (else the Ente's initials)."""
    _register_fonts()
    text("title", variant)  # fail early on an unknown variant
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer, pagesize=A4, invariant=1, pageCompression=1, initialFontName=SANS, initialFontSize=8
    )
    first = document.first
    canvas.setTitle(f"{text('title', 'it')[0].title()} {first.notice_number}")
    canvas.setAuthor(first.creditor.name)
    canvas.setSubject(first.subject)
    canvas.setCreator("payhub")
    logo = logo or document.logo
    logo_image = ImageReader(io.BytesIO(logo)) if logo else None
    plan_size = len(document.instalments)
    for notice in document.notices:
        _page(canvas, notice, variant, logo_image, plan_size if notice is document.full else 0)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- one page ---------------------------------------------------------------------------------


def _page(
    c: Canvas, notice: Notice, variant: str, logo: ImageReader | None, plan_size: int
) -> None:
    top = HEIGHT - MARGIN
    y = _header(c, notice, variant, logo, top)
    y = _parties(c, notice, variant, y - 10)
    y = _how_and_where(c, notice, variant, plan_size, y - 10)
    # the slips sit at the foot of the page, as in pagoPA's model, the postal one last
    postal = notice.datamatrix_payload
    room = y - 16 - MARGIN - (14 if postal else 0)
    slip_height = min(room / (2 if postal else 1), 175.0)
    bank_top = MARGIN + slip_height + ((slip_height + 14) if postal else 0)
    _bank_slip(c, notice, variant, bank_top, slip_height)
    if postal:
        _postal_slip(c, notice, postal, variant, MARGIN + slip_height, slip_height)
    c.setFont(SANS, 6)
    c.setFillColorRGB(*GREY)
    c.drawRightString(WIDTH - MARGIN, MARGIN - 12, f"pagoPA · {notice.notice_number_grouped}")


def _header(c: Canvas, notice: Notice, variant: str, logo: ImageReader | None, top: float) -> float:
    logo_size = 56.0
    x_logo = WIDTH - MARGIN - logo_size
    _logo(c, notice, logo, x_logo, top - logo_size, logo_size)
    c.setFillColorRGB(*INK)
    y = top - 14
    titles = text("title", variant)
    c.setFont(BOLD, 16)
    c.drawString(MARGIN, y, titles[0])
    if len(titles) > 1:
        c.setFont(ITALIC, 10)
        c.drawString(MARGIN + pdfmetrics.stringWidth(titles[0], BOLD, 16) + 8, y, titles[1])
    y -= 18
    c.setFillColorRGB(0, 0, 0)
    y = _lines(
        c, MARGIN, y, _wrap(notice.subject, BOLD, 11, x_logo - MARGIN - 12)[:3], BOLD, 11, 13
    )
    if notice.instalment_number is not None:
        label = " / ".join(
            text("instalment", variant, n=notice.instalment_number, m=notice.instalment_count)
        )
        c.setFillColorRGB(*INK)
        y = _lines(c, MARGIN, y, [label], BOLD, 9, 11)
        c.setFillColorRGB(0, 0, 0)
    return min(y, top - logo_size) - 4


def _logo(
    c: Canvas, notice: Notice, logo: ImageReader | None, x: float, y: float, size: float
) -> None:
    if logo is not None:
        c.drawImage(logo, x, y, size, size, preserveAspectRatio=True, anchor="c", mask="auto")
        return
    c.setStrokeColorRGB(*RULE)
    c.setFillColorRGB(0.93, 0.95, 0.98)
    c.roundRect(x, y, size, size, 6, stroke=1, fill=1)
    initials = "".join(w[0] for w in notice.creditor.name.split() if w[:1].isupper())[:3]
    c.setFillColorRGB(*INK)
    c.setFont(BOLD, 18)
    c.drawCentredString(x + size / 2, y + size / 2 - 6, initials or "EC")


def _parties(c: Canvas, notice: Notice, variant: str, top: float) -> float:
    half = (WIDTH - 2 * MARGIN - 12) / 2
    creditor = notice.creditor
    left = [
        creditor.name,
        *([creditor.office] if creditor.office else []),
        f"{' / '.join(text('fiscal_code', variant))} {creditor.fiscal_code}",
    ]
    debtor = notice.debtor
    right = [
        debtor.name,
        f"{' / '.join(text('fiscal_code', variant))} {debtor.fiscal_code}",
        *([debtor.address] if debtor.address else []),
    ]
    y1 = _box(c, MARGIN, top, half, text("creditor", variant), left)
    y2 = _box(c, MARGIN + half + 12, top, half, text("debtor", variant), right)
    return min(y1, y2)


def _box(
    c: Canvas, x: float, top: float, width: float, heading: tuple[str, ...], lines: list[str]
) -> float:
    c.setFillColorRGB(*INK)
    y = _lines(c, x, top - 8, [" / ".join(heading)], BOLD, 7, 9)
    c.setFillColorRGB(0, 0, 0)
    wrapped = [part for line in lines for part in _wrap(line, SANS, 8.5, width)]
    y = _lines(c, x, y - 1, wrapped[:1], BOLD, 9.5, 11)
    y = _lines(c, x, y, wrapped[1:], SANS, 8.5, 10)
    c.setStrokeColorRGB(*RULE)
    c.line(x, y + 4, x + width, y + 4)
    return y


def _how_and_where(c: Canvas, notice: Notice, variant: str, plan_size: int, top: float) -> float:
    half = (WIDTH - 2 * MARGIN - 12) / 2
    # how much and when
    c.setFillColorRGB(*INK)
    y = _lines(
        c, MARGIN, top - 8, _wrap(" / ".join(text("how_much", variant)), BOLD, 8, half), BOLD, 8, 10
    )
    c.setFillColorRGB(0, 0, 0)
    c.setFont(BOLD, 18)
    amount = f"{format_amount(notice.amount)} Euro"
    c.drawString(MARGIN, y - 14, amount)
    by = f"{' / '.join(text('by', variant))} "
    x_by = MARGIN + pdfmetrics.stringWidth(amount, BOLD, 18) + 8
    if x_by + pdfmetrics.stringWidth(by, SANS, 9) + 70 > MARGIN + half:
        x_by, y = MARGIN, y - 16  # bilingual: the due date goes on its own line
    c.setFont(SANS, 9)
    c.drawString(x_by, y - 14, by)
    c.setFont(BOLD, 12)
    c.drawString(x_by + pdfmetrics.stringWidth(by, SANS, 9), y - 14, format_date(notice.due_date))
    y -= 26
    if plan_size:
        for line in text("full", variant) + text("plan", variant, m=plan_size):
            y = _lines(c, MARGIN, y, _wrap(line, BOLD, 7.5, half), BOLD, 7.5, 9)
    for i, note in enumerate(text("amount_note", variant)):
        y = _lines(
            c,
            MARGIN,
            y - 2,
            _wrap(note, ITALIC if i else SANS, 7, half),
            ITALIC if i else SANS,
            7,
            8.4,
        )
    left_bottom = y
    # where to pay
    x = MARGIN + half + 12
    c.setFillColorRGB(*INK)
    y = _lines(c, x, top - 8, [" / ".join(text("where", variant))], BOLD, 8, 10)
    c.setFillColorRGB(0, 0, 0)
    for key in ("where_online", "where_local", "use_slip"):
        for i, line in enumerate(text(key, variant)):
            font = ITALIC if i else SANS
            y = _lines(c, x, y - 2, _wrap(line, font, 7, half), font, 7, 8.4)
    return min(left_bottom, y)


def _bank_slip(c: Canvas, notice: Notice, variant: str, top: float, height: float) -> float:
    creditor = notice.creditor
    fields = [
        (text("recipient", variant), notice.debtor.name),
        (text("euro", variant)[:1], format_amount(notice.amount)),
        (text("creditor", variant)[:1], creditor.name),
        (text("object", variant), notice.subject),
        (text("cbill", variant), creditor.cbill_code or "-"),
        (text("notice_code", variant), notice.notice_number_grouped),
        (text("ec_code", variant), creditor.fiscal_code),
    ]
    return _slip(
        c,
        top,
        height,
        text("bank_slip", variant),
        text("bank_note", variant),
        qr_matrix(notice.qr_payload),
        fields,
        quiet=4,
    )


def _postal_slip(
    c: Canvas, notice: Notice, payload: str, variant: str, top: float, height: float
) -> float:
    creditor = notice.creditor
    heading = (
        *text("postal_slip", variant),
        f"{text('account', variant)[0]} {creditor.postal_account}",
    )
    fields = [
        (text("euro", variant)[:1], format_amount(notice.amount)),
        (text("holder", variant), creditor.name),
        (text("recipient", variant), notice.debtor.name),
        (text("object", variant), notice.subject),
        (text("notice_code", variant), notice.notice_number_grouped),
        (text("type", variant)[:1], "P1"),
        (text("ec_code", variant), creditor.fiscal_code),
    ]
    return _slip(
        c,
        top,
        height,
        heading,
        text("postal_note", variant),
        datamatrix_matrix(payload),
        fields,
        quiet=2,
    )


def _slip(
    c: Canvas,
    top: float,
    height: float,
    heading: tuple[str, ...],
    note: tuple[str, ...],
    matrix: Matrix,
    fields: list[tuple[tuple[str, ...], str]],
    *,
    quiet: int,
) -> float:
    width = WIDTH - 2 * MARGIN
    bottom = top - height
    c.setStrokeColorRGB(*RULE)
    c.setDash(3, 2)
    c.line(MARGIN, top + 4, MARGIN + width, top + 4)  # cut here
    c.setDash()
    c.setFillColorRGB(0.95, 0.96, 0.98)
    c.rect(MARGIN, bottom, width, height, stroke=0, fill=1)
    c.setFillColorRGB(*INK)
    y = _lines(
        c,
        MARGIN + 8,
        top - 12,
        [
            " / ".join(heading[:-1]) + "   " + heading[-1]
            if len(heading) > 2 or "C/C" in heading[-1]
            else " / ".join(heading)
        ],
        BOLD,
        9,
        11,
    )
    c.setFillColorRGB(*GREY)
    for i, line in enumerate(note):
        font = ITALIC if i else SANS
        y = _lines(c, MARGIN + 8, y, _wrap(line, font, 6.5, width - 16), font, 6.5, 7.6)
    # the symbol, with its quiet zone, on the left
    side = min(y - bottom - 10, 120.0)
    module = side / (len(matrix) + 2 * quiet)
    c.setFillColorRGB(1, 1, 1)
    c.rect(MARGIN + 8, bottom + 6, side, side, stroke=0, fill=1)
    _symbol(c, matrix, MARGIN + 8 + quiet * module, bottom + 6 + side - quiet * module, module)
    # the fields, in two columns on the right
    x0 = MARGIN + 8 + side + 14
    col = (MARGIN + width - 8 - x0) / 2
    rows_per_col = (len(fields) + 1) // 2
    row_height = (y - 4 - bottom - 6) / rows_per_col
    for i, (label, value) in enumerate(fields):
        x = x0 + (i // rows_per_col) * col
        yy = y - 4 - (i % rows_per_col) * row_height
        c.setFillColorRGB(*GREY)
        yy = _lines(c, x, yy - 6, [" / ".join(label)], SANS, 6, 7)
        c.setFillColorRGB(0, 0, 0)
        size = 10 if label[0] in ("Codice Avviso", "Euro") else 8
        _lines(c, x, yy - 2, _wrap(value, BOLD, size, col - 8)[:2], BOLD, size, size + 1.5)
    return bottom


def _symbol(c: Canvas, matrix: Matrix, x: float, top: float, module: float) -> None:
    """Dark modules as one fill of horizontal runs, in module units (integers: short to write,
    and exact), scaled onto the page."""
    c.saveState()
    c.setFillColorRGB(0, 0, 0)
    c.transform(module, 0, 0, module, x, top - len(matrix) * module)
    c.addLiteral(_runs(matrix))
    c.restoreState()


@lru_cache(maxsize=256)
def _runs(matrix: Matrix) -> str:
    ops = []
    size = len(matrix)
    for row_index, row in enumerate(matrix):
        y = size - row_index - 1
        start = None
        for col_index, dark in enumerate((*row, False)):
            if dark and start is None:
                start = col_index
            elif not dark and start is not None:
                ops.append(f"{start} {y} {col_index - start} 1 re")
                start = None
    ops.append("f")
    return "\n".join(ops)


# --- text helpers -----------------------------------------------------------------------------


def _lines(
    c: Canvas, x: float, y: float, lines: list[str], font: str, size: float, leading: float
) -> float:
    """Draw ``lines`` from baseline ``y`` down; return the next baseline."""
    c.setFont(font, size)
    for line in lines:
        c.drawString(x, y, line)
        y -= leading
    return y


def _wrap(text_: str, font: str, size: float, width: float) -> list[str]:
    words, lines, line = text_.split(), [], ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if line and pdfmetrics.stringWidth(candidate, font, size) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines or [""]
