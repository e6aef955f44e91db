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

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.admin import describe
from hub.admin import inputs as i
from hub.admin import service as svc
from hub.errors import Conflict, DomainError
from hub.models import Ente, PaymentService

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


CHUNK = 50  # Enti per savepoint; a chunk with an error is applied again one Ente at a time


def onboard(session: Session, actor: svc.Actor, entries: list[Entry], *, dry_run: bool) -> Report:
    report = Report(dry_run=dry_run)
    outer = session.begin_nested() if dry_run else None
    try:
        codes = [str(e.data.get("fiscal_code") or e.data.get("fiscalCode") or "") for e in entries]
        known = Known(
            svc.visible_enti(session, actor, codes), svc.taken_fiscal_codes(session, codes)
        )
        for start in range(0, len(entries), CHUNK):
            _chunk(session, actor, entries[start : start + CHUNK], report, known)
    finally:
        if outer is not None:
            outer.rollback()
    return report


@dataclass
class Known:
    """What the database holds of the file's Enti, read once: those the actor sees (with
    their stations and services) and every fiscal code taken."""

    visible: dict[str, Ente]
    taken: set[str]


def _parse(entry: Entry) -> i.EnteInput | RowResult:
    code = str(entry.data.get("fiscal_code") or entry.data.get("fiscalCode") or "") or None
    try:
        return i.parse(i.EnteInput, entry.data)
    except i.InvalidInput as exc:
        row = entry.rows[0]
        if exc.field and exc.field.startswith("services["):
            index = int(exc.field.split("[", 1)[1].split("]", 1)[0])
            row = _row_of(entry, index)
        return RowResult(row, code, None, "error", str(exc))


def _chunk(
    session: Session, actor: svc.Actor, entries: list[Entry], report: Report, known: Known
) -> None:
    """Apply a chunk of Enti in one savepoint (one flush: the inserts are batched); if
    anything fails, roll it back and apply each Ente in a savepoint of its own, so that the
    error is reported on its rows and the others load."""
    parsed = [(entry, _parse(entry)) for entry in entries]
    savepoint = session.begin_nested()
    results: list[RowResult] = []
    new_codes: list[str] = []
    try:
        for entry, data in parsed:
            if isinstance(data, RowResult):
                results.append(data)
                continue
            results.extend(_apply(session, actor, entry, data, known))
            new_codes.append(data.fiscal_code)
        savepoint.commit()
    except (DomainError, IntegrityError):
        savepoint.rollback()
        for entry, data in parsed:
            if isinstance(data, RowResult):
                report.rows.append(data)
            else:
                _alone(session, actor, entry, data, report, known)
        return
    known.taken.update(new_codes)
    report.rows.extend(results)


def _alone(
    session: Session,
    actor: svc.Actor,
    entry: Entry,
    data: i.EnteInput,
    report: Report,
    known: Known,
) -> None:
    savepoint = session.begin_nested()
    try:
        results = _apply(session, actor, entry, data, known)
        savepoint.commit()
    except (DomainError, IntegrityError) as exc:
        savepoint.rollback()
        message = str(exc) if isinstance(exc, DomainError) else "conflicts with stored data"
        report.rows.append(RowResult(entry.rows[0], data.fiscal_code, None, "error", message))
        return
    known.taken.add(data.fiscal_code)
    report.rows.extend(results)


def _apply(
    session: Session, actor: svc.Actor, entry: Entry, data: i.EnteInput, known: Known
) -> list[RowResult]:
    results: list[RowResult] = []
    existing = known.visible.get(data.fiscal_code)
    if existing is None:
        if data.fiscal_code in known.taken:
            raise Conflict(f"Ente {data.fiscal_code} exists", code="exists")
        ente = svc.create_ente(
            session, actor, data.model_copy(update={"services": []}), known_new=True
        )
        results.append(RowResult(entry.rows[0], data.fiscal_code, None, "created"))
        for n, wanted in enumerate(data.services):
            svc.new_service(session, actor, ente, wanted)
            results.append(RowResult(_row_of(entry, n), data.fiscal_code, wanted.code, "created"))
        return results
    before = describe.ente(existing)
    patch = i.EntePatch.model_validate(
        data.model_dump(exclude={"fiscal_code", "services"}, exclude_unset=True)
    )
    svc.change_ente(session, actor, existing, patch)
    action = "unchanged" if describe.ente(existing) == before else "updated"
    results.append(RowResult(entry.rows[0], data.fiscal_code, None, action))
    services = {s.code: s for s in existing.services}
    for n, wanted in enumerate(data.services):
        results.append(_service(session, actor, existing, services, wanted, _row_of(entry, n)))
    return results


def _service(
    session: Session,
    actor: svc.Actor,
    ente: Ente,
    services: dict[str, PaymentService],
    wanted: i.ServiceInput,
    row: int,
) -> RowResult:
    current = services.get(wanted.code)
    if current is None:
        svc.new_service(session, actor, ente, wanted)
        return RowResult(row, ente.fiscal_code, wanted.code, "created")
    before = describe.service(current)
    patch = i.ServicePatch.model_validate(wanted.model_dump(exclude={"code"}, exclude_unset=True))
    svc.change_service(session, actor, current, ente.fiscal_code, patch)
    action = "unchanged" if describe.service(current) == before else "updated"
    return RowResult(row, ente.fiscal_code, wanted.code, action)
