"""pagoPA's GPD-payments feature files, read in place from ../shared, run against our station
with our own step definitions (issue 3; peer-tests.md §3.C).

The .feature files, env.local.properties, SOAP templates and debt-position payload are the
stored ones; tests/soap/features/gpd.py says what replaces pagoPA's infrastructure and holds
the one table (FAULT_MAP) of answers where our station differs from the feature, with the
reason. Every response also passes the Node's checks (tests/soap/soapcheck.py); every request
we build from a template is checked against the official XSD before it is sent.

Scenarios that cannot run are skipped by the step that cannot be mapped, saying why.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import sqlalchemy as sa
from lxml import etree
from pytest_bdd import given, parsers, scenarios, then, when
from webtest import TestApp, TestResponse

from hub.models import (
    Anomaly,
    DebtPosition,
    Ente,
    Intermediary,
    PaymentAttempt,
    PaymentOption,
    Receipt,
    Station,
)
from hub.positions.inputs import DebtPositionInput, OptionInput, TransferInput
from hub.positions.writer import create_position
from hub.tenants import api_keys
from hub.tenants.stations import load_station
from tests.soap import soapcheck
from tests.soap.features import gpd

pytestmark = pytest.mark.pg

if gpd.FEATURES.is_dir():
    scenarios(*(str(p) for p in gpd.feature_files()))
else:

    def test_gpd_payments_features():
        pytest.skip(f"{gpd.FEATURES} is absent (../shared is not beside the checkout)")


# -- context ---------------------------------------------------------------------------------
@dataclass
class Sent:
    name: str  # the feature's request name
    operation: str
    id_pa: str
    body: bytes
    status: int
    response: etree._Element | None  # the response wrapper, after soapcheck
    before: dict[str, object]
    after: dict[str, object]


@dataclass
class Ctx:
    env: dict[str, str]
    payload: dict
    ente_id: int | None = None
    other_ente_id: int | None = None
    option_id: int | None = None
    notice: str | None = None
    iuv: str | None = None
    fiscal_code: str | None = None
    token: str | None = None
    outcome_sent: bool = False
    last: Sent | None = None
    api: TestResponse | None = None  # the last REST call, if the last request was one
    api_query: dict[str, str] | None = None
    api_key: str | None = None
    sent: list[Sent] = field(default_factory=list)


@pytest.fixture
def ctx() -> Ctx:
    return Ctx(env=gpd.env(), payload=gpd.debt_position_payload())


@pytest.fixture
def client(wsgi_app, committed_factory) -> TestApp:
    return TestApp(wsgi_app)


def _state(factory, ctx: Ctx) -> dict[str, object]:
    """What a request could have written: receipts, attempts, anomalies, the option."""
    with factory() as s:
        count = lambda model: s.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
        option = s.get(PaymentOption, ctx.option_id) if ctx.option_id else None
        return {
            "receipts": count(Receipt),
            "attempts": count(PaymentAttempt),
            "anomalies": count(Anomaly),
            "options": count(PaymentOption),
            "status": option.status if option else None,
        }


def _values(ctx: Ctx, fiscal_code: str) -> dict[str, object]:
    env, p = ctx.env, ctx.payload
    transfers = p["paymentOption"][0]["transfer"]
    assert all(t["amount"] % 100 == 0 for t in transfers)  # the template appends ".00"
    today = gpd.today()
    return {
        "fiscalCode": fiscal_code,
        "brokerCode": env["test_broker"],
        "stationCode": env["test_station"],
        "noticeNumber": ctx.notice,
        "iuv": ctx.iuv,
        "amount": f"{gpd.euros(p['paymentOption'][0]['amount'])}",
        "receiptId": ctx.token or secrets.token_hex(16),
        "companyName": p["companyName"],
        "officeName": p["officeName"],
        "payerFiscalCode": p["fiscalCode"],
        "name": p["fullName"],
        "streetName": p["streetName"],
        "civicNumber": p["civicNumber"],
        "postalCode": p["postalCode"],
        "city": p["city"],
        "province": p["province"],
        "country": p["country"],
        "email": p["email"],
        "transferAmountRate": transfers[0]["amount"] // 100,
        "transferAmountRate___2": transfers[1]["amount"] // 100,
        "iban": env["test_iban"],
        "pspId": env["pspId"],
        "pspName": env["pspName"],
        "pspChannelId": env["pspChannelId"],
        # not in the stored env: AgID's fiscal code, which is also its pspBrokerId
        "pspFiscalCode": env["pspBrokerId"],
        "applicationDate": today.isoformat(),
        "transferDate": (today + dt.timedelta(days=1)).isoformat(),
    }


def _request_element(root: etree._Element) -> etree._Element:
    return soapcheck.body_element(etree.tostring(root))


def build(ctx: Ctx, name: str, fiscal_code: str, id_pa: str | None = None) -> bytes:
    """Fill the stored template for ``name``; ``id_pa`` overrides idPA alone."""
    template, _operation, element = gpd.REQUESTS[name]
    text = (gpd.TEMPLATES / template).read_text(encoding="utf-8")
    values = _values(ctx, fiscal_code)
    if "3{{noticeNumber}}" in text:  # the getPayment templates prefix the aux digit to the IUV
        assert ctx.notice == "3" + ctx.iuv
        values["noticeNumber"] = ctx.iuv
    root = etree.fromstring(gpd.render(template, values))
    body = root.find(f"{{{soapcheck.SOAP11}}}Body")
    req = next(c for c in body if isinstance(c.tag, str))
    req.tag = f"{{{soapcheck.PAFN}}}{element}"
    if id_pa is not None:
        req.find("idPA").text = id_pa
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def send(
    ctx: Ctx,
    client: TestApp,
    factory,
    xsd,
    name: str,
    *,
    fiscal_code: str | None = None,
    id_pa: str | None = None,
) -> Sent:
    fiscal_code = fiscal_code or ctx.fiscal_code or ctx.env["test_creditor_institution"]
    body = build(ctx, name, fiscal_code, id_pa)
    request = soapcheck.body_element(body)
    assert xsd.validate(request), f"our {name} is not XSD-valid: {xsd.error_log.last_error}"
    operation = gpd.REQUESTS[name][1]
    before = _state(factory, ctx)
    res = client.post(
        gpd.SOAP_PATH,
        body,
        expect_errors=True,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": operation},
    )
    after = _state(factory, ctx)
    wrapper = soapcheck.check_response(res.body, xsd) if res.status_int == 200 else None
    sent = Sent(
        name, operation, request.findtext("idPA"), body, res.status_int, wrapper, before, after
    )
    ctx.last, ctx.api = sent, None
    ctx.sent.append(sent)
    return sent


def ok(sent: Sent) -> etree._Element:
    assert sent.status == 200, sent
    assert sent.response is not None
    assert sent.response.findtext("outcome") == "OK", (
        sent.response.findtext("fault/faultCode"),
        sent.response.findtext("fault/description"),
    )
    return sent.response


# -- infrastructure --------------------------------------------------------------------------
@given("Payments running")
def payments_running(client):
    """Payments = our station; its /health says whether the database and broker answer."""
    res = client.get("/health")
    assert res.json["status"] == "ok", res.json


@given("GPD running")
def gpd_running(committed_factory):
    """GPD = hub.positions.writer, in process: its tables must answer."""
    with committed_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DebtPosition)) == 0


@given("ApiConfig running")
def api_config_running(ctx, committed_factory):
    """ApiConfig = our station configuration (hub.tenants.stations); empty so far."""
    with committed_factory() as s:
        assert load_station(s, ctx.env["test_station"]) is None


@given("the configured creditor institution")
def configured_ci(ctx, committed_factory):
    """The EC of the env (77777777777), plus the env's invalid_creditor_institution as an
    EC that exists in our database but is not served by the test station (so "not served"
    is what is tested, not merely "unknown")."""
    with committed_factory() as s:
        ec = Ente(
            fiscal_code=ctx.env["test_creditor_institution"],
            name=ctx.payload["companyName"],
            office=ctx.payload["officeName"],
            iban=ctx.env["test_iban"],
            segregation_code="01",
        )
        other = Ente(
            fiscal_code=ctx.env["invalid_creditor_institution"],
            name="Ente di un'altra stazione",
            iban=ctx.env["test_iban"],
            segregation_code="02",
        )
        s.add_all([ec, other])
        s.commit()
        ctx.ente_id, ctx.other_ente_id = ec.id, other.id


@given("the configured creditor institution broker")
def configured_broker(ctx, committed_factory):
    with committed_factory() as s:
        s.add_all(
            [
                Intermediary(broker_code=ctx.env["test_broker"], name="Broker di test"),
                Intermediary(broker_code="99999999999", name="Un altro intermediario"),
            ]
        )
        s.commit()


@given("the configured station")
def configured_station(ctx, committed_factory):
    """The env's station, serving the EC; the unserved EC belongs to another broker's."""
    with committed_factory() as s:
        brokers = {b.broker_code: b for b in s.scalars(sa.select(Intermediary))}
        ours, other = s.get(Ente, ctx.ente_id), s.get(Ente, ctx.other_ente_id)
        s.add_all(
            [
                Station(
                    station_code=ctx.env["test_station"],
                    intermediary=brokers[ctx.env["test_broker"]],
                    primitive_version=2,
                    enti=[ours],
                ),
                Station(
                    station_code="99999999999_01",
                    intermediary=brokers["99999999999"],
                    primitive_version=2,
                    enti=[other],
                ),
            ]
        )
        s.commit()


@given("if necessary, refresh the configuration and wait 30 seconds")
def refresh_configuration(ctx, client, committed_factory):
    """Nothing to wait for: the test app reads the station configuration on every call."""
    assert client.app.registry["soap.paForNode"].stations.ttl == 0
    with committed_factory() as s:
        station = load_station(s, ctx.env["test_station"])
    assert station is not None and station.broker_code == ctx.env["test_broker"]
    assert set(station.enti) == {ctx.env["test_creditor_institution"]}


# -- data ------------------------------------------------------------------------------------
@given("a valid debt position")
def valid_debt_position(ctx, committed_factory):
    """The payload of integration__createDebtPosition.json.tmpl, created and published through
    hub.positions.writer (GPD: POST /organizations/{ci}/debtpositions?toPublish=true). Our hub
    allocates
    the notice number (aux digit 3 + IUV), as GPD's caller does with its IUV generator."""
    p = ctx.payload
    po = p["paymentOption"][0]
    assert po["amount"] == 30000 and [t["amount"] for t in po["transfer"]] == [10000, 20000]
    assert {t["category"] for t in po["transfer"]} == {"9/0101108TS/"}
    today = gpd.today()
    alphabet = string.ascii_uppercase + string.digits
    data = DebtPositionInput.of(
        iupd="".join(secrets.choice(alphabet) for _ in range(35)),
        debtor_type=p["type"],
        debtor_fiscal_code=p["fiscalCode"],
        debtor_name=p["fullName"],
        description=po["description"],
        debtor_email=p["email"],
        debtor_street=p["streetName"],
        debtor_city=p["city"],
        debtor_postal_code=p["postalCode"],
        debtor_province=p["province"],
        debtor_nation=p["country"],
        options=[
            OptionInput.of(
                amount=str(gpd.euros(po["amount"])),
                due_date=today + dt.timedelta(days=30),
                retention_date=today + dt.timedelta(days=90),
                description=po["description"],
                transfers=[
                    TransferInput.of(
                        amount=str(gpd.euros(t["amount"])),
                        remittance_information=t["remittanceInformation"],
                        category=t["category"],
                        iban=t["iban"],
                        metadata=t.get("transferMetadata"),
                    )
                    for t in po["transfer"]
                ],
            )
        ],
    )
    with committed_factory() as s:
        position = create_position(
            s, s.get(Ente, ctx.ente_id), data, publish=True, cause="test:gpd-features"
        )
        option = position.options[0]
        # the same notice number at the unserved EC: the station must not answer for it
        create_position(
            s,
            s.get(Ente, ctx.other_ente_id),
            DebtPositionInput.of(
                iupd="OTHER-" + data.iupd[:20],
                debtor_type="F",
                debtor_fiscal_code=p["fiscalCode"],
                debtor_name=p["fullName"],
                description="Debito di un altro Ente",
                options=[
                    OptionInput.of(
                        amount="300.00",
                        due_date=today + dt.timedelta(days=30),
                        notice_number=option.notice_number,
                        transfers=[
                            TransferInput.of(
                                amount="300.00",
                                remittance_information="Altro",
                                category="9/0101108TS/",
                                iban=ctx.env["test_iban"],
                            )
                        ],
                    )
                ],
            ),
            publish=True,
            cause="test:gpd-features",
        )
        s.commit()
        assert option.amount_cents == 30000 and option.status != "draft"
        ctx.option_id, ctx.notice, ctx.iuv = option.id, option.notice_number, option.iuv
    assert len(ctx.notice) == 18 and ctx.notice == "3" + ctx.iuv


@given("a valid fiscal code")
def valid_fiscal_code(ctx):
    ctx.fiscal_code = ctx.env["test_creditor_institution"]


@given("an invalid fiscal code")
def invalid_fiscal_code(ctx):
    ctx.fiscal_code = ctx.env["invalid_creditor_institution"]


@given("a proper verification of debt position")
def proper_verification(ctx, client, committed_factory, official_xsd):
    res = ok(
        send(
            ctx,
            client,
            committed_factory,
            official_xsd,
            "VerifyPaymentNoticeRequest",
            fiscal_code=ctx.env["test_creditor_institution"],
        )
    )
    assert res.findtext("paymentList/paymentOptionDescription/amount") == "300.00"


def _activate(ctx, client, factory, xsd, fiscal_code: str | None = None) -> Sent:
    """activatePaymentNotice to the Node -> the paGetPaymentV2 the Node then sends a V2 station
    (ours is configured primitive_version 2)."""
    return send(ctx, client, factory, xsd, "GetPaymentV2Request", fiscal_code=fiscal_code)


@given("a proper activation of debt position")
def proper_activation(ctx, client, committed_factory, official_xsd):
    _activate(
        ctx,
        client,
        committed_factory,
        official_xsd,
        fiscal_code=ctx.env["test_creditor_institution"],
    )
    payment_token(ctx, committed_factory)


# -- the client sends ------------------------------------------------------------------------
_SENDS = "|".join(gpd.REQUESTS)


@given(parsers.re(rf"the client sends the (?P<name>{_SENDS})"))
@when(parsers.re(rf"the client sends the (?P<name>{_SENDS})"))
def client_sends(ctx, client, committed_factory, official_xsd, name):
    send(ctx, client, committed_factory, official_xsd, name)


@when("the client sends the ActivatePaymentNoticeRequest to Nodo")
def activate_to_nodo(ctx, client, committed_factory, official_xsd):
    _activate(ctx, client, committed_factory, official_xsd)


@when("the client sends the SendPaymentOutcomeRequest to Nodo")
def send_payment_outcome_to_nodo(ctx, committed_factory):
    """PSP -> Node: nothing reaches the EC but the paSendRT that follows, which the scenario
    sends itself in its next step (with the outcome's payer, fee and dates, and the token as
    receiptId). Sending a paSendRT here too would make that one a second payment. What the
    Node requires before accepting the outcome is checked: an activation, still open, and
    the notice not yet paid."""
    assert ctx.token, "sendPaymentOutcome needs the paymentToken of an activation"
    with committed_factory() as s:
        assert s.get(PaymentOption, ctx.option_id).status == "in_progress"
    ctx.outcome_sent = True


def _api_key(ctx: Ctx, factory) -> str:
    """The Ente back-office's key for payhub's REST API (one per scenario, scoped to the EC)."""
    if ctx.api_key is None:
        with factory.begin() as s:
            ctx.api_key = api_keys.create_key(
                s, "gpd-features", [ctx.env["test_creditor_institution"]]
            ).secret
    return ctx.api_key


def _get_receipts(ctx: Ctx, client: TestApp, factory, **query: str) -> None:
    """GPD-payments' GET /payments/{organizationfiscalcode}/receipts[?iuv=] is payhub's
    GET /api/v1/enti/{ec}/receipts[?iuv=] (README "REST API"), called as the Ente would:
    with its API key, on the app the SOAP steps used."""
    ec = ctx.env["test_creditor_institution"]
    ctx.api = client.get(
        f"/api/v1/enti/{ec}/receipts",
        query,
        expect_errors=True,
        headers={"Authorization": f"Bearer {_api_key(ctx, factory)}"},
    )


@when("the client sends the GetOrganizationReceiptsRequest")
def get_organization_receipts(ctx, client, committed_factory):
    _receipt_stored(ctx, committed_factory)
    _get_receipts(ctx, client, committed_factory)


@when("the client sends the GetOrganizationReceipts filtered by IUV request")
def get_organization_receipts_by_iuv(ctx, client, committed_factory):
    _receipt_stored(ctx, committed_factory)
    ctx.api_query = {"iuv": ctx.iuv}
    _get_receipts(ctx, client, committed_factory, **ctx.api_query)


# -- then ------------------------------------------------------------------------------------
@then(parsers.parse("the client receives status code {status:d}"))
def status_code(ctx, status):
    """Of the last request: the REST call if the scenario's last step made one, else SOAP."""
    if ctx.api is not None:
        assert ctx.api.status_int == status, ctx.api.text
    else:
        assert ctx.last is not None and ctx.last.status == status


@then("the client receives an OK in the response")
def outcome_ok(ctx, committed_factory):
    ok(ctx.last)
    if ctx.last.operation.startswith("paSendRT"):
        _receipt_stored(ctx, committed_factory)


def _receipt_stored(ctx, factory):
    """The paSendRT marked the notice paid: one receipt (receiptId = the token), no anomaly."""
    assert ctx.last.operation.startswith("paSendRT")
    ok(ctx.last)
    with factory() as s:
        receipts = s.scalars(sa.select(Receipt)).all()
        assert [
            (r.receipt_id, r.notice_number, r.option_id, r.payment_amount_cents) for r in receipts
        ] == [(ctx.token, ctx.notice, ctx.option_id, 30000)]
        assert receipts[0].primitive_version == (2 if ctx.last.operation.endswith("V2") else 1)
        assert s.get(PaymentOption, ctx.option_id).status == "paid"
        assert s.scalars(sa.select(Anomaly.kind)).all() == []


@then(parsers.parse('the client receives a KO with the "{code}" fault code error'))
def outcome_ko(ctx, client, committed_factory, official_xsd, code):
    sent = ctx.last
    assert sent.status == 200 and sent.response is not None
    cause = gpd.UNSERVED_EC if sent.id_pa == ctx.env["invalid_creditor_institution"] else None
    mapped = gpd.FAULT_MAP.get((sent.operation, code, cause))
    expected = mapped.ours if mapped else code
    assert sent.response.findtext("outcome") == "KO"
    assert sent.response.findtext("fault/faultCode") == expected, (
        f"feature expects {code}" + (f", mapped to {expected}: {mapped.reason}" if mapped else ""),
        sent.response.findtext("fault/description"),
    )
    assert sent.response.findtext("fault/id") == sent.id_pa
    assert sent.after == sent.before, "a refused request wrote something"
    if mapped and mapped.qr_only:
        # idPA ours, only qrCode/fiscalCode the unserved EC: the feature's own answer
        probe = send(
            ctx,
            client,
            committed_factory,
            official_xsd,
            sent.name,
            fiscal_code=ctx.env["invalid_creditor_institution"],
            id_pa=ctx.env["test_creditor_institution"],
        )
        assert probe.response.findtext("fault/faultCode") == mapped.qr_only
        assert probe.after == probe.before


@then("the payment token is extracted")
def payment_token(ctx, committed_factory):
    """The Node's paymentToken (32 hex) for an activation our paGetPayment allowed: the notice
    is in progress. The token comes back to us as the paSendRT's receiptId."""
    res = ok(ctx.last)
    assert res.findtext("data/creditorReferenceId") == ctx.iuv
    with committed_factory() as s:
        assert s.get(PaymentOption, ctx.option_id).status == "in_progress"
    ctx.token = secrets.token_hex(16)


@then(parsers.parse('the client retrieves the payment amount "{amount}" in the response'))
def payment_amount(ctx, amount):
    res = ok(ctx.last)
    assert res.findtext("data/paymentAmount") == amount
    assert sum(
        Decimal(t) for t in res.xpath("data/transferList/transfer/transferAmount/text()")
    ) == Decimal(amount)


@then("the client retrieves the IBANs in the response")
def ibans(ctx):
    transfers = ok(ctx.last).findall("data/transferList/transfer")
    assert [t.findtext("IBAN") for t in transfers] == [ctx.env["test_iban"]] * 2


@then(parsers.parse('the client retrieves the amount "{amount}" in the response'))
def verify_amount(ctx, amount):
    res = ok(ctx.last)
    assert res.findtext("paymentList/paymentOptionDescription/amount") == amount
    assert res.findtext("fiscalCodePA") == ctx.env["test_creditor_institution"]


def _our_receipt(ctx: Ctx) -> dict:
    """This scenario's receipt in the REST answer: there exactly once."""
    assert ctx.api is not None and ctx.api.status_int == 200
    assert ctx.api.content_type == "application/json"
    items = ctx.api.json["items"]
    ours = [r for r in items if r["receiptId"] == ctx.token]
    assert len(ours) == 1, [r["receiptId"] for r in items]
    return ours[0]


@then("the receipts response contains results")
def receipts_contain_results(ctx):
    """The Ente's list, newest first, holds the receipt the scenario's paSendRT brought."""
    page = ctx.api.json
    assert page["items"] and page["nextCursor"] is None
    received = [dt.datetime.fromisoformat(r["receivedAt"]) for r in page["items"]]
    assert received == sorted(received, reverse=True)
    ours = _our_receipt(ctx)
    assert (
        ours["iuv"],
        ours["noticeNumber"],
        ours["amount"],
        ours["ecFiscalCode"],
        ours["outcome"],
    ) == (ctx.iuv, ctx.notice, "300.00", ctx.env["test_creditor_institution"], "OK")


@then("the receipts response is valid")
def receipts_valid(ctx, client, committed_factory):
    """Filtered by IUV: every item has it and ours is there, carrying what GPD's receipt
    answer (gpd-responses/receiptPaymentOption.json) carries, in our own names: nav ->
    noticeNumber, organizationFiscalCode -> ecFiscalCode, amount (cents) -> amount (euro
    string), paymentDate -> paymentDateTime, pspCompany -> pspCompanyName, idReceipt ->
    receiptId, transfer[] -> transfers[] (the receipt's own transferList elements); GPD's
    status PO_PAID is the notice's state, read from our API too."""
    assert ctx.api_query == {"iuv": ctx.iuv}
    items = ctx.api.json["items"]
    assert items and all(r["iuv"] == ctx.iuv for r in items)
    ours = _our_receipt(ctx)
    ec, p = ctx.env["test_creditor_institution"], ctx.payload
    today = gpd.today()
    assert ours | {"receivedAt": None, "paymentDateTime": None, "transfers": None} == {
        "receiptId": ctx.token,
        "noticeNumber": ctx.notice,
        "iuv": ctx.iuv,
        "ecFiscalCode": ec,
        "outcome": "OK",
        "amount": "300.00",
        "fee": "1.50",
        "description": 'Pagamento compenso spettacolo "Tel chi el telun"',
        "debtorFiscalCode": p["fiscalCode"],
        "payerFiscalCode": p["fiscalCode"],
        "pspId": ctx.env["pspId"],
        "pspCompanyName": ctx.env["pspName"],
        "paymentMethod": "creditCard",
        "applicationDate": today.isoformat(),
        "transferDate": (today + dt.timedelta(days=1)).isoformat(),
        "standin": False,
        "receivedAt": None,
        "paymentDateTime": None,
        "transfers": None,
    }
    # the template pays at noon, Italian time: still today in UTC
    assert dt.datetime.fromisoformat(ours["paymentDateTime"]).date() == today
    transfers = ours["transfers"]
    assert [
        (
            t["idTransfer"],
            t["fiscalCodePA"],
            t["transferAmount"],
            t["IBAN"],
            t["remittanceInformation"],
            t["transferCategory"],
        )
        for t in transfers
    ] == [
        ("1", ec, "100.00", ctx.env["test_iban"], "Rata 1", "G"),
        ("2", ec, "200.00", ctx.env["test_iban"], "Rata 2", "G"),
    ]
    assert sum(Decimal(t["transferAmount"]) for t in transfers) == Decimal(ours["amount"])
    auth = {"Authorization": f"Bearer {_api_key(ctx, committed_factory)}"}
    notice = client.get(f"/api/v1/enti/{ec}/notices/{ctx.notice}", headers=auth).json
    assert [o["status"] for o in notice["options"]] == ["paid"]
    # the filter filters: another IUV finds nothing
    other = "9" * len(ctx.iuv) if ctx.iuv != "9" * len(ctx.iuv) else "8" * len(ctx.iuv)
    assert client.get(f"/api/v1/enti/{ec}/receipts", {"iuv": other}, headers=auth).json == {
        "items": [],
        "nextCursor": None,
    }


# -- beyond the scenarios ----------------------------------------------------------------------
def test_a_receipt_for_an_ec_the_station_does_not_serve_leaves_that_ec_alone(
    ctx, client, committed_factory, official_xsd
):
    """The send_receipt feature's invalid-fiscal-code case with idPA ours and only the receipt's
    fiscalCode the EC of another broker's station, which has a payable notice with the same
    number: that EC's notice must not become paid by our station's receipt (answered KO
    PAA_ID_DOMINIO_ERRATO, or stored as a receipt for a notice unknown here and flagged)."""
    for step in (configured_ci, configured_broker, configured_station, valid_debt_position):
        step(ctx, committed_factory)
    sent = send(
        ctx,
        client,
        committed_factory,
        official_xsd,
        "SendRTRequest",
        fiscal_code=ctx.env["invalid_creditor_institution"],
        id_pa=ctx.env["test_creditor_institution"],
    )
    assert sent.status == 200
    with committed_factory() as s:
        theirs = s.scalars(
            sa.select(PaymentOption).where(PaymentOption.ente_id == ctx.other_ente_id)
        ).one()
        assert theirs.status == "payable"
        assert s.scalars(sa.select(Receipt.option_id)).all() in ([], [None])
