"""Building the daily files: one zip per service with payments (and a generic one), record
layout DF01, the receipts' own XML, the CSV cross-reference, the manifest; byte-identical on a
re-run; a late receipt makes a new version and both are kept."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from hub.dailyfile import files, layout
from hub.models import DailyFile
from tests.factories import make_ente
from tests.hub.dailyfile.data import DAY, a_day, add_receipt, at, paid_option

pytestmark = pytest.mark.pg


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def built(db, tmp_path, day=DAY):
    day_data = a_day(db)
    made = files.build_day(db, day_data.ente, day, tmp_path)
    return day_data, {f.service_code: f for f, _ in made}


def test_one_file_per_service_with_payments_and_a_generic_one(db, tmp_path):
    day, made = built(db, tmp_path)
    assert sorted(made) == ["GENERICO", "MENSA", "TARI"]
    for code, receipts in day.by_service.items():
        assert made[code].payments == len(receipts)
        assert made[code].total_cents == sum(r.payment_amount_cents for r in receipts)
        assert made[code].version == 1


def test_the_zip_holds_the_receipts_xml_the_txt_the_csv_and_the_manifest(db, tmp_path):
    day, made = built(db, tmp_path)
    file = made["MENSA"]
    content = members(Path(file.path))
    stem = f"{day.ente.fiscal_code}_MENSA_20261205"
    names = list(content)
    assert names[:2] == [f"PAGAMENTI_{stem}.txt", f"RICEVUTE_{stem}.csv"]
    assert names[-1] == "manifest.json"
    # the .txt: header, one D record per payment in payment order, trailer
    lines = content[names[0]].decode("utf-8").split("\r\n")
    assert lines[-1] == ""
    header, *details, trailer = lines[:-1]
    assert header.split("|") == ["H", "DF01", day.ente.fiscal_code, day.ente.name, "MENSA",
                                 "2026-12-05", "1"]  # fmt: skip
    expected = sorted(day.by_service["MENSA"], key=lambda r: r.payment_date_time)
    assert len(details) == len(expected)
    for line, (record, receipt) in enumerate(zip(details, expected, strict=True), start=1):
        fields = record.split("|")
        assert len(fields) == len(layout.DETAIL_FIELDS)
        as_dict = dict(zip((name for name, _ in layout.DETAIL_FIELDS), fields, strict=True))
        assert as_dict["riga"] == str(line)
        assert as_dict["iuv"] == receipt.creditor_reference_id
        assert as_dict["id_ricevuta"] == receipt.receipt_id
        assert as_dict["importo_centesimi"] == str(receipt.payment_amount_cents)
        assert as_dict["cf_pagatore"] == (receipt.payer_fiscal_code or "")
        assert as_dict["causale"] == "Mensa scolastica   città di Forlì"  # the | became a space
        assert as_dict["data_pagamento"] == receipt.payment_date_time.astimezone(
            layout.ROME
        ).isoformat(timespec="seconds")
        assert as_dict["versione_rt"] == str(receipt.primitive_version)
        # the receipt, byte for byte as stored, where the record says
        assert content[as_dict["file_ricevuta"]] == receipt.raw_xml.encode("utf-8")
    total = sum(r.payment_amount_cents for r in expected)
    assert trailer == f"T|{len(expected)}|{total}"


def test_the_csv_is_the_spreadsheet_dialect_and_points_at_each_receipt(db, tmp_path):
    day, made = built(db, tmp_path)
    content = members(Path(made["MENSA"].path))
    raw = content[f"RICEVUTE_{day.ente.fiscal_code}_MENSA_20261205.csv"]
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == list(layout.CSV_HEADER)
    by_id = {r.receipt_id: r for r in day.by_service["MENSA"]}
    assert sorted(row[4] for row in rows[1:]) == sorted(by_id)
    for row in rows[1:]:
        receipt = by_id[row[4]]
        assert content[row[1]] == receipt.raw_xml.encode("utf-8")
        assert row[5] == layout.euro(receipt.payment_amount_cents)  # 12,50 style
    assert "12,50" in [row[5] for row in rows[1:]]


def test_the_manifest_counts_totals_and_hashes_every_member(db, tmp_path):
    _, made = built(db, tmp_path)
    content = members(Path(made["TARI"].path))
    manifest = json.loads(content["manifest.json"])
    assert manifest["payments"] == 2 == manifest["receipts"]
    assert manifest["total_cents"] == 24999 and manifest["total"] == "249,99"
    assert manifest["service"] == "TARI" and manifest["business_date"] == "2026-12-05"
    listed = {m["name"]: m for m in manifest["members"]}
    assert set(listed) == set(content) - {"manifest.json"}
    for name, data in content.items():
        if name != "manifest.json":
            assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest()
            assert listed[name]["size"] == len(data)


def test_receipts_of_another_day_a_ko_outcome_or_another_ente_are_left_out(db, tmp_path):
    day, made = built(db, tmp_path)
    inside = set()
    for file in made.values():
        for name, data in members(Path(file.path)).items():
            if name.startswith("RT/"):
                inside.add(data.decode())
    assert all(r.raw_xml not in inside for r in day.others)
    assert len(inside) == sum(len(v) for v in day.by_service.values())


def test_every_member_is_dated_the_business_day(db, tmp_path):
    _, made = built(db, tmp_path)
    with zipfile.ZipFile(made["MENSA"].path) as zf:
        assert {i.date_time for i in zf.infolist()} == {(2026, 12, 5, 0, 0, 0)}


def test_a_rerun_gives_the_same_file_and_a_rebuild_the_same_bytes(db, tmp_path):
    day, made = built(db, tmp_path)
    first = Path(made["MENSA"].path).read_bytes()
    again = dict(
        (f.service_code, (f, new)) for f, new in files.build_day(db, day.ente, DAY, tmp_path)
    )
    assert again["MENSA"] == (made["MENSA"], False)
    Path(made["MENSA"].path).unlink()  # lost from disk: built again, byte for byte
    rebuilt, new = files.produce(db, day.ente, "MENSA", DAY, tmp_path / "elsewhere")
    assert new is False and rebuilt.version == 1
    assert Path(rebuilt.path).read_bytes() == first
    assert hashlib.sha256(first).hexdigest() == rebuilt.sha256


def test_a_late_receipt_makes_a_new_version_and_both_are_kept(db, tmp_path):
    day, made = built(db, tmp_path)
    v1 = made["MENSA"]
    mensa_id = paid_option(db, day.ente, None, "1.00")  # an option to pay, moved to MENSA below
    from hub.models import DebtPosition, PaymentService

    position = db.get(DebtPosition, mensa_id.position_id)
    position.service_id = (
        db.query(PaymentService).filter_by(ente_id=day.ente.id, code="MENSA").one().id
    )
    late = add_receipt(
        db, day.ente, mensa_id, paid_at=at(23, 58), received_at=at(2, 0, DAY + dt.timedelta(1))
    )
    v2, new = files.produce(db, day.ente, "MENSA", DAY, tmp_path)
    assert new and v2.version == 2 and v2.payments == v1.payments + 1
    assert Path(v1.path).exists() and Path(v2.path).exists() and v1.path != v2.path
    assert late.raw_xml.encode() in members(Path(v2.path)).values()
    versions = db.query(DailyFile).filter_by(ente_id=day.ente.id, service_code="MENSA").all()
    assert sorted(f.version for f in versions) == [1, 2]
    assert v2.sha256[:16] in v2.file_name and v1.sha256[:16] in v1.file_name


def test_the_spooled_central_directory_writes_the_bytes_zipfile_writes(tmp_path):
    """The central directory kept on disk (flat memory) changes nothing in the zip."""

    def fill(zf):
        for i in range(500):
            data = io.BytesIO(b"<rt>%d</rt>" % i * (i % 7 + 1))
            layout._copy_member(zf, f"RT/{i:06d}.xml", (2026, 12, 5, 0, 0, 0), data, large=i < 2)

    stock = io.BytesIO()
    with zipfile.ZipFile(stock, "w", allowZip64=True) as zf:
        fill(zf)
    spooled = io.BytesIO()
    with (tmp_path / "spool").open("w+b") as spool, layout.spooled_zip(spooled, spool) as zf:
        fill(zf)
        assert len(zf.filelist) == 500
    assert spooled.getvalue() == stock.getvalue()
    with zipfile.ZipFile(spooled) as zf:
        assert zf.testzip() is None and len(zf.namelist()) == 500


def test_a_test_receipt_moved_no_money_and_is_left_out(db, tmp_path):
    """A receipt of pagoPA's test environment (receipt.test) is no payment of the day."""
    day = a_day(db)
    option = paid_option(db, day.ente, None, "9.00")
    trial = add_receipt(db, day.ente, option, paid_at=at(16), cents=900)
    trial.test = True
    db.flush()
    made = {f.service_code: f for f, _ in files.build_day(db, day.ente, DAY, tmp_path)}
    generic = made["GENERICO"]
    assert generic.payments == 1 and generic.total_cents == 500
    assert trial.raw_xml.encode() not in members(Path(generic.path)).values()
    # an Ente whose only payment of the day was a test has no file and no build to run
    other = make_ente(db)
    only = add_receipt(db, other, None, paid_at=at(17))
    only.test = True
    db.flush()
    assert other.id not in files.enti_of_day(db, DAY)
    assert files.build_day(db, other, DAY, tmp_path) == []


def test_a_receipt_recovered_as_json_is_kept_as_json_and_named_so(db, tmp_path):
    """pagoPA's receipts service gives JSON, not a paSendRT: the member is that document as
    received, named .json, and the record and the CSV point at it."""
    from hub.reconciliation.recovery import receipt_from_json

    day = a_day(db)
    option = paid_option(db, day.ente, None, "8.00")
    document = {
        "fiscalCode": day.ente.fiscal_code,
        "receiptId": "recovered-iur-1",
        "noticeNumber": option.notice_number,
        "creditorReferenceId": option.iuv,
        "paymentAmount": 8.0,
        "outcome": "OK",
        "idPSP": "BCITITMM",
        "paymentMethod": "CP",
        "paymentDateTime": "2026-12-05T17:30:00",
        "debtor": {"entityUniqueIdentifierValue": "RSSMRA80A01H501U", "fullName": "Mario Rossi"},
    }
    recovered = receipt_from_json(document)
    recovered.ente_id, recovered.option_id = day.ente.id, option.id
    db.add(recovered)
    db.flush()
    generic = {f.service_code: f for f, _ in files.build_day(db, day.ente, DAY, tmp_path)}[
        "GENERICO"
    ]
    content = members(Path(generic.path))
    json_members = [n for n in content if n.endswith(".json") and n.startswith("RT/")]
    assert json_members == [f"RT/000002_{option.iuv}.json"]  # after the 10:00 payment
    assert json.loads(content[json_members[0]])["receiptId"] == "recovered-iur-1"
    assert content[json_members[0]] == recovered.raw_xml.encode()
    txt = content[f"PAGAMENTI_{day.ente.fiscal_code}_GENERICO_20261205.txt"].decode()
    record = txt.split("\r\n")[2].split("|")
    assert record[12] == "recovered-iur-1" and record[17] == json_members[0]
    csv_text = content[f"RICEVUTE_{day.ente.fiscal_code}_GENERICO_20261205.csv"].decode("utf-8-sig")
    assert f";{json_members[0]};" in csv_text
    listed = [m["name"] for m in json.loads(content["manifest.json"])["members"]]
    assert json_members[0] in listed
    # the receipts sent by paSendRT stay .xml
    assert sum(n.endswith(".xml") for n in content) == 1


def test_a_receipt_arriving_days_late_names_its_day_for_the_nights_run(db, tmp_path):
    """The night's run of a day builds again the earlier days its late receipts belong to,
    also for an Ente with no payment and no delivery target that day."""
    day = a_day(db)
    files.build_day(db, day.ente, DAY, tmp_path)
    two_days_later = DAY + dt.timedelta(days=2)
    assert files.late_days(db, day.ente.id, two_days_later) == []
    assert day.ente.id not in files.enti_of_day(db, two_days_later)
    add_receipt(db, day.ente, None, paid_at=at(22), received_at=at(10, 0, two_days_later))
    assert files.late_days(db, day.ente.id, two_days_later) == [DAY]
    assert files.late_days(db, day.ente.id, DAY + dt.timedelta(days=1)) == []
    assert day.ente.id in files.enti_of_day(db, two_days_later)
    # a receipt paid just before midnight and here at 00:00:30 is on time for the 01:00 run,
    # and still named: building its day again changes nothing
    add_receipt(
        db, day.ente, None, paid_at=at(23, 59, two_days_later - dt.timedelta(days=1)),
        received_at=at(0, 0, two_days_later) + dt.timedelta(seconds=30),
    )  # fmt: skip
    assert files.late_days(db, day.ente.id, two_days_later) == [DAY, DAY + dt.timedelta(days=1)]
