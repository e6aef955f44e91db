"""Every administration write and listing, for one ``Actor``; each change is an audit event
naming who, what, and the fields before and after (secrets as ``"***"``).

An actor with an ``intermediary_id`` (a key of the administration API, a dashboard account of
an intermediary bound to one) sees and changes only that intermediary's stations and the Enti
they serve; an actor without one (the CLI, the seed, the platform's administrators) sees all.
A scoped actor may create operator accounts of its Enti only, never support or intermediary
accounts. Writes that change nothing record nothing (re-running an import is a no-op).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from hub import clock, http
from hub.admin import inputs as i
from hub.checkout import carts, level1
from hub.errors import Conflict, DomainError, NotFound
from hub.models import (
    ApiKey,
    AuditEvent,
    Ente,
    EnteIban,
    Intermediary,
    Level1Portal,
    OperatorAccount,
    OperatorRole,
    PaymentService,
    ServiceKind,
    Station,
    WebhookEndpoint,
    station_ente,
)
from hub.notify import webhooks
from hub.tenants import api_keys, audit, operators

SECRET_FIELDS = {"password", "subscription_key", "secret", "legacy_iv", "legacy_key"}
MASK = "***"


class Forbidden(DomainError):
    """The actor may not do this (an intermediary's key on another intermediary's objects
    gets NotFound instead: nothing about them is revealed)."""

    code = "forbidden"


@dataclass(frozen=True)
class Actor:
    """Who acts: ``name`` as audited (``cli``, ``api_key:ph_…``, ``ops:anna``, ``seed``)."""

    name: str
    intermediary_id: int | None = None
    api_key_id: int | None = None
    request_id: str | None = None

    @property
    def scoped(self) -> bool:
        return self.intermediary_id is not None


CLI = Actor("cli")


# --- audit -----------------------------------------------------------------------------------


def _value(name: str, value: Any) -> Any:
    if name in SECRET_FIELDS and value is not None:
        return MASK
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _apply(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set the attributes that differ; return {field: [before, after]} of those."""
    changes: dict[str, list[Any]] = {}
    for name, new in values.items():
        old = getattr(obj, name)
        if old != new:
            changes[name] = [_value(name, old), _value(name, new)]
            setattr(obj, name, new)
    return changes


def _record(
    session: Session,
    actor: Actor,
    action: str,
    target: str,
    changes: dict[str, list[Any]] | None = None,
    *,
    ente_id: int | None = None,
    ente: Ente | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    detail: dict[str, Any] = dict(extra or {})
    if changes is not None:
        detail["before"] = {k: v[0] for k, v in changes.items()}
        detail["after"] = {k: v[1] for k, v in changes.items()}
    event = audit.record(
        session,
        actor=actor.name,
        action=action,
        target=target,
        ente_id=ente_id if ente is None else ente.id,
        api_key_id=actor.api_key_id,
        request_id=actor.request_id,
        detail=detail or None,
    )
    if ente is not None and ente.id is None:  # not flushed yet: its id when it is
        event.ente = ente


# --- intermediaries --------------------------------------------------------------------------


def list_intermediaries(session: Session, actor: Actor) -> list[Intermediary]:
    query = sa.select(Intermediary).order_by(Intermediary.broker_code)
    if actor.scoped:
        query = query.where(Intermediary.id == actor.intermediary_id)
    return list(session.scalars(query))


def get_intermediary(session: Session, actor: Actor, broker_code: str) -> Intermediary:
    found = session.scalar(sa.select(Intermediary).where(Intermediary.broker_code == broker_code))
    if found is None or (actor.scoped and found.id != actor.intermediary_id):
        raise NotFound(f"no intermediary {broker_code}")
    return found


def create_intermediary(session: Session, actor: Actor, data: i.IntermediaryInput) -> Intermediary:
    if actor.scoped:
        raise Forbidden("an intermediary's key cannot create intermediaries")
    if session.scalar(
        sa.select(Intermediary.id).where(Intermediary.broker_code == data.broker_code)
    ):
        raise Conflict(f"intermediary {data.broker_code} exists", code="exists")
    found = Intermediary(broker_code=data.broker_code, name=data.name)
    session.add(found)
    session.flush()
    _record(
        session,
        actor,
        "admin.intermediary.create",
        f"intermediary:{data.broker_code}",
        _created(data.model_dump()),
    )
    return found


def update_intermediary(
    session: Session, actor: Actor, broker_code: str, patch: i.IntermediaryPatch
) -> Intermediary:
    found = get_intermediary(session, actor, broker_code)
    changes = _apply(found, patch.given())
    if changes:
        _record(session, actor, "admin.intermediary.update", f"intermediary:{broker_code}", changes)
    return found


def _created(values: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [None, _value(k, v)] for k, v in values.items() if v is not None}


# --- stations --------------------------------------------------------------------------------


def list_stations(session: Session, actor: Actor) -> list[Station]:
    query = (
        sa.select(Station)
        .options(selectinload(Station.enti), selectinload(Station.intermediary))
        .order_by(Station.station_code)
    )
    if actor.scoped:
        query = query.where(Station.intermediary_id == actor.intermediary_id)
    return list(session.scalars(query))


def get_station(session: Session, actor: Actor, station_code: str) -> Station:
    # stations are few and read on every Ente of an import: kept for the session's life
    cache = session.info.setdefault("admin.stations", {})
    found = cache.get(station_code)
    if found is None:
        found = session.scalar(sa.select(Station).where(Station.station_code == station_code))
        if found is not None:
            cache[station_code] = found
    if found is None or (actor.scoped and found.intermediary_id != actor.intermediary_id):
        raise NotFound(f"no station {station_code}")
    return found


def create_station(session: Session, actor: Actor, data: i.StationInput) -> Station:
    broker = get_intermediary(session, actor, data.broker_code)
    if session.scalar(sa.select(Station.id).where(Station.station_code == data.station_code)):
        raise Conflict(f"station {data.station_code} exists", code="exists")
    station = Station(
        station_code=data.station_code,
        intermediary=broker,
        primitive_version=data.primitive_version,
        password=data.password,
        subscription_key=data.subscription_key,
        test=data.test,
    )
    session.add(station)
    session.flush()
    _record(
        session,
        actor,
        "admin.station.create",
        f"station:{data.station_code}",
        _created(data.model_dump()),
    )
    return station


def update_station(
    session: Session, actor: Actor, station_code: str, patch: i.StationPatch
) -> Station:
    station = get_station(session, actor, station_code)
    changes = _apply(station, patch.given())
    if changes:
        _record(session, actor, "admin.station.update", f"station:{station_code}", changes)
    return station


# --- Enti ------------------------------------------------------------------------------------


def _visible_enti(actor: Actor) -> Any:
    query = sa.select(Ente)
    if actor.scoped:
        query = query.where(
            Ente.id.in_(
                sa.select(station_ente.c.ente_id)
                .join(Station, Station.id == station_ente.c.station_id)
                .where(Station.intermediary_id == actor.intermediary_id)
            )
        )
    return query


def list_enti(session: Session, actor: Actor) -> list[Ente]:
    return list(
        session.scalars(
            _visible_enti(actor)
            .options(selectinload(Ente.stations), selectinload(Ente.services))
            .order_by(Ente.fiscal_code)
        )
    )


def get_ente(session: Session, actor: Actor, fiscal_code: str) -> Ente:
    found = session.scalar(_visible_enti(actor).where(Ente.fiscal_code == fiscal_code))
    if found is None:
        raise NotFound(f"no Ente {fiscal_code}")
    return found


def _stations(session: Session, actor: Actor, codes: Sequence[str]) -> list[Station]:
    return [get_station(session, actor, code) for code in dict.fromkeys(codes)]


ENTE_FIELDS = (
    "name",
    "office",
    "segregation_code",
    "cbill_code",
    "iban",
    "postal_iban",
    "referente_name",
    "referente_surname",
    "referente_email",
    "referente_phone",
    "technical_contact_name",
    "technical_contact_email",
    "technical_contact_phone",
    "support_contact_name",
    "support_contact_email",
    "support_contact_phone",
)


def create_ente(
    session: Session, actor: Actor, data: i.EnteInput, *, known_new: bool = False
) -> Ente:
    """A new Ente on the given stations, with its accounts and (optionally) services.
    ``known_new``: the caller has checked that no Ente has this fiscal code (bulk onboarding
    reads them all at once)."""
    if not known_new and session.scalar(
        sa.select(Ente.id).where(Ente.fiscal_code == data.fiscal_code)
    ):
        raise Conflict(f"Ente {data.fiscal_code} exists", code="exists")
    stations = _stations(session, actor, data.stations)
    values = {name: getattr(data, name) for name in ENTE_FIELDS}
    ente = Ente(fiscal_code=data.fiscal_code, stations=stations, **values)
    session.add(ente)
    _record(
        session,
        actor,
        "admin.ente.create",
        f"ente:{data.fiscal_code}",
        _created({**values, "stations": list(data.stations)}),
        ente=ente,
    )
    for iban, postal in ((ente.iban, False), (ente.postal_iban, True)):
        if iban:  # a new Ente has no accounts yet: its current ones open the register
            _new_account(session, actor, ente, i.IbanInput(iban=iban, postal=postal))
    for service in data.services:
        new_service(session, actor, ente, service)
    if not known_new:  # bulk onboarding flushes many Enti at once
        session.flush()
    return ente


def update_ente(session: Session, actor: Actor, fiscal_code: str, patch: i.EntePatch) -> Ente:
    return change_ente(session, actor, get_ente(session, actor, fiscal_code), patch)


def change_ente(session: Session, actor: Actor, ente: Ente, patch: i.EntePatch) -> Ente:
    """Apply ``patch`` to an Ente the caller has already found (and may change)."""
    fiscal_code = ente.fiscal_code
    given = patch.given()
    codes = given.pop("stations", None)
    changes = _apply(ente, given)
    if codes is not None:
        before = sorted(s.station_code for s in ente.stations)
        if before != sorted(set(codes)):
            stations = _stations(session, actor, codes)
            if actor.scoped:  # keep the stations of other intermediaries
                stations += [s for s in ente.stations if s.intermediary_id != actor.intermediary_id]
            ente.stations = stations
            changes["stations"] = [before, sorted(s.station_code for s in stations)]
    if changes:
        session.flush()
        _record(
            session, actor, "admin.ente.update", f"ente:{fiscal_code}", changes, ente_id=ente.id
        )
        if "iban" in changes or "postal_iban" in changes:
            _register_current_accounts(session, actor, ente)
    return ente


def visible_enti(session: Session, actor: Actor, codes: Sequence[str]) -> dict[str, Ente]:
    """The Enti with these fiscal codes the actor may see, their stations and services
    loaded (bulk onboarding reads a file's Enti at once)."""
    found: dict[str, Ente] = {}
    codes = list(dict.fromkeys(codes))
    for start in range(0, len(codes), 1000):
        found.update(
            (e.fiscal_code, e)
            for e in session.scalars(
                _visible_enti(actor)
                .where(Ente.fiscal_code.in_(codes[start : start + 1000]))
                .options(selectinload(Ente.stations), selectinload(Ente.services))
            )
        )
    return found


def taken_fiscal_codes(session: Session, codes: Sequence[str]) -> set[str]:
    """Which of these fiscal codes some Ente has (whoever serves it)."""
    codes = list(dict.fromkeys(codes))
    taken: set[str] = set()
    for start in range(0, len(codes), 1000):
        taken.update(
            session.scalars(
                sa.select(Ente.fiscal_code).where(Ente.fiscal_code.in_(codes[start : start + 1000]))
            )
        )
    return taken


def set_logo(session: Session, actor: Actor, fiscal_code: str, data: bytes | None) -> Ente:
    from hub.printing.data import logo_problem

    if data is not None and (problem := logo_problem(data)):
        raise i.InvalidInput(problem, field="logo")
    ente = get_ente(session, actor, fiscal_code)
    changes = _apply(ente, {"logo": data})
    if changes:
        _record(session, actor, "admin.ente.logo", f"ente:{fiscal_code}", changes, ente_id=ente.id)
    return ente


# --- accounts (IBANs) ------------------------------------------------------------------------


def list_ibans(session: Session, actor: Actor, fiscal_code: str) -> list[EnteIban]:
    ente = get_ente(session, actor, fiscal_code)
    return list(
        session.scalars(
            sa.select(EnteIban)
            .where(EnteIban.ente_id == ente.id)
            .order_by(EnteIban.valid_from, EnteIban.id)
        )
    )


def _register_current_accounts(session: Session, actor: Actor, ente: Ente) -> None:
    """The Ente's current accounts are in its register (valid from today)."""
    for iban, postal in ((ente.iban, False), (ente.postal_iban, True)):
        if iban and not session.scalar(
            sa.select(EnteIban.id).where(EnteIban.ente_id == ente.id, EnteIban.iban == iban)
        ):
            add_iban(session, actor, ente.fiscal_code, i.IbanInput(iban=iban, postal=postal))


def add_iban(session: Session, actor: Actor, fiscal_code: str, data: i.IbanInput) -> EnteIban:
    """Register an account; one valid today becomes the Ente's current bank (or postal)
    account."""
    ente = get_ente(session, actor, fiscal_code)
    existing = session.scalar(
        sa.select(EnteIban).where(EnteIban.ente_id == ente.id, EnteIban.iban == data.iban)
    )
    values = {
        "postal": data.postal,
        "valid_from": data.valid_from or clock.today(),
        "valid_until": data.valid_until,
        "description": data.description,
    }
    if existing is not None:
        if data.valid_from is None:
            values["valid_from"] = existing.valid_from
        changes = _apply(existing, values)
        account = existing
        action = "admin.iban.update"
    else:
        account = _new_account(session, actor, ente, data)
        changes = {}
        action = "admin.iban.add"
    if changes:
        session.flush()
        _record(session, actor, action, f"ente:{fiscal_code}", changes, ente_id=ente.id)
    _current_accounts(session, actor, ente)
    return account


def _new_account(session: Session, actor: Actor, ente: Ente, data: i.IbanInput) -> EnteIban:
    values = {
        "postal": data.postal,
        "valid_from": data.valid_from or clock.today(),
        "valid_until": data.valid_until,
        "description": data.description,
    }
    account = EnteIban(ente=ente, iban=data.iban, **values)
    session.add(account)
    _record(
        session,
        actor,
        "admin.iban.add",
        f"ente:{ente.fiscal_code}",
        _created({"iban": data.iban, **values}),
        ente=ente,
    )
    return account


def _current_accounts(session: Session, actor: Actor, ente: Ente) -> None:
    today = clock.today()
    accounts = session.scalars(
        sa.select(EnteIban).where(EnteIban.ente_id == ente.id).order_by(EnteIban.valid_from)
    ).all()
    values: dict[str, Any] = {}
    for postal, field in ((False, "iban"), (True, "postal_iban")):
        valid = [a.iban for a in accounts if a.postal == postal and a.valid_on(today)]
        current = getattr(ente, field)
        if current not in valid:
            values[field] = valid[-1] if valid else None
    changes = _apply(ente, values)
    if changes:
        _record(
            session,
            actor,
            "admin.ente.update",
            f"ente:{ente.fiscal_code}",
            changes,
            ente_id=ente.id,
        )


# --- payment services ------------------------------------------------------------------------


def list_services(session: Session, actor: Actor, fiscal_code: str) -> list[PaymentService]:
    ente = get_ente(session, actor, fiscal_code)
    return list(
        session.scalars(
            sa.select(PaymentService)
            .where(PaymentService.ente_id == ente.id)
            .order_by(PaymentService.code)
        )
    )


def get_service(session: Session, actor: Actor, fiscal_code: str, code: str) -> PaymentService:
    ente = get_ente(session, actor, fiscal_code)
    found = session.scalar(
        sa.select(PaymentService).where(
            PaymentService.ente_id == ente.id, PaymentService.code == code
        )
    )
    if found is None:
        raise NotFound(f"no service {code} of Ente {fiscal_code}")
    return found


def _service_values(data: i.ServiceInput | i.ServicePatch, old_form: dict | None) -> dict:
    given = data.given()
    values: dict[str, Any] = {}
    for name in ("label", "taxonomy", "active"):
        if name in given:
            values[name] = given[name]
    if "iban" in given:
        values["default_iban"] = given["iban"]
    if "kind" in given or isinstance(data, i.ServiceInput):
        values["kind"] = ServiceKind(data.kind) if data.kind else None
    if "form" in given:
        form = data.form.stored() if data.form is not None else None
        lookup = (old_form or {}).get("lookup")
        if lookup is not None:  # written by set_lookup, kept across form edits
            form = {**(form or {}), "lookup": lookup}
        values["form"] = form
    return {k: v for k, v in values.items() if not (k == "kind" and v is None)}


def create_service(
    session: Session, actor: Actor, fiscal_code: str, data: i.ServiceInput
) -> PaymentService:
    ente = get_ente(session, actor, fiscal_code)
    if session.scalar(
        sa.select(PaymentService.id).where(
            PaymentService.ente_id == ente.id, PaymentService.code == data.code
        )
    ):
        raise Conflict(f"service {data.code} of Ente {fiscal_code} exists", code="exists")
    service = new_service(session, actor, ente, data)
    session.flush()
    return service


def new_service(session: Session, actor: Actor, ente: Ente, data: i.ServiceInput) -> PaymentService:
    """Add a service the caller knows the Ente does not have yet (written at the next
    flush)."""
    if data.kind == "spontaneous" and data.form is None:
        data = data.model_copy(update={"form": i.FormDefinition()})
    values = _service_values(data, None)
    values.setdefault("default_iban", None)
    service = PaymentService(ente=ente, code=data.code, **values)
    session.add(service)
    _record(
        session,
        actor,
        "admin.service.create",
        f"service:{ente.fiscal_code}/{data.code}",
        _created({"code": data.code, **values}),
        ente=ente,
    )
    return service


def update_service(
    session: Session, actor: Actor, fiscal_code: str, code: str, patch: i.ServicePatch
) -> PaymentService:
    service = get_service(session, actor, fiscal_code, code)
    return change_service(session, actor, service, fiscal_code, patch)


def change_service(
    session: Session,
    actor: Actor,
    service: PaymentService,
    fiscal_code: str,
    patch: i.ServicePatch,
) -> PaymentService:
    """Apply ``patch`` to a service the caller has already found (and may change)."""
    changes = _apply(service, _service_values(patch, service.form))
    if changes:
        _record(
            session,
            actor,
            "admin.service.update",
            f"service:{fiscal_code}/{service.code}",
            changes,
            ente_id=service.ente_id,
        )
    return service


def set_lookup(
    session: Session, actor: Actor, fiscal_code: str, code: str, data: i.LookupInput
) -> webhooks.RegisteredEndpoint:
    """Point a precomputed service at its Ente's back office (``hub.checkout.register_lookup``);
    the signing secret is returned only here."""
    service = get_service(session, actor, fiscal_code, code)
    if service.kind != ServiceKind.PRECOMPUTED:
        raise i.InvalidInput("only a precomputed service has a back-office lookup", field="kind")
    before = (service.form or {}).get("lookup")
    registered = carts.register_lookup(
        session,
        service,
        data.url,
        [k.model_dump(exclude_none=True) for k in data.keys],
        timeout_seconds=data.timeout_seconds,
    )
    _record(
        session,
        actor,
        "admin.service.lookup",
        f"service:{fiscal_code}/{code}",
        {"lookup": [before, (service.form or {}).get("lookup")]},
        ente_id=service.ente_id,
    )
    return registered


def preview_form(form: i.FormDefinition | dict[str, Any] | None, lang: str = "it") -> dict:
    """What the citizen will be asked: each field's label in ``lang``, its type, whether it
    is required, and the amount rule, in words (the dashboard also renders the form)."""
    spec = form if isinstance(form, i.FormDefinition) else i.parse(i.FormDefinition, form or {})

    def pick(label: Any) -> str | None:
        if isinstance(label, dict):
            return label.get(lang) or label.get("it") or next(iter(label.values()), None)
        return label

    if spec.amount == "free":
        amount = "free"
    else:
        rule = spec.amount
        amount = (
            f"fixed {rule.fixed}"
            if rule.fixed
            else "computed"
            if rule.computed
            else f"between {rule.min or '0.01'} and {rule.max or 'any'}"
        )
    fields = [
        {
            "name": f.name,
            "label": pick(f.label),
            "type": f.type,
            "required": f.required,
            "help": pick(f.help),
            "options": [o if isinstance(o, str) else o.get("value") for o in f.options],
        }
        for f in spec.fields
    ]
    payer = ["payer_fiscal_code", "payer_name", "payer_email"]
    return {"fields": fields, "payer": payer, "amount": amount, "description": spec.description}


# --- level-1 portals -------------------------------------------------------------------------


def list_portals(session: Session, actor: Actor) -> list[Level1Portal]:
    portals = list(session.scalars(sa.select(Level1Portal).order_by(Level1Portal.id)))
    if not actor.scoped:
        return portals
    mine = {e.fiscal_code for e in list_enti(session, actor)}
    return [p for p in portals if set(p.enti) <= mine]


def get_portal(session: Session, actor: Actor, key_id: str) -> Level1Portal:
    for portal in list_portals(session, actor):
        if portal.key_id == key_id:
            return portal
    raise NotFound(f"no portal {key_id}")


def create_portal(session: Session, actor: Actor, data: i.PortalInput) -> level1.RegisteredPortal:
    """Register a portal of the actor's Enti; a PayER portal (``legacy_buffer``) with its own
    PortaleID, IV and Key (hub.checkout.legacy_buffer), any other with a new key id and secret
    (returned only here). Raises NotFound for an Ente not the actor's, Conflict for a PortaleID
    taken, InvalidInput for a refused URL."""
    from hub.checkout import legacy_buffer

    for code in data.enti:
        get_ente(session, actor, code)
    _check_url(data.return_url_prefix, field="return_url_prefix")
    _check_url(data.notify_url, field="notify_url")
    if data.legacy_buffer:
        assert data.legacy_code and data.legacy_iv and data.legacy_key  # the model checked
        registered = legacy_buffer.register_legacy(
            session,
            data.name,
            list(data.enti),
            data.return_url_prefix,
            code=data.legacy_code,
            iv=data.legacy_iv,
            key=data.legacy_key,
            notify_url=data.notify_url,
        )
    else:
        registered = level1.register_portal(
            session,
            data.name,
            list(data.enti),
            data.return_url_prefix,
            notify_url=data.notify_url,
        )
    _record(
        session,
        actor,
        "admin.portal.create",
        f"portal:{registered.portal.key_id}",
        _created(data.model_dump()),
    )
    return registered


class LegacyKeys(DomainError):
    """A PayER portal's IV and Key are its own: payhub cannot rotate them."""

    code = "legacy_portal"


def rotate_portal_secret(session: Session, actor: Actor, key_id: str) -> str:
    """A new secret for the portal (the old one stops at once); returned only here. Raises
    LegacyKeys for a PayER portal (its IV and Key are the portal's own)."""
    import secrets

    portal = get_portal(session, actor, key_id)
    if portal.legacy_buffer:
        raise LegacyKeys("a PayER portal keeps its own IV and Key: they cannot be rotated here")
    portal.secret = secrets.token_urlsafe(32)
    _record(session, actor, "admin.portal.rotate", f"portal:{key_id}", {"secret": [MASK, MASK]})
    return portal.secret


def set_portal_active(session: Session, actor: Actor, key_id: str, active: bool) -> Level1Portal:
    """Switch a portal off (its requests are refused; it and its carts are kept) or on."""
    return update_portal(session, actor, key_id, i.PortalPatch(active=active)).portal


@dataclass(frozen=True)
class PortalChange:
    """A portal after a change. ``notify_secret``: the signing secret of the notification
    endpoint this change registered (the portal had no notification URL), returned only here."""

    portal: Level1Portal
    notify_secret: str | None = None


def update_portal(
    session: Session, actor: Actor, key_id: str, patch: i.PortalPatch
) -> PortalChange:
    """Change a portal's name, Enti, return URL prefix or notification URL, or switch it off
    or on; its keys change only by rotation. Audited with the fields before and after.

    The Enti must all be the actor's and the URLs pass the outgoing-URL policy, as when a
    portal is created. A new notification URL keeps the endpoint's key id and secret (the
    portal verifies as before; deliveries not yet made go to the new URL); the first one
    registers an endpoint (its secret in ``notify_secret``); null stops the endpoint (kept,
    with its deliveries). Raises NotFound for a portal or an Ente not the actor's,
    InvalidInput for a refused URL."""
    portal = get_portal(session, actor, key_id)
    given = patch.given()
    if "enti" in given:
        given["enti"] = sorted(set(given["enti"]))
        for code in given["enti"]:
            get_ente(session, actor, code)
    for name in ("return_url_prefix", "notify_url"):
        if name in given:
            _check_url(given[name], field=name)
    changes = _apply(portal, given)
    notify_secret = None
    if changes.keys() & {"name", "enti", "notify_url"}:
        before = portal.notify_endpoint_id
        notify_secret = _portal_endpoint(session, portal)
        if portal.notify_endpoint_id != before:
            changes["notify_key_id"] = [
                _key_id(session, before),
                _key_id(session, portal.notify_endpoint_id),
            ]
    if changes:
        _record(session, actor, "admin.portal.update", f"portal:{key_id}", changes)
    return PortalChange(portal, notify_secret)


def _key_id(session: Session, endpoint_id: int | None) -> str | None:
    endpoint = session.get(WebhookEndpoint, endpoint_id) if endpoint_id else None
    return endpoint.key_id if endpoint is not None else None


def _portal_endpoint(session: Session, portal: Level1Portal) -> str | None:
    """Bring the portal's notification endpoint in line with the portal: at its URL, owned by
    one of its Enti (future deliveries are that Ente's; past ones keep theirs), stopped when
    the portal has no URL. Returns the secret of an endpoint registered now, else None."""
    endpoint = session.get(WebhookEndpoint, portal.notify_endpoint_id or 0)
    if endpoint is not None and endpoint.deleted_at is not None:
        endpoint = None
    if portal.notify_url is None:
        if endpoint is not None:
            webhooks.delete_endpoint(session, endpoint)
        portal.notify_endpoint_id = None
        return None
    enti = list(
        session.scalars(
            sa.select(Ente).where(Ente.fiscal_code.in_(portal.enti)).order_by(Ente.fiscal_code)
        )
    )
    description = f"level 1: {portal.name}"
    if endpoint is None:
        registered = webhooks.register_endpoint(
            session, enti[0], portal.notify_url, kind="portal", events=[], description=description
        )
        portal.notify_endpoint_id = registered.endpoint.id
        return registered.secret
    endpoint.url, endpoint.description = portal.notify_url, description
    if endpoint.ente_id not in {e.id for e in enti}:
        endpoint.ente_id = enti[0].id
    return None


def _check_url(url: str | None, *, field: str = "url") -> None:
    if url is None:
        return
    try:
        http.check_url(url, unresolvable_ok=True)
    except http.UrlRefused as exc:
        raise i.InvalidInput(f"the URL is refused: {exc}", field=field) from None


# --- webhook endpoints -----------------------------------------------------------------------


def list_webhooks(session: Session, actor: Actor, fiscal_code: str) -> list[WebhookEndpoint]:
    ente = get_ente(session, actor, fiscal_code)
    return webhooks.active_endpoints(session, ente.id)


def create_webhook(
    session: Session, actor: Actor, fiscal_code: str, data: i.WebhookEndpointInput
) -> webhooks.RegisteredEndpoint:
    ente = get_ente(session, actor, fiscal_code)
    _check_url(data.url)
    try:
        registered = webhooks.register_endpoint(
            session, ente, data.url, events=data.events, description=data.description
        )
    except Conflict as exc:
        raise i.InvalidInput(str(exc), field="events") from None
    _record(
        session,
        actor,
        "admin.webhook.create",
        f"webhook:{registered.endpoint.public_id}",
        _created(data.model_dump()),
        ente_id=ente.id,
    )
    return registered


def delete_webhook(session: Session, actor: Actor, fiscal_code: str, public_id: str) -> None:
    ente = get_ente(session, actor, fiscal_code)
    endpoint = webhooks.find_endpoint(session, ente.id, public_id)
    webhooks.delete_endpoint(session, endpoint)
    _record(
        session,
        actor,
        "admin.webhook.delete",
        f"webhook:{public_id}",
        {"url": [endpoint.url, None]},
        ente_id=ente.id,
    )


# --- operator accounts -----------------------------------------------------------------------


def list_operators(session: Session, actor: Actor) -> list[OperatorAccount]:
    accounts = list(
        session.scalars(
            sa.select(OperatorAccount)
            .options(selectinload(OperatorAccount.enti))
            .order_by(OperatorAccount.username)
        )
    )
    if not actor.scoped:
        return accounts
    mine = {e.id for e in list_enti(session, actor)}
    return [
        a
        for a in accounts
        if a.role == OperatorRole.OPERATOR and a.enti and {e.id for e in a.enti} <= mine
    ]


def get_operator(session: Session, actor: Actor, username: str) -> OperatorAccount:
    for account in list_operators(session, actor):
        if account.username == username:
            return account
    raise NotFound(f"no account {username}")


def _scoped_role(actor: Actor, role: str | None, codes: Sequence[str], session: Session) -> None:
    if actor.scoped:
        if role not in (None, OperatorRole.OPERATOR):
            raise Forbidden("an intermediary's key creates operator accounts of its Enti only")
        for code in codes:
            get_ente(session, actor, code)


def create_operator(session: Session, actor: Actor, data: i.OperatorInput) -> OperatorAccount:
    _scoped_role(actor, data.role, data.enti, session)
    try:
        account = operators.create_account(
            session,
            data.username,
            data.password,
            role=data.role,
            enti=data.enti,
            actor=actor.name,
            api_key_id=actor.api_key_id,
            request_id=actor.request_id,
        )
    except operators.AccountError as exc:
        raise Conflict(str(exc), code="account_error") from None
    return account


def update_operator(
    session: Session, actor: Actor, username: str, patch: i.OperatorPatch
) -> OperatorAccount:
    account = get_operator(session, actor, username)
    given = patch.given()
    _scoped_role(actor, given.get("role"), given.get("enti") or [], session)
    codes = given.pop("enti", None)
    changes = _apply(account, given)
    if codes is not None:
        before = sorted(e.fiscal_code for e in account.enti)
        if before != sorted(set(codes)):
            account.enti = [get_ente(session, actor, c) for c in dict.fromkeys(codes)]
            changes["enti"] = [before, sorted(set(codes))]
    if account.role == OperatorRole.OPERATOR and not account.enti:
        raise i.InvalidInput("an operator account needs at least one Ente", field="enti")
    if changes:
        if "enabled" in changes or "role" in changes:
            account.ticket_version += 1  # logged-in sessions end
        _record(session, actor, "admin.operator.update", f"operator:{username}", changes)
    return account


# --- the history of changes ------------------------------------------------------------------

HISTORY_ACTIONS = ("admin.", "operator.", "activation.")  # not logins, not reads
HISTORY_MAX = 500


def history(
    session: Session,
    actor: Actor,
    *,
    fiscal_code: str | None = None,
    target: str | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """The audited changes of the administration and of activation requests, newest first:
    who, when, what (action and target) and the fields before and after. Only one Ente's
    (``fiscal_code``: NotFound if the actor may not see it) or one target's (``"station:…"``,
    ``"portal:…"``) if given. A scoped actor sees the changes of its Enti, stations,
    intermediary, portals and operator accounts only. ``limit``: 1 to HISTORY_MAX."""
    limit = max(1, min(limit, HISTORY_MAX))
    query = sa.select(AuditEvent).where(
        sa.or_(*(AuditEvent.action.startswith(p) for p in HISTORY_ACTIONS))
    )
    if fiscal_code is not None:
        query = query.where(AuditEvent.ente_id == get_ente(session, actor, fiscal_code).id)
    if target is not None:
        query = query.where(AuditEvent.target == target)
    if actor.scoped:
        enti = sa.select(_visible_enti(actor).subquery().c.id)
        mine = [f"station:{s.station_code}" for s in list_stations(session, actor)]
        mine += [f"intermediary:{m.broker_code}" for m in list_intermediaries(session, actor)]
        mine += [f"portal:{p.key_id}" for p in list_portals(session, actor)]
        mine += [f"operator:{o.username}" for o in list_operators(session, actor)]
        query = query.where(sa.or_(AuditEvent.ente_id.in_(enti), AuditEvent.target.in_(mine)))
    query = query.options(selectinload(AuditEvent.ente))
    return list(
        session.scalars(
            query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
        )
    )


# --- the administration API's keys -----------------------------------------------------------


def create_admin_key(
    session: Session, actor: Actor, broker_code: str, name: str
) -> api_keys.IssuedKey:
    """A key of the administration API for one intermediary (its stations and their Enti)."""
    if actor.scoped:
        raise Forbidden("an intermediary's key cannot issue keys")
    broker = get_intermediary(session, actor, broker_code)
    issued = api_keys.issue(session, name, enti=[], intermediary_id=broker.id)
    _record(
        session,
        actor,
        "admin.key.create",
        f"api_key:{issued.key.prefix}",
        _created({"name": name, "intermediary": broker_code}),
    )
    return issued


def admin_actor(
    session: Session, secret: str, *, request_id: str | None = None
) -> tuple[Actor, ApiKey] | None:
    """The actor of an administration API key, or None (unknown, revoked, or a key of Ente
    applications)."""
    key = api_keys.authenticate(session, secret)
    if key is None or key.intermediary_id is None:
        return None
    actor = Actor(
        f"api_key:{key.prefix}",
        intermediary_id=key.intermediary_id,
        api_key_id=key.id,
        request_id=request_id,
    )
    return actor, key
