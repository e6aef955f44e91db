"""pagoPA's GPD-payments integration material, read in place from ../shared, for our steps.

GPD-payments is pagoPA's own EC station; its cucumber-js suite (step code not published)
creates a debt position through GPD REST and calls the station's SOAP endpoint directly. We
keep its .feature files, its environment (``env.local.properties``), its SOAP templates and
its debt-position payload exactly as stored, and replace what needs pagoPA's infrastructure:

- GPD REST -> ``hub.positions.writer.create_position`` with the same payload;
- ApiConfig (the Node's registry of CI, broker, station) -> rows in our test database;
- "... to Nodo" (activatePaymentNotice, sendPaymentOutcome: PSP -> Node calls) -> what the
  Node then sends the station: paGetPayment(V2), and the paSendRT the scenario sends next.

Nothing here is used at run time; the project never reads ../shared outside the tests.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from hub import clock
from tests.conftest import SHARED

GPD = SHARED / "peer-material" / "gpd-payments"
FEATURES = GPD / "features"
TEMPLATES = GPD / "soap-templates"
PAYLOAD = GPD / "gpd-rest-payloads" / "integration__createDebtPosition.json.tmpl"

SOAP_PATH = "/soap/paForNode"

# "the client sends the XRequest" -> (template file, our operation, request element)
REQUESTS = {
    "VerifyPaymentNoticeRequest": (
        "integration__buildVerifyPaymentNoticeRequest.xml.tmpl",
        "paVerifyPaymentNotice",
        "paVerifyPaymentNoticeReq",
    ),
    "GetPaymentRequest": (
        "integration__buildGetPaymentReq.xml.tmpl",
        "paGetPayment",
        "paGetPaymentReq",
    ),
    "GetPaymentV2Request": (
        "integration__buildGetPaymentV2Req.xml.tmpl",
        "paGetPaymentV2",
        "paGetPaymentV2Request",
    ),
    "SendRTRequest": ("integration__buildSendRTRequest.xml.tmpl", "paSendRT", "paSendRTReq"),
    # No SendRTV2 template is stored (the JS builder is not published). A paSendRT receipt is
    # also a valid ctReceiptV2 (same elements, V2 only adds optional ones), so the V2 request
    # is the V1 template with the request element renamed; the official XSD checks the result.
    "SendRTV2Request": (
        "integration__buildSendRTRequest.xml.tmpl",
        "paSendRTV2",
        "paSendRTV2Request",
    ),
}


@dataclass(frozen=True)
class Mapped:
    """An expected answer of the feature that our station answers differently, and why."""

    ours: str
    reason: str
    # what we answer when only qrCode/fiscalCode names the unserved EC and idPA is ours
    # (None: not a KO; see the reason)
    qr_only: str | None = None


# (our operation, code the feature expects, cause) -> what we answer instead.
# The only cause in the stored features is "an invalid fiscal code": the templates put it in
# idPA *and* in qrCode/fiscalCode (receipt/fiscalCode, fiscalCodePA).
UNSERVED_EC = "idPA is an EC this station does not serve"
FAULT_MAP: dict[tuple[str, str, str], Mapped] = {
    # activate_phase: PPT_DOMINIO_SCONOSCIUTO is the Node's answer to the PSP for an EC it has
    # no registration for; an EC station never emits PPT_* codes (and the Node would not even
    # call a station for an unknown EC). Replacing activatePaymentNotice with the paGetPayment
    # the Node would send us, our answer for an idPA we do not serve is the official EC code.
    ("paGetPaymentV2", "PPT_DOMINIO_SCONOSCIUTO", UNSERVED_EC): Mapped(
        "PAA_ID_DOMINIO_ERRATO",
        "Node-only code; an EC answers an unserved idPA with PAA_ID_DOMINIO_ERRATO",
        qr_only="PAA_PAGAMENTO_SCONOSCIUTO",
    ),
    # verify_phase: GPD-payments never checks idPA (it looks the notice up by
    # qrCode/fiscalCode only), so it answers PAA_PAGAMENTO_SCONOSCIUTO. We check the caller
    # triple first and answer the official table's PAA_ID_DOMINIO_ERRATO for an unserved idPA
    # (README "The SOAP station", soap/faults.py); peer-tests.md §3.C lets us pick either.
    # With idPA ours and only qrCode/fiscalCode unserved we answer the feature's own code.
    ("paVerifyPaymentNotice", "PAA_PAGAMENTO_SCONOSCIUTO", UNSERVED_EC): Mapped(
        "PAA_ID_DOMINIO_ERRATO",
        "documented alternative: caller check (idPA) before the notice lookup",
        qr_only="PAA_PAGAMENTO_SCONOSCIUTO",
    ),
    # send_receipt_phase "request a receipt for a debt position that is not in PAID status":
    # GPD-payments refuses a receipt for a position the Node did not mark PAID. Our station
    # refuses an unserved idPA with PAA_ID_DOMINIO_ERRATO (what the feature's own
    # commented-out scenario expects for this case); a receipt whose idPA is ours is never
    # refused for business reasons (the Node has already taken the money): it is stored,
    # answered OK and flagged as an anomaly (README, hub.payments.store_receipt).
    ("paSendRT", "PAA_PAGAMENTO_SCONOSCIUTO", UNSERVED_EC): Mapped(
        "PAA_ID_DOMINIO_ERRATO",
        "unserved idPA refused first; receipts for our EC are stored and flagged, never KO",
        qr_only=None,
    ),
}


def env() -> dict[str, str]:
    """The suite's environment (config/.env.local), as stored."""
    values: dict[str, str] = {}
    for line in (FEATURES / "env.local.properties").read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip()
    return values


_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render(template: str, values: dict[str, object]) -> bytes:
    """Fill a stored template; every placeholder must have a value (KeyError otherwise)."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    filled = _PLACEHOLDER.sub(lambda m: escape(str(values[m.group(1)])), text)
    return filled.encode("utf-8")


def debt_position_payload() -> dict:
    """The GPD REST body of "a valid debt position" (placeholders left for the caller)."""
    payload = json.loads(PAYLOAD.read_text(encoding="utf-8"))
    payload.pop("_note", None)
    return payload


def euros(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def today() -> dt.date:
    return clock.today()


def feature_files() -> list[Path]:
    return sorted(FEATURES.glob("*.feature"))
