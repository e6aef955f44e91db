"""Bulk onboarding: many Enti with their services from a CSV or JSON file (an intermediary
moving its Enti from another platform). ``onboard(..., dry_run=True)`` checks and applies
everything inside a transaction it then rolls back, so its per-row report is exactly what the
load would do; the load applies each Ente in a savepoint of its own (one bad Ente is reported
and skipped, the others load). Idempotent: an Ente or service already as the file says is
``unchanged`` and writes nothing (no audit event either).

JSON: an array of Ente objects (``hub.admin.inputs.EnteInput``: ``fiscalCode``, ``name``,
``segregationCode``, ``stations``, ..., ``services: [...]``).

CSV (``;`` or ``,``, UTF-8 with or without BOM, a header row): one row per service, the Ente's
columns repeated (or left empty after its first row): ``fiscal_code``, ``name``,
``segregation_code``, ``stations`` (space-separated), any other EnteInput field, and
``service_code``, ``service_label``, ``service_taxonomy``, ``service_iban``, ``service_kind``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from hub.admin import describe
from hub.admin import inputs as i
from hub.admin import service as svc
from hub.errors import DomainError
from hub.models import Ente

SERVICE_PREFIX = "service_"
MAX_ENTI = 10_000


@dataclass
class Entry:
    """One Ente of the file and the rows (line or element numbers) it came from."""

    rows: list[int]
    data: dict[str, Any]


@dataclass
class RowResult:
    row: int
    fiscal_code: str | None
    service: str | None
    action: str  # created, updated, unchanged, error
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "fiscalCode": self.fiscal_code,
            "service": self.service,
            "action": self.action,
            "message": self.message,
        }


@dataclass
class Report:
    dry_run: bool
    rows: list[RowResult] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "ok": self.ok,
            "totals": {a: self.count(a) for a in ("created", "updated", "unchanged", "error")},
            "rows": [r.as_dict() for r in self.rows],
        }


class UnreadableFile(DomainError):
    code = "unreadable_file"


def read_file(data: bytes, fmt: str | None = None, *, name: str = "") -> list[Entry]:
    """The Enti of a file (``fmt`` "csv" or "json"; guessed from the name or content)."""
    text = data.decode("utf-8-sig", errors="strict") if data else ""
    fmt = fmt or ("json" if name.endswith(".json") or text.lstrip()[:1] in "[{" else "csv")
    entries = _read_json(text) if fmt == "json" else _read_csv(text)
    if len(entries) > MAX_ENTI:
        raise UnreadableFile(f"at most {MAX_ENTI} Enti per file")
    return entries


def _read_json(text: str) -> list[Entry]:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"not JSON: {exc}") from None
    if not isinstance(loaded, list):
        raise UnreadableFile("a JSON file holds an array of Enti")
    return [Entry([n], item if isinstance(item, dict) else {}) for n, item in enumerate(loaded, 1)]


def _read_csv(text: str) -> list[Entry]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=";,")
    except csv.Error:
        dialect = csv.excel
        dialect.delimiter = ";"
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames or "fiscal_code" not in reader.fieldnames:
        raise UnreadableFile("the CSV header must name fiscal_code and the other columns")
    entries: dict[str, Entry] = {}
    for line in reader:
        row = reader.line_num
        values = {k.strip(): (v or "").strip() for k, v in line.items() if k}
        code = values.pop("fiscal_code", "")
        entry = entries.setdefault(code, Entry([], {"fiscal_code": code, "services": []}))
        entry.rows.append(row)
        service = {
            k.removeprefix(SERVICE_PREFIX): v
            for k, v in values.items()
            if k.startswith(SERVICE_PREFIX) and v
        }
        for key, value in values.items():
            if key.startswith(SERVICE_PREFIX) or not value:
                continue
            entry.data[key] = value.split() if key == "stations" else value
        if service:
            entry.data["services"].append(service)
    return list(entries.values())


def _row_of(entry: Entry, index: int) -> int:
    """The row of the entry's ``index``-th service (CSV: one row each; JSON: the element)."""
    return entry.rows[min(index, len(entry.rows) - 1)]


def onboard(session: Session, actor: svc.Actor, entries: list[Entry], *, dry_run: bool) -> Report:
    report = Report(dry_run=dry_run)
    outer = session.begin_nested() if dry_run else None
    try:
        for entry in entries:
            _one(session, actor, entry, report)
    finally:
        if outer is not None:
            outer.rollback()
    return report


def _one(session: Session, actor: svc.Actor, entry: Entry, report: Report) -> None:
    code = str(entry.data.get("fiscal_code") or entry.data.get("fiscalCode") or "") or None
    try:
        data = i.parse(i.EnteInput, entry.data)
    except i.InvalidInput as exc:
        row = entry.rows[0]
        if exc.field and exc.field.startswith("services["):
            index = int(exc.field.split("[", 1)[1].split("]", 1)[0])
            row = _row_of(entry, index)
        report.rows.append(RowResult(row, code, None, "error", str(exc)))
        return
    savepoint = session.begin_nested()
    results: list[RowResult] = []
    try:
        existing = (
            svc.get_ente(session, actor, data.fiscal_code) if _exists(session, data) else None
        )
        if existing is None:
            svc.create_ente(session, actor, data.model_copy(update={"services": []}))
            results.append(RowResult(entry.rows[0], data.fiscal_code, None, "created"))
        else:
            before = describe.ente(existing)
            patch = i.EntePatch.model_validate(
                data.model_dump(exclude={"fiscal_code", "services"}, exclude_unset=True)
            )
            svc.update_ente(session, actor, data.fiscal_code, patch)
            action = "unchanged" if describe.ente(existing) == before else "updated"
            results.append(RowResult(entry.rows[0], data.fiscal_code, None, action))
        for n, wanted in enumerate(data.services):
            results.append(_service(session, actor, data.fiscal_code, wanted, _row_of(entry, n)))
        savepoint.commit()
    except DomainError as exc:
        savepoint.rollback()
        report.rows.append(RowResult(entry.rows[0], data.fiscal_code, None, "error", str(exc)))
        return
    report.rows.extend(results)


def _exists(session: Session, data: i.EnteInput) -> bool:
    import sqlalchemy as sa

    return (
        session.scalar(sa.select(Ente.id).where(Ente.fiscal_code == data.fiscal_code)) is not None
    )


def _service(
    session: Session, actor: svc.Actor, fiscal_code: str, wanted: i.ServiceInput, row: int
) -> RowResult:
    try:
        current = svc.get_service(session, actor, fiscal_code, wanted.code)
    except DomainError:
        svc.create_service(session, actor, fiscal_code, wanted)
        return RowResult(row, fiscal_code, wanted.code, "created")
    before = describe.service(current)
    patch = i.ServicePatch.model_validate(wanted.model_dump(exclude={"code"}, exclude_unset=True))
    svc.update_service(session, actor, fiscal_code, wanted.code, patch)
    action = "unchanged" if describe.service(current) == before else "updated"
    return RowResult(row, fiscal_code, wanted.code, action)
