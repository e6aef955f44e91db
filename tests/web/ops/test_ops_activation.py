"""Activation requests in the dashboard: the intermediary records and moves a request, the
referente confirms through the link of a real e-mail (the SMTP server of tests/servers), Ente
operators read only their own Ente's requests, requests near or past their target stand out."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from hub import payments
from hub.actor_names import SEND_ACTIVATION_LINK
from hub.clock import now as clock_now
from hub.config import Config
from hub.models import ActivationRequest, Ente, OutboxMessage, Station
from hub.onboarding import confirmations, requests
from hub.seed import DEMO_EC, DEMO_OPERATOR, DEMO_STATION
from hub.tenants import operators
from tests.factories import IBAN, make_position, make_receipt
from tests.web.ops.conftest import PASSWORDS, Ops, build_ops_app
from web.clientaddr import limiter_of
from workflows.activation import RequestState as S

pytestmark = pytest.mark.pg
ADMIN, ADMIN_PASSWORD = "intermediary-admin", "intermediary-admin-pw"
NEW_EC = "01234567890"
REFERENTE = "anna.rossi@comune.example.it"
PUBLIC = "https://payhub.test"


@pytest.fixture
def act(pg_url, committed_factory, smtp):
    """A dashboard able to send e-mail, the demo data, the intermediary's administrator, a
    test station and a new Ente naming its referente."""
    settings = {
        "sqlalchemy.url": pg_url,
        "payhub.public_url": PUBLIC,
        **{k: str(v) for k, v in smtp.settings.items()},
    }
    app = build_ops_app(settings)
    with committed_factory.begin() as session:
        from hub.seed import seed_demo

        seed_demo(session)
        operators.create_account(session, ADMIN, ADMIN_PASSWORD, role="intermediary")
        demo_station = session.scalar(
            sa.select(Station).where(Station.station_code == DEMO_STATION)
        )
        session.add(
            Station(
                station_code="77777777777_90", intermediary=demo_station.intermediary, test=True
            )
        )
        session.add(
            Ente(
                fiscal_code=NEW_EC,
                name="Comune di Prova",
                segregation_code="42",
                referente_name="Anna Rossi",
                referente_email=REFERENTE,
                iban=IBAN,
            )
        )
    PASSWORDS[ADMIN] = ADMIN_PASSWORD
    limiter_of(app.app.registry).reset()
    ops = Ops(app, committed_factory)
    ops.config = Config.from_settings(load(settings))
    return ops


def load(settings):
    from hub.settings import load_settings

    return load_settings({"payhub.ops_secret": "o" * 40, **settings})


def _deliver_links(ops) -> int:
    """Run what the outbox actor runs for every link message written (actors.activation)."""
    with ops.factory.begin() as session:
        steps = [
            m.args["step_id"]
            for m in session.scalars(
                sa.select(OutboxMessage).where(
                    OutboxMessage.actor_name == SEND_ACTIVATION_LINK,
                    OutboxMessage.processed_at.is_(None),
                )
            )
        ]
        sent = sum(confirmations.send_link(session, ops.config, s) for s in steps)
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.actor_name == SEND_ACTIVATION_LINK)
            .values(processed_at=clock_now())
        )
    return sent


def _link(message) -> str:
    text = message.get_body(("plain",)).get_content()
    found = re.findall(re.escape(PUBLIC) + r"(/ops/activation/confirm/\S+)", text)
    assert len(set(found)) == 1, text
    return found[0]


def _request(ops) -> ActivationRequest:
    with ops.factory() as session:
        return requests.get_request(
            session, session.scalar(sa.select(sa.func.max(ActivationRequest.id)))
        )


def test_the_referente_confirms_test_and_production_through_the_e_mailed_link(act, smtp):
    act.login(ADMIN)
    page = act.app.get("/ops/activation/")
    form = page.forms["open-form"]
    form["ente"], form["kind"], form["subject"] = (
        NEW_EC,
        "activation",
        "Attivazione Comune di Prova",
    )
    page = form.submit().follow()
    assert "Attivazione Comune di Prova" in page.text and "received" in page.text
    request_id = _request(act).id

    form = page.forms["step-form"]
    form["event"] = "configure_test"
    page = form.submit().follow()
    assert "Step recorded." in page.text and "77777777777_90" in page.text
    assert "active in test only" in page.text

    assert _deliver_links(act) == 1
    [message] = smtp.wait_for(1)
    assert message["To"] == REFERENTE
    assert f"Richiesta {request_id}" in message["Subject"]
    link = _link(message)

    act.app.reset()  # the referente is not logged in
    page = act.app.get(link)
    assert "test environment" in page.text
    page = page.forms["confirm-form"].submit("answer", value="confirm")
    assert "your confirmation was recorded" in page.text
    request = _request(act)
    assert request.state == S.CONFIRMED_TEST
    assert request.steps[-1].actor == f"referente:{REFERENTE}"
    assert abs(request.steps[-1].at - clock_now()) < dt.timedelta(minutes=1)
    # the link has been answered: it now says so and changes nothing
    assert "no longer awaiting confirmation" in act.app.get(link).text

    act.login(ADMIN)
    page = act.app.get(f"/ops/activation/{request_id}")
    form = page.forms["step-form"]
    form["event"] = "configure_production"
    form["station"] = DEMO_STATION
    form.submit().follow()
    assert _deliver_links(act) == 1
    link = _link(smtp.wait_for(2)[1])

    act.app.reset()
    page = act.app.get(link)
    assert "in production" in page.text
    page = page.forms["confirm-form"].submit("answer", value="problem", status=400)
    assert page.status_int == 400 and "Describe the problem." in page.text
    form = page.forms["confirm-form"]
    form["problem"] = "Il servizio TARI non compare"
    page = form.submit("answer", value="problem")
    assert "the problem was reported" in page.text
    request = _request(act)
    assert request.state == S.CONFIRMED_TEST
    assert request.steps[-1].note == "Il servizio TARI non compare"
    assert act.app.get("/ops/activation/confirm/not-a-token", status=404)


def test_ente_operators_read_only_their_own_entes_requests(act):
    with act.factory.begin() as session:
        mine = requests.open_request(
            session,
            ente=requests.ente_by_code(session, DEMO_EC),
            kind="change",
            subject="Nuovo IBAN",
            actor="cli",
        )
        other = requests.open_request(
            session,
            ente=requests.ente_by_code(session, NEW_EC),
            kind="activation",
            subject="Altro ente",
            actor="cli",
        )
    act.login(DEMO_OPERATOR)
    page = act.app.get("/ops/activation/")
    assert "Nuovo IBAN" in page.text and "Altro ente" not in page.text
    assert "open-form" not in page.forms
    page = act.app.get(f"/ops/activation/{mine.id}")
    assert "Next step" not in page.text and "Request received" in page.text
    act.app.get(f"/ops/activation/{other.id}", status=404)
    act.post(f"/ops/activation/{mine.id}/move", {"event": "cancel"}, status=403)


def test_requests_near_or_past_their_target_are_highlighted(act):
    now = clock_now()
    with act.factory.begin() as session:
        ente = requests.ente_by_code(session, NEW_EC)
        requests.open_request(
            session,
            ente=ente,
            kind="activation",
            subject="Late one",
            actor="cli",
            now=now - dt.timedelta(days=40),
        )
        requests.open_request(
            session, ente=ente, kind="change", subject="Fresh one", actor="cli", now=now
        )
    act.login(ADMIN)
    page = act.app.get("/ops/activation/?lang=en")
    rows = {tr.text: tr.get("class") for tr in page.html.select("tbody tr")}
    late = next(c for t, c in rows.items() if "Late one" in t)
    fresh = next(c for t, c in rows.items() if "Fresh one" in t)
    assert late == ["late"] and fresh is None
    assert "past the target" in page.text
    italian = act.app.get("/ops/activation/?lang=it")
    assert "Richieste di attivazione" in italian.text and "oltre l'obiettivo" in italian.text


def test_the_payments_of_an_ente_in_test_are_marked_as_tests(act):
    with act.factory.begin() as session:
        ente = requests.ente_by_code(session, NEW_EC)
        opened = requests.open_request(
            session, ente=ente, kind="activation", subject="x", actor="cli"
        )
        requests.move(session, opened.id, "configure_test", actor="cli")
        option = make_position(session, ente).options[0]
        stored = payments.store_receipt(session, make_receipt(option, NEW_EC, receipt_id="t-1"))
        assert stored.receipt.test is True
    act.login(ADMIN)
    page = act.app.get(f"/ops/enti/{NEW_EC}/payments/{option.id}?lang=en")
    assert "active in pagoPA's test environment only" in page.text
    [badge] = page.html.select("td strong.badge-test")
    assert badge.text == "test" and badge.parent.text.startswith("t-1")
    demo = act.app.get(f"/ops/enti/{DEMO_EC}/?lang=en")
    assert "test environment only" not in demo.text
