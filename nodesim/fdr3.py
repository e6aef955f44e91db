"""pagoPA's REST services for organizations, simulated: FdR 3 and the receipts service.

FdR 3 (``fdr_organization.json`` v1.2.4, mounted at ``/fdr-org/service/v1``):
``GET /organizations/{organizationId}/fdrs`` (publishedGt, flowDate, pspId, page, size <= 1000),
``GET .../fdrs/{fdr}/revisions/{revision}/psps/{pspId}`` and ``.../payments`` (paged). Flows are
published from the day's ledger (``publish_ledger``: every flow closed and not published yet,
revision 1), re-published as revision n+1 (``republish``), or added whole (``add``, tests).

Receipts service (``biz_events.json`` v0.1.89, mounted at ``/bizevents/service/v1``):
``GET /organizations/{organizationfiscalcode}/receipts/{iur}`` and
``.../receipts/{iur}/paymentoptions/{iuv}``: every payment the simulated PSPs took, delivered
to the station or not, as a CtReceiptModelResponse.

``throttle(n, retry_after)`` answers the next ``n`` calls of either service with 429 and a
``Retry-After``. Both check the ``Ocp-Apim-Subscription-Key`` header when a key is configured.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lxml import etree

if TYPE_CHECKING:
    from nodesim.receipts import Payment
    from nodesim.reporting import Flow, Ledger

MAX_SIZE = 1000


def instant(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _number(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


@dataclasses.dataclass
class Published:
    organization: str
    fdr: str
    revision: int
    psp_id: str
    published: dt.datetime
    flow: dict[str, Any]
    payments: list[dict[str, Any]]

    def ref(self) -> dict[str, Any]:
        return {
            "fdr": self.fdr,
            "pspId": self.psp_id,
            "revision": self.revision,
            "published": instant(self.published),
            "flowDate": self.flow["fdrDate"],
        }


class Problem(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, message: str) -> Problem:
    return Problem(
        status,
        {
            "httpStatusCode": status,
            "httpStatusDescription": {400: "Bad Request", 404: "Not Found"}.get(status, "Error"),
            "appErrorCode": f"FDR-0{status}",
            "errors": [{"message": message}],
        },
    )


class RestServices:
    """The state of both services, and their answers as (status, JSON body, headers)."""

    def __init__(
        self,
        ledger: Ledger,
        payments: dict[str, Payment],
        key: str | None = None,
        auto_publish: bool = False,
    ):
        self.ledger = ledger
        self.payments = payments  # the Node's: receiptId -> Payment
        self.key = key
        # publish every closed day's flow before answering a list, as the PSPs do on their own
        self.auto_publish = auto_publish
        self._lock = threading.Lock()
        self.published: list[Published] = []
        self._throttle = 0
        self._retry_after = "1"
        self.calls: list[str] = []

    # --- control ---------------------------------------------------------------------------

    def throttle(self, count: int, retry_after: str | int = 1) -> None:
        with self._lock:
            self._throttle = count
            self._retry_after = str(retry_after)

    def add(self, item: Published) -> Published:
        with self._lock:
            self.published.append(item)
        return item

    def publish_ledger(self) -> list[Published]:
        """Publish (revision 1) every ledger flow not published yet."""
        done = {(p.organization, p.fdr) for p in self.published}
        out = []
        for flow in list(self.ledger.flows.values()):
            if (flow.ec, flow.id) not in done:
                out.append(self.add(from_flow(flow, 1, self.ledger.clock.now())))
        return out

    def republish(self, fdr: str, drop_last: bool = False) -> Published:
        """Publish the flow again as the next revision (optionally without its last payment)."""
        latest = max((p for p in self.published if p.fdr == fdr), key=lambda p: p.revision)
        payments = (
            latest.payments[:-1] if drop_last and len(latest.payments) > 1 else latest.payments
        )
        flow = dict(latest.flow, revision=latest.revision + 1)
        flow["totPayments"] = len(payments)
        flow["sumPayments"] = _number(sum((Decimal(str(p["pay"])) for p in payments), Decimal(0)))
        when = max(self.ledger.clock.now(), latest.published + dt.timedelta(seconds=1))
        flow["published"] = instant(when)
        return self.add(
            dataclasses.replace(
                latest, revision=latest.revision + 1, published=when, flow=flow, payments=payments
            )
        )

    # --- answers ---------------------------------------------------------------------------

    def _gate(self, headers: dict[str, str], what: str) -> None:
        self.calls.append(what)
        if self.key and headers.get("Ocp-Apim-Subscription-Key") != self.key:
            raise Problem(401, {"statusCode": 401, "message": "Access denied"})
        with self._lock:
            if self._throttle > 0:
                self._throttle -= 1
                raise Problem(429, {}, {"Retry-After": self._retry_after})

    def list_flows(self, org: str, params: dict[str, str], headers: dict[str, str]) -> Any:
        self._gate(headers, "fdr.list")
        if self.auto_publish:
            self.publish_ledger()
        page, size = _paging(params)
        since = _when(params.get("publishedGt"), "publishedGt")
        flow_date = _when(params.get("flowDate"), "flowDate")
        psp = params.get("pspId")
        with self._lock:
            items = [
                p
                for p in self.published
                if p.organization == org
                and (since is None or p.published > since)
                and (psp is None or p.psp_id == psp)
                and (flow_date is None or _parse(p.flow["fdrDate"]) >= flow_date)
            ]
        items.sort(key=lambda p: (p.published, p.fdr, p.revision))
        return _page([p.ref() for p in items], page, size)

    def _find(self, org: str, fdr: str, revision: str, psp: str) -> Published:
        if not revision.isdigit() or int(revision) < 1:
            raise _error(400, "revision must be an integer >= 1")
        for p in self.published:
            if (p.organization, p.fdr, p.revision, p.psp_id) == (org, fdr, int(revision), psp):
                return p
        raise _error(404, f"flow {fdr} revision {revision} of PSP {psp} not found")

    def get_flow(self, org: str, fdr: str, rev: str, psp: str, headers: dict[str, str]) -> Any:
        self._gate(headers, "fdr.flow")
        return self._find(org, fdr, rev, psp).flow

    def get_payments(
        self,
        org: str,
        fdr: str,
        rev: str,
        psp: str,
        params: dict[str, str],
        headers: dict[str, str],
    ) -> Any:
        self._gate(headers, "fdr.payments")
        page, size = _paging(params)
        return _page(self._find(org, fdr, rev, psp).payments, page, size)

    def receipt(
        self, org: str, iur: str, iuv: str | None, headers: dict[str, str]
    ) -> dict[str, Any]:
        self._gate(headers, "receipts.by_iuv" if iuv else "receipts.by_iur")
        payment = self.payments.get(iur)
        if payment is None or payment.ec != org or (iuv is not None and payment.iuv != iuv):
            raise Problem(404, {"title": "Not found", "status": 404, "detail": "no receipt"})
        return receipt_json(payment)


def _parse(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _when(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        return _parse(value)
    except ValueError:
        raise _error(400, f"{name} is not a date-time") from None


def _paging(params: dict[str, str]) -> tuple[int, int]:
    try:
        page, size = int(params.get("page", "1")), int(params.get("size", str(MAX_SIZE)))
    except ValueError:
        raise _error(400, "page and size must be integers") from None
    if page < 1 or not 1 <= size <= MAX_SIZE:
        raise _error(400, f"page >= 1 and 1 <= size <= {MAX_SIZE}")
    return page, size


def _page(items: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
    return {
        "metadata": {
            "pageSize": size,
            "pageNumber": page,
            "totPage": max(1, -(-len(items) // size)),
        },
        "count": len(items),
        "data": items[(page - 1) * size : page * size],
    }


def from_flow(flow: Flow, revision: int, published: dt.datetime) -> Published:
    """A ledger flow as FdR 3 publishes it."""
    payments = [
        {
            "index": n,
            "iuv": e.iuv,
            "iur": e.iur,
            "idTransfer": e.index,
            "pay": _number(e.amount),
            "payStatus": {"0": "EXECUTED", "4": "STAND_IN", "8": "STAND_IN_NO_RPT"}.get(
                e.outcome_code, "NO_RPT"
            ),
            "payDate": instant(dt.datetime.combine(e.date, dt.time(12), dt.UTC)),
        }
        for n, e in enumerate(flow.entries, 1)
    ]
    body = {
        "status": "PUBLISHED",
        "revision": revision,
        "created": instant(flow.created_at),
        "updated": instant(published),
        "fdr": flow.id,
        "fdrDate": instant(flow.created_at),
        "regulation": flow.settlement_id,
        "regulationDate": (flow.day + dt.timedelta(days=1)).isoformat(),
        "bicCodePouringBank": flow.psp_bic,
        "sender": {
            "type": "BIC_CODE",
            "id": flow.psp_bic,
            "pspId": flow.psp_id,
            "pspName": flow.psp_name,
            "pspBrokerId": flow.psp_id,
            "channelId": f"{flow.psp_id}_01",
        },
        "receiver": {
            "id": flow.ec,
            "organizationId": flow.ec,
            "organizationName": flow.ec_name,
        },
        "published": instant(published),
        "computedTotPayments": len(payments),
        "computedSumPayments": _number(flow.total),
        "totPayments": len(payments),
        "sumPayments": _number(flow.total),
    }
    return Published(flow.ec, flow.id, revision, flow.psp_id, published, body, payments)


def _subject(elt: etree._Element | None) -> dict[str, Any] | None:
    if elt is None:
        return None
    ident = elt.find("uniqueIdentifier")
    out: dict[str, Any] = {
        "entityUniqueIdentifierType": ident.findtext("entityUniqueIdentifierType")
        if ident is not None
        else "F",
        "entityUniqueIdentifierValue": ident.findtext("entityUniqueIdentifierValue")
        if ident is not None
        else "ANONIMO",
        "fullName": elt.findtext("fullName") or "-",
    }
    for tag, key in (("city", "city"), ("country", "country"), ("e-mail", "email")):
        if elt.findtext(tag):
            out[key] = elt.findtext(tag)
    return out


def receipt_json(payment: Payment) -> dict[str, Any]:
    """A CtReceiptModelResponse (no standIn, no paymentNote: the service has neither)."""
    paid = payment.paid_at
    body: dict[str, Any] = {
        "receiptId": payment.receipt_id,
        "noticeNumber": payment.notice_number,
        "fiscalCode": payment.ec,
        "outcome": "OK",
        "creditorReferenceId": payment.iuv,
        "paymentAmount": _number(payment.amount),
        "description": payment.description or "-",
        "companyName": payment.company_name,
        "debtor": _subject(payment.debtor)
        or {
            "entityUniqueIdentifierType": "F",
            "entityUniqueIdentifierValue": "ANONIMO",
            "fullName": "-",
        },
        "transferList": [
            {
                "idTransfer": t["idTransfer"],
                "transferAmount": _number(t["amount"]),
                "fiscalCodePA": t["fiscalCodePA"],
                "iban": t.get("IBAN") or "",
                "mbdAttachment": "",
                "remittanceInformation": t.get("remittanceInformation") or "-",
                "transferCategory": t.get("transferCategory") or "-",
            }
            for t in payment.transfers
        ],
        "idPSP": payment.psp.id,
        "pspFiscalCode": payment.psp.fiscal_code,
        "pspPartitaIVA": payment.psp.vat_number,
        "pspCompanyName": payment.psp.name,
        "idChannel": payment.psp.channel,
        "channelDescription": payment.psp.channel_description,
        "paymentMethod": payment.method,
        "fee": _number(payment.fee),
        "paymentDateTime": paid.date().isoformat(),
        "paymentDateTimeFormatted": paid.isoformat(),
        "applicationDate": paid.date().isoformat(),
        "transferDate": paid.date().isoformat(),
    }
    if payment.office_name:
        body["officeName"] = payment.office_name
    return body
