"""Forms built from a PaymentService's ``form`` definition (JSON), and their validation.

    {"fields": [{"name": "address", "label": "Indirizzo" | {"it": ..., "en": ...},
                 "type": "text|textarea|number|date|email|select|checkbox",
                 "required": true, "help": "..." | {...}, "pattern": "regex",
                 "maxlength": 70, "min": 1, "max": 10,
                 "options": ["A", "B"] | [{"value", "label"}]}],
     "amount": "free" | {"fixed": "25.00"} | {"min": "1.00", "max": "500.00"}
               | {"computed": {"base": "16.00",
                               "terms": [{"rate": "1.20", "fields": ["days", "square_meters"]}],
                               "choices": {"zone": {"A": "5.00", "B": "2.50"}}},
                  "min": "1.00", "max": "5000.00"},
     "description": "a default reason for payment",
     "lookup": {"url": "https://backoffice.example/payhub/lookup", "keyId": "whk_...",
                "keys": [<fields, as above: text, number, date or select>],
                "timeoutSeconds": 5}}

A computed amount is worked out on the server, in Decimal, from the citizen's answers: ``base``
plus, for each term, ``rate`` times the product of the named number fields, plus the amount each
select field's chosen value adds; rounded half up to the cent, then checked against min/max.

``lookup`` (precomputed services only) is written by ``hub.checkout.register_lookup``: the
citizen fills in the key fields and the debt is asked to the Ente's back-office.

Every spontaneous form also asks the payer's fiscal code, name and e-mail (the payer is the
debtor of the position created at checkout).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from hub.checkout import payer_problem
from hub.errors import DomainError
from hub.values.money import to_cents
from hub.values.text import BIDI_CONTROLS, text_problem
from web.checkout.i18n import _

TYPES = {"text", "textarea", "number", "date", "email", "select", "checkbox"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# tabs and line breaks may come from a pasted address: every other control character (NUL
# above all: PostgreSQL cannot store it) and every direction override is refused
# (hub.values.text.text_problem); the payer's name takes neither
_LINE_BREAKS = str.maketrans("\t\n\r", "   ")
RESERVED = {"csrf_token", "amount", "payer_fiscal_code", "payer_name", "payer_email"}


def pick(value: Any, lang: str) -> str:
    """A label given as a string or as {"it": ..., "en": ...}."""
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("it") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


@dataclass
class Field:
    name: str
    label: Any
    type: str = "text"
    required: bool = False
    help: Any = None
    pattern: str | None = None
    maxlength: int | None = None
    min: float | None = None
    max: float | None = None
    options: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Computed:
    base: Decimal = Decimal("0")
    terms: list[tuple[Decimal, list[str]]] = field(default_factory=list)
    choices: dict[str, dict[str, Decimal]] = field(default_factory=dict)


@dataclass
class Amount:
    fixed_cents: int | None = None
    min_cents: int | None = None
    max_cents: int | None = None
    computed: Computed | None = None


@dataclass
class FormSpec:
    fields: list[Field]
    amount: Amount
    description: str | None = None


def parse_spec(form: dict[str, Any] | None) -> FormSpec:
    """Read a service's form definition; unknown types fall back to text."""
    form = form or {}
    fields = []
    for raw in form.get("fields", []):
        name = str(raw.get("name", ""))
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name) or name in RESERVED:
            continue  # a broken definition must not break the page
        options = [
            o if isinstance(o, dict) else {"value": str(o), "label": str(o)}
            for o in raw.get("options", [])
        ]
        fields.append(
            Field(
                name=name,
                label=raw.get("label", name),
                type=raw.get("type", "text") if raw.get("type") in TYPES else "text",
                required=bool(raw.get("required")),
                help=raw.get("help"),
                pattern=raw.get("pattern"),
                maxlength=raw.get("maxlength"),
                min=raw.get("min"),
                max=raw.get("max"),
                options=options,
            )
        )
    raw_amount = form.get("amount", "free")
    amount = Amount()
    if isinstance(raw_amount, dict):
        if "fixed" in raw_amount:
            amount.fixed_cents = to_cents(str(raw_amount["fixed"]))
        if "min" in raw_amount:
            amount.min_cents = to_cents(str(raw_amount["min"]))
        if "max" in raw_amount:
            amount.max_cents = to_cents(str(raw_amount["max"]))
        if isinstance(raw_amount.get("computed"), dict):
            amount.computed = _computed(raw_amount["computed"])
    return FormSpec(fields=fields, amount=amount, description=form.get("description"))


def _computed(raw: dict[str, Any]) -> Computed:
    return Computed(
        base=Decimal(str(raw.get("base", "0"))),
        terms=[
            (Decimal(str(t["rate"])), [str(f) for f in t.get("fields", [])])
            for t in raw.get("terms", [])
        ],
        choices={
            str(name): {str(k): Decimal(str(v)) for k, v in table.items()}
            for name, table in raw.get("choices", {}).items()
        },
    )


def compute_cents(computed: Computed, values: dict[str, Any]) -> int | None:
    """The amount the answers come to, in cents; None if a field it needs is missing or not
    a number."""
    total = computed.base
    try:
        for rate, names in computed.terms:
            product = rate
            for name in names:
                product *= Decimal(str(values[name]).replace(",", "."))
            total += product
        for name, table in computed.choices.items():
            total += table.get(str(values.get(name, "")), Decimal("0"))
    except (KeyError, InvalidOperation):
        return None
    if not total.is_finite():
        return None
    return int((total * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


@dataclass
class Filled:
    values: dict[str, Any]
    errors: dict[str, Any]  # field name -> TranslationString
    amount_cents: int | None = None
    payer: dict[str, str] = field(default_factory=dict)


def validate(spec: FormSpec, post: Any) -> Filled:
    """Check the posted values against ``spec``; ``errors`` is empty when all is well."""
    values, errors = validate_fields(spec.fields, post)
    filled = Filled(values=values, errors=errors)
    if spec.amount.computed is not None:
        filled.amount_cents = _computed_amount(spec.amount, values, errors)
    else:
        filled.amount_cents = _amount(spec.amount, post.get("amount", ""), errors)
    filled.payer = _payer(post, errors)
    return filled


def lookup_fields(lookup_keys: list[dict[str, Any]]) -> list[Field]:
    """The key fields of a back-office lookup (``"lookup": {"keys": [...]}``), as form
    fields; they are always required."""
    fields = parse_spec({"fields": lookup_keys}).fields
    for f in fields:
        f.required = True
        if f.type not in ("text", "number", "date", "select"):
            f.type = "text"
    return fields


def validate_fields(fields: list[Field], post: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The posted values of ``fields`` and their errors (field name -> TranslationString)."""
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for f in fields:
        raw = post.get(f.name, "")
        value = raw.strip() if isinstance(raw, str) else ""
        if f.type == "checkbox":
            values[f.name] = bool(value)
            if f.required and not value:
                errors[f.name] = _("This box must be ticked.")
            continue
        values[f.name] = value
        if not value:
            if f.required:
                errors[f.name] = _("This field is required.")
            continue
        problem = _field_problem(f, value)
        if problem is not None:
            errors[f.name] = problem
    return values, errors


def _characters_problem(value: str) -> Any:
    """The form message for control characters or direction overrides in ``value``, or None."""
    if text_problem(value) is None:
        return None
    if any(char in BIDI_CONTROLS for char in value):
        return _DIRECTION
    return _NOT_ALLOWED


def _field_problem(f: Field, value: str) -> Any:
    problem = _characters_problem(value.translate(_LINE_BREAKS))
    if problem is not None:
        return problem
    if f.maxlength and len(value) > int(f.maxlength):
        return _("At most ${n} characters.", mapping={"n": f.maxlength})
    if f.type == "number":
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            return _("Enter a number.")
        if (f.min is not None and number < f.min) or (f.max is not None and number > f.max):
            return _(
                "Enter a number between ${min} and ${max}.",
                mapping={
                    "min": f.min if f.min is not None else "…",
                    "max": f.max if f.max is not None else "…",
                },
            )
    if f.type == "date":
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return _("Enter a date as YYYY-MM-DD.")
    if f.type == "email" and not _EMAIL.match(value):
        return _("Enter a valid e-mail address.")
    if f.type == "select" and value not in {str(o.get("value")) for o in f.options}:
        return _("Choose one of the options.")
    if f.pattern and not re.fullmatch(f.pattern, value):
        return _("The value is not in the expected format.")
    return None


_NOT_ALLOWED = _("This field contains characters that are not allowed.")
_DIRECTION = _(
    "This field contains hidden characters that change the direction of the text: "
    "please type it again."
)


def _in_range(spec: Amount, cents: int, errors: dict[str, Any]) -> int | None:
    if (spec.min_cents is not None and cents < spec.min_cents) or (
        spec.max_cents is not None and cents > spec.max_cents
    ):
        errors["amount"] = _("The amount is outside the allowed range.")
        return None
    return cents


def _computed_amount(spec: Amount, values: dict[str, Any], errors: dict[str, Any]) -> int | None:
    if errors:  # the answers it depends on are not valid yet
        return None
    assert spec.computed is not None
    cents = compute_cents(spec.computed, values)
    if cents is None or cents <= 0:
        errors["amount"] = _("The amount cannot be computed from these answers.")
        return None
    return _in_range(spec, cents, errors)


def _amount(spec: Amount, raw: str, errors: dict[str, Any]) -> int | None:
    if spec.fixed_cents is not None:
        return spec.fixed_cents
    text = (raw or "").strip().replace("€", "").replace(" ", "")
    if "," in text:  # Italian decimal comma; a dot before it groups thousands
        text = text.replace(".", "").replace(",", ".")
    if not text:
        errors["amount"] = _("Enter the amount.")
        return None
    try:
        cents = to_cents(text)
    except DomainError:
        errors["amount"] = _("Enter an amount in euro, e.g. 12,50.")
        return None
    return _in_range(spec, cents, errors)


def _payer(post: Any, errors: dict[str, Any]) -> dict[str, str]:
    payer = {
        "fiscal_code": post.get("payer_fiscal_code", "").strip().upper().replace(" ", ""),
        "name": post.get("payer_name", "").strip(),
        "email": post.get("payer_email", "").strip(),
    }
    checks = {
        "fiscal_code": lambda v: (
            _("This is not a valid fiscal code or VAT number.") if payer_problem(v) else None
        ),
        "name": lambda v: (
            _("At most ${n} characters.", mapping={"n": 140}) if len(v) > 140 else None
        ),
        "email": lambda v: None if _EMAIL.match(v) else _("Enter a valid e-mail address."),
    }
    for name, value in payer.items():
        if not value:
            if name != "email":  # the only optional one
                errors[f"payer_{name}"] = _("This field is required.")
            continue
        problem = _characters_problem(value) or checks[name](value)
        if problem is not None:
            errors[f"payer_{name}"] = problem
    return payer
