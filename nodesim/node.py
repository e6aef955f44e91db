"""The simulated Node: a PSP pays a notice (verify -> activate -> receipt), Stand-In, days."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import Any

from lxml import etree

from nodesim import psps, soapwire
from nodesim.clock import SimClock
from nodesim.delivery import Deliverer, RetryPolicy
from nodesim.faults import Faults
from nodesim.receipts import Payment, payment_from_data, receipt_element
from nodesim.reporting import Ledger
from nodesim.standin import StandIn, StandInPolicy
from nodesim.station import StationClient, StationConfig

DEFAULT_PAYER = {
    "type": "F",
    "id": "RSSMRA80A01H501U",
    "name": "Mario Rossi",
    "email": "mario.rossi@example.org",
}


# how the Node reports a station's failure to the PSP
NODE_FAULTS = {
    "ko": "PPT_ERRORE_EMESSO_DA_PAA",
    "timeout": "PPT_STAZIONE_INT_PA_TIMEOUT",
    "unreachable": "PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE",
    "bad_response": "PPT_STAZIONE_INT_PA_ERRORE_RESPONSE",
}


@dataclasses.dataclass
class Withheld:
    """A paSendRT the Node never sends (fault ``withhold_receipt``)."""

    receipt_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"receiptId": self.receipt_id, "status": "withheld", "attempts": []}


class PaymentRefused(Exception):
    """The station said no (or did not answer) before any money was taken."""

    def __init__(self, step: str, kind: str, fault_code: str | None, detail: str) -> None:
        super().__init__(f"{step}: {fault_code or kind} {detail}".strip())
        self.step, self.kind, self.fault_code, self.detail = step, kind, fault_code, detail

    @property
    def node_fault_code(self) -> str:
        """What the Node tells the PSP (the station's own code is in ``fault_code``)."""
        return NODE_FAULTS.get(self.kind, "PPT_SYSTEM_ERROR")

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": "KO",
            "step": self.step,
            "result": self.kind,
            "nodeFaultCode": self.node_fault_code,
            "faultCode": self.fault_code,
            "detail": self.detail,
        }


@dataclasses.dataclass
class Notice:
    """What paVerify said about a notice."""

    ec: str
    notice_number: str
    amount: Decimal
    description: str
    company_name: str

    def as_dict(self) -> dict[str, str]:
        return {
            "fiscalCode": self.ec,
            "noticeNumber": self.notice_number,
            "amount": soapwire.amount(self.amount),
            "description": self.description,
            "companyName": self.company_name,
        }


class Node:
    def __init__(
        self,
        station: StationConfig,
        *,
        policy: RetryPolicy | None = None,
        faults: Faults | None = None,
        clock: SimClock | None = None,
        client: StationClient | None = None,
        standin: StandInPolicy | None = None,
    ) -> None:
        self.clock = clock or SimClock()
        self.client = client or StationClient(station)
        self.faults = faults or Faults()
        self.deliverer = Deliverer(self.client, self.clock, policy or RetryPolicy())
        self.ledger = Ledger(self.clock)
        self.standin = StandIn(self.client, self.clock, standin)
        self.deliverer.tickers.append(self.standin.run_due)
        self._lock = threading.Lock()
        self.payments: dict[str, Payment] = {}
        # what the station said about each notice, (ec, notice) -> {"notice", "data"}: the
        # archive pagoPA answers from while the station is in Stand-In (ACA)
        self.archive: dict[tuple[str, str], dict[str, Any]] = {}
        # the ACA the intermediaries feed (nodesim.aca.Aca, set by the app): in Stand-In, a
        # notice it holds is paid from its copy, every transfer as the intermediary sent it
        self.aca: Any = None

    @property
    def version(self) -> int:
        return self.client.config.primitive_version

    def faults_for(self, overrides: dict[str, Any] | None) -> Faults:
        return self.faults.merged(overrides)

    # the three steps (in Stand-In, the Node answers the first two from its archive)
    def verify(self, ec: str, notice: str) -> Notice:
        if self.standin.active:
            return self._archived(ec, notice, "paVerifyPaymentNotice")["notice"]
        answer = self.client.verify(ec, notice)
        if not answer.ok:
            raise PaymentRefused(
                "paVerifyPaymentNotice", answer.kind, answer.fault_code, answer.detail
            )
        res = answer.element
        verified = Notice(
            ec,
            notice,
            Decimal(res.findtext("paymentList/paymentOptionDescription/amount")),
            res.findtext("paymentDescription") or "",
            res.findtext("companyName") or "",
        )
        with self._lock:
            self.archive.setdefault((ec, notice), {})["notice"] = verified
        return verified

    def activate(
        self,
        ec: str,
        notice: str,
        amount: Decimal,
        *,
        psp: psps.Psp,
        method: str,
        payer: dict[str, Any] | None,
        standin: bool = False,
        payment_note: str | None = None,
    ) -> Payment:
        step = "paGetPaymentV2" if self.version == 2 else "paGetPayment"
        if self.standin.active:
            data, standin = self._archived(ec, notice, step)["data"], True
        else:
            answer = self.client.get_payment(ec, notice, soapwire.amount(amount), payment_note)
            if not answer.ok:
                raise PaymentRefused(step, answer.kind, answer.fault_code, answer.detail)
            data = answer.element.find("data")
            with self._lock:
                self.archive.setdefault((ec, notice), {})["data"] = copy.deepcopy(data)
        return payment_from_data(
            data,
            receipt_id=uuid.uuid4().hex,
            ec=ec,
            notice=notice,
            psp=psp,
            method=method,
            payer=payer,
            paid_at=self.clock.now(),
            standin=standin,
            payment_note=payment_note,
        )

    def _archived(self, ec: str, notice: str, step: str) -> dict[str, Any]:
        """What the Node knows of a notice while the station is in Stand-In (it knows only
        what the station told it before: verified and activated notices)."""
        with self._lock:
            found = dict(self.archive.get((ec, notice), {}))
        if "data" not in found and self.aca is not None:
            from nodesim.aca import payment_data

            held = self.aca.by_notice(ec, notice)
            if (
                held is not None
                and held[0].get("status") == "VALID"
                and notice not in held[0].get("paid", [])
            ):
                found["data"] = payment_data(*held)
        if "data" not in found:
            raise PaymentRefused(
                step,
                "ko",
                "PAA_PAGAMENTO_SCONOSCIUTO",
                "station in Stand-In and the notice is not in the archive",
            )
        if "notice" not in found:
            data = found["data"]
            found["notice"] = Notice(
                ec,
                notice,
                Decimal(data.findtext("paymentAmount")),
                data.findtext("description") or "",
                data.findtext("companyName") or "",
            )
        return found

    def send_receipt(self, payment: Payment, faults: Faults, *, send_now: bool = True) -> Any:
        with self._lock:
            self.payments[payment.receipt_id] = payment
        self.ledger.record(payment)
        if faults.withhold_receipt:
            return Withheld(payment.receipt_id)
        receipt = receipt_element(payment, self.version, newer=faults.newer_elements)
        request = self.client.send_rt_request(payment.ec, receipt, faults.receipt_station)
        return self.deliverer.submit(
            payment.receipt_id,
            payment.ec,
            payment.notice_number,
            request,
            hold_seconds=faults.hold_receipt_seconds,
            copies=faults.duplicate_receipts,
            timeout_seconds=faults.sendrt_timeout_seconds,
            send_now=send_now,
        )

    # the PSP desk (model 3): a bank app or a tobacconist pays a notice
    def pay_notice(
        self,
        ec: str,
        notice: str,
        *,
        psp_id: str = "BCITITMM",
        method: str = "CP",
        payer: dict[str, Any] | None = None,
        faults: dict[str, Any] | None = None,
        send_now: bool = True,
    ) -> dict[str, Any]:
        chosen = self.faults_for(faults)
        psp = psps.find(psp_id)
        psp.fee(method)
        verified = self.verify(ec, notice)
        payment = self.activate(
            ec,
            notice,
            verified.amount,
            psp=psp,
            method=method,
            payer=payer or DEFAULT_PAYER,
            standin=chosen.standin,
        )
        delivery = self.send_receipt(payment, chosen, send_now=send_now)
        return {
            "outcome": "OK",
            "notice": verified.as_dict(),
            "payment": payment.summary(),
            "delivery": delivery.as_dict(),
        }

    def pay_standin(
        self,
        ec: str,
        notice: str,
        amount: str,
        *,
        iuv: str | None = None,
        iban: str = "IT60X0542811101000000123456",
        psp_id: str = "BCITITMM",
        method: str = "CP",
        description: str = "Pagamento in Stand-In",
        company_name: str | None = None,
        debtor: dict[str, Any] | None = None,
        faults: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The station did not answer: the Node paid on ACA data, never calling paVerify or
        paGetPayment, and sends a receipt with standIn=true."""
        chosen = self.faults_for(faults)
        psp = psps.find(psp_id)
        debtor_elt = soapwire.subject(etree.Element("holder"), "debtor", debtor or DEFAULT_PAYER)
        value = Decimal(amount)
        payment = Payment(
            receipt_id=uuid.uuid4().hex,
            ec=ec,
            notice_number=notice,
            iuv=iuv or notice[1:],
            amount=value,
            description=description,
            company_name=company_name or f"Ente {ec}",
            office_name=None,
            debtor=debtor_elt,
            transfers=[
                {
                    "idTransfer": 1,
                    "amount": value,
                    "fiscalCodePA": ec,
                    "companyName": None,
                    "IBAN": iban,
                    "bollo": False,
                    "remittanceInformation": description,
                    "transferCategory": "9/0101108TS/",
                    "metadata": None,
                }
            ],
            metadata=None,
            psp=psp,
            method=method,
            fee=psp.fee(method),
            payer=debtor or DEFAULT_PAYER,
            paid_at=self.clock.now(),
            standin=True,
        )
        delivery = self.send_receipt(payment, chosen)
        return {"outcome": "OK", "payment": payment.summary(), "delivery": delivery.as_dict()}

    # the clock
    def advance(self, delta: dt.timedelta) -> dict[str, Any]:
        """Move the clock, close every day that ended, send the re-sends now due."""
        before = self.clock.today()
        self.clock.advance(delta)
        flows = []
        day = before
        while day < self.clock.today():
            flows.extend(self.ledger.close_day(day, self.faults))
            day += dt.timedelta(days=1)
        sent = self.deliverer.run_due()
        probes = self.standin.run_due()
        return {
            "now": self.clock.now().isoformat(),
            "closedFlows": [f.id for f in flows],
            "attemptsMade": sent,
            "standInProbes": probes,
        }
