"""The read-only fast path answers paVerify in front of Pyramid, and nothing else."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub import driver, payments
from hub.payments import lifecycle
from soap import fastpath
from tests.soap.test_operations import fault_code, get_payment_req, post, verify_req

pytestmark = pytest.mark.pg


def spy_on(monkeypatch, method: str) -> list[bool]:
    """For each request the fast path's ``method`` took: True if it answered, False if it
    handed the request on."""
    calls: list[bool] = []
    real = getattr(fastpath.SoapFastPath, method)

    def spy(self, environ, body):
        response = real(self, environ, body)
        calls.append(response is not None)
        return response

    monkeypatch.setattr(fastpath.SoapFastPath, method, spy)
    return calls


@pytest.fixture
def answered(monkeypatch):
    """Which operations the fast path answered itself (True) or handed on (False)."""
    return spy_on(monkeypatch, "_answer")


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
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    assert killed >= 1
    res = check(post(app, verify_req()).body)
    assert res.findtext("outcome") == "OK"


def test_a_connection_dropped_under_a_driver_read_is_retried_once(
    make_app, check, pg_engine, monkeypatch
):
    # with the station cached, the verify's only statement is the driver-level read
    app = make_app(**{"payhub.soap_station_cache_seconds": "60"})
    assert check(post(app, verify_req()).body).findtext("outcome") == "OK"
    lost = []
    real = fastpath.SoapFastPath._discard

    def spy(self):
        lost.append(True)
        real(self)

    monkeypatch.setattr(fastpath.SoapFastPath, "_discard", spy)
    with pg_engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    res = check(post(app, verify_req()).body)
    assert res.findtext("outcome") == "OK" and lost == [True]


def test_the_verify_query_runs_on_the_driver_and_gives_the_same_row(pg_engine, seeded):
    from hub.models import Ente, PaymentOption
    from hub.seed import DEMO_EC

    with seeded() as session:
        ente_id = session.scalars(sa.select(Ente.id).where(Ente.fiscal_code == DEMO_EC)).one()
        option = session.scalars(
            sa.select(PaymentOption).where(PaymentOption.ente_id == ente_id)
        ).first()
        expected = payments.notice_summary(session, ente_id, option.notice_number)
    assert driver.compiled(lifecycle._NOTICE_SUMMARY, pg_engine.dialect) is not None
    with pg_engine.connect() as conn:
        db = fastpath._ConnectionSession(conn, on_driver=True)
        assert isinstance(db.connection(), fastpath._DriverConnection)
        assert payments.notice_summary(db, ente_id, option.notice_number) == expected
        assert payments.notice_summary(db, ente_id, "399999999999999999") is None
