"""The SLA pages (issue 19) in a real browser, on the demo with SLA demo figures (``payhub sla
demo-data``, probes every 10 minutes, the contract's help-desk hours): axe-core finds no
serious or critical violation on the report, the tickets, a ticket, maintenance, the public
status page, the citizen page with the maintenance banner, and an operator's anomalies.
``PAYHUB_SCREENSHOTS=docs`` writes the screenshots and the report PDF's pages as PNG to
docs/screenshots."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hub.seed import DEMO_OPERATOR, DEMO_OPERATOR_PASSWORD, DEMO_SUPPORT, DEMO_SUPPORT_PASSWORD
from tests.browser.conftest import Demo
from tests.browser.test_accessibility import check
from tests.e2e.conftest import ROOT, embedded_demo

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def sla_demo(tmp_path_factory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("sla-demo")
    replace = {
        "payhub.sla_probe_seconds = 60": "payhub.sla_probe_seconds = 600",
        "payhub.sla_business_hours = 08:30-17:30": (
            "payhub.sla_business_hours = mon-fri 08:30-18:30; sat 08:30-13:30"
        ),
    }
    with embedded_demo(tmp, "payhub-sla", replace) as (base, db, ini):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        subprocess.run(
            [sys.executable, "-m", "payhub.cli", "-c", str(ini), "sla", "demo-data"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        shots = (
            ROOT / "docs" / "screenshots"
            if os.environ.get("PAYHUB_SCREENSHOTS") == "docs"
            else tmp / "shots"
        )
        shots.mkdir(parents=True, exist_ok=True)
        yield Demo(base, db, ini, shots)


def login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/ops/login?lang=en")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base}/ops/**")


def test_sla_pages_are_accessible_and_the_report_pdf_renders(sla_demo, page, axe_js):
    base = sla_demo.base
    login(page, base, DEMO_SUPPORT, DEMO_SUPPORT_PASSWORD)
    page.goto(f"{base}/ops/sla/report?lang=en")
    page.locator("#verdict-availability").wait_for()
    assert page.locator("#verdict-availability").get_attribute("data-status") == "met"
    assert page.locator("#verdict-maintenance_notice").get_attribute("data-status") == "breached"
    check(page, axe_js, "SLA report")
    page.screenshot(path=str(sla_demo.shots / "sla-report.png"), full_page=True)
    pdf = page.request.get(f"{base}/ops/sla/report.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    pages = render_pdf(pdf.body(), sla_demo.shots, "sla-report-pdf")
    assert pages >= 2
    today = dt.datetime.now(dt.UTC).date()
    first, last = today - dt.timedelta(days=20), today
    page.goto(f"{base}/ops/sla/report?lang=en&from={first}&to={last}")
    page.locator("#verdict-availability").wait_for()
    check(page, axe_js, "SLA report of a range")
    assert f"from={first}" in (page.locator("#report-pdf").get_attribute("href") or "")
    page.goto(f"{base}/ops/sla/report?lang=en&from={last}&to={first}")
    assert "after the last" in page.locator("#range-error").inner_text()
    check(page, axe_js, "SLA report, a bad range")
    page.goto(f"{base}/ops/sla/tickets")
    check(page, axe_js, "tickets")
    page.screenshot(path=str(sla_demo.shots / "sla-tickets.png"), full_page=True)
    page.locator("#tickets tbody a").first.click()
    page.locator("#ticket-state").wait_for()
    check(page, axe_js, "ticket")
    page.goto(f"{base}/ops/sla/maintenance")
    start = (dt.datetime.now() + dt.timedelta(minutes=-1)).strftime("%Y-%m-%dT%H:%M")
    end = (dt.datetime.now() + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    page.locator("#starts_at").fill(start)
    page.locator("#ends_at").fill(end)
    page.locator("#affects").fill("Pagamenti online")
    page.locator("form[aria-labelledby=h-plan] button[type=submit]").click()
    page.locator("#windows").wait_for()
    check(page, axe_js, "maintenance")
    page.screenshot(path=str(sla_demo.shots / "sla-maintenance.png"), full_page=True)
    page.goto(f"{base}/status?lang=en")
    page.locator("#service-state").wait_for()
    check(page, axe_js, "status")
    page.screenshot(path=str(sla_demo.shots / "sla-status.png"), full_page=True)
    page.wait_for_timeout(100)
    # the banner's window is cached 30 s per process: wait for it at most that long
    page.goto(f"{base}/pay/?lang=en")
    deadline = dt.datetime.now() + dt.timedelta(seconds=40)
    while not page.locator("#maintenance-banner").count() and dt.datetime.now() < deadline:
        page.wait_for_timeout(2000)
        page.reload()
    assert page.locator("#maintenance-banner").count() == 1
    check(page, axe_js, "citizen page with the maintenance banner")
    # an Ente's operator sees the anomalies of their own Ente, read-only
    page.context.clear_cookies()
    login(page, base, DEMO_OPERATOR, DEMO_OPERATOR_PASSWORD)
    page.goto(f"{base}/ops/support/anomalies?lang=en")
    page.locator("#anomaly-figure").wait_for()
    assert page.locator("form[action*=resolve]").count() == 0
    check(page, axe_js, "anomalies of an operator")


def render_pdf(pdf: bytes, folder, name: str) -> int:
    """Each page of the PDF as ``<name>-<n>.png`` (pypdfium2); the number of pages."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        for n in range(len(document)):
            image = document[n].render(scale=1.2).to_pil()
            image.save(folder / f"{name}-{n + 1}.png", optimize=True)
        return len(document)
    finally:
        document.close()
