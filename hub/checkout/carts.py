"""Citizen carts and the pagoPA Checkout client.

A cart collects notices: existing payable options (precomputed debts) and spontaneous
payments, whose form data become a published debt position (debtor = the payer) only when the
cart is submitted. ``submit`` opens a pagoPA Checkout cart of at most ``MAX_NOTICES`` notices
through a ``CheckoutClient`` and returns the URL the browser must be sent to; anything beyond
the limit stays in a new open cart, to be paid separately.

The client is chosen in .ini (``payhub.checkout_client = http | fake``): ``HttpCheckoutClient``
posts to ``payhub.checkout_url`` (pagoPA's ``POST /checkout/ec/v1/carts``, or nodesim's), the
fake records carts for tests.

A precomputed service may also name a lookup endpoint of the Ente's back-office (``"lookup"``
in ``PaymentService.form``, see ``register_lookup``): the citizen's key fields (e.g. a fine's
report number and plate) are sent there server-to-server, signed like our webhooks, and the
debt it returns becomes a published position in our archive, then a cart item.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub import clock, http, payments
from hub.config import Config, as_config
from hub.db import utcnow
from hub.errors import DomainError
from hub.models import (
    CartItem,
    CheckoutCart,
    DebtPosition,
    Ente,
    PaymentOption,
    PaymentService,
    Receipt,
    WebhookEndpoint,
)
from hub.notify import webhooks
from hub.payments import plans
from hub.positions.inputs import DebtPositionInput, InvalidPosition, OptionInput, TransferInput
from hub.positions.writer import create_position
from hub.values import identifiers
from hub.values.money import format_cents, to_cents
from workflows.payment import PAID_STATES, OptionStatus

log = structlog.get_logger(__name__)

MAX_NOTICES = 5  # pagoPA Checkout's limit per cart
MAX_ITEMS = 20  # a cart may hold more; they are paid in several Checkout carts
SPONTANEOUS_VALIDITY = dt.timedelta(days=2)  # an unpaid spontaneous notice then expires


class CheckoutError(DomainError):
    """pagoPA Checkout refused the cart or could not be reached."""

    code = "checkout_unavailable"


class CartError(DomainError):
    """The cart cannot take this item, or cannot be submitted as it is."""

    code = "cart_error"

    def __init__(self, message: str, *, code: str | None = None, item: str | None = None):
        super().__init__(message, code=code)
        self.item = item  # the description of the cart item that stopped a submit


# ---------------------------------------------------------------------------------------------
# the Checkout client


@dataclass(frozen=True)
class CheckoutNotice:
    notice_number: str
    fiscal_code: str
    amount_cents: int
    company_name: str
    description: str


@dataclass(frozen=True)
class CartRequest:
    id_cart: str
    notices: list[CheckoutNotice]
    return_ok: str
    return_cancel: str
    return_error: str
    email: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The body of pagoPA's ``POST /checkout/ec/v1/carts``."""
        body: dict[str, Any] = {
            "paymentNotices": [
                {
                    "noticeNumber": n.notice_number,
                    "fiscalCode": n.fiscal_code,
                    "amount": n.amount_cents,
                    "companyName": n.company_name[:140],
                    "description": n.description[:140],
                }
                for n in self.notices
            ],
            "returnUrls": {
                "returnOkUrl": self.return_ok,
                "returnCancelUrl": self.return_cancel,
                "returnErrorUrl": self.return_error,
            },
            "idCart": self.id_cart,
            "allCCP": False,
        }
        if self.email:
            body["emailNotice"] = self.email
        return body


class CheckoutClient(Protocol):
    def open_cart(self, cart: CartRequest) -> str:
        """Open a Checkout cart; return the URL the payer's browser goes to. Raises
        CheckoutError."""


class HttpCheckoutClient:
    """pagoPA Checkout over HTTP: the answer is a 302 whose Location is the payer's page."""

    def __init__(self, url: str, *, timeout: float = 10.0, api_key: str | None = None) -> None:
        self.url, self.timeout, self.api_key = url, timeout, api_key

    def open_cart(self, cart: CartRequest) -> str:
        headers = {"Ocp-Apim-Subscription-Key": self.api_key} if self.api_key else {}
        try:
            answer = http.post(self.url, json=cart.as_json(), headers=headers, timeout=self.timeout)
        except (requests.RequestException, http.UrlRefused) as exc:
            log.warning("checkout.unreachable", error=type(exc).__name__)
            raise CheckoutError("pagoPA Checkout cannot be reached") from None
        location = answer.headers.get("Location")
        if answer.status_code not in (301, 302, 303) or not location:
            log.warning("checkout.refused", status=answer.status_code)
            raise CheckoutError(f"pagoPA Checkout answered {answer.status_code}")
        return requests.compat.urljoin(self.url, location)


@dataclass
class FakeCheckoutClient:
    """Records the carts and sends the payer to ``base_url/<idCart>`` (tests, no network)."""

    base_url: str = "https://checkout.example/c"
    carts: list[CartRequest] = field(default_factory=list)
    fail: bool = False

    def open_cart(self, cart: CartRequest) -> str:
        if self.fail:
            raise CheckoutError("pagoPA Checkout answered 503")
        self.carts.append(cart)
        return f"{self.base_url}/{cart.id_cart}"


def client_from_settings(settings: Config | dict[str, Any]) -> CheckoutClient:
    """The client named by ``payhub.checkout_client`` (default http at ``payhub.checkout_url``)."""
    config = as_config(settings)  # refuses a client that is neither http nor fake
    if config.checkout_client == "fake":
        return FakeCheckoutClient()
    return HttpCheckoutClient(
        config.checkout_url,
        timeout=config.checkout_timeout,
        api_key=config.checkout_api_key or None,
    )


# ---------------------------------------------------------------------------------------------
# carts


@dataclass(frozen=True)
class Payer:
    """Who pays a spontaneous payment, and so its debtor."""

    fiscal_code: str
    name: str
    email: str | None = None

    @property
    def debtor_type(self) -> str:
        return "G" if self.fiscal_code.isdigit() else "F"


def payer_problem(fiscal_code: str) -> str | None:
    """Why ``fiscal_code`` is not a valid Italian fiscal code or VAT number, or None."""
    code = fiscal_code.strip().upper()
    if code == "ANONIMO":
        return "not a valid fiscal code (16 characters) or VAT number (11 digits)"
    return identifiers.debtor_code_problem("G" if code.isdigit() else "F", code)


def new_cart(session: Session, *, language: str = "it", **extra: Any) -> CheckoutCart:
    cart = CheckoutCart(public_id=secrets.token_hex(16), status="open", language=language, **extra)
    session.add(cart)
    session.flush()
    return cart


def get_cart(session: Session, public_id: str | None) -> CheckoutCart | None:
    if not public_id:
        return None
    return session.scalars(
        sa.select(CheckoutCart).where(CheckoutCart.public_id == public_id)
    ).one_or_none()


def _check_room(cart: CheckoutCart) -> None:
    if cart.status != "open":
        raise CartError("this cart was already sent to pagoPA")
    if len(cart.items) >= MAX_ITEMS:
        raise CartError(f"a cart holds at most {MAX_ITEMS} payments")


def find_payable(
    session: Session, ente: Ente, notice_number: str, today: dt.date | None = None
) -> PaymentOption:
    """The payable option with this notice number. Raises PaymentUnknown, PaymentAlreadyPaid,
    PaymentCancelled or PaymentExpired."""
    option = session.scalars(
        sa.select(PaymentOption).where(
            PaymentOption.ente_id == ente.id, PaymentOption.notice_number == notice_number
        )
    ).one_or_none()
    return payments.check_payable(option, today or clock.today())


def add_notice(
    session: Session,
    cart: CheckoutCart,
    ente: Ente,
    notice_number: str,
    today: dt.date | None = None,
) -> CartItem:
    """Put a payable notice of ``ente`` in the cart. Raises the payability errors of
    ``find_payable`` and CartError (cart full or submitted, notice already in it)."""
    _check_room(cart)
    option = find_payable(session, ente, notice_number, today)
    if any(i.option_id == option.id for i in cart.items):
        raise CartError("this notice is already in the cart")
    _check_one_plan(session, cart, option)
    item = CartItem(
        ente_id=ente.id,
        service_id=option.position.service_id,
        option_id=option.id,
        kind="precomputed",
        amount_cents=option.amount_cents,
        description=(option.description or option.position.description)[:140],
    )
    cart.items.append(item)
    session.flush()
    return item


def _check_one_plan(session: Session, cart: CheckoutCart, option: PaymentOption) -> None:
    """Plans are exclusive: a cart holds one plan of a debt (pay in full, or its instalments)."""
    for item in cart.items:
        held = session.get(PaymentOption, item.option_id) if item.option_id else None
        same_debt = held is not None and held.position_id == option.position_id
        if same_debt and held is not None and not plans.same_plan(held, option):
            raise CartError(
                "the cart already holds another payment plan of this debt",
                code="other_plan_in_cart",
            )


def add_spontaneous(
    session: Session,
    cart: CheckoutCart,
    service: PaymentService,
    amount_cents: int,
    payer: Payer,
    form_data: dict[str, Any],
    description: str | None = None,
) -> CartItem:
    """Put a spontaneous payment in the cart; its position is created at ``submit``.
    Raises CartError (cart full or submitted, invalid payer)."""
    _check_room(cart)
    if payer_problem(payer.fiscal_code):
        raise CartError("the payer's fiscal code is not valid")
    item = CartItem(
        ente_id=service.ente_id,
        service_id=service.id,
        kind="spontaneous",
        amount_cents=amount_cents,
        description=(description or service.label)[:140],
        payer={
            "fiscalCode": payer.fiscal_code.strip().upper(),
            "name": payer.name.strip(),
            "email": payer.email,
        },
        form_data=form_data,
    )
    cart.items.append(item)
    session.flush()
    return item


def remove_item(session: Session, cart: CheckoutCart, item_id: int) -> None:
    """Take an item out of an open cart (nothing happens for an unknown id)."""
    if cart.status != "open":
        raise CartError("this cart was already sent to pagoPA")
    for item in list(cart.items):
        if item.id == item_id:
            cart.items.remove(item)
    session.flush()


def total_cents(items: list[CartItem]) -> int:
    return sum(i.amount_cents for i in items)


@dataclass
class Submitted:
    url: str
    cart: CheckoutCart
    left_over: CheckoutCart | None  # the items beyond MAX_NOTICES, in a new open cart


def submit(
    session: Session,
    cart: CheckoutCart,
    client: CheckoutClient,
    return_urls: tuple[str, str, str],
    *,
    email: str | None = None,
    now: dt.datetime | None = None,
) -> Submitted:
    """Create the spontaneous positions, open a Checkout cart with the first MAX_NOTICES
    items and return where the browser goes. Raises CartError (empty, already submitted, a
    notice no longer payable) or CheckoutError; the caller's transaction then rolls back."""
    now = now or utcnow()
    if cart.status != "open":
        raise CartError("this cart was already sent to pagoPA")
    if not cart.items:
        raise CartError("the cart is empty")
    left_over = None
    if len(cart.items) > MAX_NOTICES:
        left_over = new_cart(session, language=cart.language)
        moved = [item.id for item in cart.items[MAX_NOTICES:]]
        session.execute(
            sa.update(CartItem).where(CartItem.id.in_(moved)).values(cart_id=left_over.id)
        )
        session.expire(cart, ["items"])
        session.expire(left_over, ["items"])
    notices = [_notice_for(session, cart, item, now) for item in cart.items]
    ok, cancel, error = return_urls
    request = CartRequest(
        id_cart=cart.public_id,
        notices=notices,
        return_ok=ok,
        return_cancel=cancel,
        return_error=error,
        email=email,
    )
    url = client.open_cart(request)
    cart.status, cart.submitted_at, cart.checkout_url = "submitted", now, url
    cart.payer_email = email
    log.info("checkout.submitted", cart=cart.public_id, notices=len(notices))
    return Submitted(url=url, cart=cart, left_over=left_over)


def _notice_for(
    session: Session, cart: CheckoutCart, item: CartItem, now: dt.datetime
) -> CheckoutNotice:
    ente = session.get(Ente, item.ente_id)
    assert ente is not None
    if item.kind == "spontaneous" and item.option_id is None:
        item.option_id = _create_spontaneous(session, cart, item, ente, now).id
    option = session.get(PaymentOption, item.option_id)
    try:
        payments.check_payable(option, clock.business_date(now))
    except DomainError as exc:
        # the code says why (the citizen pages translate it), the text is for the logs
        raise CartError(
            f"{item.description}: {exc}", code=exc.code, item=item.description
        ) from None
    assert option is not None
    return CheckoutNotice(
        option.notice_number, ente.fiscal_code, option.amount_cents, ente.name, item.description
    )


def _one_transfer_option(
    amount: str, description: str, service: PaymentService, ente: Ente, **dates: dt.date
) -> OptionInput:
    """An option of a service's cart item: one transfer of it all, to the service's account
    (else the Ente's), ``description`` as its remittance information; ``dates``: due_date
    and, when given, retention_date. Raises InvalidPosition."""
    return OptionInput.of(
        amount=amount,
        **dates,
        description=description,
        transfers=[
            TransferInput.of(
                amount=amount,
                remittance_information=description,
                category=service.taxonomy,
                iban=service.default_iban or ente.iban,
            )
        ],
    )


def _create_spontaneous(
    session: Session, cart: CheckoutCart, item: CartItem, ente: Ente, now: dt.datetime
) -> PaymentOption:
    service = session.get(PaymentService, item.service_id)
    assert service is not None and item.payer is not None
    payer = Payer(item.payer["fiscalCode"], item.payer["name"], item.payer.get("email"))
    amount = format_cents(item.amount_cents)
    today = clock.business_date(now)
    position = create_position(
        session,
        ente,
        DebtPositionInput.of(
            iupd=f"CHK-{cart.public_id}-{item.id}",
            debtor_type=payer.debtor_type,
            debtor_fiscal_code=payer.fiscal_code,
            debtor_name=payer.name[:140],
            debtor_email=payer.email,
            description=item.description,
            options=[
                _one_transfer_option(
                    amount,
                    item.description,
                    service,
                    ente,
                    due_date=today,
                    retention_date=today + SPONTANEOUS_VALIDITY,
                )
            ],
        ),
        service_id=service.id,
        publish=True,
        cause=f"checkout:{cart.public_id}",
        strict_identifiers=False,
    )
    return position.options[0]


# ---------------------------------------------------------------------------------------------
# the Ente's back-office: precomputed debts found by key fields


LOOKUP_KIND = "lookup"  # hub.notify.webhooks endpoint kind that holds a lookup's key id and secret
LOOKUP_TIMEOUT = 5.0
LOOKUP_MAX_TIMEOUT = 15.0
_KEY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class BackofficeNotFound(DomainError):
    """The back-office holds no debt for these key fields."""

    code = "backoffice_not_found"


class BackofficeUnavailable(DomainError):
    """The back-office did not answer in time, or answered something we cannot use."""

    code = "backoffice_unavailable"


@dataclass(frozen=True)
class LookupSpec:
    url: str
    key_id: str
    keys: list[dict[str, Any]]  # form fields (hub-agnostic dicts, as in "fields")
    timeout: float


def lookup_spec(form: dict[str, Any] | None) -> LookupSpec | None:
    """The ``"lookup"`` part of a service's form definition, or None if absent or broken."""
    raw = (form or {}).get("lookup")
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("url"), str)
        or not isinstance(raw.get("keyId"), str)
    ):
        return None
    keys = [
        k
        for k in raw.get("keys") or []
        if isinstance(k, dict)
        and _KEY_NAME.match(str(k.get("name", "")))
        and k.get("name") != "csrf_token"
    ]
    if not keys or not re.match(r"^https?://", raw["url"]):
        return None
    try:
        timeout = float(raw.get("timeoutSeconds", LOOKUP_TIMEOUT))
    except (TypeError, ValueError):
        timeout = LOOKUP_TIMEOUT
    return LookupSpec(raw["url"], raw["keyId"], keys, min(max(timeout, 0.1), LOOKUP_MAX_TIMEOUT))


def register_lookup(
    session: Session,
    service: PaymentService,
    url: str,
    keys: list[dict[str, Any]],
    *,
    timeout_seconds: float = LOOKUP_TIMEOUT,
) -> webhooks.RegisteredEndpoint:
    """Configure ``service`` to find its debts at the back-office's ``url`` by the form
    fields ``keys``; a new key id and secret sign the requests (the secret is returned only
    here; a previous lookup key of the service stops working)."""
    try:
        http.check_url(url, unresolvable_ok=True)  # checked again, and pinned, at each lookup
    except http.UrlRefused as exc:
        raise DomainError(f"the lookup URL is refused: {exc}") from None
    if not keys or any(not _KEY_NAME.match(str(k.get("name", ""))) for k in keys):
        raise DomainError("lookup keys need names of lowercase letters, digits and _")
    ente = session.get(Ente, service.ente_id)
    assert ente is not None
    old = lookup_spec(service.form)
    if old is not None:
        for endpoint in webhooks.active_endpoints(session, ente.id, kind=LOOKUP_KIND):
            if endpoint.key_id == old.key_id:
                webhooks.delete_endpoint(session, endpoint)
    registered = webhooks.register_endpoint(
        session, ente, url, kind=LOOKUP_KIND, events=[], description=f"lookup: {service.code}"[:140]
    )
    service.form = {
        **(service.form or {}),
        "lookup": {
            "url": url,
            "keyId": registered.endpoint.key_id,
            "keys": keys,
            "timeoutSeconds": timeout_seconds,
        },
    }
    session.flush()
    return registered


@dataclass(frozen=True)
class BackofficeDebt:
    iupd: str
    amount_cents: int
    description: str
    debtor_type: str
    debtor_fiscal_code: str
    debtor_name: str
    due_date: dt.date
    debtor_email: str | None = None


def ask_backoffice(
    session: Session,
    service: PaymentService,
    keys: dict[str, str],
    *,
    now: dt.datetime | None = None,
) -> BackofficeDebt:
    """POST the key fields to the service's lookup endpoint (signed: ``X-Payhub-Key-Id`` and
    ``X-Payhub-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, as
    webhooks) and read the debt. Raises BackofficeNotFound (404) or BackofficeUnavailable
    (not configured, timeout, unreachable, any other answer, an unusable debt)."""
    spec = lookup_spec(service.form)
    ente = session.get(Ente, service.ente_id)
    assert ente is not None
    endpoint = session.scalars(
        sa.select(WebhookEndpoint).where(
            WebhookEndpoint.ente_id == service.ente_id,
            WebhookEndpoint.kind == LOOKUP_KIND,
            WebhookEndpoint.key_id == (spec.key_id if spec else ""),
            WebhookEndpoint.deleted_at.is_(None),
        )
    ).one_or_none()
    if spec is None or endpoint is None:
        log.warning("checkout.lookup_not_configured", ente=ente.fiscal_code, service=service.code)
        raise BackofficeUnavailable("this service has no usable lookup configuration")
    body = json.dumps(
        {"enteFiscalCode": ente.fiscal_code, "service": service.code, "keys": keys},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    timestamp = int((now or utcnow()).timestamp())
    signature = webhooks.signature(endpoint.secret, timestamp, body)
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": "payhub-lookup/1",
        webhooks.KEY_ID_HEADER: endpoint.key_id,
        webhooks.SIGNATURE_HEADER: f"t={timestamp},v1={signature}",
    }
    started = time.monotonic()
    where = {"ente": ente.fiscal_code, "service": service.code}  # never the keys: personal
    try:
        answer = http.post(spec.url, data=body, headers=headers, timeout=spec.timeout)
    except (requests.RequestException, http.UrlRefused) as exc:
        log.warning("checkout.lookup_unreachable", error=type(exc).__name__, **where)
        raise BackofficeUnavailable("the back-office cannot be reached") from None
    took_ms = int((time.monotonic() - started) * 1000)
    if answer.status_code == 404:
        log.info("checkout.lookup_not_found", ms=took_ms, **where)
        raise BackofficeNotFound("the back-office holds no debt for these details")
    if answer.status_code != 200:
        log.warning("checkout.lookup_refused", status=answer.status_code, ms=took_ms, **where)
        raise BackofficeUnavailable(f"the back-office answered {answer.status_code}")
    try:
        debt = _debt(answer.json(), clock.business_date(now or utcnow()))
    except (ValueError, TypeError, KeyError, AttributeError, DomainError) as exc:
        log.warning("checkout.lookup_bad_answer", error=str(exc)[:200], ms=took_ms, **where)
        raise BackofficeUnavailable("the back-office answered an unusable debt") from None
    log.info("checkout.lookup_found", ms=took_ms, **where)
    return debt


def _debt(data: Any, today: dt.date) -> BackofficeDebt:
    """Read ``{"iupd", "amount": "42.00", "description", "dueDate"?, "debtor": {"type"?,
    "fiscalCode", "name", "email"?}}``; raises ValueError, KeyError or DomainError."""
    debtor = data["debtor"]
    code = str(debtor["fiscalCode"]).strip().upper()
    kind = str(debtor.get("type") or ("G" if code.isdigit() else "F"))
    iupd, description, name = (
        str(data["iupd"]).strip(),
        str(data["description"]).strip(),
        str(debtor["name"]).strip(),
    )
    if not (1 <= len(iupd) <= 64 and description and name) or kind not in ("F", "G"):
        raise ValueError("iupd (1-64), description, debtor.name and type F|G are required")
    problem = identifiers.debtor_code_problem(kind, code)
    if problem:
        raise ValueError(f"debtor.fiscalCode: {problem}")
    cents = to_cents(str(data["amount"]))
    if cents <= 0:
        raise ValueError("the amount must be positive")
    due = dt.date.fromisoformat(data["dueDate"]) if data.get("dueDate") else today
    return BackofficeDebt(
        iupd=iupd,
        amount_cents=cents,
        description=description[:140],
        debtor_type=kind,
        debtor_fiscal_code=code,
        debtor_name=name[:140],
        due_date=due,
        debtor_email=debtor.get("email") or None,
    )


def backoffice_iupd(service: PaymentService, debt: BackofficeDebt) -> str:
    """Our position's IUPD: the back-office's own, within the service's namespace."""
    iupd = f"BO-{service.code}-{debt.iupd}"
    if len(iupd) > 64:
        iupd = f"BO-{service.code}-" + hashlib.sha256(debt.iupd.encode()).hexdigest()[:24]
    return iupd


def archive_backoffice_debt(
    session: Session, service: PaymentService, debt: BackofficeDebt
) -> PaymentOption:
    """The option for ``debt`` in our archive: created and published the first time, the
    same one afterwards (the back-office's IUPD identifies it). Raises BackofficeUnavailable
    if the debt cannot be a valid position."""
    ente = session.get(Ente, service.ente_id)
    assert ente is not None
    iupd = backoffice_iupd(service, debt)

    def existing() -> DebtPosition | None:
        return session.scalars(
            sa.select(DebtPosition).where(
                DebtPosition.ente_id == ente.id, DebtPosition.iupd == iupd
            )
        ).one_or_none()

    position = existing()
    if position is None:
        amount = format_cents(debt.amount_cents)

        def debt_input() -> DebtPositionInput:  # raises InvalidPosition
            return DebtPositionInput.of(
                iupd=iupd,
                debtor_type=debt.debtor_type,
                debtor_fiscal_code=debt.debtor_fiscal_code,
                debtor_name=debt.debtor_name,
                debtor_email=debt.debtor_email,
                description=debt.description,
                options=[
                    _one_transfer_option(
                        amount, debt.description, service, ente, due_date=debt.due_date
                    )
                ],
            )

        try:
            with session.begin_nested():
                position = create_position(
                    session,
                    ente,
                    debt_input(),
                    service_id=service.id,
                    publish=True,
                    cause=f"backoffice:{service.code}",
                )
        except InvalidPosition as exc:
            log.warning(
                "checkout.lookup_bad_debt",
                ente=ente.fiscal_code,
                service=service.code,
                field=getattr(exc, "field", None),
            )
            raise BackofficeUnavailable("the back-office answered an unusable debt") from None
        except IntegrityError:  # the same debt archived at the same moment by another lookup
            position = existing()
            if position is None:
                raise
        else:
            log.info(
                "checkout.lookup_archived", ente=ente.fiscal_code, service=service.code, iupd=iupd
            )
    options = sorted(position.options, key=lambda o: (o.instalment_number or 0, o.id))
    return options[0]


def add_from_backoffice(
    session: Session,
    cart: CheckoutCart,
    service: PaymentService,
    keys: dict[str, str],
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> CartItem:
    """Ask the back-office, archive the debt, put it in the cart. Raises BackofficeNotFound,
    BackofficeUnavailable, the payability errors of ``find_payable`` (a debt already paid
    here, say) and CartError."""
    _check_room(cart)
    debt = ask_backoffice(session, service, keys, now=now)
    option = archive_backoffice_debt(session, service, debt)
    ente = session.get(Ente, service.ente_id)
    assert ente is not None
    return add_notice(session, cart, ente, option.notice_number, today)


# ---------------------------------------------------------------------------------------------
# outcome


@dataclass(frozen=True)
class ItemOutcome:
    item: CartItem
    option: PaymentOption | None
    receipt: Receipt | None

    @property
    def paid(self) -> bool:
        return self.option is not None and self.option.status in PAID_STATES


@dataclass(frozen=True)
class CartOutcome:
    status: str  # open | in_progress | paid | partially_paid | not_paid
    items: list[ItemOutcome]

    @property
    def final(self) -> bool:
        return self.status in {"paid", "partially_paid", "not_paid"}  # not a payment state


def outcome(session: Session, cart: CheckoutCart, *, hint: str | None = None) -> CartOutcome:
    """The cart's state read from our database (options and receipts), never from the
    browser. ``hint`` is the return URL the payer came back on (ok, cancel, error): it may
    turn "in progress" into "not paid" when nothing was activated, never into "paid"."""
    if cart.status == "not_paid":
        hint = hint or "cancel"
    items = []
    for item in cart.items:
        option = session.get(PaymentOption, item.option_id) if item.option_id else None
        receipt = None
        if option is not None:
            receipt = session.scalars(
                sa.select(Receipt)
                .where(Receipt.option_id == option.id)
                .order_by(Receipt.id)
                .limit(1)
            ).first()
        items.append(ItemOutcome(item, option, receipt))
    if cart.status == "open":
        return CartOutcome("open", items)
    paid = sum(1 for i in items if i.paid)
    activated = any(
        i.option is not None and i.option.status == OptionStatus.IN_PROGRESS for i in items
    )
    if paid == len(items):
        status = "paid"  # not a payment state: the cart's outcome
    elif paid:
        status = "partially_paid" if not activated else "in_progress"  # not a payment state
    elif hint in ("cancel", "error") and not activated:
        status = "not_paid"
    else:
        status = "in_progress"  # not a payment state: the cart's outcome
    return CartOutcome(status, items)


def finish(cart: CheckoutCart, result: CartOutcome, now: dt.datetime | None = None) -> bool:
    """Record a final outcome on the cart once; True the first time."""
    if not result.final or cart.finished_at is not None:
        return False
    cart.status, cart.finished_at = result.status, now or utcnow()
    return True
