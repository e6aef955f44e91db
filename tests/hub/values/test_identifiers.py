"""The quick fiscal-code check gives stdnum's verdict on every input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from stdnum.it import codicefiscale

from hub.values.identifiers import is_fiscal_code

LETTER = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
DIGIT = st.sampled_from("0123456789LMNPQRSTUV")  # omocodia letters stand for digits
MONTH = st.sampled_from("ABCDEHLMPRST")


@st.composite
def shaped(draw) -> str:
    """16 characters laid out as a fiscal code (any check letter, any day 00-99)."""
    parts = [
        *(draw(LETTER) for _ in range(6)),
        *(draw(DIGIT) for _ in range(2)),
        draw(MONTH),
        *(draw(DIGIT) for _ in range(2)),
        draw(LETTER),
        *(draw(DIGIT) for _ in range(3)),
        draw(LETTER),
    ]
    return "".join(parts)


@st.composite
def valid(draw) -> str:
    code = draw(shaped())[:15]
    return code + codicefiscale.calc_check_digit(code)


@given(code=st.one_of(shaped(), valid()))
def test_a_code_laid_out_as_a_fiscal_code_gets_stdnums_verdict(code):
    assert is_fiscal_code(code) == codicefiscale.is_valid(code)


@given(code=st.text(alphabet="ABCDEHLMPRSTUVXYZ0123456789 -abc", min_size=14, max_size=18))
def test_any_other_text_gets_stdnums_verdict(code):
    assert is_fiscal_code(code) == codicefiscale.is_valid(code)


def test_known_codes():
    assert is_fiscal_code("RSSMRA80A01H501U")
    assert is_fiscal_code("RSSMRA80A41H501Y")  # a woman: day + 40
    assert not is_fiscal_code("RSSMRA80A01H501A")  # check letter
    assert not is_fiscal_code("RSSMRA80B30H501X")  # 30 February, with its right check letter
    assert codicefiscale.calc_check_digit("RSSMRA80B30H501") == "X"
