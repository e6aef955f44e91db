"""pagoPA notice numbers ("numero avviso"): parsing, building and check digits. Pure code.

A notice number is 18 ASCII digits: one aux digit, then a layout that depends on it (SACI):

* aux 0: application code (2) + IUV base (13) + check digits (2); IUV = base + check digits.
* aux 1: IUV (17), no check digits.
* aux 2: IUV base (15) + check digits (2); IUV = base + check digits.
* aux 3: segregation code (2) + IUV base (13) + check digits (2); IUV = all 17 digits.

For aux 0, 2 and 3 the check digits are ``int(first 16 digits) % 93``, zero-padded to two
digits; the first 16 digits are the aux digit followed by the 15-digit body.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.errors import DomainError

LENGTH = 18
MAX_BASE13 = 10**13 - 1
_DIGITS = frozenset("0123456789")
_CHECKED_AUX = (0, 2, 3)


class NoticeNumberError(DomainError, ValueError):
    """A notice number (or a part used to build one) is malformed.

    ``code`` says which rule failed: "type", "whitespace", "non_digit", "length",
    "aux_digit", "check_digit", "segregation_code" or "base"; the message gives the specifics.
    """

    code = "notice_number"


def _is_digits(text: str) -> bool:
    return bool(text) and set(text) <= _DIGITS


def check_digits(aux_digit: int, body: str) -> str:
    """Return the two check digits for ``aux_digit`` (0, 2 or 3) and the 15-digit ``body``.

    ``body`` is the 15 digits between the aux digit and the check digits (application code or
    segregation code plus base for aux 0/3, the 15-digit base for aux 2). The result is
    ``int(str(aux_digit) + body) % 93`` as two digits, "00" to "92".
    Raises NoticeNumberError ("aux_digit") for aux 1 (no check digits) or any other value,
    and ("length"/"non_digit") unless ``body`` is exactly 15 ASCII digits.
    """
    if aux_digit not in _CHECKED_AUX:
        raise NoticeNumberError(
            f"aux digit {aux_digit!r} has no check digits (only 0, 2 and 3 do)", code="aux_digit"
        )
    if len(body) != 15:
        raise NoticeNumberError(
            f"check digit body must be 15 digits, got {len(body)}", code="length"
        )
    if not _is_digits(body):
        raise NoticeNumberError(
            f"check digit body must be digits only, got {body!r}", code="non_digit"
        )
    return f"{int(f'{aux_digit}{body}') % 93:02d}"


@dataclass(frozen=True)
class NoticeNumber:
    """A structurally valid notice number split into its parts; build it with
    ``parse_notice_number`` or ``build_notice_number``, not directly."""

    value: str
    aux_digit: int
    segregation_code: str | None
    application_code: str | None
    iuv: str
    check_digits: str | None

    @property
    def check_digits_valid(self) -> bool | None:
        """True/False whether the check digits match; None for aux 1, which has none."""
        if self.check_digits is None:
            return None
        return check_digits(self.aux_digit, self.value[1:16]) == self.check_digits

    @property
    def formatted(self) -> str:
        """The value in groups of four digits (the last has two), as printed on notices."""
        return " ".join(self.value[i : i + 4] for i in range(0, LENGTH, 4))

    def __str__(self) -> str:
        return self.value


def parse_notice_number(text: str, *, verify_check_digits: bool = True) -> NoticeNumber:
    """Parse exactly 18 ASCII digits into a NoticeNumber; nothing is stripped or normalised.

    Raises NoticeNumberError with code "type" (not a str), "whitespace" (any whitespace,
    with its 1-based position), "non_digit" (with position and character), "length",
    "aux_digit" (first digit not 0-3) or, only when ``verify_check_digits`` is true,
    "check_digit" (with found and expected digits). With ``verify_check_digits=False`` the
    structure is still checked, so pagoPA test numbers with wrong check digits parse.
    """
    if not isinstance(text, str):
        raise NoticeNumberError(
            f"notice number must be a string of {LENGTH} digits, got {type(text).__name__}",
            code="type",
        )
    for position, char in enumerate(text, start=1):
        if char.isspace():
            raise NoticeNumberError(
                f"notice number contains whitespace {char!r} at position {position}",
                code="whitespace",
            )
        if char not in _DIGITS:
            raise NoticeNumberError(
                f"notice number must contain only digits 0-9, got {char!r} at position {position}",
                code="non_digit",
            )
    if len(text) != LENGTH:
        raise NoticeNumberError(
            f"notice number must be {LENGTH} digits, got {len(text)}", code="length"
        )
    aux = int(text[0])
    if aux == 1:
        return NoticeNumber(text, 1, None, None, text[1:], None)
    if aux not in _CHECKED_AUX:
        raise NoticeNumberError(f"aux digit must be 0, 1, 2 or 3, got {aux}", code="aux_digit")
    found = text[16:]
    if verify_check_digits:
        expected = check_digits(aux, text[1:16])
        if found != expected:
            raise NoticeNumberError(
                f"check digits are {found}, expected {expected} (mod 93 of {text[:16]})",
                code="check_digit",
            )
    return NoticeNumber(
        value=text,
        aux_digit=aux,
        segregation_code=text[1:3] if aux == 3 else None,
        application_code=text[1:3] if aux == 0 else None,
        iuv=text[3:] if aux == 0 else text[1:],
        check_digits=found,
    )


def build_notice_number(segregation_code: str, base13: int | str) -> NoticeNumber:
    """Build the aux-3 notice number for ``segregation_code`` and the IUV base ``base13``.

    ``segregation_code`` must be exactly two ASCII digits; ``base13`` an int with
    0 <= n < 10**13 or a string of 1 to 13 ASCII digits (zero-padded on the left).
    Raises NoticeNumberError with code "segregation_code" or "base" otherwise.
    """
    if (
        not isinstance(segregation_code, str)
        or len(segregation_code) != 2
        or not _is_digits(segregation_code)
    ):
        raise NoticeNumberError(
            f"segregation code must be exactly 2 digits, got {segregation_code!r}",
            code="segregation_code",
        )
    if isinstance(base13, str):
        if not (_is_digits(base13) and len(base13) <= 13):
            raise NoticeNumberError(f"IUV base must be 1 to 13 digits, got {base13!r}", code="base")
        base = base13.zfill(13)
    elif isinstance(base13, int) and not isinstance(base13, bool):
        if not 0 <= base13 <= MAX_BASE13:
            raise NoticeNumberError(
                f"IUV base must be between 0 and {MAX_BASE13}, got {base13}", code="base"
            )
        base = f"{base13:013d}"
    else:
        raise NoticeNumberError(
            f"IUV base must be an int or a digit string, got {base13!r}", code="base"
        )
    # built from checked parts, so not parsed again (a bulk load builds a number per option)
    body = segregation_code + base
    check = f"{int('3' + body) % 93:02d}"
    value = "3" + body + check
    return NoticeNumber(value, 3, segregation_code, None, value[1:], check)


def iuv_from_notice_number(value: str, *, verify_check_digits: bool = True) -> str:
    """Return the IUV in ``value`` (15 digits for aux 0, 17 otherwise).

    Raises NoticeNumberError exactly as ``parse_notice_number`` does.
    """
    return parse_notice_number(value, verify_check_digits=verify_check_digits).iuv
