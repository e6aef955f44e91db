"""SEND notification fees in bulk loads: the ``notification_fee`` column (CSV) or
``notificationFee`` (JSON) is set on each option as /api/v1 sets it; a second load of the same
file finds the positions unchanged; a fee no transfer can carry is a failed row."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from hub.models import BulkLoad, BulkLoadError, NotificationFee, PaymentOption, Transfer
from hub.positions import bulk
from tests.factories import make_ente
from tests.hub.positions.test_bulk import HEADER, _load, _run_all, body, csv_bytes, row, write

pytestmark = pytest.mark.pg


def _amounts(session) -> dict[str, tuple[int, list[int], int | None]]:
    """Each notice's amount, its transfers' amounts and its fee, in cents."""
    out = {}
    for option in session.scalars(sa.select(PaymentOption)):
        fee = session.get(NotificationFee, option.id)
        transfers = session.scalars(
            sa.select(Transfer.amount_cents)
            .where(Transfer.option_id == option.id)
            .order_by(Transfer.id_transfer)
        ).all()
        out[option.position.iupd] = (option.amount_cents, list(transfers), fee and fee.fee_cents)
    return out


def test_a_csv_column_sets_each_options_fee_and_a_second_load_changes_nothing(
    committed_factory, tmp_path
):
    rows = [
        row("F-1", notification_fee="1,50"),
        row("F-2", "30.00", split="10.00", notification_fee="2,00"),
        row("F-3"),
    ]
    path = write(tmp_path, csv_bytes(rows, delimiter=";", header=[*HEADER, "notification_fee"]))
    with committed_factory.begin() as session:
        ente = make_ente(session)
        first = _load(session, ente, path, publish=True).id
        ente_id = ente.id
    _run_all(committed_factory, first)
    with committed_factory() as session:
        assert _amounts(session) == {
            "F-1": (3150, [3150], 150),
            "F-2": (3200, [2200, 1000], 200),
            "F-3": (3000, [3000], None),
        }
        second = _load(session, session.get(type(ente), ente_id), path).id
        session.commit()
    _run_all(committed_factory, second)
    with committed_factory() as session:
        load = session.get(BulkLoad, second)
        assert (load.positions_created, load.positions_unchanged, load.positions_failed) == (
            0,
            3,
            0,
        )


def test_json_elements_carry_the_fee_and_one_without_a_transfer_to_the_ente_fails(
    committed_factory, tmp_path
):
    good = body("J-1")
    good["options"][0]["notificationFee"] = "1.00"
    bad = body("J-2")
    bad["options"][0]["notificationFee"] = "1.00"
    bad["options"][0]["transfers"][0]["beneficiaryFiscalCode"] = "00112233445"
    path = write(tmp_path, json.dumps([good, bad]).encode(), "json")
    with committed_factory.begin() as session:
        ente = make_ente(session)
        load_id = _load(session, ente, path, "json").id
    _run_all(committed_factory, load_id)
    with committed_factory() as session:
        assert _amounts(session) == {"J-1": (3100, [3100], 100)}
        [error] = session.scalars(sa.select(BulkLoadError)).all()
        assert (error.iupd, error.field) == ("J-2", "options[0].notificationFee")


def test_the_dry_run_reports_a_fee_that_cannot_be_carried(db, tmp_path):
    ente = make_ente(db)
    rows = [row("D-1", notification_fee="1.00", transfer1_beneficiary_fiscal_code="00112233445")]
    header = [*HEADER, "notification_fee", "transfer1_beneficiary_fiscal_code"]
    path = write(tmp_path, csv_bytes(rows, header=header))
    result = bulk.dry_run(db, ente, path, "csv")
    assert result.rows_failed == 1
    assert [e.field for e in result.errors] == ["notification_fee"]
