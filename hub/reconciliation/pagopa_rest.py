"""pagoPA's REST services for organizations: FdR 3 (flows) and the receipts service (Biz Events).

Two small protocols, ``FdrApi`` and ``ReceiptsApi``, so that tests and nodesim can swap the
implementation; ``fdr_api(settings)`` and ``receipts_api(settings)`` build the one named by
``payhub.fdr3_client_factory`` / ``payhub.receipts_client_factory`` (``module:callable``, given
the settings), by default the HTTP clients below. Both services take the subscription key in
``Ocp-Apim-Subscription-Key`` (``fdr_organization.json`` and ``biz_events.json``,
``apiKeyHeader``).

The HTTP clients retry 429 and 5xx (and connection errors) with exponential backoff, honouring
``Retry-After`` (seconds or an HTTP date), at most ``payhub.pagopa_rest_retries`` times (4)
and never sleeping longer than ``payhub.pagopa_rest_max_wait_seconds`` (60) at once; after that
they raise ``RateLimited`` (429) or ``ServiceUnavailable``, and the caller (an actor) retries
later. A 404 is ``NotFound``; any other 4xx is ``RestError`` (our request is wrong: retrying
cannot help).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import importlib
import operator
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
import structlog

from hub import http
from hub.config import Config, as_config

log = structlog.get_logger(__name__)

FDR_BASE_URL = "https://api.platform.pagopa.it/fdr-org/service/v1"
RECEIPTS_BASE_URL = "https://api.platform.pagopa.it/bizevents/service/v1"
MAX_PAGE_SIZE = 1000  # fdr_organization.json: size maximum 1000


class RestError(Exception):
    """A pagoPA REST call failed in a way retrying will not fix (a 4xx other than 404/429)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(RestError):
    """404: the flow, revision or receipt does not exist there."""


class RateLimited(RestError):
    """429 still after our retries: ask again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class ServiceUnavailable(RestError):
    """5xx, timeouts or connection errors still after our retries: ask again later."""


def instant(value: dt.datetime) -> str:
    """An ``Instant`` query value: UTC, ``Z``, microseconds kept."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_instant(value: str) -> dt.datetime:
    """An ``Instant`` as FdR 3 writes it (``...Z`` or with an offset) -> aware UTC."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After``: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


@dataclass
class RetryPolicy:
    retries: int = 4
    base_seconds: float = 0.5
    max_wait_seconds: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def wait(self, attempt: int, retry_after: float | None) -> float:
        backoff = self.base_seconds * (2**attempt)
        return min(self.max_wait_seconds, retry_after if retry_after is not None else backoff)


class JsonClient:
    """GET JSON from one pagoPA REST service, with the key header and the retry policy."""

    def __init__(
        self,
        base_url: str,
        subscription_key: str | None,
        *,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        verify: str | bool | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.subscription_key = subscription_key
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.http = session or requests.Session()
        self.verify = http.verify() if verify is None else verify
        self.calls = 0

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        url = self.base_url + path
        sent = {"Accept": "application/json", **(headers or {})}
        if self.subscription_key:
            sent["Ocp-Apim-Subscription-Key"] = self.subscription_key
        attempt = 0
        while True:
            self.calls += 1
            retry_after: float | None = None
            try:
                response = self.http.get(
                    url, params=params, headers=sent, timeout=self.timeout, verify=self.verify
                )
            except requests.RequestException as exc:
                status, problem = None, f"{type(exc).__name__}"
            else:
                status = response.status_code
                if status < 300:
                    return response.json()
                if status == 404:
                    raise NotFound(f"GET {path}: 404", 404)
                if status != 429 and status < 500:
                    raise RestError(f"GET {path}: {status} {response.text[:200]}", status)
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                problem = str(status)
            if attempt >= self.policy.retries:
                log.warning("pagopa_rest.gave_up", path=path, problem=problem, attempts=attempt + 1)
                if status == 429:
                    raise RateLimited(f"GET {path}: 429 after {attempt + 1} tries", retry_after)
                raise ServiceUnavailable(f"GET {path}: {problem} after {attempt + 1} tries", status)
            wait = self.policy.wait(attempt, retry_after)
            log.info("pagopa_rest.retry", path=path, problem=problem, wait_seconds=wait)
            self.policy.sleep(wait)
            attempt += 1


# --- FdR 3 ---------------------------------------------------------------------------------


class FdrApi(Protocol):
    """FdR 3, organization side (fdr_organization.json): three GETs, JSON as documented."""

    def list_flows(
        self,
        organization_id: str,
        *,
        published_gt: dt.datetime | None = None,
        page: int = 1,
        size: int = MAX_PAGE_SIZE,
    ) -> dict[str, Any]: ...

    def get_flow(
        self, organization_id: str, fdr: str, revision: int, psp_id: str
    ) -> dict[str, Any]: ...

    def get_payments(
        self,
        organization_id: str,
        fdr: str,
        revision: int,
        psp_id: str,
        *,
        page: int = 1,
        size: int = MAX_PAGE_SIZE,
    ) -> dict[str, Any]: ...


class FdrClient:
    """The HTTP client of FdR 3's organization API."""

    def __init__(self, json_client: JsonClient) -> None:
        self.json = json_client

    @classmethod
    def from_settings(cls, settings: Config | Mapping[str, Any]) -> FdrClient:
        config = as_config(settings)
        return cls(_json_client(config, config.fdr3_url or FDR_BASE_URL, config.fdr3_key))

    def list_flows(
        self,
        organization_id: str,
        *,
        published_gt: dt.datetime | None = None,
        page: int = 1,
        size: int = MAX_PAGE_SIZE,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page, "size": min(size, MAX_PAGE_SIZE)}
        if published_gt is not None:
            params["publishedGt"] = instant(published_gt)
        return self.json.get(f"/organizations/{organization_id}/fdrs", params)  # type: ignore[no-any-return]

    def get_flow(
        self, organization_id: str, fdr: str, revision: int, psp_id: str
    ) -> dict[str, Any]:
        return self.json.get(  # type: ignore[no-any-return]
            f"/organizations/{organization_id}/fdrs/{fdr}/revisions/{revision}/psps/{psp_id}"
        )

    def get_payments(
        self,
        organization_id: str,
        fdr: str,
        revision: int,
        psp_id: str,
        *,
        page: int = 1,
        size: int = MAX_PAGE_SIZE,
    ) -> dict[str, Any]:
        return self.json.get(  # type: ignore[no-any-return]
            f"/organizations/{organization_id}/fdrs/{fdr}/revisions/{revision}/psps/{psp_id}"
            "/payments",
            {"page": page, "size": min(size, MAX_PAGE_SIZE)},
        )


# --- receipts service (Biz Events) ---------------------------------------------------------


class ReceiptsApi(Protocol):
    """pagoPA's receipts service (biz_events.json): a receipt by IUR, or by IUR and IUV.
    Returns the CtReceiptModelResponse, or None for 404."""

    def by_iur(self, organization_fiscal_code: str, iur: str) -> dict[str, Any] | None: ...

    def by_iuv(
        self, organization_fiscal_code: str, iur: str, iuv: str
    ) -> dict[str, Any] | None: ...


class ReceiptsClient:
    """The HTTP client of the receipts service."""

    def __init__(self, json_client: JsonClient) -> None:
        self.json = json_client

    @classmethod
    def from_settings(cls, settings: Config | Mapping[str, Any]) -> ReceiptsClient:
        config = as_config(settings)
        return cls(
            _json_client(config, config.receipts_url or RECEIPTS_BASE_URL, config.receipts_key)
        )

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            return self.json.get(path, headers={"X-Request-Id": str(uuid.uuid4())})  # type: ignore[no-any-return]
        except NotFound:
            return None

    def by_iur(self, organization_fiscal_code: str, iur: str) -> dict[str, Any] | None:
        return self._get(f"/organizations/{organization_fiscal_code}/receipts/{iur}")

    def by_iuv(self, organization_fiscal_code: str, iur: str, iuv: str) -> dict[str, Any] | None:
        return self._get(
            f"/organizations/{organization_fiscal_code}/receipts/{iur}/paymentoptions/{iuv}"
        )


def _json_client(config: Config, url: str, key: str | None) -> JsonClient:
    return JsonClient(
        url,
        key or None,
        timeout=config.pagopa_rest_timeout_seconds,
        policy=RetryPolicy(
            retries=config.pagopa_rest_retries,
            max_wait_seconds=config.pagopa_rest_max_wait_seconds,
        ),
        verify=http.verify_setting(config),
    )


def _factory(config: Config, named: str | None, default: Any) -> Any:
    if not named:
        return default(config)
    module, _, name = named.partition(":")
    return operator.attrgetter(name)(importlib.import_module(module))(config)


def fdr_api(settings: Config | Mapping[str, Any]) -> FdrApi:
    """The FdR 3 client named by ``payhub.fdr3_client_factory`` (default: FdrClient)."""
    config = as_config(settings)
    return _factory(config, config.fdr3_client_factory, FdrClient.from_settings)  # type: ignore[no-any-return]


def receipts_api(settings: Config | Mapping[str, Any]) -> ReceiptsApi:
    """The receipts client named by ``payhub.receipts_client_factory`` (default: ReceiptsClient)."""
    config = as_config(settings)
    return _factory(config, config.receipts_client_factory, ReceiptsClient.from_settings)  # type: ignore[no-any-return]


class FakeFdr:
    """An in-memory FdR 3 (``payhub.fdr3_client_factory =
    hub.reconciliation.pagopa_rest:FakeFdr.from_settings``): flows put in ``published`` by
    the caller, answered as the service would (paging, publishedGt)."""

    instances: dict[str, FakeFdr] = {}

    def __init__(self) -> None:
        # organization -> list of (FlowByPSP, SingleFlowResponse, payments)
        self.published: dict[
            str, list[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]]
        ] = {}

    @classmethod
    def from_settings(cls, settings: Config | Mapping[str, Any]) -> FakeFdr:
        name = as_config(settings).fdr3_fake_name
        return cls.instances.setdefault(name, cls())

    def list_flows(
        self,
        organization_id: str,
        *,
        published_gt: dt.datetime | None = None,
        page: int = 1,
        size: int = MAX_PAGE_SIZE,
    ) -> dict[str, Any]:
        refs = [
            ref
            for ref, _, _ in self.published.get(organization_id, [])
            if published_gt is None or parse_instant(ref["published"]) > published_gt
        ]
        return _page(refs, page, size)

    def get_flow(
        self, organization_id: str, fdr: str, revision: int, psp_id: str
    ) -> dict[str, Any]:
        return self._find(organization_id, fdr, revision, psp_id)[1]

    def get_payments(
        self,
        organization_id: str,
        fdr: str,
        revision: int,
        psp_id: str,
        *,
        page: int = 1,
        size: int = MAX_PAGE_SIZE,
    ) -> dict[str, Any]:
        return _page(self._find(organization_id, fdr, revision, psp_id)[2], page, size)

    def _find(self, org: str, fdr: str, revision: int, psp_id: str) -> Any:
        for item in self.published.get(org, []):
            ref = item[0]
            if (ref["fdr"], ref["revision"], ref["pspId"]) == (fdr, revision, psp_id):
                return item
        raise NotFound(f"{org}/{fdr}/{revision}/{psp_id}", 404)


class FakeReceipts:
    """An in-memory receipts service: ``receipts[(org, iur)] = CtReceiptModelResponse``."""

    instances: dict[str, FakeReceipts] = {}

    def __init__(self) -> None:
        self.receipts: dict[tuple[str, str], dict[str, Any]] = {}

    @classmethod
    def from_settings(cls, settings: Config | Mapping[str, Any]) -> FakeReceipts:
        name = as_config(settings).receipts_fake_name
        return cls.instances.setdefault(name, cls())

    def by_iur(self, organization_fiscal_code: str, iur: str) -> dict[str, Any] | None:
        return self.receipts.get((organization_fiscal_code, iur))

    def by_iuv(self, organization_fiscal_code: str, iur: str, iuv: str) -> dict[str, Any] | None:
        found = self.receipts.get((organization_fiscal_code, iur))
        return found if found and found.get("creditorReferenceId") == iuv else None


def _page(items: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
    size = max(1, min(size, MAX_PAGE_SIZE))
    total_pages = max(1, -(-len(items) // size))
    chunk = items[(page - 1) * size : page * size]
    return {
        "metadata": {"pageSize": size, "pageNumber": page, "totPage": total_pages},
        "count": len(items),
        "data": chunk,
    }
