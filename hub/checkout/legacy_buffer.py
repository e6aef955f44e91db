"""PayER's legacy level-1 "Buffer" protocol, so portals built for PayER migrate unchanged.

WEAKER than payhub's own level 1 (hub.checkout.level1), and kept only for migration: the
"signature" is
``MD5(IV + xml + Key + TagOrario)``, a plain concatenation hashed with MD5 (not an HMAC), the
payload is only base64-encoded, timestamps have minute granularity and there is no nonce, so a
captured buffer can be replayed within the time window. Switch it on per portal
(``level1_portal.legacy_buffer``) and move portals to the signed JSON API.

Envelope (every server-to-server call is a form POST whose field ``buffer`` holds it)::

    <Buffer><TagOrario>yyyyMMddHHmm</TagOrario><CodicePortale>P</CodicePortale>
            <BufferDati>base64(xml)</BufferDati><Hash>hex MD5(IV + xml + Key + TagOrario)</Hash>
    </Buffer>

Flow (PayER's paths): the portal POSTs a ``<PaymentRequest>`` to ``/payer/cart/extS2SRID.do``
and gets ``Buffer(<RID>)``; the browser goes to ``/payer/cart/extCart.do?buffer=Buffer(RID)``
(payhub's level-1 page); at the end the browser goes to ``URLDiRitorno?buffer=Buffer(<PID>)``
(``URLBack`` is not used: a payment not made comes back there too, Esito KO); the portal
exchanges the PID at ``/payer/cart/extS2SPID.do`` for ``Buffer(<PaymentData>)``.

Mapping onto payhub: ``PortaleID`` / ``CodicePortale`` is the portal's key id without the
``payer:`` prefix; ``CodiceEnte`` is the Ente's fiscal code; ``TipologiaServizio`` a
spontaneous service's code; ``Importo`` is in euro cents; a ``NumeroDocumento`` of 18 digits is
a notice number in our archive (a precomputed debt), otherwise a spontaneous payment is made
for ``UserData`` (the payer). ``NumeroOperazione`` is the portal's id (``externalId``). The
portal's IV and Key are kept in ``level1_portal.secret`` as JSON ``{"iv", "key"}``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from hub import checkout
from hub.checkout import level1
from hub.db import ROME, utcnow
from hub.errors import Conflict, DomainError
from hub.models import CheckoutCart, Level1Portal
from hub.values.money import format_cents

log = structlog.get_logger(__name__)

WINDOW = dt.timedelta(minutes=10)  # PayER clients use a 10-minute window
KEY_PREFIX = "payer:"
TIME_FORMAT = "%Y%m%d%H%M"


class BufferError(DomainError):
    """A buffer that is malformed, stale, from an unknown portal or with a wrong hash."""

    code = "bad_buffer"


@dataclass(frozen=True)
class Keys:
    iv: str
    key: str


def keys_of(portal: Level1Portal) -> Keys:
    data = json.loads(portal.secret)
    return Keys(str(data["iv"]), str(data["key"]))


def register_legacy(
    session: Session,
    name: str,
    enti: list[str],
    return_url_prefix: str,
    *,
    code: str,
    iv: str,
    key: str,
    notify_url: str | None = None,
) -> level1.RegisteredPortal:
    """Register a PayER portal with its existing PortaleID (``code``), IV and Key (the
    administration's ``legacy_buffer`` portals). Raises InvalidRequest for a code or keys out of
    bounds, Conflict for a PortaleID already registered. The registered ``secret`` is None: the
    portal has its keys already (``notify_secret`` is the notification endpoint's, once)."""
    if not code or len(KEY_PREFIX + code) > 40:
        raise level1.InvalidRequest("1 to 34 characters required", field="code")
    secret = json.dumps({"iv": iv, "key": key}, separators=(",", ":"))
    if len(secret) > 128 or not iv or not key:
        raise level1.InvalidRequest(
            "IV and Key required, at most 100 characters together", field="key"
        )
    if session.scalar(sa.select(Level1Portal.id).where(Level1Portal.key_id == KEY_PREFIX + code)):
        raise Conflict(f"a portal with PortaleID {code} exists", code="exists")
    registered = level1.register_portal(
        session, name, enti, return_url_prefix, notify_url=notify_url, legacy_buffer=True
    )
    portal = registered.portal
    portal.key_id, portal.secret = KEY_PREFIX + code, secret
    session.flush()
    return level1.RegisteredPortal(portal, None, registered.notify_secret)


# --- the envelope ----------------------------------------------------------------------------


def digest(keys: Keys, xml: str, tag: str) -> str:
    """PayER's hash: MD5 over a plain concatenation (weak; not an HMAC)."""
    return hashlib.md5((keys.iv + xml + keys.key + tag).encode()).hexdigest()


def make_buffer(keys: Keys, code: str, xml: str, now: dt.datetime | None = None) -> str:
    """Wrap ``xml`` (what a portal does, and what payhub answers)."""
    tag = (now or utcnow()).astimezone(ROME).strftime(TIME_FORMAT)
    root = ET.Element("Buffer")
    ET.SubElement(root, "TagOrario").text = tag
    ET.SubElement(root, "CodicePortale").text = code
    ET.SubElement(root, "BufferDati").text = base64.b64encode(xml.encode()).decode()
    ET.SubElement(root, "Hash").text = digest(keys, xml, tag)
    return ET.tostring(root, encoding="unicode")


def _parse(text: str) -> ET.Element:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # no entity expansion, ever
        raise BufferError("DTDs are not accepted")
    try:
        return ET.fromstring(text)
    except ET.ParseError:
        raise BufferError("the buffer is not XML") from None


def open_buffer(
    session: Session, text: str, now: dt.datetime | None = None
) -> tuple[Level1Portal, str]:
    """The legacy portal that sent this buffer and the XML inside. Raises BufferError (bad
    XML, time outside WINDOW, unknown or non-legacy portal, wrong hash)."""
    root = _parse(text or "")
    tag, code = root.findtext("TagOrario", ""), root.findtext("CodicePortale", "") or ""
    try:
        xml = base64.b64decode(root.findtext("BufferDati", ""), validate=True).decode()
        sent = dt.datetime.strptime(tag, TIME_FORMAT).replace(tzinfo=ROME)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BufferError("bad BufferDati or TagOrario") from None
    if abs((now or utcnow()) - sent) > WINDOW:
        raise BufferError("TagOrario outside the allowed window", code="stale_buffer")
    if not code:  # PayER allows an empty CodicePortale: the PortaleID inside says who
        code = _parse(xml).findtext("PortaleID", "") or ""
    portal = session.scalars(
        sa.select(Level1Portal).where(
            Level1Portal.key_id == KEY_PREFIX + code,
            Level1Portal.active.is_(True),
            Level1Portal.legacy_buffer.is_(True),
        )
    ).one_or_none()
    if portal is None:
        raise BufferError("unknown portal", code="unknown_portal")
    if not hmac.compare_digest(
        digest(keys_of(portal), xml, tag), root.findtext("Hash", "").strip().lower()
    ):
        raise BufferError("hash does not match", code="bad_hash")
    return portal, xml


def answer(portal: Level1Portal, xml: str, now: dt.datetime | None = None) -> str:
    return make_buffer(keys_of(portal), portal.key_id.removeprefix(KEY_PREFIX), xml, now)


def _text(xml_root: ET.Element, path: str) -> str:
    return (xml_root.findtext(path) or "").strip()


# --- RID: start a payment --------------------------------------------------------------------


def start(session: Session, portal: Level1Portal, xml: str) -> tuple[CheckoutCart, str]:
    """Create the cart a ``<PaymentRequest>`` asks for; (cart, RID xml). Raises
    level1.InvalidRequest naming the field."""
    req = _parse(xml)
    if req.tag != "PaymentRequest" or _text(req, "Funzione") not in ("", "PAGAMENTO"):
        raise level1.InvalidRequest(
            "a PaymentRequest with Funzione PAGAMENTO is required", field="Funzione"
        )
    operation = _text(req, ".//ServiceData/NumeroOperazione")
    if not 1 <= len(operation) <= 64:  # PayER allows 128; our externalId holds 64
        raise level1.InvalidRequest("1 to 64 characters required", field="NumeroOperazione")
    user = {
        "fiscalCode": _text(req, "UserData/IdentificativoUtente").upper(),
        "name": _text(req, "UserData/Denominazione"),
        "email": _text(req, "UserData/EmailUtente") or None,
    }
    items: list[dict[str, Any]] = []
    for data in req.findall(".//ServiceData"):
        document = _text(data, "NumeroDocumento")
        if document.isdigit() and len(document) == 18:
            items.append({"enteFiscalCode": _text(data, "CodiceEnte"), "noticeNumber": document})
            continue
        cents = _text(data, "Importo")
        if not cents.isdigit():
            raise level1.InvalidRequest("euro cents required", field="Importo")
        items.append(
            {
                "enteFiscalCode": _text(data, "CodiceEnte"),
                "service": _text(data, "TipologiaServizio"),
                "amount": format_cents(int(cents)),
                "description": (
                    f"{_text(data, 'TipologiaServizio')} {document} {_text(data, 'AnnoDocumento')}"
                ).strip(),
                "payer": user,
            }
        )
    return_url = _text(req, "URLDiRitorno")
    cart, _created = level1.start_payment(
        session,
        portal,
        {"externalId": operation, "returnUrl": return_url, "mode": "cart", "items": items},
    )
    log.info("legacy_buffer.rid", portal=portal.key_id, cart=cart.public_id)
    return cart, f"<RID>{cart.public_id}</RID>"


def cart_of(session: Session, portal: Level1Portal, xml: str, tag: str) -> CheckoutCart:
    """The portal's cart named by ``<RID>`` or ``<PID>`` (both are the payment id)."""
    root = _parse(xml)
    payment_id = root.text.strip() if root.tag == tag and root.text else ""
    try:
        return level1.find_cart(session, portal, payment_id)
    except DomainError:
        raise BufferError(f"unknown {tag}", code="unknown_payment") from None


# --- PID: the outcome ------------------------------------------------------------------------

ESITO = {
    "paid": ("OK", "Pagamento effettuato"),  # cart outcomes, not a payment state
    "partially_paid": ("KO", "Pagamento parziale"),  # not a payment state
    "not_paid": ("KO", "Pagamento non effettuato"),
    "in_progress": ("OP", "Pagamento in corso"),  # not a payment state
    "open": ("OP", "Pagamento in corso"),
}


def return_buffer(portal: Level1Portal, cart: CheckoutCart, now: dt.datetime | None = None) -> str:
    """What the browser carries back to URLDiRitorno: ``Buffer(<PID>)``."""
    return answer(portal, f"<PID>{cart.public_id}</PID>", now)


def payment_data(session: Session, portal: Level1Portal, cart: CheckoutCart) -> str:
    """``<PaymentData>`` for a PID: amounts in cents, Esito OK | KO | OP (pending)."""
    result = checkout.outcome(session, cart)
    esito, description = ESITO.get(result.status, ("UK", "Esito sconosciuto"))
    paid = [i for i in result.items if i.paid]
    receipt = next((i.receipt for i in paid if i.receipt is not None), None)
    root = ET.Element("PaymentData")
    values = {
        "PortaleID": portal.key_id.removeprefix(KEY_PREFIX),
        "NumeroOperazione": cart.external_id or "",
        "IDOrdine": cart.public_id,
        "DataOraOrdine": _local(cart.submitted_at or cart.created_at),
        "IDTransazione": receipt.receipt_id if receipt else "",
        "DataOraTransazione": _local(receipt.payment_date_time) if receipt else "",
        "SistemaPagamento": "pagoPA",
        "SistemaPagamentoD": "pagoPA",
        "CircuitoAutorizzativo": "NNPA",
        "CircuitoAutorizzativoD": "NNPA Nodo Nazionale Pagamenti",
        "ImportoTransato": str(sum(i.item.amount_cents for i in paid)),
        "ImportoCommissioni": str(sum(i.receipt.fee_cents or 0 for i in paid if i.receipt)),
        "ImportoCommissioniEnte": "0",
        "Esito": esito,
        "EsitoD": description,
        "Autorizzazione": receipt.receipt_id if receipt else "",
        "DatiSpecifici": "",
    }
    for name, value in values.items():
        ET.SubElement(root, name).text = value
    return ET.tostring(root, encoding="unicode")


def _local(moment: dt.datetime | None) -> str:
    return moment.astimezone(ROME).strftime("%Y%m%d%H%M%S") if moment else ""
