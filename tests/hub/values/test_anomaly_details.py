"""An anomaly's detail is stored as a code and parameters, read back as such, and said in
English for the API; free text written before codes existed is read as it is."""

from __future__ import annotations

import json

import pytest

from hub.values import anomaly_details


def test_a_detail_is_stored_as_its_code_and_parameters():
    text = anomaly_details.detail("receipt_amount_mismatch", paid_cents=12550, expected_cents=10000)
    assert json.loads(text) == {
        "code": "receipt_amount_mismatch",
        "params": {"paid_cents": 12550, "expected_cents": 10000},
    }
    parsed = anomaly_details.parse(text)
    assert parsed == anomaly_details.Detail(
        "receipt_amount_mismatch", {"paid_cents": 12550, "expected_cents": 10000}
    )


def test_the_english_sentence_names_amounts_in_euro_and_times_in_utc():
    amounts = anomaly_details.detail("receipt_amount_mismatch", paid_cents=12550, expected_cents=5)
    assert anomaly_details.english(amounts) == "receipt amount 125.50 EUR, expected 0.05 EUR"
    stuck = anomaly_details.detail(
        "receipt_needs_iur", iuv="01234567890123456", since_at="2026-12-07T10:05:00", hours="48"
    )
    assert anomaly_details.english(stuck).startswith(
        "payment IUV 01234567890123456 stuck in progress since 2026-12-07 10:05 UTC"
    )


@pytest.mark.parametrize("old", ["receipt r-1 arrived while the notice was cancelled", "", None])
def test_free_text_written_before_codes_is_read_as_it_is(old):
    assert anomaly_details.parse(old) is None
    assert anomaly_details.english(old) == (old or "")


def test_json_with_an_unknown_code_is_free_text():
    text = '{"code": "no_such_code", "params": {}}'
    assert anomaly_details.parse(text) is None and anomaly_details.english(text) == text


def test_a_detail_too_long_for_the_column_is_cut_in_its_longest_text():
    text = anomaly_details.detail(
        "credit_without_flow_id", amount_cents=100, value_on="2026-12-07", description="é" * 900
    )
    assert len(text) <= anomaly_details.MAX_CHARS
    parsed = anomaly_details.parse(text)
    assert parsed is not None and parsed.params["description"].endswith("…")
    assert parsed.params["amount_cents"] == 100


def test_several_long_texts_are_cut_until_the_whole_fits():
    text = anomaly_details.detail("aca_sync_dead", position="P" * 600, attempts=3, error="e" * 600)
    assert len(text) <= anomaly_details.MAX_CHARS
    params = anomaly_details.parse(text).params
    assert params["attempts"] == 3
    assert params["position"].endswith("…") and params["error"].endswith("…")


def test_an_unknown_code_is_refused_when_opening():
    with pytest.raises(KeyError):
        anomaly_details.detail("no_such_code")


def test_every_sentence_names_its_parameters_in_pyramid_syntax():
    for code, sentence in anomaly_details.SENTENCES.items():
        names = set(anomaly_details._NAME.findall(sentence))
        assert names and all(n.isidentifier() for n in names), code
