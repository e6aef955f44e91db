"""axe-core on the activation pages (issue 15): the requests' list, a request with its history
and the intermediary's step form, and the referente's public confirmation page before and
after confirming; in Italian and English. The request is made with the CLI alone
(``payhub operator create``, ``payhub activation open|move``) on the running demo."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.db import make_engine
from hub.models import ActivationStep, Station
from hub.onboarding import confirmations
from hub.seed import DEMO_STATION, SECOND_EC
from payhub.cli import read_settings
from tests.browser.test_accessibility import check
from tests.browser.test_ops_accessibility import shoot
from tests.e2e.conftest import ROOT

pytestmark = [pytest.mark.slow]
ADMIN, PASSWORD = "intermediary-admin", "intermediary-admin-pw"


def _cli(demo, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "payhub.cli", "-c", str(demo.ini), *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def configured(demo) -> str:
    """A request configured in test, and the path of the referente's link."""
    engine = make_engine(f"sqlite:///{demo.db}")
    with Session(engine) as session, session.begin():
        demo_station = session.scalar(
            sa.select(Station).where(Station.station_code == DEMO_STATION)
        )
        session.add(
            Station(
                station_code="77777777777_90", intermediary=demo_station.intermediary, test=True
            )
        )
    _cli(
        demo,
        "operator",
        "create",
        ADMIN,
        "--role",
        "intermediary",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    _cli(demo, "activation", "open", SECOND_EC, "--subject", "Attivazione del secondo ente")
    _cli(demo, "activation", "move", "1", "configure_test", "--note", "stazione di collaudo")
    with Session(engine) as session:
        step = session.scalar(sa.select(ActivationStep).order_by(ActivationStep.id.desc()))
        token = confirmations.token_for(read_settings(str(demo.ini)), step)
    engine.dispose()
    return confirmations.CONFIRM_PATH.format(token=token)


@pytest.mark.parametrize("lang", ["it", "en"])
def test_activation_pages_have_no_serious_accessibility_violations(
    demo, configured, page, axe_js, lang
):
    ops = f"{demo.base}/ops"
    page.goto(f"{ops}/login?lang={lang}")
    page.locator("#username").fill(ADMIN)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{ops}/")
    page.goto(f"{ops}/activation/")
    page.locator("#open-form").wait_for()
    check(page, axe_js, "activation requests")
    shoot(demo, page, lang, "4-activation-requests")
    page.locator("tbody a").first.click()
    page.locator("#step-form").wait_for()
    check(page, axe_js, "activation request")
    shoot(demo, page, lang, "5-activation-request")
    page.goto(f"{demo.base}{configured}?lang={lang}")
    check(page, axe_js, "confirmation page")
    if lang == "en":
        page.locator("#confirm-form button[value=confirm]").click()
        page.locator("main .alert-success").wait_for()
        check(page, axe_js, "confirmation recorded")
