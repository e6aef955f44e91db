"""pagoPA Checkout: the carts API an Ente's portal posts to, and the payer's pages.

``POST /checkout/ec/v1/carts`` (up to 5 notices, amounts in euro cents, return URLs) answers
302 to the cart's page; the page verifies every notice with the station, lists the PSPs' offers
with their fees, and on "pay" activates each notice (paymentNote = idCart), sends the receipts
and redirects to returnOkUrl; "cancel" goes to returnCancelUrl, any refusal to returnErrorUrl.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import threading
import uuid
from decimal import Decimal
from typing import Any

from nodesim import psps, soapwire
from nodesim.node import DEFAULT_PAYER, Node, Notice, PaymentRefused

MAX_NOTICES = 5
_NOTICE = re.compile(r"^\d{18}$")
_FISCAL = re.compile(r"^\d{11}$")


class CartError(ValueError):
    """The cart request is invalid (answered 400 / 422 with the reason)."""


@dataclasses.dataclass
class Cart:
    id: str
    notices: list[dict[str, Any]]
    return_ok: str
    return_cancel: str
    return_error: str
    email: str | None
    id_cart: str | None
    created_at: dt.datetime
    status: str = "open"  # open, paying, paid, cancelled, error
    verified: list[Notice] | None = None
    error: str | None = None
    receipts: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "idCart": self.id_cart,
            "paymentNotices": self.notices,
            "error": self.error,
            "receipts": self.receipts,
            "createdAt": self.created_at.isoformat(),
        }


def parse_cart(body: Any, now: dt.datetime) -> Cart:
    if not isinstance(body, dict):
        raise CartError("the body must be a JSON object")
    notices = body.get("paymentNotices")
    if not isinstance(notices, list) or not 1 <= len(notices) <= MAX_NOTICES:
        raise CartError(f"paymentNotices must list 1 to {MAX_NOTICES} notices")
    clean = []
    for n, notice in enumerate(notices):
        where = f"paymentNotices[{n}]"
        if not isinstance(notice, dict):
            raise CartError(f"{where} must be an object")
        if not _NOTICE.match(str(notice.get("noticeNumber", ""))):
            raise CartError(f"{where}.noticeNumber must be 18 digits")
        if not _FISCAL.match(str(notice.get("fiscalCode", ""))):
            raise CartError(f"{where}.fiscalCode must be 11 digits")
        amount = notice.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise CartError(f"{where}.amount must be a positive integer of euro cents")
        clean.append(
            {
                "noticeNumber": notice["noticeNumber"],
                "fiscalCode": notice["fiscalCode"],
                "amount": amount,
                "companyName": str(notice.get("companyName", ""))[:140],
                "description": str(notice.get("description", ""))[:140],
            }
        )
    keys = {(n["fiscalCode"], n["noticeNumber"]) for n in clean}
    if len(keys) != len(clean):
        raise CartError("the same notice appears twice in the cart")
    urls = body.get("returnUrls")
    if not isinstance(urls, dict):
        raise CartError("returnUrls is required")
    for key in ("returnOkUrl", "returnCancelUrl", "returnErrorUrl"):
        if not re.match(r"^https?://", str(urls.get(key, ""))):
            raise CartError(f"returnUrls.{key} must be an http(s) URL")
    return Cart(
        id=uuid.uuid4().hex,
        notices=clean,
        return_ok=urls["returnOkUrl"],
        return_cancel=urls["returnCancelUrl"],
        return_error=urls["returnErrorUrl"],
        email=body.get("emailNotice"),
        id_cart=body.get("idCart"),
        created_at=now,
    )


class Checkout:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._lock = threading.Lock()
        self.carts: dict[str, Cart] = {}

    def create(self, body: Any) -> Cart:
        cart = parse_cart(body, self.node.clock.now())
        with self._lock:
            self.carts[cart.id] = cart
        return cart

    def get(self, cart_id: str) -> Cart | None:
        with self._lock:
            return self.carts.get(cart_id)

    def verify(self, cart: Cart) -> list[Notice]:
        """paVerify every notice (once per cart); a refusal marks the cart in error."""
        if cart.verified is None:
            try:
                cart.verified = [
                    self.node.verify(n["fiscalCode"], n["noticeNumber"]) for n in cart.notices
                ]
            except PaymentRefused as exc:
                cart.status, cart.error = "error", str(exc)
                raise
        return cart.verified

    def pay(
        self,
        cart: Cart,
        psp_id: str,
        method: str,
        email: str | None = None,
        faults: dict[str, Any] | None = None,
    ) -> str:
        """Activate every notice, then send the receipts; return where the payer goes."""
        chosen = self.node.faults_for(faults)
        psp = psps.find(psp_id)
        psp.fee(method)
        with self._lock:  # a double click pays once
            if cart.status != "open":
                return self.return_url(cart)
            cart.status = "paying"
        payer = {**DEFAULT_PAYER, "email": email or cart.email or DEFAULT_PAYER["email"]}
        try:
            verified = self.verify(cart)
            payments = [
                self.node.activate(
                    n.ec,
                    n.notice_number,
                    n.amount,
                    psp=psp,
                    method=method,
                    payer=payer,
                    standin=chosen.standin,
                    payment_note=cart.id_cart or cart.id,
                )
                for n in verified
            ]
        except PaymentRefused as exc:
            cart.status, cart.error = "error", str(exc)
            return cart.return_error
        ordered = list(reversed(payments)) if chosen.out_of_order else payments
        for payment in ordered:
            self.node.send_receipt(payment, chosen)
            cart.receipts.append(payment.receipt_id)
        cart.status = "paid"
        return cart.return_ok

    def cancel(self, cart: Cart) -> str:
        if cart.status == "open":
            cart.status = "cancelled"
        return self.return_url(cart)

    @staticmethod
    def return_url(cart: Cart) -> str:
        return {
            "paid": cart.return_ok,
            "paying": cart.return_ok,
            "cancelled": cart.return_cancel,
        }.get(cart.status, cart.return_error)


def cart_page(cart: Cart, notices: list[Notice] | None, action_url: str) -> str:
    """The payer's page: the notices, the total, the PSP offers and the two buttons."""
    e = html.escape
    if notices is None:
        body = (
            f"<p class='error'>Questo carrello non può essere pagato: {e(cart.error or '')}"
            f"</p><p><a href='{e(cart.return_error)}'>Torna all'Ente</a></p>"
        )
        return _page("Checkout pagoPA (simulatore)", body)
    rows = "".join(
        f"<tr><td>{e(n.company_name)}</td><td>{e(n.description)}</td>"
        f"<td>{e(n.notice_number)}</td><td class='num'>{soapwire.amount(n.amount)}</td></tr>"
        for n in notices
    )
    total = sum((n.amount for n in notices), Decimal("0"))
    offers = "".join(
        f"<li><label><input type='radio' name='offer' value='{e(o['psp'])}:{e(o['method'])}'"
        f"{' checked' if i == 0 else ''}> {e(o['name'])} — {e(o['method_name'])} — "
        f"commissione € {e(o['fee'])}</label></li>"
        for i, o in enumerate(psps.offers())
    )
    body = (
        f"<table><tr><th>Ente</th><th>Causale</th><th>Avviso</th><th>Importo €</th></tr>"
        f"{rows}<tr><th colspan='3'>Totale</th><th class='num'>"
        f"{soapwire.amount(total)}</th></tr></table>"
        f"<form method='post' action='{e(action_url)}'>"
        f"<p>E-mail per la ricevuta: <input name='email' value='{e(cart.email or '')}'></p>"
        f"<h2>Scegli come pagare</h2><ul class='offers'>{offers}</ul>"
        f"<button name='action' value='pay'>Paga</button> "
        f"<button name='action' value='cancel'>Annulla</button></form>"
    )
    return _page("Checkout pagoPA (simulatore)", body)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='it'><head><meta charset='utf-8'><title>{title}"
        f"</title><style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}"
        f"td,th{{padding:.3em .6em;text-align:left}}.num{{text-align:right}}"
        f".error{{color:#a00}}ul.offers{{list-style:none;padding:0}}</style></head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    )
