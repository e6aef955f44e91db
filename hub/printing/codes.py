"""The machine-readable parts of a notice: the pagoPA QR code and the Poste Data Matrix.

* QR: ``PAGOPA|002|<notice number>|<EC fiscal code>|<amount in cents>``, error correction M,
  version 4 (pagoPA's notice specification), UTF-8 (the payload is ASCII anyway), and the data
  mask that ISO/IEC 18004 7.8.3.1 says "shall" be chosen: the one with the lowest penalty.
  segno would score all eight masks module by module (about 2.7 ms of CPU per code);
  ``hub.printing.qrmask`` builds the symbol once with segno at mask 0 and scores the eight
  masks on bitboards (about 0.6 ms in all, nearly all of it segno's encoding), with segno's own
  penalty rules, so the mask and the modules are exactly those of segno's automatic choice.
  SVG and PNG are drawn by segno with that mask given, so it does not score again.
* Data Matrix (postal slip, "bollettino postale PA"): 256 characters laid out as in
  ``vectors/poste_datamatrix_layout.csv``: the codeline (notice number, postal account, amount,
  document type 896), ``1P1``, the EC and debtor fiscal codes, debtor name, subject, filler, ``A``.
  The fixed offsets up to 93 are what readers decode (the IO app reads the notice number at
  [15:33], the amount at [49:59] and the EC fiscal code at [66:77]).

Symbols come as a module matrix (for the PDF, which draws rectangles) and as SVG or PNG. The
Data Matrix is encoded by libdmtx (C, through ``pylibdmtx``'s ctypes wrapper) where the shared
library is installed, else by the pure-Python ``ppf-datamatrix``; both give a valid ECC 200
symbol of the same payload (the modules may differ: each picks its own encodation).
"""

from __future__ import annotations

import ctypes
import io
import re
import struct
import unicodedata
import zlib
from functools import lru_cache

import segno
from ppf.datamatrix import DataMatrix

from hub.errors import DomainError
from hub.printing import qrmask

QR_VERSION = qrmask.VERSION  # 4, pagoPA's notice specification
QR_MASK: int | None = None  # None: ISO 18004's lowest-penalty mask (qrmask); else 0-7
DATAMATRIX_LENGTH = 256
MAX_CODE_CENTS = 9_999_999_999  # ten digits, in the QR and in the postal codeline
_NOTICE = re.compile(r"[0-9]{18}")
_EC_FISCAL_CODE = re.compile(r"[0-9]{11}")


class NoticeCodeError(DomainError, ValueError):
    code = "notice_code"


def qr_payload(notice_number: str, ec_fiscal_code: str, amount_cents: int) -> str:
    """The pagoPA QR payload; the amount is integer euro cents (at least two digits, as in
    pagoPA's own examples: 1 cent is ``01``)."""
    _check(notice_number, ec_fiscal_code, amount_cents)
    if amount_cents > MAX_CODE_CENTS:  # pagoPA's decoder reads 2 to 10 digits
        raise NoticeCodeError(
            "amount above 99,999,999.99 does not fit a notice's codes", code="amount"
        )
    return f"PAGOPA|002|{notice_number}|{ec_fiscal_code}|{amount_cents:02d}"


def postal_account_number(postal_iban: str) -> str:
    """The 12-digit postal current account of a postal IBAN (its last 12 characters), or of a
    bare account number (zero-padded on the left)."""
    compact = postal_iban.replace(" ", "").upper()
    account = compact[-12:] if compact.startswith("IT") and len(compact) == 27 else compact
    if not account.isdigit() or len(account) > 12:
        raise NoticeCodeError(
            f"postal account {postal_iban!r} is neither an Italian IBAN nor "
            "an account number of up to 12 digits",
            code="postal_account",
        )
    return account.zfill(12)


def datamatrix_payload(
    *,
    notice_number: str,
    postal_account: str,
    amount_cents: int,
    ec_fiscal_code: str,
    debtor_fiscal_code: str,
    debtor_name: str,
    subject: str,
) -> str:
    """The 256-character Poste Data Matrix payload. Text fields are transliterated to ASCII,
    then cut or padded with spaces to their width."""
    _check(notice_number, ec_fiscal_code, amount_cents)
    if amount_cents > MAX_CODE_CENTS:
        raise NoticeCodeError(
            "amount above 99,999,999.99 does not fit a notice's codes", code="amount"
        )
    account = postal_account_number(postal_account)
    payload = (
        "codfase=NBPA;"
        f"18{notice_number}"
        f"12{account}"
        f"10{amount_cents:010d}"
        "3896"
        "1P1"
        f"{_field(ec_fiscal_code, 11)}{_field(debtor_fiscal_code.upper(), 16)}"
        f"{_field(debtor_name, 40)}{_field(subject, 110)}"
        f"{' ' * 12}A"
    )
    assert len(payload) == DATAMATRIX_LENGTH, len(payload)
    return payload


def _field(text: str, width: int) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = " ".join(ascii_text.split())  # no tabs or newlines inside a fixed field
    return ascii_text[:width].ljust(width)


def _check(notice_number: str, ec_fiscal_code: str, amount_cents: int) -> None:
    if not _NOTICE.fullmatch(notice_number):
        raise NoticeCodeError(
            f"notice number {notice_number!r} is not 18 digits", code="notice_number"
        )
    if not _EC_FISCAL_CODE.fullmatch(ec_fiscal_code):
        raise NoticeCodeError(
            f"EC fiscal code {ec_fiscal_code!r} is not 11 digits", code="ec_fiscal_code"
        )
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise NoticeCodeError(
            f"amount {amount_cents!r} must be a positive integer of cents", code="amount"
        )


# --- symbols -------------------------------------------------------------------------------

Matrix = tuple[tuple[bool, ...], ...]


@lru_cache(maxsize=256)
def _qr_symbol(payload: str) -> qrmask.QrSymbol:
    if QR_MASK is None:
        return qrmask.qr_symbol(payload)
    code = _segno_qr(payload, QR_MASK)
    return qrmask.QrSymbol(QR_MASK, tuple(tuple(bool(m) for m in row) for row in code.matrix))


def qr_matrix(payload: str) -> Matrix:
    """The QR symbol's modules (True = dark), without the quiet zone."""
    return _qr_symbol(payload).matrix


def _qr(payload: str) -> segno.QRCode:
    """The segno symbol (for SVG and PNG), given the mask chosen by ``_qr_symbol``."""
    return _segno_qr(payload, _qr_symbol(payload).mask)


def _segno_qr(payload: str, mask: int) -> segno.QRCode:
    return segno.make_qr(
        payload,
        error="m",
        version=QR_VERSION,
        mode="byte",
        encoding="utf-8",
        boost_error=False,
        mask=mask,
    )


def qr_svg(payload: str, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    _qr(payload).save(out, kind="svg", scale=scale, border=4, xmldecl=True)
    return out.getvalue()


def qr_png(payload: str, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    _qr(payload).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


@lru_cache(maxsize=256)
def datamatrix_matrix(payload: str) -> Matrix:
    """The Data Matrix (ECC 200, square) modules (True = dark), without the quiet zone."""
    if _libdmtx is not None:
        return _libdmtx_matrix(payload.encode("ascii"))
    return _ppf_matrix(payload)


def _ppf_matrix(payload: str) -> Matrix:
    """Pure Python (ppf-datamatrix): about 15 times slower than libdmtx."""
    return tuple(tuple(bool(m) for m in row) for row in DataMatrix(payload).matrix)


def _load_libdmtx():
    try:
        from pylibdmtx import wrapper
    except (ImportError, OSError):  # no libdmtx shared library: ppf-datamatrix then
        return None
    return wrapper


_libdmtx = _load_libdmtx()


def _libdmtx_matrix(data: bytes) -> Matrix:
    """The smaller symbol of C40 encodation (upper case and digits) and Text (lower case), drawn
    by libdmtx one pixel per module with no margin (about 0.15 ms each)."""
    w = _libdmtx
    symbols = [
        _libdmtx_encode(data, scheme)
        for scheme in (w.DmtxScheme.DmtxSchemeText, w.DmtxScheme.DmtxSchemeC40)
    ]
    width, height, pixels = min(symbols, key=lambda s: s[1])  # the first of the smallest
    # first image row = top of the symbol (the alternating timing edge); a black pixel (0) is
    # dark: translated to 1 in C, so only the symbol kept is turned into rows, by C loops
    dark = pixels.translate(_BLACK_IS_DARK)
    return tuple(tuple(map(bool, dark[y * width : (y + 1) * width])) for y in range(height))


_BLACK_IS_DARK = bytes([1] + [0] * 255)


def _libdmtx_encode(data: bytes, scheme: int) -> tuple[int, int, bytes]:
    """(width, height, one byte per pixel) of libdmtx's image of ``data``."""
    w = _libdmtx
    prop = w.DmtxProperty
    encoder = w.dmtxEncodeCreate()
    if not encoder:
        raise MemoryError("libdmtx could not create an encoder")
    try:
        w.dmtxEncodeSetProp(encoder, prop.DmtxPropScheme, scheme)
        w.dmtxEncodeSetProp(
            encoder, prop.DmtxPropSizeRequest, w.DmtxSymbolSize.DmtxSymbolSquareAuto
        )
        w.dmtxEncodeSetProp(encoder, prop.DmtxPropModuleSize, 1)
        w.dmtxEncodeSetProp(encoder, prop.DmtxPropMarginSize, 0)
        payload = ctypes.cast(ctypes.c_char_p(data), w.c_ubyte_p)  # the bytes, not a copy
        if not w.dmtxEncodeDataMatrix(encoder, len(data), payload):
            raise NoticeCodeError(
                "libdmtx could not encode the Data Matrix payload", code="datamatrix"
            )
        image = encoder[0].image
        width, height, bits = (
            w.dmtxImageGetProp(image, p)
            for p in (prop.DmtxPropWidth, prop.DmtxPropHeight, prop.DmtxPropBitsPerPixel)
        )
        step = bits // 8
        pixels = ctypes.string_at(image[0].pxl, width * height * step)[::step]
    finally:
        w.dmtxEncodeDestroy(ctypes.byref(encoder))
    return width, height, pixels


def datamatrix_svg(payload: str, *, scale: int = 4) -> bytes:
    return matrix_svg(datamatrix_matrix(payload), scale=scale, border=2)


def datamatrix_png(payload: str, *, scale: int = 4) -> bytes:
    return matrix_png(datamatrix_matrix(payload), scale=scale, border=2)


def matrix_svg(matrix: Matrix, *, scale: int, border: int) -> bytes:
    """A square module matrix as a one-path SVG."""
    size = (len(matrix) + 2 * border) * scale
    path = "".join(
        f"M{(x + border) * scale} {(y + border) * scale}h{scale}v{scale}h-{scale}z"
        for y, row in enumerate(matrix)
        for x, dark in enumerate(row)
        if dark
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{size}" height="{size}" viewBox="0 0 {size} {size}">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{path}"/></svg>\n'
    ).encode()


def matrix_png(matrix: Matrix, *, scale: int, border: int) -> bytes:
    """A module matrix as an 8-bit greyscale PNG (written here: no imaging library needed)."""
    width = (len(matrix[0]) + 2 * border) * scale
    blank = b"\x00" + b"\xff" * width
    rows: list[bytes] = [blank] * (border * scale)
    for row in matrix:
        line = (
            b"\xff" * (border * scale)
            + b"".join((b"\x00" if dark else b"\xff") * scale for dark in row)
            + b"\xff" * (border * scale)
        )
        rows.extend([b"\x00" + line] * scale)
    rows.extend([blank] * (border * scale))
    height = len(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )
