"""nodesim's own Pyramid application: ``make_app(settings)`` -> WSGI app.

Routes (relative to where it is mounted):
  GET  /                           home: desk form, deliveries, flows (HTML)
  POST /psp/pay                    model-3 desk: {fiscalCode, noticeNumber, psp?, method?,
                                   payer?, faults?}
  POST /psp/standin                Stand-In receipt: {fiscalCode, noticeNumber, amount, ...}
  GET  /api/deliveries[/{id}]      every paSendRT delivery with all its attempts
  POST /api/deliveries/{id}/retry  restart an exhausted delivery
  GET|POST /api/clock              read / move the clock ({"days":..,"hours":..,"seconds":..})
  POST /api/days/close             close a simulated day now ({"date": "YYYY-MM-DD"}?)
  GET|PUT /api/faults              default fault injection
  GET|POST /api/standin            the station's Stand-In state, probes and switches; POST
                                   {"active": true|false, "reason"?} puts it in / takes it out
  POST /api/standin/probe          send the Stand-In manager's probe now (the outcome + state)
  GET  /api/flows, /api/flows/{id}.xml   reporting flows
  POST /nodeForPa                  nodoChiediElencoFlussiRendicontazione / nodoChiediFlusso...
  GET  /bank/statement.csv, /bank/camt053.xml   ?fiscalCode= or ?iban=
  POST /checkout/ec/v1/carts       Checkout carts API; GET|POST /checkout/c/{id}  the pages
  /aca/debt-positions-service/v1/...  ACA (gpd-4-aca.json; nodesim/aca.py)
  /upload/aca/debt-positions-service/v2/...  ACA bulk v2 (gpd-4-aca_massive_v2.json): files
  POST /api/aca/faults, GET /api/aca/positions   ACA's faults, its archive and calls
  GET  /delivery/v2.3/price/{paTaxId}/{noticeCode}  SEND's price (nodesim/send.py);
                                   POST /api/send/prices sets prices and faults
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound, HTTPNotFound
from pyramid.request import Request
from pyramid.response import Response

from nodesim import aca, bank, config, fdr3, psps, send
from nodesim.checkout import CartError, Checkout, cart_page
from nodesim.faults import Faults
from nodesim.node import Node, PaymentRefused
from nodesim.nodeforpa import NodeForPa

NO_IBAN = "IT00X0000000000000000000000"


def build_node(settings: dict[str, Any]) -> Node:
    return Node(
        config.station_config(settings),
        policy=config.retry_policy(settings),
        faults=config.faults(settings),
        standin=config.standin_policy(settings),
    )


class _Request(Request):
    # WebOb copies a body it must make seekable (``request.body``) into a temporary file above
    # 10 KiB, and never closes it: left to the garbage collector, it warns at a random moment
    # of the process serving nodesim. The simulator's bodies (bulk uploads included) are kept
    # in memory instead.
    request_body_tempfile_limit = 256 * 1024 * 1024


def make_app(settings: dict[str, Any] | None = None, node: Node | None = None) -> Any:
    settings = config.effective(settings or {})
    node = node or build_node(settings)
    cfg = Configurator(settings=settings, request_factory=_Request)
    cfg.registry["nodesim.node"] = node
    cfg.registry["nodesim.checkout"] = Checkout(node)
    cfg.registry["nodesim.nodeforpa"] = NodeForPa(
        node.ledger,
        node.client.config.broker,
        node.client.config.station,
        settings.get("nodesim.password"),
    )
    cfg.registry["nodesim.rest"] = fdr3.RestServices(
        node.ledger,
        node.payments,
        settings.get("nodesim.rest_key") or None,
        auto_publish=config.as_bool(settings.get("nodesim.fdr3_auto_publish", "false")),
    )
    # ACA (gpd-4-aca.json), fed by the intermediaries for Stand-In (issue 20)
    cfg.registry["nodesim.aca"] = aca.Aca(settings.get("nodesim.rest_key") or None)
    node.aca = cfg.registry["nodesim.aca"]  # Stand-In pays from ACA's copy
    cfg.registry["nodesim.send"] = send.SendPrices(settings.get("nodesim.rest_key") or None)
    routes = [
        ("home", "/", home, "GET"),
        (
            "aca.positions",
            f"{aca.BASE}/organizations/{{org}}/debtpositions",
            aca_view,
            ("GET", "POST"),
        ),
        (
            "aca.position",
            f"{aca.BASE}/organizations/{{org}}/debtpositions/{{iupd}}",
            aca_view,
            ("GET", "PUT", "DELETE"),
        ),
        (
            "aca.publish",
            f"{aca.BASE}/organizations/{{org}}/debtpositions/{{iupd}}/publish",
            aca_view,
            "POST",
        ),
        (
            "aca.invalidate",
            f"{aca.BASE}/organizations/{{org}}/debtpositions/{{iupd}}/invalidate",
            aca_view,
            "POST",
        ),
        (
            "aca.paid",
            f"{aca.BASE}/organizations/{{org}}/paymentoptions/paids/{{nav}}",
            aca_view,
            "POST",
        ),
        (
            "aca.file",
            f"{aca.BASE_V2}/brokers/{{broker}}/organizations/{{org}}/debtpositions/file",
            aca_file_view,
            ("POST", "PUT", "DELETE"),
        ),
        (
            "aca.file_status",
            f"{aca.BASE_V2}/brokers/{{broker}}/organizations/{{org}}/debtpositions/file/{{file_id}}/status",
            aca_file_view,
            "GET",
        ),
        (
            "aca.file_report",
            f"{aca.BASE_V2}/brokers/{{broker}}/organizations/{{org}}/debtpositions/file/{{file_id}}/report",
            aca_file_view,
            "GET",
        ),
        (
            "aca.files",
            f"{aca.BASE_V2}/brokers/{{broker}}/organizations/{{org}}/debtpositions/files",
            aca_file_view,
            "GET",
        ),
        ("aca.faults", "/api/aca/faults", aca_faults, "POST"),
        ("send.price", "/delivery/v2.3/price/{tax}/{notice}", send_price, "GET"),
        (
            "send.prices",
            "/api/send/prices",
            lambda r: r.registry["nodesim.send"].control(r.json_body),
            "POST",
        ),
        ("aca.state", "/api/aca/positions", lambda r: r.registry["nodesim.aca"].snapshot(), "GET"),
        ("fdr3.list", f"{FDR3}/organizations/{{org}}/fdrs", fdr3_list, "GET"),
        ("fdr3.flow", f"{FDR3_FLOW}", fdr3_flow, "GET"),
        ("fdr3.payments", f"{FDR3_FLOW}/payments", fdr3_payments, "GET"),
        ("receipts.iur", f"{RECEIPTS}/organizations/{{org}}/receipts/{{iur}}", receipt, "GET"),
        (
            "receipts.iuv",
            f"{RECEIPTS}/organizations/{{org}}/receipts/{{iur}}/paymentoptions/{{iuv}}",
            receipt,
            "GET",
        ),
        ("fdr3.publish", "/api/fdr3/publish", fdr3_publish, "POST"),
        ("rest.throttle", "/api/rest/throttle", rest_throttle, "POST"),
        ("health", "/health", lambda r: {"status": "ok"}, "GET"),
        ("desk.pay", "/psp/pay", desk_pay, "POST"),
        ("desk.standin", "/psp/standin", desk_standin, "POST"),
        ("psps", "/api/psps", lambda r: psps.offers(), "GET"),
        ("deliveries", "/api/deliveries", deliveries, "GET"),
        ("delivery", "/api/deliveries/{id}", delivery, "GET"),
        ("delivery.retry", "/api/deliveries/{id}/retry", delivery_retry, "POST"),
        ("clock", "/api/clock", clock, ("GET", "POST")),
        ("days.close", "/api/days/close", close_day, "POST"),
        ("faults", "/api/faults", faults_view, ("GET", "PUT", "POST")),
        ("standin", "/api/standin", standin_view, ("GET", "POST")),
        ("standin.probe", "/api/standin/probe", standin_probe, "POST"),
        ("flows", "/api/flows", flows, "GET"),
        ("flow.xml", "/api/flows/{id}.xml", flow_xml, "GET"),
        ("nodeforpa", "/nodeForPa", node_for_pa, "POST"),
        ("bank.csv", "/bank/statement.csv", bank_csv, "GET"),
        ("bank.camt", "/bank/camt053.xml", bank_camt, "GET"),
        ("carts", "/checkout/ec/v1/carts", create_cart, "POST"),
        ("cart.page", "/checkout/c/{id}", cart_view, ("GET", "POST")),
        ("cart.json", "/api/carts/{id}", cart_json, "GET"),
    ]
    for name, pattern, view, methods in routes:
        cfg.add_route(name, pattern, request_method=methods)
        cfg.add_view(view, route_name=name, renderer="json")
    cfg.add_view(refused, context=PaymentRefused, renderer="json")
    cfg.add_view(bad_request, context=ValueError, renderer="json")
    app = cfg.make_wsgi_app()
    if config.as_bool(settings["nodesim.background"]):
        node.deliverer.start(float(settings["nodesim.retry_poll_seconds"]))
    return app


def _json_body(request: Request) -> Any:
    try:
        return request.json_body if request.body else None
    except ValueError:
        return "not json"


_ACA_OPS = {
    ("aca.positions", "POST"): "create",
    ("aca.positions", "GET"): "list",
    ("aca.position", "GET"): "read",
    ("aca.position", "PUT"): "update",
    ("aca.position", "DELETE"): "delete",
    ("aca.publish", "POST"): "publish",
    ("aca.invalidate", "POST"): "invalidate",
    ("aca.paid", "POST"): "paid",
}


def aca_view(request: Request) -> Any:
    """ACA's operations (nodesim/aca.py)."""
    op = _ACA_OPS[(request.matched_route.name, request.method)]
    kw: dict[str, Any] = {k: v for k, v in request.matchdict.items() if k != "org"}
    if op in ("create", "update", "paid"):
        kw["body"] = _json_body(request)
    if op in ("create", "update"):
        kw["publish"] = request.GET.get("toPublish") == "true"
    status, body = request.registry["nodesim.aca"].handle(
        request.method, op, request.matchdict["org"], dict(request.headers), **kw
    )
    request.response.status_int = status
    return body


def aca_file_view(request: Request) -> Any:
    """ACA's bulk v2 (nodesim/aca.py): files of positions, their status and report."""
    route = request.matched_route.name
    op = "upload" if route == "aca.file" else route.removeprefix("aca.")
    kw: dict[str, Any] = {k: v for k, v in request.matchdict.items() if k != "org"}
    if op == "upload":
        upload = request.POST.get("file")
        kw["verb"] = request.method
        kw["content"] = upload.file.read() if hasattr(upload, "file") else None
    status, body = request.registry["nodesim.aca"].handle(
        request.method, op, request.matchdict["org"], dict(request.headers), **kw
    )
    request.response.status_int = status
    if op == "upload" and status == 202:
        request.response.headers["Location"] = body["location"]
        request.response.headers["Retry-After"] = "1000 ms"
        return request.response  # the document's 202 has no body
    return body


def send_price(request: Request) -> Any:
    """SEND's price of a notified notice (nodesim/send.py)."""
    status, body = request.registry["nodesim.send"].price(
        request.matchdict["tax"], request.matchdict["notice"], request.headers.get("x-api-key")
    )
    request.response.status_int = status
    return body


def aca_faults(request: Request) -> Any:
    """{"fail": N, "status": 500|429|..., "slowSeconds": s}: the next N ACA calls fail."""
    body = request.json_body
    return request.registry["nodesim.aca"].faults(
        int(body.get("fail", 0)),
        int(body.get("status", 500)),
        float(body.get("slowSeconds", 0)),
        upload_polls=int(body.get("uploadPolls", 0)),
        refuse_iupds=[str(i) for i in body.get("refuseIupds") or ()],
    )


FDR3 = "/fdr-org/service/v1"
FDR3_FLOW = FDR3 + "/organizations/{org}/fdrs/{fdr}/revisions/{rev}/psps/{psp}"
RECEIPTS = "/bizevents/service/v1"


def _rest(request: Request) -> fdr3.RestServices:
    return request.registry["nodesim.rest"]


def _answer(request: Request, call: Any) -> Any:
    try:
        return call()
    except fdr3.Problem as problem:
        response = request.response
        response.status_int = problem.status
        response.headers.update(problem.headers)
        return problem.body


def fdr3_list(request: Request) -> Any:
    m = request.matchdict
    return _answer(
        request,
        lambda: _rest(request).list_flows(m["org"], dict(request.GET), dict(request.headers)),
    )


def fdr3_flow(request: Request) -> Any:
    m = request.matchdict
    return _answer(
        request,
        lambda: _rest(request).get_flow(
            m["org"], m["fdr"], m["rev"], m["psp"], dict(request.headers)
        ),
    )


def fdr3_payments(request: Request) -> Any:
    m = request.matchdict
    return _answer(
        request,
        lambda: _rest(request).get_payments(
            m["org"], m["fdr"], m["rev"], m["psp"], dict(request.GET), dict(request.headers)
        ),
    )


def receipt(request: Request) -> Any:
    m = request.matchdict
    return _answer(
        request,
        lambda: _rest(request).receipt(m["org"], m["iur"], m.get("iuv"), dict(request.headers)),
    )


def fdr3_publish(request: Request) -> Any:
    """Publish the closed days' flows on FdR 3 (revision 1); ``{"fdr": id}`` publishes that
    flow again as its next revision (``"dropLast": true`` without its last payment)."""
    body = _body(request)
    rest = _rest(request)
    if body.get("fdr"):
        done = [rest.republish(str(body["fdr"]), drop_last=bool(body.get("dropLast")))]
    else:
        done = rest.publish_ledger()
    return [p.ref() | {"organizationId": p.organization} for p in done]


def rest_throttle(request: Request) -> Any:
    """The next ``count`` calls to FdR 3 or the receipts service answer 429."""
    body = _body(request)
    _rest(request).throttle(int(body.get("count", 1)), body.get("retryAfter", 1))
    return {"throttled": int(body.get("count", 1))}


def _node(request: Request) -> Node:
    return request.registry["nodesim.node"]


def _body(request: Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            body = request.json_body
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body
    return dict(request.POST)


def refused(exc: PaymentRefused, request: Request) -> dict[str, Any]:
    request.response.status = 422
    return exc.as_dict()


def bad_request(exc: ValueError, request: Request) -> dict[str, Any]:
    request.response.status = 400
    return {"title": "Bad request", "status": 400, "detail": str(exc)}


def desk_pay(request: Request) -> dict[str, Any]:
    body = _body(request)
    if "offer" in body:  # the home page's form: "PSP:method"
        body["psp"], _, body["method"] = body.pop("offer").partition(":")
    result = _node(request).pay_notice(
        body["fiscalCode"],
        body["noticeNumber"],
        psp_id=body.get("psp", "BCITITMM"),
        method=body.get("method", "CP"),
        payer=body.get("payer"),
        faults=body.get("faults"),
    )
    if request.content_type != "application/json":
        raise HTTPFound(request.route_url("home", _query={"paid": result["payment"]["receiptId"]}))
    return result


def desk_standin(request: Request) -> dict[str, Any]:
    body = _body(request)
    return _node(request).pay_standin(
        body["fiscalCode"],
        body["noticeNumber"],
        str(body["amount"]),
        iuv=body.get("iuv"),
        iban=body.get("iban", "IT60X0542811101000000123456"),
        psp_id=body.get("psp", "BCITITMM"),
        method=body.get("method", "CP"),
        faults=body.get("faults"),
    )


def deliveries(request: Request) -> list[dict[str, Any]]:
    return [d.as_dict() for d in _node(request).deliverer.all()]


def delivery(request: Request) -> dict[str, Any]:
    found = _node(request).deliverer.get(request.matchdict["id"])
    if found is None:
        raise HTTPNotFound()
    return found.as_dict()


def delivery_retry(request: Request) -> dict[str, Any]:
    try:
        return _node(request).deliverer.retry(request.matchdict["id"]).as_dict()
    except KeyError:
        raise HTTPNotFound() from None


def clock(request: Request) -> dict[str, Any]:
    node = _node(request)
    if request.method == "POST":
        body = _body(request)
        delta = dt.timedelta(
            days=float(body.get("days", 0)),
            hours=float(body.get("hours", 0)),
            seconds=float(body.get("seconds", 0)),
        )
        return node.advance(delta)
    return {"now": node.clock.now().isoformat(), "offsetSeconds": node.clock.offset.total_seconds()}


def close_day(request: Request) -> dict[str, Any]:
    node = _node(request)
    body = _body(request) if request.body else {}
    day = dt.date.fromisoformat(body["date"]) if body.get("date") else node.clock.today()
    chosen = node.faults_for(body.get("faults"))
    return {"flows": [f.as_dict() for f in node.ledger.close_day(day, chosen)]}


def faults_view(request: Request) -> dict[str, Any]:
    node = _node(request)
    if request.method in ("PUT", "POST"):
        node.faults = Faults().merged(_body(request))
    return node.faults.as_dict()


def _from_form(request: Request) -> bool:
    return request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")


def standin_view(request: Request) -> dict[str, Any]:
    standin = _node(request).standin
    if request.method == "POST":
        body = _body(request)
        active = body.get("active", True)
        if not isinstance(active, bool):
            active = str(active).lower() in {"1", "true", "yes", "on"}
        reason = str(body.get("reason") or "on demand")
        state = standin.enter(reason) if active else standin.leave(reason)
        if _from_form(request):  # the home page's buttons
            raise HTTPFound(request.route_url("home"))
        return state
    return standin.as_dict()


def standin_probe(request: Request) -> dict[str, Any]:
    standin = _node(request).standin
    probe = standin.probe("demand")
    if _from_form(request):  # the home page's button
        raise HTTPFound(request.route_url("home"))
    return {"probe": probe.as_dict(), "standIn": standin.as_dict()}


def flows(request: Request) -> list[dict[str, Any]]:
    return [f.as_dict() for f in sorted(_node(request).ledger.flows.values(), key=lambda f: f.id)]


def flow_xml(request: Request) -> Response:
    flow = _node(request).ledger.flows.get(request.matchdict["id"])
    if flow is None:
        raise HTTPNotFound()
    return Response(flow.xml(), content_type="application/xml")


def node_for_pa(request: Request) -> Response:
    node = _node(request)
    if node.faults.slow_seconds:
        time.sleep(node.faults.slow_seconds)
    answer = request.registry["nodesim.nodeforpa"].handle(request.body)
    return Response(answer, content_type="text/xml", charset="utf-8")


def _credits(request: Request) -> list[Any]:
    ec, iban = request.params.get("fiscalCode"), request.params.get("iban")
    return [
        c
        for c in _node(request).ledger.credits
        if (ec is None or c.ec == ec) and (iban is None or c.iban == iban)
    ]


def bank_csv(request: Request) -> Response:
    return Response(bank.statement_csv(_credits(request)), content_type="text/csv", charset="utf-8")


def bank_camt(request: Request) -> Response:
    credits = _credits(request)
    iban = request.params.get("iban") or (credits[0].iban if credits else NO_IBAN)
    return Response(
        bank.statement_camt053(credits, iban, _node(request).clock.now()),
        content_type="application/xml",
    )


def create_cart(request: Request) -> Any:
    try:
        body = request.json_body
    except (json.JSONDecodeError, ValueError):
        raise ValueError("the body must be JSON") from None
    try:
        cart = request.registry["nodesim.checkout"].create(body)
    except CartError as exc:
        request.response.status = 422
        return {"title": "Invalid cart", "status": 422, "detail": str(exc)}
    return HTTPFound(request.route_url("cart.page", id=cart.id))


def cart_view(request: Request) -> Any:
    checkout: Checkout = request.registry["nodesim.checkout"]
    cart = checkout.get(request.matchdict["id"])
    if cart is None:
        raise HTTPNotFound()
    if request.method == "POST":
        if request.POST.get("action") == "cancel":
            return HTTPFound(checkout.cancel(cart))
        psp_id, _, method = request.POST.get("offer", "BCITITMM:CP").partition(":")
        faults = json.loads(request.POST["faults"]) if request.POST.get("faults") else None
        return HTTPFound(checkout.pay(cart, psp_id, method, request.POST.get("email"), faults))
    if cart.status != "open":
        return HTTPFound(checkout.return_url(cart))
    try:
        notices = checkout.verify(cart)
    except PaymentRefused:
        notices = None
    return Response(
        cart_page(cart, notices, request.route_url("cart.page", id=cart.id)),
        content_type="text/html",
        charset="utf-8",
    )


def cart_json(request: Request) -> dict[str, Any]:
    cart = request.registry["nodesim.checkout"].get(request.matchdict["id"])
    if cart is None:
        raise HTTPNotFound()
    return cart.as_dict()


def home(request: Request) -> Response:
    from nodesim.pages import home_page

    return Response(home_page(_node(request), request), content_type="text/html", charset="utf-8")
