"""Issue 17 items 6, 7, 16: logout ends a copied ticket; statement parameters never reach the
logs; secrets are required outside the embedded default."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from hub.db import make_engine
from hub.settings import SettingsError, check_secrets

FISCAL_CODE = "RSSMRA80A01H501U"


def test_logout_ends_a_copied_dashboard_ticket(site):
    site.login()
    copied = site.app.cookies["payhub_ops"]
    assert site.app.get("/ops/", status="*").status_int in (200, 303)
    assert "logout" in site.app.get("/ops/", status="*").follow().text.lower()
    site.post("/ops/logout", {"csrf_token": site.csrf()})
    site.app.set_cookie("payhub_ops", copied)
    answer = site.app.get("/ops/enti/77777777777/", status="*")
    assert answer.status_int == 303 and answer.location.endswith("/ops/login")


def test_a_failing_statement_logs_no_parameters(pg_url, caplog):
    engine = make_engine(pg_url)
    try:
        with caplog.at_level(logging.INFO), engine.connect() as conn:
            try:
                conn.execute(
                    sa.text("INSERT INTO ente (fiscal_code) VALUES (:cf)"), {"cf": FISCAL_CODE}
                )
            except sa.exc.DBAPIError as exc:
                logging.getLogger("payhub.test").exception("insert failed")
                assert FISCAL_CODE not in str(exc)
    finally:
        engine.dispose()
    assert "insert failed" in caplog.text
    assert FISCAL_CODE not in caplog.text


@pytest.mark.parametrize(
    "secrets",
    [
        {},
        {
            "payhub.session_secret": "development-only-session-secret-change-me",
            "payhub.ops_secret": "development-only-ops-secret-change-me",
        },
        {"payhub.session_secret": "x" * 40},
    ],
)
def test_several_processes_need_real_secrets(secrets):
    with pytest.raises(SettingsError, match="secret"):
        check_secrets({"payhub.broker": "redis", **secrets})
    check_secrets({"payhub.broker": "stub"})  # the embedded default: made up per process
    check_secrets(
        {
            "payhub.broker": "redis",
            **{k: "y" * 40 for k in ("payhub.session_secret", "payhub.ops_secret")},
        }
    )
