"""Reading ahead: the next pages of a flow or chunks of a statement fetched and parsed by a
thread of their own while the caller's transaction writes the previous ones.

Reconciling a large flow or statement alternates Python work (an HTTP page from FdR 3, JSON or
XML read strictly) with PostgreSQL work (COPY, UPDATE); done one after the other, each waits
for the other. ``ahead`` overlaps them, keeping at most ``depth`` items in hand (memory stays
flat). The thread never touches the session: only the source and the parsing."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_END = object()
_WAIT = 0.1  # seconds between checks that the consumer still wants items


def ahead(items: Iterable[T], *, depth: int = 2, name: str = "read-ahead") -> Iterator[T]:
    """``items``, in order, produced by a thread up to ``depth`` ahead of the consumer (in
    the caller's logging context). An exception raised producing an item is raised here
    when the consumer reaches it, after the items before it. If the consumer stops early
    (an error, ``close``), the thread stops at its next item."""
    slots: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                slots.put((item, error), timeout=_WAIT)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_END, exc)
            return
        put(_END)

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(produce,), name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()
