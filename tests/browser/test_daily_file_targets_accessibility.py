"""axe-core on an Ente's daily-files page as support (the delivery targets' form shown) and on
the same page after a bad target (422, the error and the field marked), in Italian and English."""

from __future__ import annotations

import pytest

from hub.seed import DEMO_SUPPORT, DEMO_SUPPORT_PASSWORD
from tests.browser.test_accessibility import check

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_delivery_targets_form_has_no_serious_accessibility_violations(
    demo, page, axe_js, lang
):
    ops = f"{demo.base}/ops"
    page.goto(f"{ops}/login?lang={lang}")
    page.locator("#username").fill(DEMO_SUPPORT)
    page.locator("#password").fill(DEMO_SUPPORT_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{ops}/")
    page.goto(f"{ops}/enti/77777777777/daily-files?lang={lang}")
    page.locator("#add-target").wait_for()
    check(page, axe_js, "daily files with the targets' form")
    page.locator("#target-host").fill("bad host!")
    page.locator("#target-username").fill("ragioneria")
    page.locator("#target-password").fill("never-shown-again")
    page.locator("form[aria-labelledby=add-target] button[type=submit]").click()
    page.locator("#target-error").wait_for()
    assert page.locator("#target-host").get_attribute("aria-invalid") == "true"
    assert page.locator("#target-password").input_value() == ""
    check(page, axe_js, "daily files with a bad target")
