"""Notice numbers: checked against the shared pagoPA vector file, plus property tests."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hub.errors import DomainError
from hub.values.notice_numbers import (
    NoticeNumberError,
    build_notice_number,
    check_digits,
    iuv_from_notice_number,
    parse_notice_number,
)

VECTORS = Path("/work/shared/peer-material/vectors/notice_numbers_iuv_checkdigit.csv")


def _vector_rows() -> list:
    if not VECTORS.is_file():
        return [
            pytest.param(
                None,
                marks=pytest.mark.skip(
                    reason=f"pagoPA vector file {VECTORS} is absent; vector tests need it in place"
                ),
            )
        ]
    with VECTORS.open(newline="", encoding="utf-8") as f:
        return [pytest.param(row, id=row["notice_number"]) for row in csv.DictReader(f)]


ROWS = _vector_rows()
# Rows whose components column documents the parts (derived and invalid rows do not).
COMPONENT_ROWS = [p for p in ROWS if p.values[0] is None or "aux=" in p.values[0]["components"]]


def _components(row: dict[str, str]) -> dict[str, str]:
    """The key=value pairs of the components column ("aux=3 segr=00 iuv13=... cd=32")."""
    return dict(tok.split("=", 1) for tok in row["components"].split() if "=" in tok)


digits = st.text(alphabet="0123456789", min_size=2, max_size=2)
any_digit = st.sampled_from("0123456789")
body15 = st.text(alphabet="0123456789", min_size=15, max_size=15)
bases = st.integers(min_value=0, max_value=10**13 - 1)


@pytest.mark.parametrize("row", ROWS)
def test_every_vector_row_gets_the_documented_check_digit(row):
    value, computed, valid = (
        row["notice_number"],
        row["check_digit_mod93_computed"],
        row["check_digit_valid"],
    )
    if valid == "false(aux)":
        with pytest.raises(NoticeNumberError) as exc:
            parse_notice_number(value, verify_check_digits=False)
        assert exc.value.code == "aux_digit"
        assert row["aux_digit"] in str(exc.value)
        return
    notice = parse_notice_number(value, verify_check_digits=False)
    assert str(notice.aux_digit) == row["aux_digit"]
    if valid == "n/a":
        assert computed == "" and row["check_digit_in_value"] == ""
        assert notice.check_digits is None
        assert notice.check_digits_valid is None
    else:
        assert check_digits(notice.aux_digit, value[1:16]) == computed
        assert notice.check_digits == row["check_digit_in_value"]
        assert notice.check_digits_valid is {"true": True, "false": False}[valid]


@pytest.mark.parametrize("row", ROWS)
def test_every_vector_row_yields_the_documented_iuv(row):
    if not row["iuv"]:
        with pytest.raises(NoticeNumberError):
            iuv_from_notice_number(row["notice_number"], verify_check_digits=False)
        return
    assert iuv_from_notice_number(row["notice_number"], verify_check_digits=False) == row["iuv"]
    assert parse_notice_number(row["notice_number"], verify_check_digits=False).iuv == row["iuv"]


@pytest.mark.parametrize("row", ROWS)
def test_strict_parsing_accepts_exactly_the_rows_with_valid_check_digits(row):
    value = row["notice_number"]
    if row["check_digit_valid"] in ("true", "n/a"):
        assert parse_notice_number(value).value == value
    elif row["check_digit_valid"] == "false":
        with pytest.raises(NoticeNumberError) as exc:
            parse_notice_number(value)
        assert exc.value.code == "check_digit"
        message = str(exc.value)
        assert f"are {row['check_digit_in_value']}" in message
        assert f"expected {row['check_digit_mod93_computed']}" in message
        assert value[:16] in message
    else:
        with pytest.raises(NoticeNumberError) as exc:
            parse_notice_number(value)
        assert exc.value.code == "aux_digit"


@pytest.mark.parametrize("row", COMPONENT_ROWS)
def test_every_vector_row_splits_into_its_documented_components(row):
    parts = _components(row)
    notice = parse_notice_number(row["notice_number"], verify_check_digits=False)
    assert str(notice.aux_digit) == parts["aux"]
    assert notice.segregation_code == parts.get("segr")
    assert notice.application_code == parts.get("appCode")
    assert notice.check_digits == parts.get("cd")
    base = parts.get("iuv13") or parts.get("iuv15") or parts["iuv17"]
    expected_iuv = (parts.get("segr") or "") + base + (parts.get("cd") or "")
    assert notice.iuv == expected_iuv


@given(segregation=digits, base=bases)
def test_built_numbers_parse_back_to_the_same_parts(segregation, base):
    built = build_notice_number(segregation, base)
    assert parse_notice_number(built.value) == built
    assert built.aux_digit == 3 and built.value[0] == "3" and len(built.value) == 18
    assert built.segregation_code == segregation and built.application_code is None
    assert built.iuv == built.value[1:] and built.iuv[2:15] == f"{base:013d}"
    assert built.check_digits == built.value[16:] and built.check_digits_valid is True
    assert build_notice_number(segregation, str(base)) == built


@given(segregation=digits, base=bases, position=st.integers(1, 17), new=any_digit)
def test_any_single_digit_change_after_the_aux_digit_is_rejected(segregation, base, position, new):
    value = build_notice_number(segregation, base).value
    assume(value[position] != new)
    changed = value[:position] + new + value[position + 1 :]
    with pytest.raises(NoticeNumberError) as exc:
        parse_notice_number(changed)
    assert exc.value.code == "check_digit"
    assert parse_notice_number(changed, verify_check_digits=False).check_digits_valid is False


@given(aux=st.sampled_from([0, 2, 3]), body=body15)
def test_check_digits_are_two_digits_below_93_that_strict_parsing_accepts(aux, body):
    cd = check_digits(aux, body)
    assert len(cd) == 2 and cd.isascii() and cd.isdigit() and int(cd) < 93
    assert parse_notice_number(f"{aux}{body}{cd}").check_digits_valid is True


@given(segregation=digits, base=bases)
def test_formatted_groups_digits_four_four_four_four_two(segregation, base):
    notice = build_notice_number(segregation, base)
    groups = notice.formatted.split(" ")
    assert [len(g) for g in groups] == [4, 4, 4, 4, 2]
    assert "".join(groups) == notice.value


@given(aux=st.sampled_from("456789"), rest=st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_aux_digits_above_3_are_rejected_even_without_check_digit_verification(aux, rest):
    with pytest.raises(NoticeNumberError) as exc:
        parse_notice_number(aux + rest, verify_check_digits=False)
    assert exc.value.code == "aux_digit"
    assert f"got {aux}" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "code", "specifics"),
    [
        ("30071570000000003", "length", "got 17"),
        ("3007157000000000320", "length", "got 19"),
        ("", "length", "got 0"),
        ("30071570000000003A", "non_digit", "'A' at position 18"),
        ("-30071570000000003", "non_digit", "'-' at position 1"),
        ("３00715700000000032", "non_digit", "position 1"),  # fullwidth digit three
        ("3007157000000000٣2", "non_digit", "position 17"),  # Arabic-Indic digit three
        ("3007 1570 0000 0000 32", "whitespace", "position 5"),
        (" 300715700000000032", "whitespace", "position 1"),
        ("300715700000000032\n", "whitespace", "position 19"),
        ("30071570000000\t0032", "whitespace", "position 15"),
    ],
)
def test_malformed_notice_numbers_are_rejected_with_code_and_specifics(text, code, specifics):
    for verify in (True, False):
        with pytest.raises(NoticeNumberError) as exc:
            parse_notice_number(text, verify_check_digits=verify)
        assert exc.value.code == code
        assert specifics in str(exc.value)


def test_a_notice_number_that_is_not_a_string_is_rejected_as_a_domain_error():
    with pytest.raises(NoticeNumberError) as exc:
        parse_notice_number(300715700000000032)  # type: ignore[arg-type]
    assert exc.value.code == "type" and "int" in str(exc.value)


def test_notice_number_errors_are_both_domain_errors_and_value_errors():
    with pytest.raises(NoticeNumberError) as exc:
        parse_notice_number("1")
    assert isinstance(exc.value, DomainError) and isinstance(exc.value, ValueError)


@pytest.mark.parametrize("segregation", ["1", "123", "ab", " 1", "１２", "", 12, None])
def test_building_with_a_malformed_segregation_code_is_rejected(segregation):
    with pytest.raises(NoticeNumberError) as exc:
        build_notice_number(segregation, 1)  # type: ignore[arg-type]
    assert exc.value.code == "segregation_code"
    assert repr(segregation) in str(exc.value)


@pytest.mark.parametrize("base", [-1, 10**13, "12345678901234", "", "12a", " 12", True, 1.0])
def test_building_with_a_base_that_does_not_fit_13_digits_is_rejected(base):
    with pytest.raises(NoticeNumberError) as exc:
        build_notice_number("01", base)  # type: ignore[arg-type]
    assert exc.value.code == "base"
    assert str(base) in str(exc.value)


@given(base=st.one_of(st.integers(max_value=-1), st.integers(min_value=10**13)))
def test_any_integer_base_outside_13_digits_is_rejected(base):
    with pytest.raises(NoticeNumberError) as exc:
        build_notice_number("47", base)
    assert exc.value.code == "base"


@pytest.mark.parametrize(
    ("aux", "body"), [(1, "0" * 15), (4, "0" * 15), (3, "0" * 14), (3, "0" * 14 + "x")]
)
def test_check_digits_refuse_an_aux_digit_without_them_or_a_malformed_body(aux, body):
    with pytest.raises(NoticeNumberError):
        check_digits(aux, body)
