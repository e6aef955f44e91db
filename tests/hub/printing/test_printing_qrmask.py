"""hub.printing.qrmask chooses segno's automatic QR data mask, module for module, and scores the
eight masks exactly as segno does (so a tie-break or a scoring difference cannot hide)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st
from segno import encoder

from hub.printing import codes, qrmask

DIGITS = "0123456789"


def _segno(payload: str, mask: int | None = None) -> segno.QRCode:
    """The reference: segno's automatic mask (ISO/IEC 18004 7.8.3.1) unless one is given."""
    return segno.make_qr(
        payload, error="m", version=4, mode="byte", encoding="utf-8", boost_error=False, mask=mask
    )


def _bools(code: segno.QRCode) -> tuple[tuple[bool, ...], ...]:
    return tuple(tuple(bool(m) for m in row) for row in code.matrix)


def _assert_as_segno(payload: str) -> int:
    reference = _segno(payload)
    symbol = qrmask.qr_symbol(payload)
    assert symbol.mask == reference.mask, payload
    assert symbol.matrix == _bools(reference), payload
    return symbol.mask


def _varied_payloads(n: int, seed: int) -> list[str]:
    """Notice numbers of every aux digit, EC fiscal codes, amounts of 2 to 10 digits in turn."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        notice = rng.choice("0123") + f"{rng.randrange(10**17):017d}"
        ec = f"{rng.randrange(10**11):011d}"
        digits = 2 + k % 9
        cents = rng.randrange(1 if digits == 2 else 10 ** (digits - 1), 10**digits)
        out.append(codes.qr_payload(notice, ec, cents))
    return out


EDGE_PAYLOADS = [
    codes.qr_payload(notice, ec, cents)
    for notice in ("0" * 18, "9" * 18, "300715700000000032", "123456789012345678")
    for ec in ("0" * 11, "9" * 11, "00085240950")
    for cents in (1, 99, 100, 12_345, codes.MAX_CODE_CENTS)
]


@pytest.mark.slow
def test_mask_and_modules_equal_segnos_automatic_choice_over_2000_payloads():
    payloads = _varied_payloads(2_000, seed=18004) + EDGE_PAYLOADS
    masks = Counter(_assert_as_segno(p) for p in payloads)
    assert sorted(masks) == list(range(8)), masks  # every mask was the best one at times


@settings(max_examples=300, deadline=None)
@given(
    notice=st.text(DIGITS, min_size=18, max_size=18),
    ec=st.text(DIGITS, min_size=11, max_size=11),
    cents=st.integers(min_value=1, max_value=codes.MAX_CODE_CENTS),
)
def test_mask_and_modules_equal_segnos_for_generated_pagopa_payloads(notice, ec, cents):
    _assert_as_segno(codes.qr_payload(notice, ec, cents))


@settings(max_examples=150, deadline=None)
@given(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=62).filter(
        lambda s: len(s.encode()) <= 62
    )
)  # byte mode capacity of version 4-M
def test_mask_and_modules_equal_segnos_for_any_payload_that_fits_version_4_m(payload):
    _assert_as_segno(payload)


def test_the_eight_penalty_scores_are_the_ones_segno_computes(monkeypatch):
    evaluated: list[tuple[tuple[int, int, int, int], int]] = []
    segno_evaluate = encoder.evaluate_mask

    def spy(matrix, width, height):  # segno calls it once a mask, masks 0 to 7 in turn
        total = segno_evaluate(matrix, width, height)
        evaluated.append((encoder.mask_scores(matrix, width, height), total))
        return total

    monkeypatch.setattr(encoder, "evaluate_mask", spy)
    for payload in _varied_payloads(60, seed=7) + EDGE_PAYLOADS[::6]:
        evaluated.clear()
        chosen = _segno(payload).mask
        scores = qrmask.penalty_scores(payload)
        assert [s for s, _ in evaluated] == list(scores), payload
        assert [sum(s) for s in scores] == [total for _, total in evaluated]
        totals = [sum(s) for s in scores]
        assert chosen == totals.index(min(totals)) == qrmask.qr_symbol(payload).mask


# --- the bitboard scorer on any 33x33 matrix, against segno.encoder.mask_scores --------------


def _score_both(rows: list[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """rows: 33 strings of 33 '0'/'1' (dark = 1)."""
    matrix = tuple(bytearray(int(c) for c in row) for row in rows)
    ours = qrmask._scores(*qrmask._boards(b"".join(matrix)))
    return ours, encoder.mask_scores(matrix, 33, 33)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 2**33 - 1), st.integers(0, 2**33 - 1)), min_size=33, max_size=33
    ),
    density=st.sampled_from(["and", "xor", "or"]),
)  # about 25%, 50%, 75% dark
def test_scores_equal_segnos_on_random_matrices(rows, density):
    combine = {"and": int.__and__, "xor": int.__xor__, "or": int.__or__}[density]
    ours, theirs = _score_both([f"{combine(a, b):033b}" for a, b in rows])
    assert ours == theirs


@pytest.mark.parametrize(
    "line",
    [
        # overlapping finder-like patterns: segno's scan resumes 7 modules after one that scored
        # and 4 after one that did not, so it passes over some
        "10111011101" + "0" * 22,
        "0000" + "10111011101" + "0" * 18,
        "1111" + "10111011101" + "0000" + "1" * 14,
        "1011101011101" + "0" * 20,
        "0" * 20 + "1011101011101",
        "1" * 20 + "1011101011101",
        "1011101" * 4 + "11111",
        "10111011011101" * 2 + "11111",
        "0" * 26 + "1011101",  # at the edge: the quiet zone is light
        "1011101" + "1" * 26,
        "1" * 33,
        "01" * 16 + "0",
    ],
)
@pytest.mark.parametrize("filler", range(3))
def test_scores_equal_segnos_on_crafted_lines(line, filler):
    rng = random.Random(filler)
    rows = [line if rng.random() < 0.5 else f"{rng.getrandbits(33):033b}" for _ in range(33)]
    ours, theirs = _score_both(rows)
    assert ours == theirs
    columns = ["".join(col) for col in zip(*rows, strict=True)]  # the same lines as columns
    ours, theirs = _score_both(columns)
    assert ours == theirs


# --- codes.py uses it -----------------------------------------------------------------------


def test_codes_draw_the_chosen_mask_and_keep_a_fixed_qr_mask_when_configured(monkeypatch):
    payload = codes.qr_payload("300715700000000032", "00085240950", 12_345)
    reference = _segno(payload)
    codes._qr_symbol.cache_clear()
    try:
        assert codes.qr_matrix(payload) == _bools(reference)
        assert codes._qr(payload).mask == reference.mask
        assert codes._qr(payload).matrix == reference.matrix
        fixed = (reference.mask + 1) % 8
        monkeypatch.setattr(codes, "QR_MASK", fixed)
        codes._qr_symbol.cache_clear()
        assert codes.qr_matrix(payload) == _bools(_segno(payload, fixed))
        assert codes._qr(payload).mask == fixed
    finally:
        codes._qr_symbol.cache_clear()


@pytest.mark.parametrize("first", [True, False])
def test_a_pattern_near_the_start_of_the_first_line_sees_that_lines_modules(first):
    """A 1:1:3:1:1 pattern at column 3 with a dark module at column 1: segno does not score it
    (its four modules before are not light), in the first row and column as in any other (a
    case hypothesis found: bits below the board's start were read as light)."""
    line = "010101110101100100000000100101001"
    rows = ["0" * 33] * 33
    rows[0 if first else 16] = line
    ours, theirs = _score_both(rows)
    assert ours == theirs
    assert ours[2] == theirs[2]  # N3 in particular
