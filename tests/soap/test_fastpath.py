"""The read-only fast path answers paVerify in front of Pyramid, and nothing else."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub import payments
from soap import fastpath
from tests.soap.test_operations import fault_code, get_payment_req, post, verify_req

pytestmark = pytest.mark.pg


@pytest.fixture
def answered(monkeypatch):
    """Which operations the fast path answered itself (True) or handed on (False)."""
    calls: list[bool] = []
    real = fastpath.SoapFastPath._answer

    def spy(self, environ, body):
        response = real(self, environ, body)
        calls.append(response is not None)
        return response

    monkeypatch.setattr(fastpath.SoapFastPath, "_answer", spy)
    return calls


def test_verify_is_answered_by_the_fast_path_with_the_same_checked_answer(app, check, answered):
    http = post(app, verify_req())
    res = check(http.body)
    assert res.findtext("outcome") == "OK" and answered == [True]
    assert http.headers["X-Request-Id"]


def test_a_verify_refusal_from_the_fast_path_is_the_usual_ko(app, check, answered):
    res = check(post(app, verify_req(notice="399999999999999903")).body)
    assert fault_code(res) == "PAA_PAGAMENTO_SCONOSCIUTO" and answered == [True]


def test_get_payment_goes_on_to_pyramid_and_writes(app, check, answered):
    res = check(post(app, get_payment_req()).body)
    assert res.findtext("outcome") == "OK"
    assert answered == []  # the marker is absent: not even parsed by the fast path


def test_an_internal_failure_on_the_fast_path_is_paa_system_error(app, check, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("database exploded")

    monkeypatch.setattr(payments, "notice_summary", broken)
    http = post(app, verify_req())
    assert fault_code(check(http.body)) == "PAA_SYSTEM_ERROR"
    assert b"exploded" not in http.body


def test_a_connection_dropped_by_the_database_is_retried_once(app, check, pg_engine):
    assert check(post(app, verify_req()).body).findtext("outcome") == "OK"
    with pg_engine.connect() as conn:  # a restart, as the fast path's pool sees it
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    assert killed >= 1
    res = check(post(app, verify_req()).body)
    assert res.findtext("outcome") == "OK"
