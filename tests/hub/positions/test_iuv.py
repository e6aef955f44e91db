"""Notice numbers handed out by hub.positions.iuv: unique per Ente across processes, always
valid."""

from __future__ import annotations

import multiprocessing

import pytest

from hub.db import make_engine, make_session_factory
from hub.models import Ente
from hub.positions.iuv import allocate_notice_numbers
from hub.values.notice_numbers import parse_notice_number
from tests.factories import make_ente

PROCESSES = 8
PER_PROCESS = 500


def _allocate_in_child(url: str, ente_id: int, count: int) -> list[str]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    numbers: list[str] = []
    for _ in range(count):  # one transaction each: the most contention we can make
        with factory.begin() as session:
            ente = session.get(Ente, ente_id)
            numbers.extend(n.value for n in allocate_notice_numbers(session, ente))
    engine.dispose()
    return numbers


@pytest.mark.pg
def test_eight_processes_get_four_thousand_distinct_valid_numbers(pg_url, committed_factory):
    with committed_factory.begin() as session:
        ente_id = make_ente(session, segregation_code="47").id
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(PROCESSES) as pool:
        results = pool.starmap(_allocate_in_child, [(pg_url, ente_id, PER_PROCESS)] * PROCESSES)
    numbers = [n for chunk in results for n in chunk]
    assert len(numbers) == PROCESSES * PER_PROCESS
    assert len(set(numbers)) == len(numbers)
    for value in numbers:
        parsed = parse_notice_number(value)  # raises on a wrong check digit
        assert parsed.aux_digit == 3 and parsed.segregation_code == "47"


@pytest.mark.pg
def test_a_block_allocation_is_contiguous_and_the_next_call_continues_after_it(db):
    ente = make_ente(db, segregation_code="03")
    block = allocate_notice_numbers(db, ente, 5)
    after = allocate_notice_numbers(db, ente, 1)
    bases = [int(n.iuv[2:15]) for n in [*block, *after]]
    assert bases == list(range(bases[0], bases[0] + 6))


def test_allocation_on_sqlite_works_for_the_embedded_default(sqlite_engine):
    factory = make_session_factory(sqlite_engine)
    with factory.begin() as session:
        ente = make_ente(session)
        numbers = allocate_notice_numbers(session, ente, 3)
    assert len({n.value for n in numbers}) == 3


def test_asking_for_no_numbers_is_an_error(sqlite_engine):
    factory = make_session_factory(sqlite_engine)
    with factory.begin() as session, pytest.raises(ValueError, match="at least 1"):
        allocate_notice_numbers(session, make_ente(session), 0)
