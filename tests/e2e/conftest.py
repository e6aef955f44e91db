"""The real stack for end-to-end tests, every part a separate process on loopback:

PostgreSQL (a throwaway database, migrated and seeded), Redis (database 15, a private
namespace), ``payhub serve`` (PAYHUB_BROKER=redis), a real ``payhub worker`` (dramatiq) and
``payhub-nodesim`` pointed at payhub. payhub can be killed and restarted mid-test. Every
process is stopped at teardown, whatever happened. The station runs with caller authentication
on, as in production: payhub wants a subscription-key header with a secret made for the run
(``PAYHUB_SOAP_AUTH_HEADER``), and nodesim sends it on every call, as pagoPA's connectivity does
(``NODESIM_STATION_AUTH_HEADER``). The Ente's application is the test itself:
an API key for payhub's REST API and ``Receiver``, an HTTP server for its webhooks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from hub import clock
from tests.conftest import PG_ADMIN_URL, REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
EC = "77777777777"
AUTH_HEADER_NAME = "Ocp-Apim-Subscription-Key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (requests.RequestException, OSError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


class Proc:
    """A child process in its own session (so the whole group can be killed), logging to a
    file that the failure message quotes."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.cmd, self.env = name, cmd, env
        self.log = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.cmd,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole group and wait until every process in it is gone (the worker's
        dramatiq children outlive the ``payhub worker`` process by a moment)."""
        if self.popen is None:
            return
        group = self.popen.pid
        _signal_group(group, sig)
        deadline = time.monotonic() + 15
        while _group_alive(group) and time.monotonic() < deadline:
            self.popen.poll()  # reap the leader
            time.sleep(0.05)
        if _group_alive(group):
            _signal_group(group, signal.SIGKILL)
        self.popen.wait()
        self.popen = None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@contextlib.contextmanager
def embedded_demo(
    tmp: Path, name: str = "demo", replace: dict[str, str] | None = None
) -> Iterator[tuple[str, Path, Path]]:
    """`make demo` on a free port: development.ini (SQLite, stub broker, nodesim at /sim)
    copied to ``tmp`` (each ``replace`` key replaced by its value), migrated, seeded and
    served. Yields (base URL, database, ini)."""
    port = free_port()
    db, ini = tmp / "demo.sqlite", tmp / "demo.ini"
    ini.write_text(
        (ROOT / "development.ini")
        .read_text()
        .replace("sqlite:///var/payhub.sqlite", f"sqlite:///{db}")
        .replace("http://127.0.0.1:6543", f"http://127.0.0.1:{port}")
        .replace("payhub.log_level = INFO", "payhub.log_level = WARNING")
    )
    for old, new in (replace or {}).items():
        ini.write_text(ini.read_text().replace(old, new))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "PAYHUB_BROKER")
    }
    cli = [sys.executable, "-m", "payhub.cli", "-c", str(ini)]
    for command in ("migrate", "seed-demo"):
        subprocess.run([*cli, command], cwd=ROOT, env=env, check=True, capture_output=True)
    web = Proc(name, [*cli, "serve", "--port", str(port)], env, tmp)
    web.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: requests.get(f"{base}/sim/health", timeout=2).ok, 30, f"{name}\n{web.tail()}"
        )
        yield base, db, ini
    finally:
        web.kill(signal.SIGTERM)


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


class Stack:
    def __init__(self, db_url: str, tmp: Path) -> None:
        self.db_url = db_url
        self.payhub_port, self.sim_port = free_port(), free_port()
        self.payhub = f"http://127.0.0.1:{self.payhub_port}"
        self.sim = f"http://127.0.0.1:{self.sim_port}"
        self.namespace = namespace = f"payhub-e2e-{uuid.uuid4().hex[:8]}"
        self.soap_url = f"{self.payhub}/soap/paForNode"
        # the station's shared secret, new for every run
        self.auth_header = (AUTH_HEADER_NAME, secrets.token_urlsafe(24))
        header = f"{self.auth_header[0]}: {self.auth_header[1]}"
        ini = tmp / "e2e.ini"
        ini.write_text(
            "[app:main]\nuse = call:payhub.app:main\n"
            f"sqlalchemy.url = {db_url}\npayhub.broker = redis\npayhub.redis_url = {REDIS_URL}\n"
            f"payhub.redis_namespace = {namespace}\npayhub.embedded_worker = false\n"
            "payhub.heartbeat_timeout_ms = 3000\npayhub.log_level = WARNING\n"
            "payhub.soap_station_cache_seconds = 0\n"
            # webhooks to a plain-http receiver in the test process, retried within seconds
            "payhub.webhook_allow_http = true\npayhub.webhook_max_retries = 6\n"
            "payhub.outgoing_allowed_networks = 127.0.0.0/8\n"
            "payhub.webhook_min_backoff_ms = 200\npayhub.webhook_max_backoff_ms = 1000\n"
            "payhub.webhook_timeout_seconds = 2\n"
            # ACA feed (issue 20): nodesim's ACA; swept only where a scheduler runs
            f"payhub.aca_url = {self.sim}/aca/debt-positions-service/v1\n"
            "payhub.aca_sync_seconds = 1\n"
            # bulk v2 for every first load (threshold 0), so that e2e sends a file
            f"payhub.aca_upload_url = {self.sim}/upload/aca/debt-positions-service/v2\n"
            "payhub.aca_broker_code = 77777777777\n"
            "payhub.aca_bulk_threshold = 0\npayhub.aca_upload_poll_seconds = 1\n"
        )
        base_env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PAYHUB_SOAP_AUTH_HEADER", "NODESIM_STATION_AUTH_HEADER")
        }
        env = {
            **base_env,
            "PAYHUB_CONFIG": str(ini),
            "PAYHUB_BROKER": "redis",
            "REDIS_URL": REDIS_URL,
            "DATABASE_URL": db_url,
            "PYTHONUNBUFFERED": "1",
            "PAYHUB_SOAP_AUTH_HEADER": header,
            # a Redis broker is not the embedded default: the web app needs shared secrets
            "PAYHUB_SESSION_SECRET": secrets.token_urlsafe(32),
            "PAYHUB_OPS_SECRET": secrets.token_urlsafe(32),
        }
        sim_env = {**base_env, "PYTHONUNBUFFERED": "1", "NODESIM_STATION_AUTH_HEADER": header}
        payhub_cli = [sys.executable, "-m", "payhub.cli", "-c", str(ini)]
        self.web = Proc(
            "payhub-web", [*payhub_cli, "serve", "--port", str(self.payhub_port)], env, tmp
        )
        self.worker = Proc(
            "payhub-worker", [*payhub_cli, "worker", "--processes", "1", "--threads", "2"], env, tmp
        )
        self.nodesim = Proc(
            "nodesim",
            [
                sys.executable,
                "-m",
                "nodesim",
                "--port",
                str(self.sim_port),
                "--payhub-url",
                self.payhub,
                "--sendrt-timeout",
                "5",
                "--retry-backoff",
                "0.5",
                "--retry-max-attempts",
                "30",
            ],
            sim_env,
            tmp,
        )
        self.engine = sa.create_engine(db_url)
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._api_key: str | None = None

    # processes
    def start_web(self) -> None:
        self.web.start()
        wait_for(
            lambda: requests.get(f"{self.payhub}/health", timeout=2).status_code == 200,
            30,
            f"payhub /health\n{self.web.tail()}",
        )

    def start(self) -> None:
        self.start_web()
        self.worker.start()
        self.nodesim.start()
        wait_for(
            lambda: requests.get(f"{self.sim}/health", timeout=2).ok,
            20,
            f"nodesim /health\n{self.nodesim.tail()}",
        )

    def stop(self) -> None:
        for proc in (self.nodesim, self.worker, self.web):
            proc.kill(signal.SIGTERM)
        self.engine.dispose()

    # talking to nodesim
    def pay(self, notice: str, **body: object) -> dict:
        answer = requests.post(
            f"{self.sim}/psp/pay",
            json={"fiscalCode": EC, "noticeNumber": notice, **body},
            timeout=30,
        )
        assert answer.ok, answer.text
        return answer.json()

    def sim_api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(method, f"{self.sim}{path}", timeout=30, **kwargs)

    def delivery(self, receipt_id: str) -> dict:
        return requests.get(f"{self.sim}/api/deliveries/{receipt_id}", timeout=5).json()

    def wait_delivery(
        self, receipt_id: str, status: str = "delivered", seconds: float = 30
    ) -> dict:
        return wait_for(
            lambda: (d := self.delivery(receipt_id))["status"] == status and d,
            seconds,
            f"delivery {receipt_id} {status}",
        )

    # talking to payhub's REST API as the Ente's application
    def api_key(self) -> str:
        """An API key of the demo Ente, issued once per stack with payhub's own service (what
        ``payhub api-key create`` does)."""
        if self._api_key is None:
            from hub.tenants import api_keys

            with self.sessions.begin() as session:
                self._api_key = api_keys.create_key(session, "e2e", [EC]).secret
        return self._api_key

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(
            method,
            f"{self.payhub}/api/v1/enti/{EC}{path}",
            timeout=10,
            headers={"Authorization": f"Bearer {self.api_key()}"},
            **kwargs,
        )

    def webhook_deliveries(self, endpoint_id: str) -> list:
        """The endpoint's deliveries, each with its attempts' status codes or errors."""
        return self.rows(
            "SELECT d.id, d.event_id, d.event_type, d.status, d.attempts, d.payload, "
            "array(SELECT coalesce(a.status_code::text, 'error') FROM webhook_attempt a "
            "      WHERE a.delivery_id = d.id ORDER BY a.id) AS tries "
            "FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id "
            "WHERE e.public_id = :e ORDER BY d.id",
            e=endpoint_id,
        )

    # reading and preparing payhub's state straight from its database (tests only)
    def scalar(self, sql: str, **params: object) -> object:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def rows(self, sql: str, **params: object) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).mappings())

    def new_notice(self, amount: str = "25.00") -> str:
        """A fresh published position of the demo Ente, created with payhub's own service."""
        with self.sessions.begin() as session:
            return publish_notice(session, amount).notice_number

    def option(self, notice: str) -> dict:
        [row] = self.rows(
            "SELECT o.id, o.status, o.paid_cents, p.status AS position_status "
            "FROM payment_option o JOIN debt_position p ON p.id = o.position_id "
            "WHERE o.notice_number = :n",
            n=notice,
        )
        return dict(row)

    def receipts(self, notice: str) -> list:
        return self.rows("SELECT * FROM receipt WHERE notice_number = :n", n=notice)

    def anomalies(self, notice: str) -> list[str]:
        return [
            r["kind"]
            for r in self.rows(
                "SELECT a.kind FROM anomaly a JOIN payment_option o ON o.id = a.option_id "
                "WHERE o.notice_number = :n ORDER BY a.id",
                n=notice,
            )
        ]

    def transitions(self, notice: str, event: str) -> int:
        return self.scalar(
            "SELECT count(*) FROM state_transition t JOIN payment_option o "
            "ON o.id = t.option_id WHERE o.notice_number = :n "
            "AND t.event = :e",
            n=notice,
            e=event,
        )

    def apply(self, notice: str, event: str, **kwargs: object) -> None:
        from hub import payments

        with self.sessions.begin() as session:
            option_id = self.option(notice)["id"]
            option = payments.lock_option_by_id(session, option_id)
            payments.apply_event(session, option, event, cause="e2e", **kwargs)


def publish_notice(
    session: Session, amount: str, *, prefix: str = "E2E", description: str = "Prova end-to-end"
) -> Any:
    """A published position of the demo Ente with one option of ``amount``, created with
    payhub's own service in ``session``; returns the option."""
    from hub.models import Ente
    from hub.positions.inputs import DebtPositionInput, OptionInput, TransferInput
    from hub.positions.writer import create_position
    from hub.seed import DEMO_IBAN

    ente = session.scalars(sa.select(Ente).where(Ente.fiscal_code == EC)).one()
    position = create_position(
        session,
        ente,
        DebtPositionInput.of(
            iupd=f"{prefix}-{uuid.uuid4().hex[:12]}",
            debtor_type="F",
            debtor_fiscal_code="VRDLGU75B12F205X",
            debtor_name="Luigi Verdi",
            description=description,
            options=[
                OptionInput.of(
                    amount=amount,
                    due_date=clock.today() + dt.timedelta(days=30),
                    transfers=[
                        TransferInput.of(
                            amount=amount,
                            remittance_information=description,
                            category="9/0201109SE/",
                            iban=DEMO_IBAN,
                        )
                    ],
                )
            ],
        ),
        publish=True,
        cause=prefix.lower(),
    )
    session.flush()
    return position.options[0]


class Receiver:
    """The Ente's webhook endpoint: an HTTP server in the test process, on 127.0.0.1. It can be
    given its port before it listens (a receiver that is down at first), records every request
    and answers with ``answers`` in turn (the last one repeats)."""

    def __init__(self, answers: tuple[int, ...] = (200,)) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/payhub/events"
        self.answers = list(answers)
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    status = receiver.answers[
                        min(len(receiver.requests), len(receiver.answers) - 1)
                    ]
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "status": status,
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def events(self, notice: str) -> list[dict]:
        """The requests about this notice, in the order they came."""
        with self._lock:
            return [r for r in self.requests if json.loads(r["body"]).get("noticeNumber") == notice]


@pytest.fixture(scope="module")
def e2e_db() -> Iterator[str]:
    from hub.db import make_engine
    from hub.migrate import upgrade
    from hub.seed import seed_demo

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"payhub_e2e_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            seed_demo(session)
        yield url
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="module")
def stack(e2e_db, tmp_path_factory) -> Iterator[Stack]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # a clear failure here rather than a payhub that never gets healthy
    stack = Stack(e2e_db, tmp_path_factory.mktemp("e2e"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        for key in client.scan_iter(f"{stack.namespace}*"):
            client.delete(key)
        client.close()
