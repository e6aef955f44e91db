"""The paForNode endpoint: refuse, parse, validate, check the caller, dispatch, answer.

Spyne gives us the WSDL, the schema and the table from request element to operation
(soap.schema); the request itself is read with lxml and answered with lxml, which keeps the
hot path to a few hundred microseconds of CPU. Business errors are ``outcome=KO`` in HTTP 200;
a request that is not a paForNode message at all gets a SOAP Fault; an internal failure,
including a failed commit, is ``PAA_SYSTEM_ERROR`` (see ``system_error_view``).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from pyramid.response import Response

from hub.config import Config, as_config, setting_name
from hub.errors import DomainError
from hub.positions import fees  # SEND notification fees (issue 20)
from hub.tenants.stations import (
    EnteInfo,
    StationInfo,
    WrongDomain,
    WrongStation,
    broker_exists,
    check_caller,
    ente_of_broker,
    load_station,
)
from soap import envelope, responses, schema, standin
from soap.faults import Ko, syntax, system_error
from soap.handlers import HANDLERS, Call

log = structlog.get_logger("soap.paForNode")
RECEIPT_OPERATIONS = frozenset({"paSendRT", "paSendRTV2"})


PLACEHOLDER = "CHANGE-ME"
PROTECTION_SETTINGS = tuple(
    setting_name(f) for f in ("soap_allowed_networks", "soap_auth_header", "soap_behind_mtls_proxy")
)


class StationNotProtected(ValueError):
    """The station would answer any caller: the application refuses to start."""


@dataclass
class StationConfig:
    max_body_bytes: int = 256 * 1024
    station_cache_seconds: float = 30.0
    activation_ttl: dt.timedelta = dt.timedelta(minutes=30)
    public_url: str | None = None
    allowed_networks: list[Any] = field(default_factory=list)
    auth_header: tuple[str, str] | None = None
    mtls_proxy: bool = False
    mtls_verify_header: str = "X-SSL-Client-Verify"
    send_prices: Any = None  # SEND's price service (issue 20: hub.positions.fees), if set

    @property
    def protections(self) -> list[str]:
        """What protects the station, in words (empty: open to any caller)."""
        said = []
        if self.allowed_networks:
            said.append("callers from " + ", ".join(str(n) for n in self.allowed_networks))
        if self.auth_header:
            said.append(f"the shared-secret header {self.auth_header[0]}")
        if self.mtls_proxy:
            said.append(f"mutual TLS at the proxy ({self.mtls_verify_header}: SUCCESS)")
        return said

    @classmethod
    def from_settings(cls, settings: Config | dict[str, Any]) -> StationConfig:
        """The station's configuration. Raises StationNotProtected (naming the settings) when
        no caller protection is configured outside the embedded default (the in-process stub
        broker of ``make demo``), unless ``payhub.soap_open_station`` says so explicitly, and
        ValueError for a setting still holding its CHANGE-ME placeholder or malformed."""
        settings_object = as_config(settings)
        networks = []
        for text in settings_object.soap_allowed_networks.split(","):
            text = text.strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(
                    f"payhub.soap_allowed_networks: {text!r} is not a network (CIDR such as "
                    "203.0.113.0/24); write the networks pagoPA's Node calls from, or leave "
                    "the setting empty"
                ) from None
        header = settings_object.soap_auth_header.strip()
        name, _, secret = header.partition(":")
        if header and not (name.strip() and secret.strip()):
            # a half-written setting must not silently open the station to every caller
            raise ValueError("payhub.soap_auth_header must be 'Header-Name: secret'")
        if PLACEHOLDER in secret or PLACEHOLDER in name:
            raise ValueError(
                "payhub.soap_auth_header still holds its CHANGE-ME placeholder: "
                "write 'Header-Name: secret', or leave it empty"
            )
        config = cls(
            max_body_bytes=settings_object.soap_max_body_bytes,
            station_cache_seconds=settings_object.soap_station_cache_seconds,
            activation_ttl=dt.timedelta(seconds=settings_object.soap_activation_ttl_seconds),
            public_url=settings_object.soap_public_url or None,
            allowed_networks=networks,
            auth_header=(name.strip(), secret.strip()) if header else None,
            mtls_proxy=settings_object.soap_behind_mtls_proxy,
            mtls_verify_header=settings_object.soap_mtls_verify_header.strip(),
            send_prices=fees.send_prices(settings_object),
        )
        if not config.protections:
            embedded = settings_object.broker == "stub"
            if not (embedded or settings_object.soap_open_station):
                raise StationNotProtected(
                    "the SOAP station would accept any caller: set at least one of "
                    + ", ".join(PROTECTION_SETTINGS)
                    + " (or payhub.soap_open_station = true for a test station); anyone "
                    "reaching an open station can mark debts paid"
                )
            log.warning(
                "soap.station_open",
                reason="embedded default" if embedded else setting_name("soap_open_station"),
            )
        else:
            log.info("soap.station_protected", by=config.protections)
        return config


class StationCache:
    """Station configuration by code, kept ``ttl`` seconds (0 = always read)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, StationInfo | None]] = {}
        self._lock = threading.Lock()

    def get(self, session, code: str) -> StationInfo | None:
        now = time.monotonic()
        hit = self._items.get(code)
        if hit and hit[0] > now:
            return hit[1]
        info = load_station(session, code)
        if self.ttl > 0:
            with self._lock:
                if len(self._items) > 1000:  # unknown codes must not grow it without bound
                    self._items.clear()
                self._items[code] = (now + self.ttl, info)
        return info


class PaForNode:
    """The endpoint object registered in the Pyramid registry."""

    def __init__(self, config: StationConfig) -> None:
        self.config = config
        self.stations = StationCache(config.station_cache_seconds)
        self.operations = schema.operations_by_element()
        self.schema = schema.validation_schema()
        self.recorder: Any = None  # answer times for the SLA monitor; False when there is none

    # -- HTTP ---------------------------------------------------------------------------
    def __call__(self, request, only: frozenset[str] | None = None) -> Response | None:
        """Answer one HTTP request. With ``only`` (the fast path), return None without doing
        anything for an operation not in it, so the caller hands the request on."""
        started = time.perf_counter()
        allowed = self._caller_allowed(request)
        if request.method == "GET":
            if not allowed:
                return self._refuse(request)
            if any(k.lower() == "wsdl" for k in request.GET):
                address = self.config.public_url or request.path_url
                return Response(schema.wsdl_document(address), content_type=responses.CONTENT_TYPE)
            return self._fault(request, "Client", "POST a SOAP envelope, or GET ?wsdl", status=405)
        if request.method != "POST":
            return (
                self._fault(request, "Client", "POST a SOAP envelope", status=405)
                if allowed
                else self._refuse(request)
            )
        length = request.content_length
        if length is not None and length > self.config.max_body_bytes:
            return self._fault(
                request, "Client", f"request body larger than {self.config.max_body_bytes} bytes"
            )
        body = request.body
        if not allowed and not standin.may_be_probe(body):
            return self._refuse(request)  # nothing of an unknown caller's body is parsed
        try:
            envelope.precheck(body, self.config.max_body_bytes)
            element = envelope.parse(body)
        except envelope.Refused as exc:
            return self._fault(request, "Client", str(exc)) if allowed else self._refuse(request)
        operation = self.operations.get(element.tag)
        if operation is None:
            return (
                self._fault(request, "Client", f"unknown request element {element.tag}")
                if allowed
                else self._refuse(request)
            )
        name, wrapper = operation
        if only is not None and name not in only:
            return None
        request.soap_wrapper = wrapper
        request.soap_domain_id = (element.findtext("idPA") or "").strip()
        request.sla_key = (name, (element.findtext("idStation") or "").strip())  # KPI outcomes
        structlog.contextvars.bind_contextvars(soap_operation=name)
        if name == "paVerifyPaymentNotice" and standin.is_probe(element):
            # pagoPA's Stand-In manager: answered before any caller check, whoever sends it
            # (it reveals nothing), and counted apart from the station's real answers
            payload = standin.answer(request, element, wrapper)
            self._record(request, standin.OPERATION, time.perf_counter() - started)
            return Response(payload, content_type=responses.CONTENT_TYPE)
        if not allowed:
            return self._refuse(request)
        action = request.headers.get("SOAPAction", "").strip().strip('"')
        if action and action not in (name, element.tag.rsplit("}", 1)[-1]):
            log.info("soap.action_mismatch", soap_action=action[:64])
        try:
            payload = self._answer(request, name, element, body)
            fault_code = None
        except Ko as ko:
            request.tm.doom()  # nothing a refused request did may be committed
            payload, fault_code = responses.ko(wrapper, ko, request.soap_domain_id), ko.fault_code
        elapsed = time.perf_counter() - started
        log.info(
            "soap.request",
            outcome="KO" if fault_code else "OK",
            fault_code=fault_code,
            ms=round(elapsed * 1000, 2),
        )
        self._record(request, name, elapsed, fault_code or "OK", request.sla_key[1])
        return Response(payload, content_type=responses.CONTENT_TYPE)

    def _record(
        self,
        request,
        operation: str,
        elapsed: float,
        outcome: str | None = None,
        station: str | None = None,
    ) -> None:
        if self.recorder is None:  # sla_monitor registers it after soap is included
            self.recorder = request.registry.get("sla.recorder", False)
        if self.recorder:  # the outcome: pagoPA's KPIs B.5 and B.9 (sla_monitor.recorder)
            self.recorder.record(operation, elapsed, outcome, station or "")
            request.sla_counted = outcome

    def _answer(self, request, name: str, element, body: bytes) -> bytes:
        envelope.unqualify_children(element)
        removed, reordered = schema.tolerate_novelty(element)
        if removed or reordered:  # element names only: never values
            log.info(
                "soap.unknown_elements",
                unknown_count=len(removed),
                unknown=removed[:5],
                reordered=reordered,
            )
        if not self.schema.validate(element):
            error = self.schema.error_log.last_error
            raise syntax(error.message if error else "the request does not match the schema")
        try:
            station = self.stations.get(request.db, element.findtext("idStation"))
            id_broker = element.findtext("idBrokerPA")
            known = station is not None and station.broker_code == id_broker
            id_pa = element.findtext("idPA")
            ente: EnteInfo | None
            try:
                ente = check_caller(
                    station,
                    id_pa=id_pa,
                    id_broker=id_broker,
                    id_station=element.findtext("idStation"),
                    known_broker=known or broker_exists(request.db, id_broker),
                )
            except (WrongDomain, WrongStation):
                # money taken is never refused for the way it came: a receipt for an Ente of
                # this broker through another (or a retired) station of it is stored, settled
                # and flagged (hub.payments.store_receipt)
                ente = (
                    ente_of_broker(request.db, id_broker, id_pa)
                    if name in RECEIPT_OPERATIONS
                    else None
                )
                if ente is None:
                    raise
            call = Call(
                session=request.db,
                request=element,
                station=station,
                ente=ente,
                raw=body,
                activation_ttl=self.config.activation_ttl,
                send_prices=self.config.send_prices,
            )
            return HANDLERS[name](call)
        except DomainError as exc:
            raise Ko.from_domain(exc) from None

    def _caller_allowed(self, request) -> bool:
        if (
            self.config.mtls_proxy
            and request.headers.get(self.config.mtls_verify_header, "").strip().upper() != "SUCCESS"
        ):
            return False
        if self.config.allowed_networks:
            try:
                addr = ipaddress.ip_address(request.remote_addr or "")
            except ValueError:
                return False
            if not any(addr in net for net in self.config.allowed_networks):
                return False
        if self.config.auth_header:
            name, secret = self.config.auth_header
            given = request.headers.get(name, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return False
        return True

    def _refuse(self, request) -> Response:
        log.warning("soap.caller_refused", remote_addr=request.remote_addr, method=request.method)
        return Response(
            responses.soap_fault("Client", "caller not authorised"),
            status=403,
            content_type=responses.CONTENT_TYPE,
        )

    def _fault(self, request, code: str, message: str, status: int = 500) -> Response:
        log.info("soap.refused", reason=message[:120], status=status)
        return Response(
            responses.soap_fault(code, message), status=status, content_type=responses.CONTENT_TYPE
        )


def system_error_view(exc: Exception, request) -> Response:
    """Any failure below the view, the commit included: PAA_SYSTEM_ERROR in the operation's
    response element (a SOAP Server fault if the operation was not known yet). Never the
    exception text: it may carry SQL parameters."""
    log.error("soap.system_error", error=type(exc).__name__)
    _count_system_error(request)
    wrapper = getattr(request, "soap_wrapper", None)
    if wrapper is None:
        return Response(
            responses.soap_fault("Server", "internal error"),
            status=500,
            content_type=responses.CONTENT_TYPE,
        )
    return Response(
        responses.ko(wrapper, system_error(), getattr(request, "soap_domain_id", "")),
        content_type=responses.CONTENT_TYPE,
    )


def _count_system_error(request) -> None:
    """The Node gets PAA_SYSTEM_ERROR: that is the outcome pagoPA's KPIs count (in place of an
    OK the view counted before its commit failed)."""
    key: tuple[str, str] | None = getattr(request, "sla_key", None)
    recorder = request.registry.get("sla.recorder") if key else None
    if recorder and key:
        recorder.replace_outcome(*key, getattr(request, "sla_counted", None), "PAA_SYSTEM_ERROR")


def enabled(settings: Config | dict[str, Any]) -> bool:
    return as_config(settings).soap_enabled
