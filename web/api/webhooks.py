"""Webhook endpoints of an Ente's applications, and their dead letters.

* ``POST …/enti/{ec}/webhooks`` ``{"url", "events"?, "description"?}`` → 201 with the secret
  (shown this once); ``GET …/webhooks`` lists them; ``DELETE …/webhooks/{id}`` → 204.
* ``GET …/enti/{ec}/webhook-deliveries`` lists every delivery not delivered (``status``:
  pending, sending, retrying or dead; all of them by default) with its next due time;
  ``POST …/webhook-deliveries/{id}/replay`` → 202, a new round of attempts now (409 for a
  delivered one or one being sent right now).
* ``GET …/enti/{ec}/webhook-dead-letters`` lists the dead ones only;
  ``POST …/webhook-dead-letters/{id}/replay`` is the same replay.

Any key of the Ente manages the Ente's endpoints (a replaced key must not orphan them); the
key that registered an endpoint is recorded. URLs follow the outgoing URL policy
(``hub.http.check_url``): https only unless ``payhub.webhook_allow_http`` (development), and no
host in a private, loopback or link-local network unless ``payhub.outgoing_allowed_networks``
lists it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pyramid.response import Response
from pyramid.view import view_config

from hub import http
from hub.config import from_registry
from hub.errors import Conflict, NotFound
from hub.models import WebhookDelivery, WebhookEndpoint
from hub.notify import webhooks
from web.api import inputs
from web.api.auth import authorised_ente, record
from web.api.problems import Problem, not_found
from web.api.responses import model_response

EC = r"{fiscal_code:[0-9]{11}}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ROUTES = {
    "api.webhooks": (f"/enti/{EC}/webhooks", ("GET", "POST")),
    "api.webhook": (f"/enti/{EC}/webhooks/{{webhook_id:{UUID}}}", ("DELETE",)),
    "api.dead_letters": (f"/enti/{EC}/webhook-dead-letters", ("GET",)),
    "api.dead_letter_replay": (
        f"/enti/{EC}/webhook-dead-letters/{{delivery_id:{UUID}}}/replay",
        ("POST",),
    ),
    "api.deliveries": (f"/enti/{EC}/webhook-deliveries", ("GET",)),
    "api.delivery_replay": (
        f"/enti/{EC}/webhook-deliveries/{{delivery_id:{UUID}}}/replay",
        ("POST",),
    ),
}
NOT_DELIVERED = ("pending", "sending", "retrying", "dead")
EventType = Literal[webhooks.ALL_EVENT_TYPES]  # type: ignore[valid-type]
Url = Annotated[
    str,
    Field(
        min_length=10,
        max_length=500,
        pattern=r"^https?://[^\s/?#]+\S*$",
        examples=["https://backoffice.example.it/payhub/events"],
    ),
]


class WebhookInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel)

    url: Url
    events: Annotated[list[EventType], Field(min_length=1, max_length=5)] | None = Field(
        None, description="Event types to receive; default all"
    )
    description: Annotated[str, Field(max_length=140)] | None = None


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class WebhookOutput(_Out):
    id: str
    url: str
    events: list[EventType]
    description: str | None
    key_id: str = Field(description="Sent as X-Payhub-Key-Id")
    created_at: dt.datetime


class WebhookCreated(WebhookOutput):
    secret: str = Field(description="Signs every request (HMAC-SHA256); shown only now")


class WebhookList(_Out):
    items: list[WebhookOutput]


class DeadLetterOutput(_Out):
    """A delivery not delivered (the name is historical: any status but delivered)."""

    id: str
    webhook_id: str
    event_id: str
    event_type: EventType
    status: Literal[NOT_DELIVERED]  # type: ignore[valid-type]
    attempts: int = Field(description="Attempts in the current round (a replay starts one)")
    replays: int
    expired_claims: int = Field(
        0,
        description="Attempts whose outcome is unknown (the sender "
        "stopped before recording it): each may have been received",
    )
    next_attempt_at: dt.datetime | None = Field(
        None, description="When the next attempt is due (or the current one's lease ends)"
    )
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    payload: dict[str, Any]


class DeadLetterPage(_Out):
    items: list[DeadLetterOutput]
    next_cursor: str | None = Field(None, description="Give as `cursor` for the next page")


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=200)] = 50
    # a row id: PostgreSQL integer, so at most 9 digits (more is no cursor we gave: 400)
    cursor: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,8}$")] | None = None


class DeliveryQuery(DeadLetterQuery):
    status: Literal[NOT_DELIVERED] | None = None  # type: ignore[valid-type]


def includeme(config: Any) -> None:
    """Included by web.api (same prefix, problems and 405s); its scan finds the views."""
    from web.api import add_routes  # with the package's own 405 view

    add_routes(config, ROUTES)


def _endpoint_out(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.public_id,
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "key_id": endpoint.key_id,
        "created_at": endpoint.created_at,
    }


def _check_url(request: Any, url: str) -> None:
    """The outgoing URL policy (hub.http), as far as it can be judged now: a host that does not
    resolve yet is accepted, every delivery checks again and connects to the checked address."""
    try:
        policy = http.UrlPolicy.from_settings(from_registry(request.registry))
        http.check_url(url, policy, unresolvable_ok=True)
    except http.UrlRefused as exc:
        code = "insecure_url" if "https" in str(exc) else "invalid_url"
        raise Problem(422, code, str(exc), field="url") from None


@view_config(route_name="api.webhooks", request_method="POST")
def create(request: Any) -> Response:
    """Register an endpoint; the answer carries its secret, never shown again."""
    ente = authorised_ente(request)
    data = inputs.body(request, WebhookInput)
    _check_url(request, data.url)
    registered = webhooks.register_endpoint(
        request.db,
        ente,
        data.url,
        events=data.events,
        description=data.description,
        api_key_id=request.api_key_used.id,
    )
    endpoint = registered.endpoint
    record(
        request,
        ente,
        "webhook.create",
        f"webhook:{endpoint.public_id}",
        {"url": endpoint.url, "events": endpoint.events},
    )
    location = request.route_path(
        "api.webhook", fiscal_code=ente.fiscal_code, webhook_id=endpoint.public_id
    )
    body = WebhookCreated(**_endpoint_out(endpoint), secret=registered.secret)
    return model_response(body, 201, {"Location": location})


@view_config(route_name="api.webhooks", request_method="GET")
def list_endpoints(request: Any) -> Response:
    ente = authorised_ente(request)
    if request.GET:
        raise Problem(
            400, "invalid_query", "no query parameters here", field=next(iter(request.GET))
        )
    items = [
        WebhookOutput(**_endpoint_out(e)) for e in webhooks.active_endpoints(request.db, ente.id)
    ]
    return model_response(WebhookList(items=items))


@view_config(route_name="api.webhook", request_method="DELETE")
def delete(request: Any) -> Response:
    """Stop sending to the endpoint (its past deliveries are kept)."""
    ente = authorised_ente(request)
    try:
        endpoint = webhooks.find_endpoint(request.db, ente.id, request.matchdict["webhook_id"])
    except NotFound:
        raise not_found("webhook endpoint") from None
    webhooks.delete_endpoint(request.db, endpoint)
    record(request, ente, "webhook.delete", f"webhook:{endpoint.public_id}")
    return Response(status=204)


def _dead_letter_out(delivery: WebhookDelivery) -> DeadLetterOutput:
    return DeadLetterOutput(
        id=delivery.public_id,
        webhook_id=delivery.endpoint.public_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        replays=delivery.replays,
        expired_claims=delivery.expired_claims,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        payload=delivery.payload,
    )


def _page(request: Any, statuses: tuple[str, ...], query: DeadLetterQuery) -> Response:
    ente = authorised_ente(request)
    rows = webhooks.undelivered(
        request.db,
        ente.id,
        statuses=statuses,
        limit=query.limit + 1,
        after_id=int(query.cursor) if query.cursor else None,
    )
    page, more = rows[: query.limit], len(rows) > query.limit
    return model_response(
        DeadLetterPage(
            items=[_dead_letter_out(d) for d in page],
            next_cursor=str(page[-1].id) if more else None,
        )
    )


@view_config(route_name="api.dead_letters", request_method="GET")
def dead_letters(request: Any) -> Response:
    """Deliveries that exhausted their attempts, newest first."""
    return _page(request, ("dead",), inputs.query(request, DeadLetterQuery))


@view_config(route_name="api.deliveries", request_method="GET")
def deliveries(request: Any) -> Response:
    """Deliveries not delivered (or in one ``status``), newest first."""
    query = inputs.query(request, DeliveryQuery)
    return _page(request, (query.status,) if query.status else (), query)


@view_config(route_name="api.dead_letter_replay", request_method="POST")
@view_config(route_name="api.delivery_replay", request_method="POST")
def replay(request: Any) -> Response:
    """Send a delivery that is not delivered again (a new round of attempts, now)."""
    ente = authorised_ente(request)
    try:
        delivery = webhooks.find_delivery(request.db, ente.id, request.matchdict["delivery_id"])
        webhooks.replay(request.db, delivery)
    except NotFound:
        raise not_found("webhook delivery") from None
    except Conflict as exc:
        raise Problem(409, exc.code, str(exc)) from None
    record(request, ente, "webhook.replay", f"webhook_delivery:{delivery.public_id}")
    return model_response(_dead_letter_out(delivery), 202)
