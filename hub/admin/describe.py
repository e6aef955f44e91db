"""The administration's objects as plain dicts (camelCase keys): what ``payhub admin --json``
prints and the REST API answers. Secrets are never in them (``passwordSet`` says whether a
station has one); a secret is shown once, by the call that creates it."""

from __future__ import annotations

from typing import Any

from hub.models import (
    AuditEvent,
    Ente,
    EnteIban,
    Intermediary,
    Level1Portal,
    OperatorAccount,
    PaymentService,
    Station,
    WebhookEndpoint,
)


def intermediary(found: Intermediary) -> dict[str, Any]:
    return {"brokerCode": found.broker_code, "name": found.name}


def station(found: Station) -> dict[str, Any]:
    return {
        "stationCode": found.station_code,
        "brokerCode": found.intermediary.broker_code,
        "primitiveVersion": found.primitive_version,
        "passwordSet": bool(found.password),
        "subscriptionKeySet": bool(found.subscription_key),
        "test": found.test,
        "enti": sorted(e.fiscal_code for e in found.enti),
    }


def ente(found: Ente, *, services: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "fiscalCode": found.fiscal_code,
        "name": found.name,
        "office": found.office,
        "segregationCode": found.segregation_code,
        "cbillCode": found.cbill_code,
        "iban": found.iban,
        "postalIban": found.postal_iban,
        "stations": sorted(s.station_code for s in found.stations),
        "production": found.production,
        "referente": {
            "name": found.referente_name,
            "surname": found.referente_surname,
            "email": found.referente_email,
            "phone": found.referente_phone,
        },
        "technicalContact": {
            "name": found.technical_contact_name,
            "email": found.technical_contact_email,
            "phone": found.technical_contact_phone,
        },
        "supportContact": {
            "name": found.support_contact_name,
            "email": found.support_contact_email,
            "phone": found.support_contact_phone,
        },
    }
    if services:
        out["services"] = [service(s) for s in sorted(found.services, key=lambda s: s.code)]
    return out


def iban(found: EnteIban) -> dict[str, Any]:
    return {
        "iban": found.iban,
        "postal": found.postal,
        "validFrom": found.valid_from.isoformat(),
        "validUntil": found.valid_until.isoformat() if found.valid_until else None,
        "description": found.description,
    }


def service(found: PaymentService) -> dict[str, Any]:
    form = found.form or {}
    return {
        "code": found.code,
        "label": found.label,
        "taxonomy": found.taxonomy,
        "iban": found.default_iban,
        "kind": str(found.kind),
        "active": found.active,
        "form": {k: v for k, v in form.items() if k != "lookup"} or None,
        "lookup": (
            {"url": form["lookup"].get("url"), "keys": form["lookup"].get("keys")}
            if isinstance(form.get("lookup"), dict)
            else None
        ),
    }


def portal(found: Level1Portal) -> dict[str, Any]:
    return {
        "keyId": found.key_id,
        "name": found.name,
        "enti": list(found.enti),
        "returnUrlPrefix": found.return_url_prefix,
        "notifyUrl": found.notify_url,
        "legacyBuffer": found.legacy_buffer,
        "active": found.active,
    }


def webhook(found: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": found.public_id,
        "url": found.url,
        "events": list(found.events),
        "description": found.description,
        "keyId": found.key_id,
    }


def operator(found: OperatorAccount) -> dict[str, Any]:
    return {
        "username": found.username,
        "role": found.role,
        "enabled": found.enabled,
        "enti": sorted(e.fiscal_code for e in found.enti),
        "lastLoginAt": found.last_login_at.isoformat() if found.last_login_at else None,
    }


def change(found: AuditEvent) -> dict[str, Any]:
    """One audited change: who, when (UTC), what, and the fields before and after (secrets
    as ``***``); ``detail`` holds what else the event says (a step's states, an account's role)."""
    detail = dict(found.detail or {})
    before, after = detail.pop("before", None), detail.pop("after", None)
    return {
        "at": found.created_at.isoformat(),
        "actor": found.actor,
        "action": found.action,
        "target": found.target,
        "enteFiscalCode": found.ente.fiscal_code if found.ente is not None else None,
        "before": before,
        "after": after,
        "detail": detail or None,
    }
