"""Refund cases in the daily file (issue 16): each step a case took that day is a record ``R``
of the ``RIMBORSI_*.txt`` member of its service's file, with the amount as of that step, the
IBAN masked and the bank's reference; a file with no step has no such member and keeps its
bytes; a step taken later makes a new version, a re-run with nothing new does not."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest

from hub import refunds
from hub.dailyfile import files, layout
from hub.dailyfile.refunds import mask_iban
from tests.hub.dailyfile.data import DAY, a_day, at

pytestmark = pytest.mark.pg

IBAN = "IT60X0542811101000000123456"


def members(path: str) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _case(db, day, receipt, *, when: dt.datetime):
    return refunds.open_case(
        db,
        ente_id=day.ente.id,
        reason="double_payment",
        amount_cents=receipt.payment_amount_cents,
        by="hub",
        option_id=receipt.option_id,
        receipt_pk=receipt.id,
        now=when,
    )


def _walk_to_refunded(db, case, *, start: dt.datetime) -> None:
    moments = (start + dt.timedelta(minutes=n) for n in range(1, 10))
    refunds.step(db, case, "submit", by="ops:support", as_support=True, now=next(moments))
    refunds.step(db, case, "approve", by="ops:ente", as_support=False, now=next(moments))
    refunds.step(
        db, case, "order", by="ops:ente", as_support=False, now=next(moments),
        payer_iban=IBAN, amount_cents=1000,
    )  # fmt: skip
    refunds.step(
        db, case, "confirm", by="ops:ente", as_support=False, now=next(moments),
        bank_reference="CRO-0001",
    )  # fmt: skip


def _records(content: dict[str, bytes], name: str) -> list[list[str]]:
    return [line.split("|") for line in content[name].decode("utf-8").split("\r\n")[:-1]]


def test_each_step_of_the_day_is_a_refund_record_of_its_services_file(db, tmp_path):
    day = a_day(db)
    paid = day.by_service["MENSA"][0]  # 12.50
    case = _case(db, day, paid, when=at(10))
    _walk_to_refunded(db, case, start=at(10))
    made = {f.service_code: f for f, _ in files.build_day(db, day.ente, DAY, tmp_path)}
    stem = f"{day.ente.fiscal_code}_MENSA_20261205"
    content = members(made["MENSA"].path)
    name = f"RIMBORSI_{stem}.txt"
    assert list(content)[:3] == [f"PAGAMENTI_{stem}.txt", f"RICEVUTE_{stem}.csv", name]
    header, *records, trailer = _records(content, name)
    assert header == ["H", "DF01", day.ente.fiscal_code, day.ente.name, "MENSA", "2026-12-05", "1"]
    assert trailer == ["T", "5"]
    assert all(len(r) == len(layout.REFUND_FIELDS) for r in records)
    field = {name: i for i, (name, _) in enumerate(layout.REFUND_FIELDS)}
    steps = [r[field["passo"]] for r in records]
    assert steps == ["opened", "awaiting_decision", "approved", "ordered", "refunded"]
    assert {r[field["id_caso"]] for r in records} == {case.public_id}
    assert [r[field["importo_centesimi"]] for r in records] == ["1250"] * 3 + ["1000"] * 2
    masked = mask_iban(IBAN)
    assert [r[field["iban_beneficiario"]] for r in records] == ["", "", "", masked, masked]
    assert IBAN not in content[name].decode()
    assert records[-1][field["riferimento_bancario"]] == "CRO-0001"
    assert records[0][field["data_passo"]] == "2026-12-05T10:00:00+01:00"
    assert records[0][field["id_ricevuta"]] == paid.receipt_id
    assert records[0][field["iuv"]] == paid.creditor_reference_id
    manifest = json.loads(content["manifest.json"])
    assert manifest["refund_steps"] == 5
    assert name in [m["name"] for m in manifest["members"]]
    # the other services' files list no refund and have no refunds member
    assert not any(n.startswith("RIMBORSI_") for n in members(made["TARI"].path))
    assert "refund_steps" not in json.loads(members(made["TARI"].path)["manifest.json"])


def test_a_rejection_says_why_and_shows_no_iban(db, tmp_path):
    day = a_day(db)
    case = _case(db, day, day.by_service["TARI"][0], when=at(12))
    refunds.step(
        db, case, "reject", by="ops:support", as_support=True, now=at(12, 30),
        rejection_reason="the citizen withdrew the request",
    )  # fmt: skip
    tari, _ = files.produce(db, day.ente, "TARI", DAY, tmp_path)
    name = f"RIMBORSI_{day.ente.fiscal_code}_TARI_20261205.txt"
    _, opened, rejected, _ = _records(members(tari.path), name)
    field = {name: i for i, (name, _) in enumerate(layout.REFUND_FIELDS)}
    assert (opened[field["passo"]], rejected[field["passo"]]) == ("opened", "rejected")
    assert rejected[field["motivo_rifiuto"]] == "the citizen withdrew the request"
    assert rejected[field["iban_beneficiario"]] == "" == opened[field["motivo_rifiuto"]]


def test_a_later_step_goes_in_its_own_days_file_and_a_rerun_changes_nothing(db, tmp_path):
    day = a_day(db)
    case = _case(db, day, day.by_service["MENSA"][1], when=at(9))
    v1, new = files.produce(db, day.ente, "MENSA", DAY, tmp_path)
    assert new and v1.version == 1
    first = Path(v1.path).read_bytes()
    again, new = files.produce(db, day.ente, "MENSA", DAY, tmp_path)
    assert (again, new) == (v1, False) and Path(again.path).read_bytes() == first
    # handed over the next day: that day's file lists it, DAY's file does not change
    next_day = DAY + dt.timedelta(days=1)
    refunds.step(db, case, "submit", by="ops:support", as_support=True, now=at(8, 0, next_day))
    same, new = files.produce(db, day.ente, "MENSA", DAY, tmp_path)
    assert (same.version, new) == (1, False)
    assert "MENSA" in files.services_of_day(db, day.ente.id, next_day)
    later, new = files.produce(db, day.ente, "MENSA", next_day, tmp_path)
    name = f"RIMBORSI_{day.ente.fiscal_code}_MENSA_20261206.txt"
    assert new and [r[3] for r in _records(members(later.path), name)[1:-1]] == [
        "awaiting_decision"
    ]
    assert day.ente.id in files.enti_of_day(db, next_day)


def test_a_step_taken_after_the_file_was_built_makes_a_new_version(db, tmp_path):
    day = a_day(db)
    v1, _ = files.produce(db, day.ente, "GENERICO", DAY, tmp_path)
    assert not any(n.startswith("RIMBORSI_") for n in members(v1.path))
    paid = day.by_service["GENERICO"][0]
    refunds.open_case(
        db, ente_id=day.ente.id, reason="citizen_request", amount_cents=200, by="ops:support",
        option_id=paid.option_id, receipt_pk=paid.id, note="paid by mistake", now=at(18),
    )  # fmt: skip
    v2, new = files.produce(db, day.ente, "GENERICO", DAY, tmp_path)
    assert new and v2.version == 2
    content = members(v2.path)
    (record,) = _records(content, f"RIMBORSI_{day.ente.fiscal_code}_GENERICO_20261205.txt")[1:-1]
    assert record[3:6] == ["opened", "2026-12-05T18:00:00+01:00", "citizen_request"]


def test_an_iban_is_masked_to_country_check_digits_and_last_four():
    assert mask_iban(IBAN) == "IT60" + "*" * 19 + "3456"
    assert mask_iban(None) is None
