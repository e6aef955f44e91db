"""Logging in to /ops/: good and bad passwords, disabled accounts, throttling, CSRF, logout."""

from __future__ import annotations

import sqlalchemy as sa

from hub.models import AuditEvent, OperatorAccount
from hub.seed import DEMO_OPERATOR, DEMO_SUPPORT
from hub.tenants.operators import MAX_FAILURES
from tests.web.ops.conftest import A


def test_every_page_needs_a_login(ops):
    for path in (
        "/ops/",
        f"/ops/enti/{A}/",
        f"/ops/enti/{A}/search",
        "/ops/support/stuck",
        f"/ops/enti/{A}/flows",
    ):
        answer = ops.app.get(path, status=303)
        assert answer.location.endswith("/ops/login")


def test_good_password_logs_in_and_sets_a_safe_cookie(ops):
    answer = ops.login()
    assert answer.status_int == 303
    cookie = next(v for k, v in answer.headerlist if k == "Set-Cookie" and "payhub_ops=" in v)
    for flag in ("secure", "httponly", "samesite=lax"):
        assert flag in cookie.lower()
    page = answer.follow().maybe_follow()
    assert "Comune di Demo" in page.text
    with ops.factory() as session:
        account = session.scalar(
            sa.select(OperatorAccount).where(OperatorAccount.username == DEMO_OPERATOR)
        )
        assert account.last_login_at is not None


def test_bad_password_is_refused(ops):
    answer = ops.login(password="not-the-password")
    assert answer.status_int == 200
    assert "Wrong username or password" in answer.text
    ops.app.get("/ops/", status=303)


def test_disabled_account_cannot_log_in_and_its_session_ends(ops):
    assert ops.login().status_int == 303
    with ops.factory.begin() as session:
        session.execute(
            sa.update(OperatorAccount)
            .where(OperatorAccount.username == DEMO_OPERATOR)
            .values(enabled=False)
        )
    ops.app.get(f"/ops/enti/{A}/", status=303)
    answer = ops.login()
    assert answer.status_int == 200 and "disabled" in answer.text


def test_too_many_failures_throttle_even_the_right_password(ops):
    for _ in range(MAX_FAILURES):
        assert ops.login(password="wrong-wrong").status_int == 200
    answer = ops.login(status=429)
    assert "wait 15 minutes" in answer.text
    assert ops.login(DEMO_SUPPORT).status_int == 303  # other accounts are not affected
    with ops.factory() as session:
        assert (
            session.scalar(
                sa.select(sa.func.count(AuditEvent.id)).where(
                    AuditEvent.action == "ops.login_failed"
                )
            )
            == MAX_FAILURES
        )


def test_login_without_csrf_token_is_refused(ops):
    ops.app.post("/ops/login", {"username": DEMO_OPERATOR, "password": "x"}, status=400)


def test_logout_needs_csrf_and_ends_the_session(ops):
    ops.login()
    ops.app.post("/ops/logout", {}, status=400)
    ops.app.get(f"/ops/enti/{A}/", status=200)
    page = ops.app.get(f"/ops/enti/{A}/")
    page.forms[0].submit(status=303)  # the logout form in the header
    ops.app.get(f"/ops/enti/{A}/", status=303)


def test_pages_are_in_italian_when_asked(ops):
    page = ops.app.get("/ops/login?lang=it")
    assert '<html lang="it">' in page.text and "Nome utente" in page.text
    ops.login()
    assert "Pagamenti entrati in ciascuno stato" in ops.app.get(f"/ops/enti/{A}/").text
