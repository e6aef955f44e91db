"""The daily file's content, record layout DF01, written as a zip streamed to disk.

Members, in this order (every timestamp inside the zip is the business day at 00:00, every
member deflated with the same level, so the same payments give the same bytes):

- ``PAGAMENTI_<ente>_<service>_<yyyymmdd>.txt``: one header record ``H``, one detail record
  ``D`` per payment, one trailer ``T``; fields separated by ``|`` (a ``|``, tab or line break
  inside a value becomes a space), UTF-8 without BOM, CRLF line ends; amounts in euro cents.
  See :data:`DETAIL_FIELDS` (and docs/operators/daily-file.md).
- ``RT/<line>_<IUV>.xml``: each receipt exactly as pagoPA sent it (paSendRT or paSendRTV2), the
  ``<line>`` being its detail record's line number; ``RT/<line>_<IUV>.json`` for a receipt
  recovered from pagoPA's receipts service, which comes as JSON and is kept as it came.
- ``RICEVUTE_<ente>_<service>_<yyyymmdd>.csv``: receipt file <-> detail line, the dashboard
  exports' dialect (hub.csvsafe: UTF-8 with BOM, ``;``, decimal comma).
- ``RIMBORSI_<ente>_<service>_<yyyymmdd>.txt``, only when refund cases took a step that day
  (hub.dailyfile.refunds): the same header ``H``, one record ``R`` per step
  (:data:`REFUND_FIELDS`), a trailer ``T`` with their count; same conventions as the .txt.
- ``manifest.json``: layout, Ente, service, day, version, counts, total, and each member's size
  and SHA-256.

A **test file** (the test receipts of an Ente or service active in test only, hub.dailyfile.files)
says so three times: ``_TEST`` after the day in the zip's and the members' names
(:data:`TEST_MARKER`), an eighth header field ``TEST``, and ``"test": true`` in the manifest. A
real file has none of them: its bytes are those it had before test files existed.

Nothing here holds more than one row in memory: the .txt and .csv go to temporary files on the
way (the zip takes one member at a time), the receipts are read back by id in chunks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hub import csvsafe
from hub.clock import ROME
from hub.dailyfile.refunds import RefundStep

LAYOUT = "DF01"
TEST_MARKER = "TEST"  # in a test file's names (after the day) and its header's last field
COMPRESSION = zipfile.ZIP_DEFLATED
CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SEPARATORS = re.compile(r"[|\r\n\t]")

# the detail record's fields, in order: (name, content); docs/operators/daily-file.md's table
DETAIL_FIELDS: tuple[tuple[str, str], ...] = (
    ("tipo_record", "D"),
    ("riga", "line number, 1..n"),
    ("iuv", "IUV (creditorReferenceId)"),
    ("numero_avviso", "notice number (18 digits)"),
    ("id_posizione", "debt position id given by the Ente (IUPD); empty if unknown"),
    ("rata", "instalment number; empty for a single payment"),
    ("rate_totali", "number of instalments; empty for a single payment"),
    ("cf_debitore", "debtor's fiscal code"),
    ("cf_pagatore", "payer's fiscal code (empty if pagoPA sent none)"),
    ("importo_centesimi", "amount paid, euro cents"),
    ("commissione_centesimi", "PSP fee, euro cents; empty if unknown"),
    ("data_pagamento", "payment date and time, Europe/Rome, ISO 8601 with offset"),
    ("id_ricevuta", "receiptId (IUR), the payment's identifier from pagoPA"),
    ("id_psp", "PSP code"),
    ("psp", "PSP name"),
    ("metodo", "payment method"),
    ("causale", "description (remittance information)"),
    ("file_ricevuta", "the receipt's member in the zip (RT/...xml; .json if recovered)"),
    ("versione_rt", "1 = paSendRT, 2 = paSendRTV2"),
)
# the refund record's fields, in order: docs/operators/daily-file.md's table
REFUND_FIELDS: tuple[tuple[str, str], ...] = (
    ("tipo_record", "R"),
    ("riga", "line number, 1..n"),
    ("id_caso", "refund case id (UUID), the same in the dashboard and the webhooks"),
    ("passo", "the step: opened, awaiting_decision, approved, ordered, refunded, rejected"),
    ("data_passo", "the step's date and time, Europe/Rome, ISO 8601 with offset"),
    (
        "motivo",
        "double_payment, amount_mismatch, paid_after_cancel, paid_after_expiry, citizen_request",
    ),
    ("numero_avviso", "notice number of the payment to refund; empty if unknown"),
    ("iuv", "its IUV; empty if unknown"),
    ("id_ricevuta", "receiptId (IUR) of the payment to refund; empty if none"),
    ("importo_centesimi", "amount to refund as of this step, euro cents"),
    (
        "iban_beneficiario",
        "payer's IBAN, masked (country, check digits, last four), on "
        "ordered and refunded; empty otherwise",
    ),
    ("riferimento_bancario", "the bank's reference of the transfer, on refunded"),
    ("motivo_rifiuto", "why the case was rejected, on rejected"),
)
CSV_HEADER = (
    "riga",
    "file_ricevuta",
    "iuv",
    "numero_avviso",
    "id_ricevuta",
    "importo",
    "data_pagamento",
    "cf_pagatore",
    "cf_debitore",
    "servizio",
    "versione_rt",
)


@dataclass(frozen=True)
class FileHeader:
    ente_fiscal_code: str
    ente_name: str
    service_code: str
    business_date: dt.date
    version: int
    test: bool = False  # the test receipts of an Ente or service active in test only

    @property
    def stem(self) -> str:
        stem = f"{self.ente_fiscal_code}_{safe(self.service_code)}_{self.business_date:%Y%m%d}"
        return f"{stem}_{TEST_MARKER}" if self.test else stem


@dataclass(frozen=True)
class Payment:
    """One detail record's data (a receipt, with its position when the notice is known)."""

    receipt_pk: int
    receipt_id: str
    iuv: str
    notice_number: str
    iupd: str | None
    instalment_number: int | None
    instalment_count: int | None
    debtor_fiscal_code: str | None
    payer_fiscal_code: str | None
    amount_cents: int
    fee_cents: int | None
    paid_at: dt.datetime
    psp_id: str | None
    psp_name: str | None
    payment_method: str | None
    description: str | None
    primitive_version: int
    is_json: bool = False  # recovered from pagoPA's receipts service: JSON, not XML

    @property
    def extension(self) -> str:
        return "json" if self.is_json else "xml"


@dataclass(frozen=True)
class Built:
    sha256: str
    size: int
    payments: int
    total_cents: int
    members: int


def safe(text: str, limit: int = 35) -> str:
    """A piece of a file name: letters, digits, ``_`` and ``-`` only."""
    return _UNSAFE.sub("_", text)[:limit] or "_"


def receipt_member(line: int, iuv: str, extension: str = "xml") -> str:
    return f"RT/{line:06d}_{safe(iuv)}.{extension}"


def euro(cents: int) -> str:
    """Cents with a decimal comma, as Italian spreadsheets read them: ``-12,50``."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole},{part:02d}"


def _field(value: object) -> str:
    if value is None:
        return ""
    return _SEPARATORS.sub(" ", str(value)).strip()


def _record(values: Iterable[object]) -> bytes:
    return ("|".join(_field(v) for v in values) + "\r\n").encode("utf-8")


def rome(moment: dt.datetime) -> str:
    return moment.astimezone(ROME).isoformat(timespec="seconds")


def header_record(header: FileHeader) -> tuple[object, ...]:
    """The ``H`` record that opens both .txt members (payments and refunds); a test file's
    has an eighth field, ``TEST`` (a field added at the end: a real file's header is as it
    always was)."""
    record: tuple[object, ...] = (
        "H",
        LAYOUT,
        header.ente_fiscal_code,
        header.ente_name,
        header.service_code,
        f"{header.business_date:%Y-%m-%d}",
        header.version,
    )
    return (*record, TEST_MARKER) if header.test else record


def detail(line: int, p: Payment) -> tuple[object, ...]:
    return (
        "D",
        line,
        p.iuv,
        p.notice_number,
        p.iupd,
        p.instalment_number,
        p.instalment_count,
        p.debtor_fiscal_code,
        p.payer_fiscal_code,
        p.amount_cents,
        p.fee_cents,
        rome(p.paid_at),
        p.receipt_id,
        p.psp_id,
        p.psp_name,
        p.payment_method,
        p.description,
        receipt_member(line, p.iuv, p.extension),
        p.primitive_version,
    )


def refund_record(line: int, r: RefundStep) -> tuple[object, ...]:
    return (
        "R",
        line,
        r.case_id,
        r.step,
        rome(r.at),
        r.reason,
        r.notice_number,
        r.iuv,
        r.receipt_id,
        r.amount_cents,
        r.iban,
        r.bank_reference,
        r.rejection_reason,
    )


def _refunds_txt(header: FileHeader, steps: Iterable[RefundStep]) -> tuple[bytes, int]:
    """The refunds member's bytes and its number of records (0: no member)."""
    records = [_record(refund_record(n, r)) for n, r in enumerate(steps, start=1)]
    if not records:
        return b"", 0
    head = _record(header_record(header))
    return head + b"".join(records) + _record(("T", len(records))), len(records)


def write_zip(
    target: Path,
    header: FileHeader,
    payments: Iterable[Payment],
    receipts_xml: Callable[[Iterable[int]], Iterator[tuple[int, str]]],
    refund_steps: Iterable[RefundStep] = (),
) -> Built:
    """Write the zip to ``target`` (through a temporary file beside it, renamed at the end).

    ``payments`` is iterated once, in file order; ``receipts_xml(ids)`` gives back
    ``(receipt_pk, raw_xml)`` for those ids, in the order asked; ``refund_steps`` (the day's
    steps of refund cases, in order) make the refunds member when there are any."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = (header.business_date.year, header.business_date.month, header.business_date.day)
    date_time = (*stamp, 0, 0, 0)
    stem = header.stem
    txt_name, csv_name = f"PAGAMENTI_{stem}.txt", f"RICEVUTE_{stem}.csv"
    refunds_txt, refunds = _refunds_txt(header, refund_steps)
    ids = array("q")
    count = total = 0
    with (
        tempfile.TemporaryFile(dir=target.parent) as txt,
        tempfile.TemporaryFile(dir=target.parent) as csv_bytes,
        tempfile.TemporaryFile(dir=target.parent) as member_names,
    ):
        txt.write(_record(header_record(header)))
        csv_text = io.TextIOWrapper(csv_bytes, encoding="utf-8-sig", newline="")
        csv_out = csvsafe.writer(csv_text, spreadsheet=True)
        csv_out.writerow(CSV_HEADER)
        for p in payments:
            count += 1
            total += p.amount_cents
            ids.append(p.receipt_pk)
            member = receipt_member(count, p.iuv, p.extension)
            member_names.write(member.encode() + b"\n")
            txt.write(_record(detail(count, p)))
            csv_out.writerow(
                (
                    count,
                    member,
                    p.iuv,
                    p.notice_number,
                    p.receipt_id,
                    euro(p.amount_cents),
                    rome(p.paid_at),
                    p.payer_fiscal_code,
                    p.debtor_fiscal_code,
                    header.service_code,
                    p.primitive_version,
                )
            )
        txt.write(_record(("T", count, total)))
        csv_text.flush()
        csv_text.detach()
        partial = target.with_name(f".{target.name}.part")
        with (
            open(partial, "wb") as raw,
            tempfile.TemporaryFile(dir=target.parent) as directory_spool,
            spooled_zip(raw, directory_spool) as zf,
            tempfile.TemporaryFile(dir=target.parent) as listing,
        ):
            for name, source in ((txt_name, txt), (csv_name, csv_bytes)):
                source.seek(0)
                size, digest = _copy_member(zf, name, date_time, source)
                listing.write(_member_line(name, size, digest))
            if refunds:
                name = f"RIMBORSI_{stem}.txt"
                size, digest = _copy_member(zf, name, date_time, io.BytesIO(refunds_txt))
                listing.write(_member_line(name, size, digest))
            member_names.seek(0)
            line = 0
            for receipt_pk, xml in receipts_xml(ids):
                line += 1
                member = member_names.readline().decode().rstrip("\n")
                if receipt_pk != ids[line - 1]:
                    raise RuntimeError("receipts came back out of order")
                size, digest = _copy_member(zf, member, date_time, io.BytesIO(xml.encode()))
                listing.write(_member_line(member, size, digest))
            if line != count:
                raise RuntimeError(f"{count - line} receipts missing from the database")
            listing.seek(0)
            with _manifest(header, count, total, listing, refunds) as manifest:
                _copy_member(zf, "manifest.json", date_time, manifest)
        whole = hashlib.sha256()
        with open(partial, "rb") as done:
            for block in iter(lambda: done.read(CHUNK), b""):
                whole.update(block)
        size = partial.stat().st_size
        os.replace(partial, target)
    return Built(whole.hexdigest(), size, count, total, count + 3 + (1 if refunds else 0))


class _SpooledEntries:
    """A ZipFile's ``filelist`` kept in a temporary file rather than in memory.

    zipfile keeps a ZipInfo per member until it writes the central directory at the end
    (some 400 bytes each: 40 MB for 100,000 receipts). Here each finished member's entry is
    written to ``spool`` as one JSON line, and read back, one at a time, when the central
    directory is written: the zip's bytes are those zipfile would write (tested), the memory
    stays flat whatever the number of receipts.
    """

    FIELDS = (
        "filename",
        "date_time",
        "compress_type",
        "create_system",
        "create_version",
        "extract_version",
        "reserved",
        "flag_bits",
        "volume",
        "internal_attr",
        "external_attr",
        "header_offset",
        "CRC",
        "compress_size",
        "file_size",
    )

    def __init__(self, spool: IO[bytes]) -> None:
        self._spool = spool
        self._count = 0

    def append(self, info: zipfile.ZipInfo) -> None:
        row = [getattr(info, name) for name in self.FIELDS]
        row += [info.extra.hex(), info.comment.hex()]
        self._spool.write(json.dumps(row).encode() + b"\n")
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[zipfile.ZipInfo]:
        self._spool.flush()
        end = self._spool.tell()
        self._spool.seek(0)
        try:
            while self._spool.tell() < end:
                *values, extra, comment = json.loads(self._spool.readline())
                info = zipfile.ZipInfo(values[0], date_time=tuple(values[1]))
                for name, value in zip(self.FIELDS[2:], values[2:], strict=True):
                    setattr(info, name, value)
                info.extra, info.comment = bytes.fromhex(extra), bytes.fromhex(comment)
                yield info
        finally:
            self._spool.seek(end)


class _NoIndex(dict):  # type: ignore[type-arg]
    """``NameToInfo`` that keeps nothing (member names are unique by construction)."""

    def __setitem__(self, key: object, value: object) -> None:
        pass


def spooled_zip(raw: IO[bytes], spool: IO[bytes]) -> zipfile.ZipFile:
    """A ZipFile for writing whose central directory waits on disk (_SpooledEntries)."""
    zf = zipfile.ZipFile(raw, "w", allowZip64=True)
    zf.filelist = _SpooledEntries(spool)  # type: ignore[assignment]
    zf.NameToInfo = _NoIndex()
    return zf


def _member_line(name: str, size: int, digest: str) -> bytes:
    return json.dumps({"name": name, "size": size, "sha256": digest}).encode() + b"\n"


def _manifest(
    header: FileHeader, count: int, total: int, listing: IO[bytes], refunds: int = 0
) -> IO[bytes]:
    """The manifest as a stream: its member list is copied line by line from ``listing``.
    ``refund_steps`` is there only when the refunds member is (a file without refunds keeps
    the bytes it had before refunds were listed), ``test`` only in a test file."""
    head: dict[str, object] = {
        "layout": LAYOUT,
        "ente": header.ente_fiscal_code,
        "service": header.service_code,
        "business_date": f"{header.business_date:%Y-%m-%d}",
        "version": header.version,
    }
    if header.test:
        head["test"] = True
    head |= {
        "payments": count,
        "receipts": count,
        "total_cents": total,
        "total": euro(total),
    }
    if refunds:
        head["refund_steps"] = refunds
    out = tempfile.TemporaryFile()  # noqa: SIM115  (the caller closes it)
    out.write(json.dumps(head, indent=1)[:-2].encode() + b',\n "members": [\n')
    first = True
    for row in listing:
        out.write((b"" if first else b",\n") + b"  " + row.rstrip(b"\n"))
        first = False
    out.write(b"\n ]\n}\n")
    out.seek(0)
    return out


def _copy_member(
    zf: zipfile.ZipFile,
    name: str,
    date_time: tuple[int, ...],
    source: IO[bytes],
    *,
    large: bool = True,
) -> tuple[int, str]:
    info = zipfile.ZipInfo(name, date_time=date_time)  # type: ignore[arg-type]
    info.compress_type = COMPRESSION
    info.create_system = 3
    info.external_attr = 0o100644 << 16
    digest, size = hashlib.sha256(), 0
    # a member of unknown size may pass 4 GiB: its header makes room for 64-bit sizes
    with zf.open(info, "w", force_zip64=large) as member:
        for block in iter(lambda: source.read(CHUNK), b""):
            member.write(block)
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def read_manifest(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("manifest.json"))
