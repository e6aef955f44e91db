"""Bulk loads of debt positions: a CSV (one row per payment option) or a JSON array of API
bodies, stored on disk, checked row by row and loaded chunk by chunk.

Reading is streamed: a file is never held in memory, only the chunk being loaded. Each position
(a CSV row group made into an API body, or a JSON array element) is read into the one input
model, ``hub.positions.inputs.DebtPositionInput`` (field formats, unknown fields), exactly as
the REST API's create reads its body, and then checked by ``hub.positions.writer.validate``
(sums, plans, IBANs, fiscal codes): no rule is restated here.

A chunk (about ``CHUNK_ROWS`` rows, never splitting a position) is one transaction: the new
positions, the failed rows for the report and the checkpoint (byte offset and row number of the
next position) commit together, so a worker killed mid-chunk redoes exactly that chunk. The
positions of a chunk are written in one savepoint; if the database refuses it (a concurrent
writer took an IUPD or a notice number) each position is retried in its own savepoint, so a bad
position never leaves half of itself nor stops the others.

Idempotency: the IUPD is unique per Ente. A position whose IUPD exists with the same content
(debtor, options, transfers; notice numbers only where the file gives them) is ``unchanged``;
with different content it is a failed row (change it through the API's PUT). Loading the same
file twice therefore creates nothing the second time.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any, cast

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, selectinload

from hub import actor_names, csvsafe, outbox, payments
from hub.db import utcnow
from hub.errors import DomainError, NotFound
from hub.models import (
    BulkLoad,
    BulkLoadError,
    BulkLoadStatus,
    DebtPosition,
    Ente,
    PaymentOption,
    PaymentService,
    Transfer,
)
from hub.positions import fees
from hub.positions.inputs import (
    DebtPositionInput,
    InvalidPosition,
    OptionInput,
    TransferInput,
    field_path,
)
from hub.positions.iuv import allocate_notice_numbers
from hub.positions.status import derive_status
from hub.positions.writer import build_position, create_position, validate
from hub.values.money import to_cents
from workflows.payment import INITIAL_STATE

ACTOR = actor_names.RUN_BULK_LOAD
CHUNK_ROWS = 500
MAX_ELEMENT_BYTES = 1 << 20  # one JSON array element (one position) at most
MAX_LINE_BYTES = 64 * 1024  # one CSV line at most (a full row with five transfers is ~8 KiB)
MAX_DEPTH = 32  # JSON nesting of one element (a position needs 5: options, transfers, metadata)
DRY_RUN_CAUSE = "dry-run:"  # a load's cause starting so is a dry run (checked, nothing written)
DRY_RUN_MAX_ERRORS = 1000  # the default of payhub.bulk_dry_run_max_errors
READ_SIZE = 1 << 16

# CSV columns -> the API body's fields. One row per payment option; rows with the same IUPD,
# one after the other, form one position (an instalment plan, plus at most one pay-in-full).
POSITION_COLUMNS = {
    "iupd": "iupd",
    "debtor_type": "debtorType",
    "debtor_fiscal_code": "debtorFiscalCode",
    "debtor_name": "debtorName",
    "debtor_email": "debtorEmail",
    "debtor_street": "debtorStreet",
    "debtor_city": "debtorCity",
    "debtor_postal_code": "debtorPostalCode",
    "debtor_province": "debtorProvince",
    "debtor_nation": "debtorNation",
    "description": "description",
    "service_code": "serviceCode",
}
OPTION_COLUMNS = {
    "amount": "amount",
    "due_date": "dueDate",
    "option_description": "description",
    "retention_date": "retentionDate",
    "instalment_number": "instalmentNumber",
    "instalment_count": "instalmentCount",
    "notice_number": "noticeNumber",
    "notification_fee": "notificationFee",  # SEND's cost (issue 20; hub.positions.fees)
}
TRANSFER_COLUMNS = {  # transfer1_<name> ... transfer5_<name>
    "amount": "amount",
    "remittance_information": "remittanceInformation",
    "category": "category",
    "iban": "iban",
    "postal_iban": "postalIban",
    "beneficiary_fiscal_code": "beneficiaryFiscalCode",
    "stamp_hash": "stampHash",
    "stamp_type": "stampType",
    "stamp_province": "stampProvince",
}
MAX_TRANSFERS = 5
ALL_COLUMNS = frozenset(
    [*POSITION_COLUMNS, *OPTION_COLUMNS]
    + [f"transfer{n}_{name}" for n in range(1, MAX_TRANSFERS + 1) for name in TRANSFER_COLUMNS]
)
REQUIRED_COLUMNS = (
    "iupd",
    "debtor_type",
    "debtor_fiscal_code",
    "debtor_name",
    "description",
    "amount",
    "due_date",
    "transfer1_amount",
    "transfer1_remittance_information",
    "transfer1_category",
)
_POSITION_BY_API = {v: k for k, v in POSITION_COLUMNS.items()}
_OPTION_BY_API = {v: k for k, v in OPTION_COLUMNS.items()}
_TRANSFER_BY_API = {v: k for k, v in TRANSFER_COLUMNS.items()}
# per transfer n: (CSV column, column name, API field), spelt once rather than on every row
_TRANSFER_CELLS = tuple(
    tuple((f"transfer{n}_{name}", name, api) for name, api in TRANSFER_COLUMNS.items())
    for n in range(1, MAX_TRANSFERS + 1)
)
_API_PATH = re.compile(r"^options\[(\d+)\](?:\.transfers\[(\d+)\])?(?:\.(\w+))?")
_SNAKE = re.compile(r"_([a-z])")
_DMY = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_DECIMAL_COMMA = re.compile(r"^\d+,\d{1,2}$")


class ShapeError(Exception):
    """The shape refused a position: ``errors`` is a list of (API field path, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors[0][1] if errors else "invalid")
        self.errors = errors


# JSON text of one API body -> the position; raises ShapeError.
Shape = Callable[[str], DebtPositionInput]


def read_position(payload: str) -> DebtPositionInput:
    """One position (JSON text of a create body, as the API's POST takes it) through the one
    input model, hub.positions.inputs; raises ShapeError listing every failing field."""
    try:
        return DebtPositionInput.model_validate_json(payload)
    except ValidationError as exc:
        raise ShapeError(
            [(field_path(e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        ) from None


class FileProblem(DomainError):
    """The file cannot be read (any further): a bad header, broken JSON, not CSV."""

    code = "invalid_file"

    def __init__(self, message: str, *, row: int = 0) -> None:
        super().__init__(message)
        self.row = row


class UploadTooLarge(DomainError):
    code = "upload_too_large"


@dataclass
class RowError:
    row: int
    field: str
    message: str
    iupd: str | None = None


@dataclass
class Item:
    """One position as read from the file, and what became of it."""

    kind: str  # csv | json
    rows: list[int]
    payload: str | None  # JSON text of the API body
    iupd: str | None
    end: int  # byte offset just after it
    next_row: int
    errors: list[RowError] = field(default_factory=list)
    position: DebtPositionInput | None = None
    service_code: str | None = None
    service_id: int | None = None
    outcome: str = ""  # created | unchanged | failed

    def fail(self, path: str, message: str) -> None:
        """Record an error at an API field path (``options[1].transfers[0].iban``)."""
        row, name = self._locate(path)
        self.errors.append(RowError(row, name, message[:500], self.iupd))

    def _locate(self, path: str) -> tuple[int, str]:
        if self.kind == "json":
            return self.rows[0], path
        match = _API_PATH.match(path)
        if match is None:
            head = path.split(".")[0].split("[")[0]
            return self.rows[0], _POSITION_BY_API.get(head, head)
        i, j, leaf = match.groups()
        row = self.rows[int(i)] if int(i) < len(self.rows) else self.rows[0]
        if j is not None:
            prefix = f"transfer{int(j) + 1}"
            return row, f"{prefix}_{_TRANSFER_BY_API[leaf]}" if leaf in _TRANSFER_BY_API else prefix
        if leaf in (None, "transfers"):  # the option as a whole, or its transfers' sum
            return row, "amount"
        return row, _OPTION_BY_API.get(leaf, leaf)

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def report_rows(self) -> list[RowError]:
        """The errors, plus a line for each row of a failed position that has none of its own."""
        own = {e.row for e in self.errors}
        first = min(own) if own else self.rows[0]
        return self.errors + [
            RowError(
                r, "iupd", f"not loaded: row {first} of the same position is invalid", self.iupd
            )
            for r in self.rows
            if r not in own
        ]


@dataclass
class StoredFile:
    path: Path
    size: int
    sha256: str
    file_format: str


# -- storing the upload ------------------------------------------------------------------------


def store_upload(
    stream: IO[bytes], directory: Path, file_format: str, *, max_bytes: int
) -> StoredFile:
    """Copy ``stream`` to a new file under ``directory``, a block at a time, and check that it
    starts like a bulk file. Raises UploadTooLarge or FileProblem (the file is removed)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4()}.{file_format}"
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("wb") as out:
            while block := stream.read(READ_SIZE):
                size += len(block)
                if size > max_bytes:
                    raise UploadTooLarge(f"the file is larger than {max_bytes} bytes")
                digest.update(block)
                out.write(block)
        if size == 0:
            raise FileProblem("the file is empty")
        check_start(path, file_format)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StoredFile(path, size, digest.hexdigest(), file_format)


def check_start(path: Path, file_format: str) -> None:
    """Raise FileProblem unless the file has a usable CSV header or opens a JSON array."""
    with path.open("rb") as fh:
        if file_format == "csv":
            _read_header(fh)
        else:
            _open_array(fh)


# -- reading CSV -------------------------------------------------------------------------------


@dataclass
class _Header:
    delimiter: str
    columns: list[str]
    end: int


def _skip_bom(fh: IO[bytes]) -> int:
    start = 3 if fh.read(3) == codecs.BOM_UTF8 else 0
    fh.seek(start)
    return start


def _read_header(fh: IO[bytes]) -> _Header:
    start = _skip_bom(fh)
    raw = fh.readline(64 * 1024)
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise FileProblem("the header is not UTF-8 text", row=1) from None
    delimiter = ";" if line.count(";") > line.count(",") else ","
    columns = [c.strip().lower() for c in next(csv.reader([line], delimiter=delimiter), [])]
    unknown = [c for c in columns if c not in ALL_COLUMNS]
    if unknown:
        raise FileProblem(f"unknown column(s): {', '.join(unknown[:10])}", row=1)
    if len(set(columns)) != len(columns):
        raise FileProblem("a column appears twice in the header", row=1)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise FileProblem(f"missing column(s): {', '.join(missing)}", row=1)
    return _Header(delimiter, columns, start + len(raw))


class _Lines:
    """Lines of a binary file as text, counting the bytes consumed: csv.reader pulls exactly
    the lines of one record, so after each record ``offset`` is where the next one starts."""

    def __init__(self, fh: IO[bytes], offset: int) -> None:
        self.fh, self.offset, self.bad, self.too_long = fh, offset, False, False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            raise StopIteration
        self.offset += len(line)
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            # never held whole: the rest of the line is skipped a block at a time and the row
            # reported (one row error), as an empty line for the CSV reader
            while line and not line.endswith(b"\n"):
                line = self.fh.readline(READ_SIZE)
                self.offset += len(line)
            self.too_long = True
            return "\n"
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            self.bad = True
            return line.decode("utf-8", errors="replace")


def _csv_items(path: Path, offset: int, next_row: int) -> Iterator[Item]:
    with path.open("rb") as fh:
        header = _read_header(fh)
        start = max(offset, header.end)
        fh.seek(start)
        lines = _Lines(fh, start)
        reader = csv.reader(lines, delimiter=header.delimiter)
        row = max(next_row, 2)  # the header is row 1, as in a spreadsheet
        group: list[tuple[int, dict[str, str], list[RowError]]] = []
        while True:
            before = lines.offset
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise FileProblem(f"unreadable CSV: {exc}", row=row) from None
            problems: list[RowError] = []
            if lines.bad:
                lines.bad = False
                problems.append(
                    RowError(row, "row", 'not UTF-8 text: save the file as "CSV UTF-8"')
                )
            if lines.too_long:
                lines.too_long = False
                if group:
                    yield _csv_item(group, header.delimiter, before, row)
                    group = []
                item = Item("csv", [row], None, None, lines.offset, row + 1)
                item.fail("row", f"the line is longer than {MAX_LINE_BYTES} bytes")
                yield item
                row += 1
                continue
            if not any(v.strip() for v in record):
                row += 1
                continue
            if len(record) != len(header.columns):
                problems.append(
                    RowError(
                        row, "row", f"{len(record)} fields; the header has {len(header.columns)}"
                    )
                )
            values = {
                c: v.strip() for c, v in zip(header.columns, record, strict=False) if v.strip()
            }
            iupd = values.get("iupd")
            if group and (not iupd or iupd != group[0][1].get("iupd")):
                yield _csv_item(group, header.delimiter, before, row)
                group = []
            group.append((row, values, problems))
            row += 1
        if group:
            yield _csv_item(group, header.delimiter, lines.offset, row)


def _cell(column: str, value: str, delimiter: str) -> Any:
    money = column.endswith("amount") or column == "notification_fee"
    if money and delimiter == ";" and _DECIMAL_COMMA.match(value):
        return value.replace(",", ".")  # Italian spreadsheets write 30,00
    if column.endswith("_date") and (m := _DMY.match(value)):
        return f"{m[3]}-{m[2]}-{m[1]}"
    if column.startswith("instalment_") and value.isdigit():
        return int(value)
    return value


def _csv_item(
    group: list[tuple[int, dict[str, str], list[RowError]]], delimiter: str, end: int, next_row: int
) -> Item:
    first_row, first, _ = group[0]
    iupd = first.get("iupd")
    item = Item("csv", [r for r, _, _ in group], None, iupd, end, next_row)
    body: dict[str, Any] = {
        api: first[col] for col, api in POSITION_COLUMNS.items() if col in first
    }
    options = []
    for row, values, problems in group:
        item.errors.extend(RowError(e.row, e.field, e.message, iupd) for e in problems)
        for col in POSITION_COLUMNS:
            if row != first_row and col in values and values[col] != first.get(col):
                item.errors.append(
                    RowError(
                        row,
                        col,
                        f"differs from row {first_row}, the first row of this position",
                        iupd,
                    )
                )
        option = {
            api: _cell(col, values[col], delimiter)
            for col, api in OPTION_COLUMNS.items()
            if col in values
        }
        transfers: list[dict[str, Any]] = []
        for n, columns in enumerate(_TRANSFER_CELLS, start=1):
            transfer = {
                api: _cell(name, values[column], delimiter)
                for column, name, api in columns
                if column in values
            }
            if transfer and len(transfers) != n - 1:
                item.errors.append(
                    RowError(
                        row,
                        f"transfer{n}_amount",
                        f"transfer{n} is filled but transfer{n - 1} is not",
                        iupd,
                    )
                )
            if transfer:
                transfers.append(transfer)
        option["transfers"] = transfers
        options.append(option)
    body["options"] = options
    item.payload = json.dumps(body)
    return item


# -- reading JSON ------------------------------------------------------------------------------


def _open_array(fh: IO[bytes]) -> int:
    """Skip the BOM, blanks and ``[``; return the offset of the first element."""
    start = _skip_bom(fh)
    head = fh.read(READ_SIZE)
    stripped = head.lstrip()
    if not stripped.startswith(b"["):
        raise FileProblem("a JSON bulk file is an array of debt positions: [{...}, ...]")
    return start + len(head) - len(stripped) + 1


_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*')  # up to the closing quote or a trailing \\
_STRUCTURE = re.compile(r'["\[\]{}]')
_SCALAR_END = re.compile(r"[,\]\s]")


def _skipper() -> Generator[int | None, str, None]:
    """Where one JSON element ends, fed its text a piece at a time (``send``): answers None
    for "send more" or n when the element ends n characters into the last piece. Brackets are
    counted, strings skipped: no recursion, whatever the depth."""
    skip = _skip_element()
    next(skip)
    return skip


def _skip_element() -> Generator[int | None, str, None]:
    depth, in_string, started, carry = 0, False, False, ""
    piece = yield None
    while True:
        text, i = carry + piece, 0
        offset, carry = -len(carry), ""
        end: int | None = None
        while i < len(text):
            if in_string:
                i = _STRING_REST.match(text, i).end()  # type: ignore[union-attr]
                if i >= len(text):
                    break
                if text[i] == '"':
                    in_string, i = False, i + 1
                    if depth == 0:
                        end = i
                        break
                    continue
                carry = text[i:]  # a backslash whose escaped character is in the next piece
                break
            if not started and text[i] not in '"[{':
                scalar = _SCALAR_END.search(text, i)
                if scalar is not None:
                    end = scalar.start()
                    break
                i = len(text)
                break
            started = True
            match = _STRUCTURE.search(text, i)
            if match is None:
                break
            i = match.end()
            char = match.group()
            if char == '"':
                in_string = True
            elif char in "[{":
                depth += 1
            else:
                depth -= 1
                if depth <= 0:
                    end = i
                    break
        if end is not None:
            depth, in_string, started, carry = 0, False, False, ""
        piece = yield None if end is None else end + offset


def _json_items(path: Path, offset: int, next_row: int) -> Iterator[Item]:
    decoder = json.JSONDecoder()
    with path.open("rb") as fh:
        start = _open_array(fh) if offset == 0 else offset
        fh.seek(start)
        text_decoder = codecs.getincrementaldecoder("utf-8")()
        buf, pos, base, eof = "", 0, start, False  # base: byte offset of buf[pos]
        row = max(next_row, 1)
        skip = _skipper()

        def more() -> bool:
            nonlocal buf, pos, eof
            block = fh.read(READ_SIZE)
            try:
                text = text_decoder.decode(block, final=not block)
            except UnicodeDecodeError:
                raise FileProblem("not UTF-8 text", row=row) from None
            buf, pos, eof = buf[pos:] + text, 0, not block
            return bool(block)

        while True:
            while True:  # blanks and separators up to the next element
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    base += len(buf[pos].encode())
                    pos += 1
                if pos < len(buf) or not more():
                    break
            if pos >= len(buf):
                raise FileProblem("the array is not closed with ]", row=row)
            if buf[pos] == "]":
                return
            refused = ""
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    if end == len(buf) and not eof and not isinstance(value, (dict, list)):
                        raise ValueError("a number may continue in the next block")
                    break
                except RecursionError:
                    refused = f"nested deeper than {MAX_DEPTH} levels"
                    break
                except ValueError as exc:
                    if len(buf) - pos > MAX_ELEMENT_BYTES:
                        refused = f"larger than {MAX_ELEMENT_BYTES} bytes"
                        break
                    if not more():
                        raise FileProblem(
                            f"invalid JSON in element {row}: {exc}", row=row
                        ) from None
            if refused:
                # one row error: the element is skipped, its brackets counted (no recursion,
                # no more than a block held), and the next element read as usual
                while True:
                    done = skip.send(buf[pos:])
                    if done is not None:
                        base += len(buf[pos : pos + done].encode())
                        pos += done
                        break
                    base += len(buf[pos:].encode())
                    pos = len(buf)
                    if not more():
                        raise FileProblem(f"element {row} is not closed", row=row)
                skip = _skipper()
                item = Item("json", [row], None, None, base, row + 1)
                item.fail("body", f"element {row} is {refused}: not read")
                yield item
                row += 1
                continue
            text = buf[pos:end]
            size = len(text.encode())
            base += size
            pos = end
            iupd = value.get("iupd") if isinstance(value, dict) else None
            item = Item("json", [row], text, iupd if isinstance(iupd, str) else None, base, row + 1)
            if size > MAX_ELEMENT_BYTES:
                item.payload = None
                item.fail("body", f"element {row} is larger than {MAX_ELEMENT_BYTES} bytes")
            yield item
            row += 1


def read_items(path: Path, file_format: str, offset: int = 0, next_row: int = 0) -> Iterator[Item]:
    """The positions of the file from ``offset`` on (0: the start), one Item each."""
    if file_format == "csv":
        return _csv_items(path, offset, next_row)
    return _json_items(path, offset, next_row)


# -- checking ----------------------------------------------------------------------------------


def check_item(item: Item, shape: Shape = read_position) -> None:
    """Apply the shape (the input model; a test may pass a fake) and
    hub.positions.writer.validate; on success set ``item.position``."""
    if item.payload is None:
        return
    try:
        position = shape(item.payload)
    except ShapeError as exc:
        for path, message in exc.errors:
            item.fail(path, message)
        return
    try:
        validate(position, strict_identifiers=True)
    except InvalidPosition as exc:
        item.fail(_SNAKE.sub(lambda m: m.group(1).upper(), exc.field), str(exc).split(": ", 1)[-1])
    if not item.errors:
        item.position, item.service_code = position, position.service_code


def _canonical(
    position: DebtPositionInput | DebtPosition,
    ente: Ente,
    service_id: int | None,
    notices: list[bool],
) -> tuple[Any, ...]:
    """What makes two positions the same, from the input or from the stored rows."""
    options = []
    given: Sequence[PaymentOption | OptionInput] = position.options
    for k, o in enumerate(given):
        parts: Sequence[Transfer | TransferInput] = o.transfers
        transfers = tuple(
            (
                t.amount_cents if isinstance(t, Transfer) else to_cents(t.amount),
                t.beneficiary_fiscal_code or ente.fiscal_code,
                t.iban,
                t.postal_iban,
                t.stamp_hash,
                t.stamp_type,
                t.stamp_province,
                t.remittance_information,
                t.category,
                (t.metadata_entries if isinstance(t, Transfer) else t.metadata_entries()) or None,
            )
            for t in parts
        )
        options.append(
            (
                o.amount_cents if isinstance(o, PaymentOption) else to_cents(o.amount),
                o.due_date,
                o.description,
                o.retention_date,
                o.instalment_number,
                o.instalment_count,
                o.notice_number if k < len(notices) and notices[k] else None,
                transfers,
            )
        )
    return (
        position.debtor_type,
        position.debtor_fiscal_code,
        position.debtor_name,
        position.debtor_email,
        position.debtor_street,
        position.debtor_city,
        position.debtor_postal_code,
        position.debtor_province,
        position.debtor_nation,
        position.description,
        position.service_id if isinstance(position, DebtPosition) else service_id,
        tuple(options),
    )


# PostgreSQL: one probe of the (ente_id, key) unique index per key of the chunk, planned
# afresh each time (prepare=False). A plain ``IN (...)`` lets the planner scan all the Ente's
# rows, and a prepared statement keeps the generic plan it made on the first chunks, when the
# table was small: either way each chunk costs more than the one before (quadratic over a
# file). LIMIT 1 keeps the lateral subquery from being flattened. (On a table loaded since its
# last ANALYZE the planner may still probe the ente_id index until autovacuum analyzes it.)
_PG_EXISTING_IDS = (
    "SELECT p.id FROM unnest(%(keys)s::text[]) AS u(key) CROSS JOIN LATERAL "
    "(SELECT id FROM debt_position WHERE ente_id = %(ente)s AND iupd = u.key LIMIT 1) AS p"
)
_PG_TAKEN_NOTICES = (
    "SELECT p.notice_number FROM unnest(%(keys)s::text[]) AS u(key) CROSS JOIN LATERAL "
    "(SELECT notice_number FROM payment_option WHERE ente_id = %(ente)s "
    "AND notice_number = u.key LIMIT 1) AS p"
)


def _pg_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's (PostgreSQL only); SQLAlchemy types the
    driver's connection as Any."""
    return cast(psycopg.Connection[Any], session.connection().connection.driver_connection)


def _pg_lookup(session: Session, query: str, ente: Ente, keys: list[str]) -> list[Any]:
    with _pg_connection(session).cursor() as cursor:
        cursor.execute(query, {"keys": keys, "ente": ente.id}, prepare=False)
        return [row[0] for row in cursor.fetchall()]


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _existing(session: Session, ente: Ente, iupds: list[str]) -> dict[str, DebtPosition]:
    """The Ente's positions with these IUPDs, with their options and transfers."""
    if _is_pg(session):
        ids = _pg_lookup(session, _PG_EXISTING_IDS, ente, iupds)
        if not ids:
            return {}
        where: sa.ColumnElement[bool] = DebtPosition.id.in_(ids)
    else:
        where = sa.and_(DebtPosition.ente_id == ente.id, DebtPosition.iupd.in_(iupds))
    return {
        p.iupd: p
        for p in session.scalars(
            sa.select(DebtPosition)
            .where(where)
            .options(selectinload(DebtPosition.options).selectinload(PaymentOption.transfers))
        )
    }


def _taken_notices(session: Session, ente: Ente, numbers: list[str]) -> set[str]:
    """Those of ``numbers`` the Ente already uses."""
    if _is_pg(session):
        return set(_pg_lookup(session, _PG_TAKEN_NOTICES, ente, numbers))
    return set(
        session.scalars(
            sa.select(PaymentOption.notice_number).where(
                PaymentOption.ente_id == ente.id, PaymentOption.notice_number.in_(numbers)
            )
        )
    )


def plan_chunk(
    session: Session,
    ente: Ente,
    items: list[Item],
    *,
    seen_iupds: set[str] | None = None,
    seen_notices: set[str] | None = None,
) -> None:
    """Decide, reading only, what each checked item becomes: ``created``, ``unchanged`` or
    ``failed`` (with errors). Three queries per chunk, whatever its size."""
    seen_iupds = set() if seen_iupds is None else seen_iupds
    seen_notices = set() if seen_notices is None else seen_notices
    valid = [i.position for i in items if i.position is not None]
    codes = {i.service_code for i in items if i.position is not None and i.service_code}
    services = (
        dict(
            session.execute(
                sa.select(PaymentService.code, PaymentService.id).where(
                    PaymentService.ente_id == ente.id, PaymentService.code.in_(codes)
                )
            )
            .tuples()
            .all()
        )
        if codes
        else {}
    )
    existing = _existing(session, ente, [p.iupd for p in valid]) if valid else {}
    supplied = [o.notice_number for p in valid for o in p.options if o.notice_number]
    taken = _taken_notices(session, ente, supplied) if supplied else set()
    for item in items:
        position = item.position
        if position is None:
            item.outcome = "failed"
            continue
        if item.service_code:
            item.service_id = services.get(item.service_code)
            if item.service_id is None:
                item.fail("serviceCode", f"no service {item.service_code!r} for this Ente")
        if position.iupd in seen_iupds:
            item.fail(
                "iupd",
                "this IUPD appears earlier in the file: the rows of one "
                "position must follow each other",
            )
        seen_iupds.add(position.iupd)
        if not item.errors and position.iupd in existing:
            notices = [o.notice_number is not None for o in position.options]
            old = existing[position.iupd]
            if _canonical(old, ente, None, notices) == _canonical(
                fees.with_fees(position, ente.fiscal_code), ente, item.service_id, notices
            ):
                item.outcome = "unchanged"
                continue
            item.fail(
                "iupd",
                f"a different position with this IUPD exists (status "
                f"{old.status}): change it through the API",
            )
        for k, option in enumerate(position.options):
            if option.notice_number in taken or option.notice_number in seen_notices:
                item.fail(f"options[{k}].noticeNumber", "this notice number is already used")
            if option.notice_number:
                seen_notices.add(option.notice_number)
        for where, message in fees.input_problems(position, ente.fiscal_code):
            item.fail(where, message)
        item.outcome = "failed" if item.errors else "created"


# -- writing -----------------------------------------------------------------------------------


def _build(ente: Ente, data: DebtPositionInput, service_id: int | None) -> DebtPosition:
    """The rows of a checked position whose notice numbers are all set (as create_position
    builds them, without its flush per position)."""
    notices = []
    for o in data.options:
        assert o.notice_number is not None
        notices.append((o.notice_number, o.notice_number[1:]))
    shares = [[to_cents(t.amount) for t in o.transfers] for o in data.options]
    return build_position(ente, data, service_id, notices, shares)


def _publish_before_insert(positions: list[DebtPosition], now: dt.datetime) -> None:
    """Publish positions not yet inserted: the rows are this transaction's own (no one else
    can see them, so no lock), so they are inserted payable at once instead of inserted then
    updated one by one; the machine is asked once (hub.payments.next_states)."""
    options = [o for p in positions for o in p.options]
    after = payments.next_states("publish", {o.status for o in options}, now)
    for option in options:
        option.status = after[option.status]
    for position in positions:
        position.published_at = now
        position.status = derive_status(position.options)


# COPY column lists, in table order: every column is written (COPY applies no Python-side
# default; state_transition.id comes from its serial), which _check_copy_columns verifies
# against the models at import.
_POSITION_COPY = (
    "id",
    "ente_id",
    "service_id",
    "iupd",
    "debtor_type",
    "debtor_fiscal_code",
    "debtor_name",
    "debtor_street",
    "debtor_civic_number",
    "debtor_postal_code",
    "debtor_city",
    "debtor_province",
    "debtor_nation",
    "debtor_email",
    "description",
    "valid_from",
    "due_date",
    "status",
    "version",
    "created_at",
    "updated_at",
    "published_at",
    "bulk_load_id",
)
_OPTION_COPY = (
    "id",
    "position_id",
    "ente_id",
    "notice_number",
    "iuv",
    "amount_cents",
    "description",
    "due_date",
    "retention_date",
    "instalment_number",
    "instalment_count",
    "status",
    "version",
    "activation_expires_at",
    "paid_cents",
    "paid_at",
    "created_at",
)
_TRANSFER_COPY = (
    "id",
    "option_id",
    "id_transfer",
    "beneficiary_fiscal_code",
    "iban",
    "postal_iban",
    "stamp_type",
    "stamp_hash",
    "stamp_province",
    "amount_cents",
    "remittance_information",
    "category",
    "metadata",
)


def _check_copy_columns() -> None:
    for model, columns in (
        (DebtPosition, _POSITION_COPY),
        (PaymentOption, _OPTION_COPY),
        (Transfer, _TRANSFER_COPY),
    ):
        names = tuple(c.name for c in model.__table__.columns)
        if names != columns:
            raise RuntimeError(
                f"hub.positions.bulk's COPY columns of {model.__tablename__} are stale: {names}"
            )


_check_copy_columns()

_PG_NEXT_IDS = sa.text(
    "SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('debt_position', 'id')) "
    "FROM generate_series(1, :positions)), "
    "ARRAY(SELECT nextval(pg_get_serial_sequence('payment_option', 'id')) "
    "FROM generate_series(1, :options)), "
    "ARRAY(SELECT nextval(pg_get_serial_sequence('transfer', 'id')) "
    "FROM generate_series(1, :transfers))"
)


def _copy(
    cursor: psycopg.Cursor[Any], table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_pg(
    session: Session,
    ente: Ente,
    creates: list[tuple[Item, DebtPositionInput]],
    publish: bool,
    cause: str,
    bulk_load_id: int | None = None,
) -> None:
    """The same rows as _build (+ _publish_before_insert and the recorded transitions),
    written with one COPY per table whose ids come from the sequences in one query: no
    RETURNING, no ORM unit of work, no statement per row. PostgreSQL only; elsewhere the ORM
    path is used."""
    now = utcnow()
    stamp = now.astimezone(dt.UTC).replace(tzinfo=None)  # as UTCDateTime stores it
    status: str = INITIAL_STATE
    if publish:  # every option starts in the same state: one answer of the machine for all
        status = payments.next_states("publish", [status], now)[status]
    published_at = stamp if publish else None
    count_options = sum(len(p.options) for _, p in creates)
    count_transfers = sum(len(o.transfers) for _, p in creates for o in p.options)
    id_lists = session.execute(
        _PG_NEXT_IDS,
        {"positions": len(creates), "options": count_options, "transfers": count_transfers},
    ).one()
    position_ids, option_ids, transfer_ids = (iter(ids) for ids in id_lists)
    positions: list[tuple[Any, ...]] = []
    options: list[tuple[Any, ...]] = []
    transfers: list[tuple[Any, ...]] = []
    changes: list[payments.Change] = []
    ente_id, ente_code = ente.id, ente.fiscal_code
    for item, data in creates:
        position_id = next(position_ids)
        positions.append(
            (
                position_id,
                ente_id,
                item.service_id,
                data.iupd,
                data.debtor_type,
                data.debtor_fiscal_code,
                data.debtor_name,
                data.debtor_street,
                None,
                data.debtor_postal_code,
                data.debtor_city,
                data.debtor_province,
                data.debtor_nation,
                data.debtor_email,
                data.description,
                None,
                min(o.due_date for o in data.options),
                derive_status(
                    [
                        SimpleNamespace(status=status, instalment_count=o.instalment_count)
                        for o in data.options
                    ]
                ),
                1,
                stamp,
                stamp,
                published_at,
                bulk_load_id,
            )
        )
        for o in data.options:
            assert o.notice_number is not None
            option_id = next(option_ids)
            cents = [to_cents(t.amount) for t in o.transfers]
            options.append(
                (
                    option_id,
                    position_id,
                    ente_id,
                    o.notice_number,
                    o.notice_number[1:],
                    sum(cents),
                    o.description,
                    o.due_date,
                    o.retention_date,
                    o.instalment_number,
                    o.instalment_count,
                    status,
                    1,
                    None,
                    0,
                    None,
                    stamp,
                )
            )
            for n, (t, amount) in enumerate(zip(o.transfers, cents, strict=True), 1):
                transfers.append(
                    (
                        next(transfer_ids),
                        option_id,
                        n,
                        t.beneficiary_fiscal_code or ente_code,
                        t.iban,
                        t.postal_iban,
                        t.stamp_type,
                        t.stamp_hash,
                        t.stamp_province,
                        amount,
                        t.remittance_information,
                        t.category,
                        None if t.metadata is None else Jsonb(t.metadata_entries()),
                    )
                )
            if publish:
                changes.append((option_id, INITIAL_STATE, status))
    cursor = _pg_connection(session).cursor()
    try:
        _copy(cursor, "debt_position", _POSITION_COPY, positions)
        _copy(cursor, "payment_option", _OPTION_COPY, options)
        if transfers:
            _copy(cursor, "transfer", _TRANSFER_COPY, transfers)
    finally:
        cursor.close()
    if changes:
        payments.record_transitions(session, changes, "publish", cause=cause, now=now)
    session.flush()  # the outbox rows


def write_chunk(
    session: Session,
    ente: Ente,
    items: list[Item],
    *,
    publish: bool,
    cause: str,
    bulk_load_id: int | None = None,
) -> None:
    """Create the positions planned as ``created``: notice numbers in one allocation, all of
    them in one savepoint, or one savepoint each if the database refuses the lot."""
    creates = [(i, i.position) for i in items if i.outcome == "created" and i.position is not None]
    if not creates:
        return
    missing = [o for _, p in creates for o in p.options if o.notice_number is None]
    if missing:
        for option, number in zip(
            missing, allocate_notice_numbers(session, ente, len(missing)), strict=True
        ):
            option.notice_number = number.value
    try:
        with session.begin_nested():
            if _is_pg(session):
                _insert_pg(session, ente, creates, publish, cause, bulk_load_id)
                return
            positions = [_build(ente, p, i.service_id) for i, p in creates]
            for position in positions:
                position.bulk_load_id = bulk_load_id
            now = utcnow()
            if publish:
                _publish_before_insert(positions, now)
            session.add_all(positions)
            session.flush()
            if publish:
                payments.record_transitions(
                    session,
                    [(o.id, INITIAL_STATE, o.status) for p in positions for o in p.options],
                    "publish",
                    cause=cause,
                    now=now,
                )
                session.flush()
        return
    except (IntegrityError, DataError, psycopg.IntegrityError, psycopg.DataError):
        pass  # someone else took an IUPD or a number meanwhile, or a value is too long
    for item, data in creates:
        try:
            with session.begin_nested():
                created = create_position(
                    session,
                    ente,
                    data,
                    service_id=item.service_id,
                    publish=publish,
                    cause=cause,
                    strict_identifiers=True,
                )
                created.bulk_load_id = bulk_load_id
        except (IntegrityError, DataError) as exc:
            reason = (
                "IUPD or notice number already used"
                if isinstance(exc, IntegrityError)
                else "a value does not fit the database"
            )
            item.fail("iupd", f"not stored: {reason}")
            item.outcome = "failed"
        except DomainError as exc:
            item.fail("iupd", str(exc))
            item.outcome = "failed"


# -- loads -------------------------------------------------------------------------------------


def create_load(
    session: Session, ente: Ente, stored: StoredFile, *, publish: bool, cause: str
) -> BulkLoad:
    """Record a stored upload and write the first chunk's message (sent after commit)."""
    load = BulkLoad(
        public_id=str(uuid.uuid4()),
        ente_id=ente.id,
        file_format=stored.file_format,
        file_path=str(stored.path),
        file_bytes=stored.size,
        sha256=stored.sha256,
        publish=publish,
        cause=cause[:200],
        status=BulkLoadStatus.PENDING,
        offset=0,
        next_row=0,
        rows_done=0,
        rows_failed=0,
        positions_created=0,
        positions_unchanged=0,
        positions_failed=0,
    )
    session.add(load)
    session.flush()
    outbox.enqueue(session, ACTOR, load_id=load.id)
    return load


def create_dry_run(session: Session, ente: Ente, stored: StoredFile, *, cause: str) -> BulkLoad:
    """A dry run too big to answer at once: recorded as a load whose cause starts with
    ``DRY_RUN_CAUSE`` and checked by the worker (``run_chunk``), nothing written but its
    counts and first errors, read at the load's status and report."""
    return create_load(session, ente, stored, publish=False, cause=DRY_RUN_CAUSE + cause)


def is_dry_run(load: BulkLoad) -> bool:
    return load.cause.startswith(DRY_RUN_CAUSE)


def _run_dry(session: Session, load: BulkLoad, ente: Ente, shape: Shape, max_errors: int) -> None:
    """The whole dry run in one message (reading only; a redelivered one starts again)."""
    try:
        result = dry_run(
            session,
            ente,
            Path(load.file_path),
            load.file_format,
            shape=shape,
            max_errors=max_errors,
        )
    except FileProblem as exc:  # the start of the file: nothing else was read
        result = DryRun(max_errors=max_errors)
        result.add_errors([RowError(exc.row, "file", str(exc))])
    _insert_errors(session, load, result.errors)
    load.rows_done, load.rows_failed = result.rows, result.rows_failed
    load.positions_created = result.positions_valid  # would be created
    load.positions_unchanged, load.positions_failed = (
        result.positions_unchanged,
        result.positions_failed,
    )
    if result.errors_total > len(result.errors):
        load.error = (
            f"{result.errors_total} errors; the report lists the first {len(result.errors)}"
        )
    load.status, load.finished_at, load.offset = BulkLoadStatus.DONE, utcnow(), load.file_bytes
    remove_file(load.file_path)


def get_load(session: Session, ente: Ente, public_id: str) -> BulkLoad:
    load = session.scalar(
        sa.select(BulkLoad).where(BulkLoad.public_id == public_id, BulkLoad.ente_id == ente.id)
    )
    if load is None:
        raise NotFound(f"no bulk load {public_id}")
    return load


def _take(items: Iterator[Item], rows: int) -> tuple[list[Item], bool, FileProblem | None]:
    """About ``rows`` rows' worth of items (never half a position), whether the file ended,
    and the problem that stopped the reading, if one did."""
    taken: list[Item] = []
    count = 0
    try:
        for item in items:
            taken.append(item)
            count += len(item.rows)
            if count >= rows:
                return taken, False, None
    except FileProblem as exc:
        return taken, True, exc
    return taken, True, None


def run_chunk(
    session: Session,
    load_id: int,
    *,
    chunk_rows: int | None = None,
    shape: Shape = read_position,
    max_errors: int = DRY_RUN_MAX_ERRORS,
) -> bool:
    """Load the next chunk of ``load_id`` in the caller's transaction, with its checkpoint and
    its report rows; True if more remain (and a message for them was written). A dry run
    (``is_dry_run``) is checked whole, keeping its first ``max_errors`` errors."""
    load = session.scalar(sa.select(BulkLoad).where(BulkLoad.id == load_id).with_for_update())
    if load is None or load.status in (BulkLoadStatus.DONE, BulkLoadStatus.FAILED):
        return False
    ente = session.get(Ente, load.ente_id)
    assert ente is not None
    if is_dry_run(load):
        _run_dry(session, load, ente, shape, max_errors)
        return False
    reader = read_items(Path(load.file_path), load.file_format, load.offset, load.next_row)
    try:
        items, ended, problem = _take(reader, chunk_rows or CHUNK_ROWS)
    finally:
        reader.close()  # type: ignore[attr-defined]
    for item in items:
        check_item(item, shape)
    plan_chunk(session, ente, items)
    write_chunk(
        session,
        ente,
        items,
        publish=load.publish,
        cause=f"bulk:{load.public_id}",
        bulk_load_id=load.id,
    )
    apply_notification_fees(session, ente, items)
    _record(session, load, items)
    if problem is not None:
        session.add(
            BulkLoadError(
                load_id=load.id, row=problem.row, field="file", message=str(problem)[:500]
            )
        )
        load.status, load.error, load.finished_at = (
            BulkLoadStatus.FAILED,
            str(problem)[:500],
            utcnow(),
        )
        return False
    if ended:
        load.status, load.finished_at = BulkLoadStatus.DONE, utcnow()
        load.offset = load.file_bytes  # past trailing blanks and the closing ]
        return False
    load.status = BulkLoadStatus.RUNNING
    outbox.enqueue(session, ACTOR, load_id=load.id)
    return True


def _record(session: Session, load: BulkLoad, items: list[Item]) -> None:
    _insert_errors(
        session, load, [e for i in items if i.outcome == "failed" for e in i.report_rows()]
    )
    for item in items:
        load.rows_done += len(item.rows)
        if item.outcome == "failed":
            load.rows_failed += len(item.rows)
            load.positions_failed += 1
        elif item.outcome == "created":
            load.positions_created += 1
        else:
            load.positions_unchanged += 1
    if items:
        load.offset, load.next_row = items[-1].end, items[-1].next_row


def _insert_errors(session: Session, load: BulkLoad, errors: list[RowError]) -> None:
    """The report rows of ``errors``, in one statement."""
    if errors:
        session.execute(
            sa.insert(BulkLoadError),
            [
                {
                    "load_id": load.id,
                    "row": e.row,
                    "iupd": e.iupd and e.iupd[:64],
                    "field": e.field[:100],
                    "message": e.message[:500],
                }
                for e in errors
            ],
        )


def mark_failed(session: Session, load_id: int, error: str) -> None:
    session.execute(
        sa.update(BulkLoad)
        .where(BulkLoad.id == load_id)
        .values(
            status=BulkLoadStatus.FAILED,
            error=error[:500],
            finished_at=utcnow(),
            updated_at=utcnow(),
        )
    )


def resume_unfinished(session: Session) -> int:
    """Write a message for every pending or running load (after a broker lost its queue); an
    extra message for a load that is running only waits on its row lock. Returns how many."""
    ids = list(
        session.scalars(
            sa.select(BulkLoad.id).where(
                BulkLoad.status.in_((BulkLoadStatus.PENDING, BulkLoadStatus.RUNNING))
            )
        )
    )
    for load_id in ids:
        outbox.enqueue(session, ACTOR, load_id=load_id)
    return len(ids)


@dataclass
class DryRun:
    rows: int = 0
    rows_failed: int = 0
    positions_valid: int = 0  # would be created
    positions_unchanged: int = 0
    positions_failed: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first ``max_errors``
    errors_total: int = 0  # all of them
    max_errors: int = DRY_RUN_MAX_ERRORS

    def add_errors(self, errors: list[RowError]) -> None:
        """Count every error, keep the first ``max_errors``: a file of 300k bad rows is
        answered with a thousand of them and the total, not 30 MB."""
        self.errors_total += len(errors)
        room = self.max_errors - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])


def dry_run(
    session: Session,
    ente: Ente,
    path: Path,
    file_format: str,
    *,
    chunk_rows: int | None = None,
    shape: Shape = read_position,
    max_errors: int = DRY_RUN_MAX_ERRORS,
) -> DryRun:
    """Check every row as a load would, chunk by chunk, reading the database only; the
    first ``max_errors`` errors are kept, all are counted."""
    result = DryRun(max_errors=max_errors)
    seen_iupds: set[str] = set()
    seen_notices: set[str] = set()
    reader = read_items(path, file_format)
    try:
        while True:
            items, ended, problem = _take(reader, chunk_rows or CHUNK_ROWS)
            for item in items:
                check_item(item, shape)
            plan_chunk(session, ente, items, seen_iupds=seen_iupds, seen_notices=seen_notices)
            for item in items:
                result.rows += len(item.rows)
                if item.outcome == "failed":
                    result.rows_failed += len(item.rows)
                    result.positions_failed += 1
                    result.add_errors(item.report_rows())
                elif item.outcome == "created":
                    result.positions_valid += 1
                else:
                    result.positions_unchanged += 1
            if problem is not None:
                result.add_errors([RowError(problem.row, "file", str(problem))])
            if ended:
                break
    finally:
        reader.close()  # type: ignore[attr-defined]
    return result


REPORT_HEADER = ["row", "iupd", "field", "message"]


def write_report(session: Session, load: BulkLoad, out: IO[str]) -> None:
    """The failed rows as CSV, in row order, a thousand at a time."""
    writer = csvsafe.writer(out)  # rows as sent: a formula stays text
    writer.writerow(REPORT_HEADER)
    last = (-1, -1)
    while True:
        rows = session.execute(
            sa.select(
                BulkLoadError.row,
                BulkLoadError.id,
                BulkLoadError.iupd,
                BulkLoadError.field,
                BulkLoadError.message,
            )
            .where(
                BulkLoadError.load_id == load.id,
                sa.tuple_(BulkLoadError.row, BulkLoadError.id) > sa.tuple_(*last),
            )
            .order_by(BulkLoadError.row, BulkLoadError.id)
            .limit(1000)
        ).all()
        if not rows:
            return
        for row, _id, iupd, name, message in rows:
            writer.writerow([row, iupd or "", name, message])
        last = (rows[-1][0], rows[-1][1])


def status_json(load: BulkLoad) -> dict[str, Any]:
    return {
        "id": load.public_id,
        "dryRun": is_dry_run(load),
        "status": load.status.value,
        "format": load.file_format,
        "publish": load.publish,
        "fileBytes": load.file_bytes,
        "bytesDone": load.offset,
        "sha256": load.sha256,
        "rowsDone": load.rows_done,
        "rowsFailed": load.rows_failed,
        "positionsCreated": load.positions_created,
        "positionsUnchanged": load.positions_unchanged,
        "positionsFailed": load.positions_failed,
        "error": load.error,
        "createdAt": load.created_at.isoformat() if load.created_at else None,
        "finishedAt": load.finished_at.isoformat() if load.finished_at else None,
    }


def remove_file(path: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# -- SEND notification fees (issue 20) ----------------------------------------------------------
# Kept apart from the set-based writing above: the positions are written without the fees (the
# amounts the file gives), then each option whose row gives ``notification_fee`` gets it set as
# /api/v1 does (hub.positions.fees: amount and the Ente's own transfer). Setting a fee is
# idempotent, so positions the per-position fallback wrote through create_position (which
# applies the fees itself) are not charged twice.


def apply_notification_fees(session: Session, ente: Ente, items: list[Item]) -> None:
    """Set the fees the file gives on the options of the positions just created."""
    given = {
        (o.notice_number or ""): o
        for i in items
        if i.outcome == "created" and i.position is not None
        for o in i.position.options
        if o.notification_fee is not None
    }
    if not given:
        return
    options = session.scalars(
        sa.select(PaymentOption).where(
            PaymentOption.ente_id == ente.id, PaymentOption.notice_number.in_(given)
        )
    ).all()
    fees.apply_given(session, [(o, given[o.notice_number]) for o in options])
