"""``ahead``: items produced by a thread of their own, in order, errors raised in their place,
never more than ``depth`` in hand, and the thread stopped when the consumer stops."""

from __future__ import annotations

import threading
import time

import pytest
import structlog

from hub.reconciliation.ahead import ahead


def test_items_come_in_order_and_an_error_after_the_items_before_it():
    def items():
        yield from range(5)
        raise ValueError("page 6 cannot be read")

    got = []
    with pytest.raises(ValueError, match="page 6"):
        for item in ahead(items()):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_the_producer_stays_at_most_depth_items_ahead():
    produced = []

    def items():
        for n in range(100):
            produced.append(n)
            yield n

    reader = ahead(items(), depth=2)
    assert next(reader) == 0
    time.sleep(0.3)
    # 0 consumed, 2 waiting, 1 more produced and waiting for a slot
    assert len(produced) <= 4
    reader.close()


def test_a_consumer_that_stops_early_stops_the_thread():
    def items():
        n = 0
        while True:
            n += 1
            yield n

    for item in ahead(items(), name="endless"):
        if item == 3:
            break
    # the producer is joined as the consumer stops (other tests' threads may come and go
    # meanwhile: only this one is looked for)
    assert not any(t.name == "endless" for t in threading.enumerate())


def test_the_producer_logs_in_the_callers_context():
    seen = []

    def items():
        seen.append(structlog.contextvars.get_contextvars().get("flow_id"))
        yield 1

    structlog.contextvars.bind_contextvars(flow_id="F-1")
    try:
        assert list(ahead(items())) == [1]
    finally:
        structlog.contextvars.unbind_contextvars("flow_id")
    assert seen == ["F-1"]
