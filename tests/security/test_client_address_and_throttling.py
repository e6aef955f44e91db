"""Issue 17 items 9 and 10: rate limits key on the client address worked out from the trusted
proxies only (never a client's X-Forwarded-For), in one limiter shared through Redis; login
throttling is atomic (concurrent attempts cannot all pass) and cannot lock an account out from
elsewhere."""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import sqlalchemy as sa
from webtest import TestApp

from hub.models import AuditEvent
from hub.seed import DEMO_OPERATOR, DEMO_OPERATOR_PASSWORD
from hub.tenants import operators
from tests.security.conftest import build

REDIS = os.environ.get("PAYHUB_TEST_REDIS", "redis://127.0.0.1:6379/15")
ATTACKER, OWNER = "203.0.113.9", "198.51.100.7"


def _client(app: TestApp, remote: str, forwarded: str | None = None) -> TestApp:
    environ = {**app.extra_environ, "REMOTE_ADDR": remote}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    return TestApp(app.app, extra_environ=environ)


def _login_form(client: TestApp, username: str, password: str):
    form = client.get("/ops/login").forms[0]
    form["username"], form["password"] = username, password
    return form


def _login(client: TestApp, username: str = DEMO_OPERATOR, password: str = "wrong-password"):
    return _login_form(client, username, password).submit(status="*").status_int


def test_concurrent_failures_check_no_more_passwords_than_the_limit(site):
    forms = [
        _login_form(_client(site.app, ATTACKER), DEMO_OPERATOR, "wrong-password") for _ in range(12)
    ]
    barrier = threading.Barrier(len(forms))

    def attempt(form):
        barrier.wait()
        return form.submit(status="*").status_int

    with ThreadPoolExecutor(len(forms)) as pool:
        statuses = list(pool.map(attempt, forms))
    assert statuses.count(200) <= operators.MAX_FAILURES, statuses  # passwords checked
    assert statuses.count(429) >= len(forms) - operators.MAX_FAILURES, statuses
    with site.factory() as session:
        failed = session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "ops.login_failed")
        )
    assert failed <= operators.MAX_FAILURES


def test_failures_from_elsewhere_do_not_lock_the_owner_out(site):
    attacker = _client(site.app, ATTACKER)
    statuses = [_login(attacker) for _ in range(operators.MAX_FAILURES + 2)]
    assert statuses[-1] == 429
    assert _login(_client(site.app, OWNER), password=DEMO_OPERATOR_PASSWORD) == 303


def test_one_address_cannot_try_a_password_on_every_account(site):
    limit = getattr(operators, "MAX_ATTEMPTS_PER_ADDRESS", 30)
    attacker = _client(site.app, ATTACKER)
    statuses = [_login(attacker, f"user{i}") for i in range(limit + 1)]
    assert statuses[:limit] == [200] * limit and statuses[-1] == 429
    assert _login(_client(site.app, OWNER), password=DEMO_OPERATOR_PASSWORD) == 303


def test_forwarded_for_is_believed_from_trusted_proxies_only(pg_url, site):
    app = build(pg_url, **{"payhub.trusted_proxies": "127.0.0.1/32, 10.0.0.0/8"})
    # through the proxy: the right-most untrusted hop is the client, a forged left part is not
    forged = f"{OWNER}, {ATTACKER}"
    statuses = [
        _login(_client(app, "127.0.0.1", forged)) for _ in range(operators.MAX_FAILURES + 1)
    ]
    assert statuses[-1] == 429
    owner = _client(app, "127.0.0.1", f"{OWNER}, 10.1.2.3")  # two proxies in a row
    assert _login(owner, password=DEMO_OPERATOR_PASSWORD) == 303
    # straight to payhub: the header is ignored, the peer is the client
    direct = [
        _login(_client(app, "192.0.2.50", f"192.0.2.{i}"))
        for i in range(operators.MAX_FAILURES + 1)
    ]
    assert direct[-1] == 429
    with site.factory() as session:
        addresses = {
            (event.detail or {}).get("address")
            for event in session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action.like("ops.login%"))
            )
        }
    assert addresses == {ATTACKER, OWNER, "192.0.2.50"}


def test_lookup_limit_ignores_a_rotating_forwarded_for(site):
    from web.checkout.ratelimit import LookupLimit

    limit = LookupLimit(per_minute=3, burst=3)
    registry = site.app.app.registry

    def request(i: int):
        return SimpleNamespace(
            registry=registry,
            environ={"REMOTE_ADDR": ATTACKER},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )

    assert [limit.allow(request(i)) for i in range(4)] == [True, True, True, False]


def test_the_limiter_is_shared_through_redis_where_payhub_runs_on_it():
    from hub.config import Config
    from hub.ratelimit import Limiter, per_seconds, storage_uri

    assert storage_uri(Config.from_settings({"payhub.broker": "stub"})) == "memory://"
    on_redis = Config.from_settings({"payhub.broker": "redis", "payhub.redis_url": REDIS})
    assert storage_uri(on_redis) == REDIS
    namespace = f"test-{uuid.uuid4().hex}"
    one, two = Limiter(REDIS, namespace=namespace), Limiter(REDIS, namespace=namespace)
    limit = per_seconds(3, 60)
    assert [one.hit(limit, "k"), two.hit(limit, "k"), one.hit(limit, "k")] == [True] * 3
    assert two.hit(limit, "k") is False  # two processes, one count
    one.clear(limit, "k")
    assert two.hit(limit, "k") is True
    one.clear(limit, "k")
