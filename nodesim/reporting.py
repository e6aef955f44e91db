"""End of a simulated day: per PSP and EC a FlussoRiversamento 1.0.4, and the bank's credit.

Flows list what each PSP collected that day, one entry per transfer to that EC
(identificativoUnivocoRiscossione = receiptId, indiceDatiSingoloPagamento = idTransfer), whether
or not the receipt reached the station: that is what reconciliation is for. The PSP settles the
next day with one SEPA credit transfer per flow, described ``/PUR/LGPE-RIVERSAMENTO/URI/<id>``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lxml import etree

from nodesim import soapwire

if TYPE_CHECKING:
    from nodesim.clock import SimClock
    from nodesim.faults import Faults
    from nodesim.receipts import Payment

FDR = "http://www.digitpa.gov.it/schemas/2011/Pagamenti/"


@dataclasses.dataclass
class Entry:
    iuv: str
    iur: str
    index: int
    amount: Decimal
    outcome_code: str
    date: dt.date


@dataclasses.dataclass
class Flow:
    id: str
    day: dt.date
    created_at: dt.datetime
    psp_id: str
    psp_name: str
    psp_bic: str
    ec: str
    ec_name: str
    iban: str
    settlement_id: str
    entries: list[Entry]
    inconsistent: bool = False
    credited: bool = True

    @property
    def total(self) -> Decimal:
        return sum((e.amount for e in self.entries), Decimal("0.00"))

    def xml(self) -> bytes:
        return flow_xml(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "day": self.day.isoformat(),
            "dataOraFlusso": _xml_datetime(self.created_at),
            "psp": self.psp_id,
            "fiscalCode": self.ec,
            "payments": len(self.entries),
            "total": soapwire.amount(self.total),
            "settlementId": self.settlement_id,
            "credited": self.credited,
            "inconsistent": self.inconsistent,
        }


@dataclasses.dataclass
class Credit:
    booking_date: dt.date
    amount: Decimal
    iban: str
    ec: str
    flow_id: str
    debtor_name: str
    debtor_bic: str
    reference: str

    @property
    def description(self) -> str:
        return f"/PUR/LGPE-RIVERSAMENTO/URI/{self.flow_id}"


class Ledger:
    """What PSPs collected per day, the flows made from it, and the bank's credits."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._payments: list[Payment] = []
        self.flows: dict[str, Flow] = {}
        self.credits: list[Credit] = []
        self._closed: dict[dt.date, list[Flow]] = {}

    def record(self, payment: Payment) -> None:
        with self._lock:
            self._payments.append(payment)

    def close_day(self, day: dt.date, faults: Faults) -> list[Flow]:
        """Make the day's flows and credits; closing a day again returns the same flows."""
        with self._lock:
            if day in self._closed:
                return self._closed[day]
            groups: dict[tuple[str, str], list[tuple[Payment, dict[str, Any]]]] = {}
            for payment in self._payments:
                if payment.paid_at.date() != day:
                    continue
                for transfer in payment.transfers:
                    key = (payment.psp.id, transfer["fiscalCodePA"])
                    groups.setdefault(key, []).append((payment, transfer))
            flows = [
                self._flow(day, n, items, faults)
                for n, (_, items) in enumerate(sorted(groups.items()), 1)
            ]
            for flow in flows:
                self.flows[flow.id] = flow
                if not faults.missing_bank_credit:
                    self.credits.append(_credit(flow))
                else:
                    flow.credited = False
            self._closed[day] = flows
            return flows

    def _flow(self, day: dt.date, seq: int, items: list, faults: Faults) -> Flow:
        first_payment, first_transfer = items[0]
        psp = first_payment.psp
        entries = [
            Entry(p.iuv, p.receipt_id, t["idTransfer"], t["amount"], "0", p.paid_at.date())
            for p, t in items
        ]
        if faults.unknown_iuv:
            entries.append(
                Entry(
                    f"99{random.randrange(10**15):015d}",
                    f"unknown{random.randrange(10**12):012d}",
                    1,
                    Decimal("10.00"),
                    "0",
                    day,
                )
            )
        ec_name = (
            first_transfer.get("companyName")
            if first_transfer["fiscalCodePA"] != first_payment.ec
            else None
        ) or first_payment.company_name
        return Flow(
            id=f"{day.isoformat()}{psp.id}-{seq:04d}",
            day=day,
            created_at=self.clock.now(),
            psp_id=psp.id,
            psp_name=psp.name,
            psp_bic=psp.bic,
            ec=first_transfer["fiscalCodePA"],
            ec_name=ec_name,
            iban=first_transfer["IBAN"] or "IT00X0000000000000000000000",
            settlement_id=f"RIV{day:%Y%m%d}{psp.id}{seq:04d}",
            entries=entries,
            inconsistent=faults.inconsistent_flow,
        )


def _credit(flow: Flow) -> Credit:
    return Credit(
        booking_date=flow.day + dt.timedelta(days=1),
        amount=flow.total,
        iban=flow.iban,
        ec=flow.ec,
        flow_id=flow.id,
        debtor_name=flow.psp_name,
        debtor_bic=flow.psp_bic,
        reference=flow.settlement_id,
    )


def _xml_datetime(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat()


def flow_xml(flow: Flow) -> bytes:
    """The FlussoRiversamento 1.0.4 document (every element in the pay_i namespace)."""

    def el(parent: etree._Element, tag: str, text: Any = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{FDR}}}{tag}")
        if text is not None:
            child.text = str(text)
        return child

    root = etree.Element(f"{{{FDR}}}FlussoRiversamento", nsmap={"pay_i": FDR})
    el(root, "versioneOggetto", "1.0")
    el(root, "identificativoFlusso", flow.id)
    el(root, "dataOraFlusso", _xml_datetime(flow.created_at))
    el(root, "identificativoUnivocoRegolamento", flow.settlement_id)
    el(root, "dataRegolamento", (flow.day + dt.timedelta(days=1)).isoformat())
    sender = el(root, "istitutoMittente")
    uid = el(sender, "identificativoUnivocoMittente")
    el(uid, "tipoIdentificativoUnivoco", "B")
    el(uid, "codiceIdentificativoUnivoco", flow.psp_bic)
    el(sender, "denominazioneMittente", flow.psp_name[:70])
    el(root, "codiceBicBancaDiRiversamento", flow.psp_bic)
    receiver = el(root, "istitutoRicevente")
    uid = el(receiver, "identificativoUnivocoRicevente")
    el(uid, "tipoIdentificativoUnivoco", "G")
    el(uid, "codiceIdentificativoUnivoco", flow.ec)
    el(receiver, "denominazioneRicevente", flow.ec_name[:140])
    count, total = len(flow.entries), flow.total
    if flow.inconsistent:  # the header disagrees with the body
        count, total = count + 1, total + Decimal("1.00")
    el(root, "numeroTotalePagamenti", count)
    el(root, "importoTotalePagamenti", soapwire.amount(total))
    for entry in flow.entries:
        item = el(root, "datiSingoliPagamenti")
        el(item, "identificativoUnivocoVersamento", entry.iuv)
        el(item, "identificativoUnivocoRiscossione", entry.iur)
        el(item, "indiceDatiSingoloPagamento", entry.index)
        el(item, "singoloImportoPagato", soapwire.amount(entry.amount))
        el(item, "codiceEsitoSingoloPagamento", entry.outcome_code)
        el(item, "dataEsitoSingoloPagamento", entry.date.isoformat())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
