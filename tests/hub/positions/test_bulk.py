"""Bulk loads: CSV and JSON files read a position at a time, every bad row reported with its
reason, chunks that resume from their checkpoint, a second load of the same file a no-op."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import clock
from hub.models import BulkLoad, BulkLoadError, BulkLoadStatus, DebtPosition, PaymentOption
from hub.models import StateTransition as Transition
from hub.positions import bulk
from tests.factories import IBAN, make_ente

DUE = (clock.today() + dt.timedelta(days=30)).isoformat()
HEADER = [
    "iupd",
    "debtor_type",
    "debtor_fiscal_code",
    "debtor_name",
    "description",
    "amount",
    "due_date",
    "instalment_number",
    "instalment_count",
    "transfer1_amount",
    "transfer1_remittance_information",
    "transfer1_category",
    "transfer1_iban",
    "transfer2_amount",
    "transfer2_remittance_information",
    "transfer2_category",
    "transfer2_iban",
]
OTHER_IBAN = "IT36A0301503200000003517230"


def row(
    iupd: str,
    amount: str = "30.00",
    *,
    split: str | None = None,
    n: str = "",
    m: str = "",
    **over: str,
) -> dict[str, str]:
    """One CSV row (one option); ``split`` moves part of the amount to a second transfer."""
    first = amount if split is None else f"{float(amount) - float(split):.2f}"
    values = {
        "iupd": iupd,
        "debtor_type": "F",
        "debtor_fiscal_code": "RSSMRA80A01H501U",
        "debtor_name": "Mario Rossi",
        "description": "TARI 2026",
        "amount": amount,
        "due_date": DUE,
        "instalment_number": n,
        "instalment_count": m,
        "transfer1_amount": first,
        "transfer1_remittance_information": "TARI",
        "transfer1_category": "9/0101101IM/",
        "transfer1_iban": IBAN,
    }
    if split:
        values.update(
            transfer2_amount=split,
            transfer2_remittance_information="TEFA",
            transfer2_category="9/0101101IM/",
            transfer2_iban=OTHER_IBAN,
        )
    values.update(over)
    return values


def csv_bytes(
    rows: list[dict[str, str]],
    *,
    delimiter: str = ",",
    bom: bool = False,
    header: list[str] = HEADER,
) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    data = out.getvalue().encode()
    return codecs.BOM_UTF8 + data if bom else data


def body(iupd: str, amount: str = "30.00") -> dict:
    return {
        "iupd": iupd,
        "debtorType": "F",
        "debtorFiscalCode": "RSSMRA80A01H501U",
        "debtorName": "Mario Rossi",
        "description": "TARI 2026",
        "options": [
            {
                "amount": amount,
                "dueDate": DUE,
                "transfers": [
                    {
                        "amount": amount,
                        "remittanceInformation": "TARI",
                        "category": "9/0101101IM/",
                        "iban": IBAN,
                    }
                ],
            }
        ],
    }


def checked(path: Path, fmt: str) -> list[bulk.Item]:
    items = list(bulk.read_items(path, fmt))
    for item in items:
        bulk.check_item(item)
    return items


def write(tmp_path: Path, data: bytes, fmt: str = "csv") -> Path:
    path = tmp_path / f"upload.{fmt}"
    path.write_bytes(data)
    return path


# -- reading and checking (no database) --------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "bom"), [(",", False), (";", True), (";", False), (",", True)]
)
def test_rows_sharing_an_iupd_form_one_plan_whatever_the_delimiter_and_bom(
    tmp_path, delimiter, bom
):
    rows = [
        row("PLAN", "90.00", split="10.00"),
        *(row("PLAN", "30.00", n=str(k), m="3") for k in (1, 2, 3)),
        row("ONE"),
    ]
    items = checked(write(tmp_path, csv_bytes(rows, delimiter=delimiter, bom=bom)), "csv")
    assert [i.iupd for i in items] == ["PLAN", "ONE"]
    plan = items[0]
    assert plan.errors == [] and plan.rows == [2, 3, 4, 5]
    assert [o.instalment_number for o in plan.position.options] == [None, 1, 2, 3]
    assert [t.iban for t in plan.position.options[0].transfers] == [IBAN, OTHER_IBAN]
    assert items[1].rows == [6] and items[1].position.options[0].amount == "30.00"


def test_italian_spreadsheet_amounts_and_dates_are_understood(tmp_path):
    day = clock.today() + dt.timedelta(days=9)
    values = row("IT", "1234,50", due_date=day.strftime("%d/%m/%Y"), transfer1_amount="1234,50")
    [item] = checked(write(tmp_path, csv_bytes([values], delimiter=";")), "csv")
    assert item.errors == []
    assert item.position.options[0].amount == "1234.50"
    assert item.position.options[0].due_date == day


def test_every_bad_row_is_reported_with_its_row_column_and_reason(tmp_path):
    rows = [
        row("OK-1"),
        row("BAD-AMOUNT", "30.001", transfer1_amount="30.001"),
        row("BAD-IBAN", transfer1_iban="IT60X0542811101000000123457"),
        row("BAD-SUM", "31.00", transfer1_amount="30.00"),
        row("NO-NAME", debtor_name=""),
        row("BAD-PLAN", n="1", m="2"),
        row("BAD-PLAN", n="1", m="2"),
        row("OK-2"),
    ]
    items = checked(write(tmp_path, csv_bytes(rows)), "csv")
    errors = {(e.row, e.field) for i in items for e in i.report_rows() if i.errors}
    assert {(3, "amount"), (4, "transfer1_iban"), (5, "amount"), (6, "debtor_name")} <= {
        (r, f) for r, f in errors
    }
    plan_errors = {e.row: e for e in items[5].report_rows()}
    assert set(plan_errors) == {7, 8}  # both rows of the rejected plan are reported
    assert [i.iupd for i in items if not i.errors] == ["OK-1", "OK-2"]
    bad_iban = items[2].errors[0]
    assert "IBAN" in bad_iban.message and bad_iban.iupd == "BAD-IBAN"


def test_position_columns_that_change_inside_a_position_are_reported(tmp_path):
    rows = [row("P", n="1", m="2"), row("P", n="2", m="2", debtor_name="Other Name")]
    [item] = checked(write(tmp_path, csv_bytes(rows)), "csv")
    assert [(e.row, e.field) for e in item.errors] == [(3, "debtor_name")]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ([*HEADER, "colour"], "unknown column"),
        ([c for c in HEADER if c != "due_date"], "missing column"),
    ],
)
def test_a_header_that_cannot_be_loaded_refuses_the_file(tmp_path, header, message):
    data = csv_bytes([], header=header)
    with pytest.raises(bulk.FileProblem, match=message):
        bulk.store_upload(io.BytesIO(data), tmp_path / "store", "csv", max_bytes=10_000)
    assert list((tmp_path / "store").iterdir()) == []


def test_an_upload_over_the_limit_is_refused_and_removed(tmp_path):
    with pytest.raises(bulk.UploadTooLarge):
        bulk.store_upload(io.BytesIO(csv_bytes([row("A")] * 50)), tmp_path, "csv", max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_json_elements_are_read_one_by_one_across_read_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(bulk, "READ_SIZE", 7)  # every element spans several blocks
    elements = [body(f"J-{k}") for k in range(5)]
    elements[2]["debtorName"] = "Zoë Müller"  # multi-byte characters across block edges
    elements[3]["options"][0]["transfers"][0]["iban"] = "nope"
    data = (
        b"\xef\xbb\xbf \n["
        + ",\n".join(json.dumps(e, ensure_ascii=False) for e in elements).encode()
        + b"]\n"
    )
    path = write(tmp_path, data, "json")
    items = checked(path, "json")
    assert [i.iupd for i in items] == [f"J-{k}" for k in range(5)]
    assert [i.rows for i in items] == [[1], [2], [3], [4], [5]]
    assert items[2].position.debtor_name == "Zoë Müller"
    [error] = items[3].errors
    assert error.field == "options[0].transfers[0].iban" and error.row == 4
    # resuming after element 2 reads exactly the rest
    rest = list(bulk.read_items(path, "json", items[1].end, items[1].next_row))
    assert [i.iupd for i in rest] == ["J-2", "J-3", "J-4"] and rest[0].rows == [3]


def test_csv_resumes_from_a_checkpoint_mid_file(tmp_path):
    rows = [row("A"), row("B", n="1", m="2"), row("B", n="2", m="2"), row("C"), row("D")]
    path = write(tmp_path, csv_bytes(rows, bom=True))
    items = list(bulk.read_items(path, "csv"))
    rest = list(bulk.read_items(path, "csv", items[1].end, items[1].next_row))
    assert [(i.iupd, i.rows) for i in rest] == [("C", [5]), ("D", [6])]


def test_broken_json_stops_with_the_element_named(tmp_path):
    path = write(tmp_path, b'[{"iupd": "A"}, {"iupd": ', "json")
    with pytest.raises(bulk.FileProblem, match="element 2"):
        list(bulk.read_items(path, "json"))


# -- on PostgreSQL -----------------------------------------------------------------------------


def _load(session, ente, path: Path, fmt: str = "csv", publish: bool = False) -> BulkLoad:
    stored = bulk.StoredFile(path, path.stat().st_size, "0" * 64, fmt)
    return bulk.create_load(session, ente, stored, publish=publish, cause="test")


def _run_all(factory, load_id: int, chunk_rows: int = 3) -> int:
    chunks = 0
    while True:
        with factory.begin() as session:
            more = bulk.run_chunk(session, load_id, chunk_rows=chunk_rows)
        chunks += 1
        if not more:
            return chunks


def _count(session, ente_id: int) -> int:
    return session.scalar(
        sa.select(sa.func.count()).select_from(DebtPosition).where(DebtPosition.ente_id == ente_id)
    )


@pytest.mark.pg
def test_dry_run_reports_without_writing_anything(db, tmp_path):
    ente = make_ente(db)
    path = write(tmp_path, csv_bytes([row("A"), row("B", "9.999"), row("A"), row("C")]))
    counter_before = db.execute(sa.text("SELECT count(*) FROM iuv_counter")).scalar()
    result = bulk.dry_run(db, ente, path, "csv", chunk_rows=2)
    assert (result.rows, result.rows_failed, result.positions_valid) == (4, 2, 2)
    assert {(e.row, e.field) for e in result.errors} == {
        (3, "amount"),
        (3, "transfer1_amount"),
        (4, "iupd"),
    }
    assert _count(db, ente.id) == 0
    assert db.execute(sa.text("SELECT count(*) FROM iuv_counter")).scalar() == counter_before


@pytest.mark.pg
def test_load_runs_in_chunks_reports_bad_rows_and_a_second_load_changes_nothing(
    committed_factory, tmp_path
):
    rows = [row(f"P-{k}") for k in range(7)]
    rows.insert(3, row("BAD", transfer1_iban="IT00X0000000000000000000000"))
    rows[5:5] = [row("PLAN", n="1", m="2"), row("PLAN", n="2", m="2")]
    path = write(tmp_path, csv_bytes(rows, delimiter=";", bom=True))
    with committed_factory.begin() as session:
        ente = make_ente(session)
        first = _load(session, ente, path).id
        ente_id = ente.id
    assert _run_all(committed_factory, first) >= 3
    with committed_factory() as session:
        load = session.get(BulkLoad, first)
        assert load.status == BulkLoadStatus.DONE
        assert (load.rows_done, load.rows_failed) == (10, 1)
        assert (load.positions_created, load.positions_failed) == (8, 1)
        assert load.offset == path.stat().st_size
        [error] = session.scalars(sa.select(BulkLoadError)).all()
        assert (error.row, error.iupd, error.field) == (5, "BAD", "transfer1_iban")
        assert _count(session, ente_id) == 8
        numbers = session.scalars(sa.select(PaymentOption.notice_number)).all()
        assert len(numbers) == len(set(numbers)) == 9
        report = io.StringIO()
        bulk.write_report(session, load, report)
        assert report.getvalue().splitlines()[1].startswith("5,BAD,transfer1_iban,")
        second = _load(session, session.get(type(ente), ente_id), path).id
        session.commit()
    _run_all(committed_factory, second)
    with committed_factory() as session:
        load = session.get(BulkLoad, second)
        assert (load.positions_created, load.positions_unchanged, load.positions_failed) == (
            0,
            8,
            1,
        )
        assert _count(session, ente_id) == 8


@pytest.mark.pg
def test_a_changed_position_under_a_loaded_iupd_is_a_failed_row(committed_factory, tmp_path):
    with committed_factory.begin() as session:
        ente = make_ente(session)
        load_id = _load(session, ente, write(tmp_path, csv_bytes([row("A"), row("B")]))).id
    _run_all(committed_factory, load_id)
    changed = tmp_path / "changed"
    changed.mkdir()
    with committed_factory.begin() as session:
        ente = session.get(type(ente), ente.id)
        load_id = _load(
            session,
            ente,
            write(changed, csv_bytes([row("A"), row("B", "31.00", transfer1_amount="31.00")])),
        ).id
    _run_all(committed_factory, load_id)
    with committed_factory() as session:
        load = session.get(BulkLoad, load_id)
        assert (load.positions_unchanged, load.positions_failed) == (1, 1)
        error = session.scalar(sa.select(BulkLoadError).where(BulkLoadError.load_id == load_id))
        assert (error.row, error.field) == (3, "iupd") and "different position" in error.message


@pytest.mark.pg
def test_a_worker_killed_between_chunks_resumes_without_duplicates(committed_factory, tmp_path):
    path = write(tmp_path, csv_bytes([row(f"K-{k}") for k in range(10)]))
    with committed_factory.begin() as session:
        ente = make_ente(session)
        load_id, ente_id = _load(session, ente, path).id, ente.id
    with committed_factory.begin() as session:  # chunk 1 commits
        assert bulk.run_chunk(session, load_id, chunk_rows=4)
    session = committed_factory()  # chunk 2 runs, then the worker dies before the commit
    assert bulk.run_chunk(session, load_id, chunk_rows=4)
    assert session.scalar(sa.select(sa.func.count()).select_from(DebtPosition)) == 8
    session.rollback()
    session.close()
    with committed_factory() as session:
        load = session.get(BulkLoad, load_id)
        assert (load.rows_done, load.next_row) == (4, 6)
    _run_all(committed_factory, load_id, chunk_rows=4)  # the redelivered message, and on
    with committed_factory() as session:
        load = session.get(BulkLoad, load_id)
        assert (load.status, load.rows_done, load.positions_created) == (
            BulkLoadStatus.DONE,
            10,
            10,
        )
        iupds = session.scalars(
            sa.select(DebtPosition.iupd).where(DebtPosition.ente_id == ente_id)
        ).all()
        assert sorted(iupds) == sorted(f"K-{k}" for k in range(10))
        # a chunk message delivered again after the end changes nothing
        assert not bulk.run_chunk(session, load_id)


@pytest.mark.pg
def test_a_position_refused_by_the_database_fails_alone(db, tmp_path):
    ente = make_ente(db)
    items = list(bulk.read_items(write(tmp_path, csv_bytes([row("X"), row("Y"), row("Z")])), "csv"))
    for item in items:
        bulk.check_item(item)
    bulk.plan_chunk(db, ente, items)
    assert [i.outcome for i in items] == ["created"] * 3
    # another writer takes Y between the plan and the write
    from tests.factories import make_position

    make_position(db, ente, iupd="Y")
    bulk.write_chunk(db, ente, items, publish=False, cause="test")
    assert [i.outcome for i in items] == ["created", "failed", "created"]
    assert "already used" in items[1].errors[0].message
    assert sorted(db.scalars(sa.select(DebtPosition.iupd)).all()) == ["X", "Y", "Z"]


@pytest.mark.pg
def test_publish_loads_payable_options_with_their_history(committed_factory, tmp_path):
    rows = [row("P", n="1", m="2"), row("P", n="2", m="2"), row("S")]
    path = write(tmp_path, json.dumps([body("J")]).encode(), "json")
    csv_path = write(tmp_path, csv_bytes(rows))
    with committed_factory.begin() as session:
        ente = make_ente(session)
        ids = [
            _load(session, ente, csv_path, publish=True).id,
            _load(session, ente, path, "json", publish=True).id,
        ]
    for load_id in ids:
        _run_all(committed_factory, load_id)
    with committed_factory() as session:
        positions = session.scalars(sa.select(DebtPosition)).all()
        assert sorted(p.iupd for p in positions) == ["J", "P", "S"]
        assert {p.status for p in positions} == {"payable"}
        assert all(p.published_at for p in positions)
        options = session.scalars(sa.select(PaymentOption)).all()
        assert {o.status for o in options} == {"payable"}
        history = session.execute(
            sa.select(Transition.option_id, Transition.to_state, Transition.cause)
        ).all()
        assert len(history) == 4 and all(h.cause.startswith("bulk:") for h in history)


def test_a_repeated_bad_iban_is_reported_on_every_row(tmp_path):
    """The identifier checks cache their verdicts: a verdict seen before is the same verdict."""
    bad = "IT60X0542811101000000123457"
    items = checked(
        write(tmp_path, csv_bytes([row(f"B-{k}", transfer1_iban=bad) for k in range(3)])), "csv"
    )
    assert [(e.row, e.field) for i in items for e in i.errors] == [
        (2, "transfer1_iban"),
        (3, "transfer1_iban"),
        (4, "transfer1_iban"),
    ]


@pytest.mark.pg
def test_copy_writes_every_field_and_a_second_load_finds_it_unchanged(committed_factory, tmp_path):
    element = body("META")
    element.update(debtorEmail="m@example.org", debtorCity="Roma", debtorNation="IT")
    option = element["options"][0]
    option.update(description="Rata unica", retentionDate=DUE)
    option["transfers"][0].update(
        beneficiaryFiscalCode="00000000000", metadata=[{"key": "anno", "value": "2026"}]
    )
    path = write(tmp_path, json.dumps([element]).encode(), "json")
    with committed_factory.begin() as session:
        ente = make_ente(session)
        first = _load(session, ente, path, "json", publish=True).id
        second = _load(session, ente, path, "json").id
    _run_all(committed_factory, first)
    _run_all(committed_factory, second)
    with committed_factory() as session:
        [position] = session.scalars(sa.select(DebtPosition)).all()
        assert (position.debtor_email, position.debtor_city, position.version) == (
            "m@example.org",
            "Roma",
            1,
        )
        assert position.created_at.tzinfo is not None
        assert abs(position.created_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
        assert position.published_at == position.created_at
        [stored] = position.options
        assert (
            stored.description,
            stored.retention_date.isoformat(),
            stored.amount_cents,
            stored.paid_cents,
            stored.status,
        ) == ("Rata unica", DUE, 3000, 0, "payable")
        [transfer] = stored.transfers
        assert transfer.beneficiary_fiscal_code == "00000000000"
        assert transfer.metadata_entries == [{"key": "anno", "value": "2026"}]
        load = session.get(BulkLoad, second)
        assert (load.positions_created, load.positions_unchanged) == (0, 1)
