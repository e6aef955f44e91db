"""The ACA feed (hub.aca) against nodesim's ACA over HTTP: every request our client sends and
every answer it gets are checked against pagoPA's ``gpd-4-aca.json`` (openapi-core)."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from webtest.http import StopableWSGIServer

from hub import aca, clock, payments
from hub.models import AcaSync, Anomaly, OutboxMessage
from hub.positions.inputs import DebtPositionInput
from hub.positions.status import refresh_status
from hub.positions.writer import cancel_position, create_position, replace_position
from nodesim.aca import BASE
from nodesim.app import make_app
from tests.conftest import SHARED
from tests.factories import IBAN, make_ente, make_receipt

pytestmark = pytest.mark.pg
KEY = "aca-test-key"
DOC = SHARED / "pagopa" / "openapi" / "gpd-4-aca.json"
HOST = "https://api.platform.pagopa.it"  # the document's server; its path is ACA's BASE


@pytest.fixture(scope="module")
def contract() -> OpenAPI:
    if not DOC.is_file():
        pytest.skip(f"{DOC} is absent")
    # the document is taken as published (not itself checked); requests and answers are
    return OpenAPI.from_dict(json.loads(DOC.read_text()), config=Config(spec_validator_cls=None))


class CheckedSession(requests.Session):
    """Sends for real, and checks each request and answer against the ACA document."""

    def __init__(self, contract: OpenAPI) -> None:
        super().__init__()
        self.contract = contract
        self.sent: list[tuple[str, str, int]] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        parts = urlsplit(response.request.url)
        args = dict(p.split("=", 1) for p in parts.query.split("&") if p)
        body = response.request.body or b""
        checked = MockRequest(
            HOST,
            method.lower(),
            parts.path,
            args=args,
            headers=dict(response.request.headers),
            data=body if isinstance(body, bytes) else body.encode(),
        )
        self.contract.validate_request(checked)
        injected = response.status_code == 429 and b"injected fault" in response.content
        if not injected:  # pagoPA's gateway throttles with 429, which the document leaves out
            self.contract.validate_response(
                checked,
                MockResponse(
                    response.content,
                    status_code=response.status_code,
                    content_type=response.headers.get("Content-Type", "application/json"),
                ),
            )
        self.sent.append((method, parts.path.removeprefix(BASE), response.status_code))
        return response


@pytest.fixture
def sim(contract):
    app = make_app({"nodesim.background": "false", "nodesim.rest_key": KEY})
    server = StopableWSGIServer.create(app)
    yield server, app
    server.shutdown()


@pytest.fixture
def api(sim, contract):
    server, _ = sim
    session = CheckedSession(contract)
    return aca.AcaClient(server.application_url.rstrip("/") + BASE, KEY, session=session)


def _state(sim) -> dict:
    server, _ = sim
    return requests.get(server.application_url + "api/aca/positions", timeout=5).json()


def _faults(sim, **body) -> None:
    server, _ = sim
    requests.post(server.application_url + "api/aca/faults", json=body, timeout=5)


def _data(
    iupd: str, amounts: tuple[str, str] = ("20.00", "10.00"), notice: str | None = None
) -> DebtPositionInput:
    total = f"{sum(float(a) for a in amounts):.2f}"
    return DebtPositionInput.of(
        iupd=iupd,
        debtor_type="F",
        debtor_fiscal_code="RSSMRA80A01H501U",
        debtor_name="Mario Rossi",
        description="TARI 2026",
        options=[
            {
                "amount": total,
                "due_date": clock.today() + dt.timedelta(days=30),
                "notice_number": notice,
                "transfers": [
                    {
                        "amount": amounts[0],
                        "remittance_information": "TARI quota comune",
                        "category": "9/0101101IM/",
                        "iban": IBAN,
                    },
                    {
                        "amount": amounts[1],
                        "remittance_information": "TEFA quota provincia",
                        "category": "9/0101101IM/",
                        "iban": IBAN,
                        "beneficiary_fiscal_code": "00112233445",
                    },
                ],
            }
        ],
    )


def _sync_all(db, api) -> list[str]:
    """What the outbox delivers: one aca_sync_position per queued position."""
    aca.queue_out_of_step(db)
    db.flush()
    ids = [
        m.args["position_id"]
        for m in db.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.actor_name == aca.SYNC_ACTOR)
        )
        if m.processed_at is None
    ]
    db.execute(sa.delete(OutboxMessage).where(OutboxMessage.actor_name == aca.SYNC_ACTOR))
    return [aca.sync_position(db, api, i, max_attempts=3) for i in ids]


def test_create_update_pay_and_invalidate_follow_the_archive_with_every_transfer(db, sim, api):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    draft = create_position(db, ente, _data("ACA-DRAFT"))
    position = create_position(db, ente, _data("ACA-1"), publish=True)
    db.flush()
    assert _sync_all(db, api) == ["synced"]  # the draft is not ACA's business
    [held] = _state(sim)["positions"]
    assert (held["iupd"], held["status"]) == ("ACA-1", "VALID")
    transfers = held["paymentOption"][0]["transfer"]
    assert [(t["amount"], t["organizationFiscalCode"]) for t in transfers] == [
        (2000, ente.fiscal_code),
        (1000, "00112233445"),
    ]
    assert _sync_all(db, api) == []  # in step: nothing queued

    notice = position.options[0].notice_number
    replace_position(db, ente, position, _data("ACA-1", ("25.00", "10.00"), notice), cause="test")
    db.flush()
    assert _sync_all(db, api) == ["synced"]
    [held] = _state(sim)["positions"]
    assert held["paymentOption"][0]["amount"] == 3500

    option = position.options[0]
    payments.activate(db, ente, option.notice_number, requested_cents=3500, primitive="t")
    payments.store_receipt(db, make_receipt(option, ente.fiscal_code, receipt_id="r-aca-1"))
    refresh_status(db, position.id)  # the payment_status_changed actor's work
    db.flush()
    assert _sync_all(db, api) == ["synced"]
    assert _state(sim)["positions"][0]["paid"] == [option.notice_number]
    assert api.session.sent[-1] == (
        "POST",
        f"/organizations/{ente.fiscal_code}/paymentoptions/paids/{option.notice_number}",
        200,
    )

    other = create_position(db, ente, _data("ACA-2"), publish=True)
    db.flush()
    _sync_all(db, api)
    cancel_position(db, other, cause="test")
    db.flush()
    assert _sync_all(db, api) == ["synced"]
    states = {p["iupd"]: p["status"] for p in _state(sim)["positions"]}
    assert states == {"ACA-1": "VALID", "ACA-2": "INVALID"}
    assert db.get(AcaSync, draft.id) is None


def test_a_lost_answer_or_a_second_delivery_changes_nothing(db, sim, api):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    position = create_position(db, ente, _data("ACA-TWICE"), publish=True)
    db.flush()
    _sync_all(db, api)
    row = db.get(AcaSync, position.id)
    row.aca_state = "absent"  # as if ACA's 201 had been lost
    assert aca.sync_position(db, api, position.id, max_attempts=3) == "synced"
    assert [s for _, _, s in api.session.sent] == [201, 409, 200]  # create, exists: replace
    assert aca.sync_position(db, api, position.id, max_attempts=3) == "synced"
    assert len(_state(sim)["positions"]) == 1


def test_failures_are_retried_with_backoff_then_dead_lettered(db, sim, api):
    ente = make_ente(db)
    aca.set_enabled(db, ente, True)
    position = create_position(db, ente, _data("ACA-FAIL"), publish=True)
    db.flush()
    _faults(sim, fail=100, status=500)
    fake = clock.FakeClock(clock.now())
    with clock.use(fake):
        assert _sync_all(db, api) == ["failed"]
        assert _sync_all(db, api) == []  # backing off
        fake.advance(aca.backoff(1))
        assert _sync_all(db, api) == ["failed"]
        fake.advance(aca.backoff(2))
        assert _sync_all(db, api) == ["dead"]
        fake.advance(dt.timedelta(days=1))
        assert _sync_all(db, api) == []  # dead: left for support
    row = db.get(AcaSync, position.id)
    assert row.attempts == 3 and "500" in row.last_error
    anomaly = db.scalar(sa.select(Anomaly).where(Anomaly.kind == "aca_sync_dead"))
    assert anomaly is not None and "ACA-FAIL" in anomaly.detail
    _faults(sim, fail=0)
    assert aca.requeue(db, position.id)
    db.execute(sa.delete(OutboxMessage).where(OutboxMessage.actor_name == aca.SYNC_ACTOR))
    assert aca.sync_position(db, api, position.id, max_attempts=3) == "synced"
    assert _state(sim)["positions"][0]["status"] == "VALID"


def test_throttling_is_retried_and_the_switch_keeps_an_ente_out(db, sim, api):
    on, off = make_ente(db), make_ente(db)
    aca.set_enabled(db, on, True)
    aca.set_enabled(db, off, False)
    create_position(db, on, _data("ACA-ON"), publish=True)
    create_position(db, off, _data("ACA-OFF"), publish=True)
    db.flush()
    _faults(sim, fail=1, status=429)
    assert _sync_all(db, api) == ["failed"]
    with clock.use(clock.FakeClock(clock.now() + aca.backoff(1))):
        assert _sync_all(db, api) == ["synced"]
    assert [p["iupd"] for p in _state(sim)["positions"]] == ["ACA-ON"]
    figures = aca.share(db)
    assert (figures.positions, figures.in_step, figures.share) == (1, 1, 1.0)
