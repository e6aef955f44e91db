"""Notice batches: render many positions' notices into one zip (PDFs + index.csv) on disk.

The work is split in chunks, one actor message each, and runs in several lanes at once (one
message chain per lane, so a batch uses as many worker processes as are free). A chunk takes the
next items not done with ``FOR UPDATE SKIP LOCKED`` (lanes never take the same item), renders
them (each PDF written to a temporary name and renamed, so a half-written file never counts),
marks them done and writes its lane's next message, all in one transaction. A worker killed
mid-chunk rolls back: its items are free again and are rendered once more over the same file
names, so nothing is duplicated. When a lane finds nothing left, the batch row is locked and, if
every item is done, the parts are streamed into ``<public id>.zip`` (stored, not re-compressed:
PDFs are compressed already) with the index, and removed. Memory stays flat: one chunk of
positions at a time.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from hub import actor_names, csvsafe, outbox
from hub.db import utcnow
from hub.errors import DomainError, NotFound
from hub.models import (
    BatchStatus,
    DebtPosition,
    Ente,
    NoticeBatch,
    NoticeBatchItem,
)
from hub.printing import lookup
from hub.printing.data import document_of
from hub.printing.i18n import languages
from hub.printing.pdf import render_pdf
from workflows.payment import OptionStatus

ACTOR = actor_names.RENDER_NOTICE_BATCH
CHUNK = 200
LANES = 4
MAX_POSITIONS = 100_000
INDEX_HEADER = [
    "file",
    "notice_number",
    "instalment",
    "amount",
    "due_date",
    "debtor_fiscal_code",
    "iupd",
    "error",
]


def create_batch(
    session: Session,
    ente: Ente,
    *,
    variant: str = "it",
    notice_numbers: list[str] | None = None,
    service_code: str | None = None,
    iupds: list[str] | None = None,
    bulk_load: str | None = None,
) -> NoticeBatch:
    """Record a batch and its items and write the first chunk's message (sent after commit)."""
    languages(variant)
    position_ids = lookup.positions_for(
        session,
        ente,
        notice_numbers=notice_numbers,
        service_code=service_code,
        iupds=iupds,
        bulk_load=bulk_load,
    )
    if not position_ids:
        raise DomainError("the selection holds no printable notice", code="batch_empty")
    if len(position_ids) > MAX_POSITIONS:
        raise DomainError(
            f"a batch holds at most {MAX_POSITIONS} positions", code="batch_too_large"
        )
    selection: dict[str, Any] = {
        k: v
        for k, v in (
            ("noticeNumbers", notice_numbers),
            ("service", service_code),
            ("iupds", iupds),
            ("bulkLoad", bulk_load),
        )
        if v
    }
    if notice_numbers:
        selection["noticeNumbers"] = len(notice_numbers)  # the count, not 100,000 numbers
    batch = NoticeBatch(
        public_id=str(uuid.uuid4()),
        ente_id=ente.id,
        variant=variant,
        selection=selection,
        total=len(position_ids),
        rendered=0,
        status=BatchStatus.PENDING,
    )
    session.add(batch)
    session.flush()
    session.execute(
        sa.insert(NoticeBatchItem),
        [
            {
                "batch_id": batch.id,
                "seq": seq,
                "position_id": pid,
                "file_name": f"{seq:06d}-{pid}.pdf",
                "done": False,
            }
            for seq, pid in enumerate(position_ids)
        ],
    )
    for _ in range(min(LANES, -(-len(position_ids) // CHUNK))):
        outbox.enqueue(session, ACTOR, batch_id=batch.id)
    return batch


def get_batch(session: Session, ente: Ente, public_id: str) -> NoticeBatch:
    batch = session.scalar(
        sa.select(NoticeBatch).where(
            NoticeBatch.public_id == public_id, NoticeBatch.ente_id == ente.id
        )
    )
    if batch is None:
        raise NotFound(f"no notice batch {public_id}")
    return batch


def parts_dir(directory: Path, batch: NoticeBatch) -> Path:
    return directory / f"{batch.public_id}.parts"


def zip_path(directory: Path, batch: NoticeBatch) -> Path:
    return directory / f"{batch.public_id}.zip"


def run_chunk(
    session: Session, batch_id: int, directory: Path, *, chunk: int | None = None
) -> bool:
    """Render the next free ``chunk`` items of the batch; True if it rendered some (and wrote
    this lane's next message), False if nothing was left for it (the zip is written then, by
    whichever lane finds every item done)."""
    batch = session.get(NoticeBatch, batch_id)
    if batch is None or batch.status in (BatchStatus.DONE, BatchStatus.FAILED):
        return False
    items = list(
        session.scalars(
            sa.select(NoticeBatchItem)
            .where(NoticeBatchItem.batch_id == batch.id, NoticeBatchItem.done.is_(False))
            .order_by(NoticeBatchItem.seq)
            .limit(chunk or CHUNK)
            .with_for_update(skip_locked=True)
        )
    )
    if not items:
        _finish(session, batch, directory)
        return False
    parts = parts_dir(directory, batch)
    parts.mkdir(parents=True, exist_ok=True)
    positions = _positions(session, [i.position_id for i in items])
    ente = session.get(Ente, batch.ente_id)
    assert ente is not None
    for item in items:
        try:
            pdf = render_pdf(document_of(ente, positions[item.position_id]), variant=batch.variant)
        except DomainError as exc:  # this position cannot be printed; the others can
            item.error = str(exc)[:300]
        else:
            item.error = None
            _write_atomically(parts / item.file_name, pdf)
        item.done = True
    session.execute(
        sa.update(NoticeBatch)
        .where(NoticeBatch.id == batch.id)
        .values(
            rendered=NoticeBatch.rendered + len(items),
            status=BatchStatus.RUNNING,
            updated_at=utcnow(),
        )
    )
    outbox.enqueue(session, ACTOR, batch_id=batch.id)
    return True


def _finish(session: Session, batch: NoticeBatch, directory: Path) -> None:
    """Write the zip if every item is done (items other lanes hold are not done yet: their
    lane's next message comes back here)."""
    session.refresh(batch, with_for_update=True)
    if batch.status in (BatchStatus.DONE, BatchStatus.FAILED):
        return
    left = session.scalar(
        sa.select(sa.func.count()).where(
            NoticeBatchItem.batch_id == batch.id, NoticeBatchItem.done.is_(False)
        )
    )
    if left == 0:
        _assemble(session, batch, directory)


def _positions(session: Session, ids: list[int]) -> dict[int, DebtPosition]:
    rows = session.scalars(
        sa.select(DebtPosition)
        .where(DebtPosition.id.in_(ids))
        .options(selectinload(DebtPosition.options))
    )
    return {p.id: p for p in rows}


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _assemble(session: Session, batch: NoticeBatch, directory: Path) -> None:
    """Stream the parts and the index into the zip (under a temporary name, then renamed)."""
    parts, final = parts_dir(directory, batch), zip_path(directory, batch)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = final.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open("index.csv", "w") as raw, io.TextIOWrapper(raw, "utf-8", newline="") as fh:
            writer = csvsafe.writer(fh)
            writer.writerow(INDEX_HEADER)
            for item, position in _items_with_positions(session, batch):
                for option in position.options:
                    if option.status == OptionStatus.CANCELLED:
                        continue
                    writer.writerow(
                        [
                            "" if item.error else item.file_name,
                            option.notice_number,
                            (
                                f"{option.instalment_number}/{option.instalment_count}"
                                if option.instalment_number
                                else ""
                            ),
                            f"{option.amount_cents // 100}.{option.amount_cents % 100:02d}",
                            option.due_date.isoformat(),
                            position.debtor_fiscal_code,
                            position.iupd,
                            item.error or "",
                        ]
                    )
        for name in _names(session, batch):
            with (parts / name).open("rb") as src, zf.open(name, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, final)
    shutil.rmtree(parts, ignore_errors=True)
    batch.status = BatchStatus.DONE
    batch.zip_path = str(final)
    batch.zip_bytes = final.stat().st_size
    batch.finished_at = utcnow()


def _names(session: Session, batch: NoticeBatch):
    yield from session.scalars(
        sa.select(NoticeBatchItem.file_name)
        .where(NoticeBatchItem.batch_id == batch.id, NoticeBatchItem.error.is_(None))
        .order_by(NoticeBatchItem.seq)
        .execution_options(yield_per=1000)
    )


def _items_with_positions(session: Session, batch: NoticeBatch):
    """(item, position) in seq order, a thousand at a time."""
    last = -1
    while True:
        items = list(
            session.scalars(
                sa.select(NoticeBatchItem)
                .where(NoticeBatchItem.batch_id == batch.id, NoticeBatchItem.seq > last)
                .order_by(NoticeBatchItem.seq)
                .limit(1000)
            )
        )
        if not items:
            return
        positions = _positions(session, [i.position_id for i in items])
        for item in items:
            yield item, positions[item.position_id]
        last = items[-1].seq
        session.expire_all()  # let the finished thousand go


def mark_failed(session: Session, batch_id: int, error: str) -> None:
    session.execute(
        sa.update(NoticeBatch)
        .where(NoticeBatch.id == batch_id)
        .values(status=BatchStatus.FAILED, error=error[:500], updated_at=utcnow())
    )


def resume_unfinished(session: Session) -> int:
    """Write a message for every pending or running batch (after a broker that lost its queue,
    e.g. the in-process stub broker restarted); a chunk that is already running just makes the
    extra message find less to do. Returns how many batches."""
    ids = list(
        session.scalars(
            sa.select(NoticeBatch.id).where(
                NoticeBatch.status.in_((BatchStatus.PENDING, BatchStatus.RUNNING))
            )
        )
    )
    for batch_id in ids:
        outbox.enqueue(session, ACTOR, batch_id=batch_id)
    return len(ids)


def status_json(batch: NoticeBatch, session: Session | None = None) -> dict[str, object]:
    failed = (
        0
        if session is None
        else session.scalar(
            sa.select(sa.func.count()).where(
                NoticeBatchItem.batch_id == batch.id, NoticeBatchItem.error.is_not(None)
            )
        )
    )
    return {
        "id": batch.public_id,
        "status": batch.status.value,
        "total": batch.total,
        "done": batch.rendered,
        "unprintable": failed,
        "variant": batch.variant,
        "selection": batch.selection,
        "zipBytes": batch.zip_bytes,
        "error": batch.error,
        "createdAt": batch.created_at.isoformat() if batch.created_at else None,
        "finishedAt": batch.finished_at.isoformat() if batch.finished_at else None,
    }
