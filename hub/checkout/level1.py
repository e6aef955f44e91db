"""Level-1 integration: an Ente's portal starts payments server-to-server and gets the outcome.

A portal is registered with a key id and a secret (``payhub level1 register``). Each request it
makes is signed:

    X-Payhub-Key-Id: <key id>          X-Payhub-Timestamp: <unix seconds>
    X-Payhub-Nonce: <16-64 chars>      X-Payhub-Signature: <hex HMAC-SHA256(secret, canonical)>
    canonical = METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" NONCE "\\n" hex SHA-256(body)

A timestamp more than ``MAX_SKEW`` away from our clock is refused, and so is a nonce the portal
already used (stored in ``level1_nonce``; the unique key holds across processes). The answer to
a start-payment request is a payment URL for the browser. When the citizen is done, the browser
goes back to the portal's return URL with ``outcome=<token>``: base64url(JSON) "." hex HMAC of
it with the portal's secret, expiring after ``TOKEN_TTL``. The portal can also ask the outcome
by id, and receives a signed server-to-server notification through hub.notify.webhooks.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub import checkout
from hub.db import utcnow
from hub.errors import DomainError, NotFound
from hub.models import (
    CartItem,
    CheckoutCart,
    Ente,
    Level1Nonce,
    Level1Portal,
    PaymentService,
    ServiceKind,
    WebhookEndpoint,
)
from hub.notify import webhooks
from hub.values.money import format_cents, to_cents
from hub.values.text import is_amount, text_problem

log = structlog.get_logger(__name__)

MAX_SKEW = dt.timedelta(minutes=5)
TOKEN_TTL = dt.timedelta(minutes=15)
HEADERS = ("X-Payhub-Key-Id", "X-Payhub-Timestamp", "X-Payhub-Nonce", "X-Payhub-Signature")
_NONCE = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")
OUTCOME_EVENT = "level1.payment.outcome"


class Level1AuthError(DomainError):
    """The request is not signed by a registered portal, or is stale or replayed."""

    code = "unauthenticated"


class InvalidRequest(DomainError):
    code = "invalid_request"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


# --- portals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredPortal:
    portal: Level1Portal
    secret: str | None  # shown once (None: a PayER portal keeps its own IV and Key)
    notify_secret: str | None  # the webhook endpoint's secret, shown once


def register_portal(
    session: Session,
    name: str,
    enti: list[str],
    return_url_prefix: str,
    *,
    notify_url: str | None = None,
    legacy_buffer: bool = False,
) -> RegisteredPortal:
    """Register a portal for the Enti with these fiscal codes; raises NotFound for an
    unknown Ente and InvalidRequest for a return URL prefix that is not http(s)."""
    if not re.match(r"^https?://[^/]+", return_url_prefix):
        raise InvalidRequest("must be an http(s) URL", field="return_url_prefix")
    found = list(session.scalars(sa.select(Ente).where(Ente.fiscal_code.in_(enti))))
    if not enti or len(found) != len(set(enti)):
        raise NotFound("unknown Ente fiscal code")
    portal = Level1Portal(
        key_id="l1_" + secrets.token_hex(8),
        secret=secrets.token_urlsafe(32),
        name=name,
        enti=sorted(set(enti)),
        return_url_prefix=return_url_prefix,
        notify_url=notify_url,
        legacy_buffer=legacy_buffer,
        active=True,
    )
    notify_secret = None
    if notify_url:
        registered = webhooks.register_endpoint(
            session, found[0], notify_url, kind="portal", events=[], description=f"level 1: {name}"
        )
        portal.notify_endpoint_id = registered.endpoint.id
        notify_secret = registered.secret
    session.add(portal)
    session.flush()
    return RegisteredPortal(portal, portal.secret, notify_secret)


# --- request signatures ----------------------------------------------------------------------


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join(
        [method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]
    ).encode()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(
        secret.encode(), canonical(method, path, timestamp, nonce, body), hashlib.sha256
    ).hexdigest()


def signed_headers(
    key_id: str, secret: str, method: str, path: str, body: bytes, now: dt.datetime | None = None
) -> dict[str, str]:
    """The headers a portal sends (used by tests and the example portal's twin)."""
    timestamp = str(int((now or utcnow()).timestamp()))
    nonce = secrets.token_urlsafe(18)
    return {
        "X-Payhub-Key-Id": key_id,
        "X-Payhub-Timestamp": timestamp,
        "X-Payhub-Nonce": nonce,
        "X-Payhub-Signature": sign(secret, method, path, timestamp, nonce, body),
    }


def authenticate(
    session: Session,
    headers: Any,
    method: str,
    path: str,
    body: bytes,
    *,
    now: dt.datetime | None = None,
) -> Level1Portal:
    """The portal that signed this request. Raises Level1AuthError (missing headers, unknown
    key, timestamp off by more than MAX_SKEW, wrong signature, nonce already used). The
    nonce is recorded only for a correctly signed request, in the caller's transaction."""
    now = now or utcnow()
    key_id, timestamp, nonce, signature = (headers.get(h, "") for h in HEADERS)
    if not (key_id and timestamp and nonce and signature):
        raise Level1AuthError("missing signature headers", code="missing_signature")
    portal = session.scalars(
        sa.select(Level1Portal).where(Level1Portal.key_id == key_id, Level1Portal.active.is_(True))
    ).one_or_none()
    if portal is None:
        raise Level1AuthError("unknown key id", code="unknown_key")
    try:
        sent_at = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise Level1AuthError("bad timestamp", code="stale_timestamp") from None
    if abs(now - sent_at) > MAX_SKEW:
        raise Level1AuthError("timestamp outside the allowed clock skew", code="stale_timestamp")
    expected = sign(portal.secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise Level1AuthError("signature does not match", code="bad_signature")
    if not _NONCE.match(nonce):
        raise Level1AuthError("nonce must be 16-64 URL-safe characters", code="bad_nonce")
    _use_nonce(session, portal, nonce, now)
    return portal


def _use_nonce(session: Session, portal: Level1Portal, nonce: str, now: dt.datetime) -> None:
    # a nonce older than twice the skew can never come back with a valid timestamp
    session.execute(sa.delete(Level1Nonce).where(Level1Nonce.seen_at < now - 2 * MAX_SKEW))
    try:
        with session.begin_nested():
            session.add(Level1Nonce(portal_id=portal.id, nonce=nonce, seen_at=now))
            session.flush()
    except IntegrityError:
        raise Level1AuthError("nonce already used", code="replayed_nonce") from None


# --- start a payment -------------------------------------------------------------------------

MAX_EMAIL = 256
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f\\]")


def within_prefix(url: str, prefix: str) -> bool:
    """Whether ``url`` is under the portal's ``prefix`` by its parsed parts: the same scheme,
    host and port, no credentials, and a path inside the prefix's (segment by segment).
    ``https://portal.example.it.evil.example/`` and ``https://portal.example.it@evil.example/``
    are not under ``https://portal.example.it``."""
    if _UNSAFE_URL.search(url):  # browsers read "\" as "/" and drop tabs: what we parse differs
        return False
    try:
        got, want = urlsplit(url), urlsplit(prefix)
        got_port, want_port = got.port, want.port
    except ValueError:
        return False
    defaults = {"https": 443, "http": 80}
    if (
        got.scheme.lower() != want.scheme.lower()
        or got.username is not None
        or got.password is not None
        or not got.hostname
        or got.hostname != want.hostname
        or (got_port or defaults.get(got.scheme.lower()))
        != (want_port or defaults.get(want.scheme.lower()))
    ):
        return False
    base = want.path
    path = got.path or "/"
    if not base or base.endswith("/"):
        return path.startswith(base or "/")
    return path == base or path.startswith(base + "/")


def start_payment(session: Session, portal: Level1Portal, body: Any) -> tuple[CheckoutCart, bool]:
    """Create the cart a portal asks for; (cart, created). The same ``externalId`` again
    returns the cart made the first time. Raises InvalidRequest naming the field."""
    if not isinstance(body, dict):
        raise InvalidRequest("must be a JSON object", field="body")
    external_id = body.get("externalId")
    if not isinstance(external_id, str) or not 1 <= len(external_id) <= 64:
        raise InvalidRequest("1 to 64 characters required", field="externalId")
    existing = session.scalars(
        sa.select(CheckoutCart).where(
            CheckoutCart.portal_id == portal.id, CheckoutCart.external_id == external_id
        )
    ).one_or_none()
    if existing is not None:
        return existing, False
    return_url = body.get("returnUrl")
    if not isinstance(return_url, str) or not within_prefix(return_url, portal.return_url_prefix):
        raise InvalidRequest(f"must start with {portal.return_url_prefix}", field="returnUrl")
    mode = body.get("mode", "cart")
    if mode not in ("cart", "direct"):
        raise InvalidRequest("must be cart or direct", field="mode")
    language = body.get("language", "it")
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= checkout.MAX_NOTICES:
        raise InvalidRequest(f"1 to {checkout.MAX_NOTICES} items required", field="items")
    cart = checkout.new_cart(
        session,
        language=language if language in ("it", "en", "de") else "it",
        portal_id=portal.id,
        external_id=external_id,
        return_url=return_url,
        direct=mode == "direct",
    )
    for n, item in enumerate(items):
        _add_item(session, portal, cart, item, f"items[{n}]")
    cart.status = "open"
    log.info("level1.started", portal=portal.key_id, cart=cart.public_id, items=len(items))
    return cart, True


def _add_item(
    session: Session, portal: Level1Portal, cart: CheckoutCart, item: Any, where: str
) -> CartItem:
    if not isinstance(item, dict):
        raise InvalidRequest("must be an object", field=where)
    ec = item.get("enteFiscalCode")
    if ec not in portal.enti:
        raise InvalidRequest(
            "not an Ente this portal collects for", field=f"{where}.enteFiscalCode"
        )
    ente = session.scalars(sa.select(Ente).where(Ente.fiscal_code == ec)).one()
    if "noticeNumber" in item:
        try:
            return checkout.add_notice(session, cart, ente, str(item["noticeNumber"]))
        except DomainError as exc:
            raise InvalidRequest(str(exc), field=f"{where}.noticeNumber") from None
    service = session.scalars(
        sa.select(PaymentService).where(
            PaymentService.ente_id == ente.id,
            PaymentService.code == item.get("service"),
            PaymentService.kind == ServiceKind.SPONTANEOUS,
            PaymentService.active.is_(True),
        )
    ).one_or_none()
    if service is None:
        raise InvalidRequest("no such spontaneous service", field=f"{where}.service")
    amount = item.get("amount")
    if not is_amount(amount):  # "16.00": not 10, 10.5 or "1e3"
        raise InvalidRequest('a string such as "16.00"', field=f"{where}.amount")
    try:
        cents = to_cents(str(amount))
    except DomainError as exc:
        raise InvalidRequest(str(exc), field=f"{where}.amount") from None
    payer = item.get("payer") or {}
    if (
        not isinstance(payer, dict)
        or checkout.payer_problem(str(payer.get("fiscalCode", "")))
        or not payer.get("name")
    ):
        raise InvalidRequest("fiscalCode (valid) and name required", field=f"{where}.payer")
    for field, value in (("payer.name", payer["name"]), ("description", item.get("description"))):
        problem = text_problem(str(value)) if value is not None else None
        if problem:
            raise InvalidRequest(problem, field=f"{where}.{field}")
    email = payer.get("email")
    if email is not None and (
        not isinstance(email, str) or len(email) > MAX_EMAIL or not _EMAIL.match(email)
    ):
        problem = f"a valid e-mail address of at most {MAX_EMAIL} characters"
        raise InvalidRequest(problem, field=f"{where}.payer.email")
    description = str(item.get("description") or service.label)[:140]
    given = item.get("fields")
    fields: dict[str, Any] = given if isinstance(given, dict) else {}
    return checkout.add_spontaneous(
        session,
        cart,
        service,
        cents,
        checkout.Payer(str(payer["fiscalCode"]), str(payer["name"])[:140], email or None),
        fields,
        description=description,
    )


# --- outcome ---------------------------------------------------------------------------------


def payment_status(session: Session, cart: CheckoutCart) -> dict[str, Any]:
    """What the portal is told: no personal data, only notices, amounts and receipts."""
    result = checkout.outcome(session, cart)
    return {
        "paymentId": cart.public_id,
        "externalId": cart.external_id,
        "status": result.status,
        "items": [
            {
                "noticeNumber": i.option.notice_number if i.option else None,
                "enteFiscalCode": _ec(session, i.item.ente_id),
                "amount": format_cents(i.item.amount_cents),
                "paid": i.paid,  # a field, not a payment state
                "receiptId": i.receipt.receipt_id if i.receipt else None,
            }
            for i in result.items
        ],
    }


def _ec(session: Session, ente_id: int) -> str:
    return session.scalar(sa.select(Ente.fiscal_code).where(Ente.id == ente_id)) or ""


def find_cart(session: Session, portal: Level1Portal, payment_id: str) -> CheckoutCart:
    cart = checkout.get_cart(session, payment_id)
    if cart is None or cart.portal_id != portal.id:
        raise NotFound("no such payment")
    return cart


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def outcome_token(
    portal: Level1Portal, cart: CheckoutCart, status: str, now: dt.datetime | None = None
) -> str:
    """A signed, expiring statement of the outcome for the portal's return URL."""
    now = now or utcnow()
    payload = _b64(
        json.dumps(
            {
                "paymentId": cart.public_id,
                "externalId": cart.external_id,
                "status": status,
                "exp": int((now + TOKEN_TTL).timestamp()),
            },
            separators=(",", ":"),
        ).encode()
    )
    mac = hmac.new(portal.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}"


def read_outcome_token(secret: str, token: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Verify a token (what a portal does); raises Level1AuthError if forged or expired."""
    payload, _, mac = token.partition(".")
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise Level1AuthError("outcome token signature does not match", code="bad_signature")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if data["exp"] < (now or utcnow()).timestamp():
        raise Level1AuthError("outcome token expired", code="expired_token")
    return dict(data)


def notify_if_final(session: Session, cart: CheckoutCart, now: dt.datetime | None = None) -> bool:
    """Write the portal's server-to-server notification once, when the cart's outcome is
    final (through hub.notify.webhooks: signed, retried, dead-lettered). True if written now."""
    if cart.portal_id is None or cart.notified_at is not None:
        return False
    result = checkout.outcome(session, cart)
    if not result.final:
        return False
    checkout.finish(cart, result, now)
    portal = session.get(Level1Portal, cart.portal_id)
    endpoint = (
        session.get(WebhookEndpoint, portal.notify_endpoint_id)
        if portal is not None and portal.notify_endpoint_id
        else None
    )
    cart.notified_at = now or utcnow()
    if endpoint is None or endpoint.deleted_at is not None:
        return False
    payload = {"type": OUTCOME_EVENT, **payment_status(session, cart)}
    webhooks.notify(session, endpoint, f"level1:{cart.public_id}", OUTCOME_EVENT, payload)
    log.info("level1.notified", cart=cart.public_id, status=result.status)
    return True


def notify_for_option(session: Session, option_id: int) -> int:
    """Call after an option changed state (actors.payments): notify the portal carts that
    hold it and are now final. Returns how many notifications were written."""
    carts = (
        session.scalars(
            sa.select(CheckoutCart)
            .join(CartItem)
            .where(
                CartItem.option_id == option_id,
                CheckoutCart.portal_id.is_not(None),
                CheckoutCart.notified_at.is_(None),
            )
        )
        .unique()
        .all()
    )
    return sum(1 for cart in carts if notify_if_final(session, cart))
