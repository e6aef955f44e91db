"""The bounded chaos run (issue 12): receipts delivered while processes and stores fail.

The test starts its own PostgreSQL (initdb in a temporary directory, a free port) and its own
Redis (no persistence, as many deployments run it), migrates and seeds, and runs payhub as
production does: ``payhub serve`` for the station (caller authentication on), two
``payhub worker`` processes and the one ``payhub scheduler``, with short leases. The Ente's
application is a webhook receiver subscribed to ``payment.paid``.

Receipts for distinct published options are delivered over SOAP (paSendRTV2) by a few threads
playing the Node, which repeats a receipt until it is answered OK (or PAA_RECEIPT_DUPLICATA:
an earlier copy was stored). Meanwhile faults are injected in turn: a worker SIGKILLed and
restarted, Redis flushed, PostgreSQL restarted ``-m immediate``, the web process SIGKILLed and
restarted, Redis killed and restarted empty, the scheduler (whose relay loop sends the
receipts' follow-up messages, as production.ini has it) SIGKILLed and restarted. Once everything
is quiet: no receipt lost, one
``receive_receipt`` transition and one settlement per option, every position paid, at least one
``payment.paid`` event per option at the receiver (duplicates counted and bounded), every
outbox row processed and every delivery delivered.

Size: ``PAYHUB_CHAOS_RECEIPTS`` (400) and ``PAYHUB_CHAOS_FAULTS`` (6, cycling through the kinds
above); docs/reliability.md has the figures of a longer run.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import os
import pwd
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from lxml import etree

from tests.e2e.conftest import EC, ROOT, Proc, Receiver, free_port, publish_notice, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RECEIPTS = int(os.environ.get("PAYHUB_CHAOS_RECEIPTS", "400"))
FAULTS = int(os.environ.get("PAYHUB_CHAOS_FAULTS", "6"))
SENDERS = int(os.environ.get("PAYHUB_CHAOS_SENDERS", "4"))
QUIET_SECONDS = float(os.environ.get("PAYHUB_CHAOS_QUIET_SECONDS", "150"))
MAX_COPIES_PER_EVENT = 4  # at-least-once: an event may come again, a bounded number of times
AUTH_HEADER = "Ocp-Apim-Subscription-Key"
FAULT_KINDS = (
    "kill_worker",
    "flush_redis",
    "restart_postgres",
    "kill_web",
    "restart_redis",
    "kill_scheduler",
)


# --- private PostgreSQL and Redis ------------------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else None


class PrivatePostgres:
    """A throwaway cluster: ``initdb -A trust -U postgres`` in a temporary directory, served
    on a free loopback port. PostgreSQL refuses to run as root: as root it runs as the
    ``postgres`` OS user (``runuser``)."""

    def __init__(self, bin_dir: Path, base: Path, run_as: list[str]) -> None:
        self.bin, self.base, self.run_as = bin_dir, base, run_as
        self.data, self.log = base / "pgdata", base / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/payhub"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.run_as, *args], check=check, capture_output=True, text=True, timeout=120
        )

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.base}'\nmax_connections = 300\n"
                # no machine crash is simulated: the OS keeps what was written, so
                # fsync is not needed; synchronous_commit stays on (an immediate
                # shutdown must not lose a committed receipt)
                "fsync = off\nfull_page_writes = off\n"
            )

    def pg_ctl(self, *args: str) -> None:
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            *args,
        )

    def start(self) -> None:
        self.pg_ctl("start")

    def restart_immediate(self) -> None:
        self.pg_ctl("restart", "-m", "immediate")

    def stop(self) -> None:
        if self.data.exists():
            self._run(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-w",
                "-m",
                "immediate",
                "stop",
                check=False,
            )


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    run_as: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="payhub-chaos-pg-"))
    if os.geteuid() == 0:  # postgres refuses root: run it as the postgres OS user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip(
                "running as root and there is no 'postgres' OS user to run "
                "PostgreSQL as (it refuses to run as root)"
            )
        if not shutil.which("runuser"):
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root without runuser to run PostgreSQL as postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    pg = PrivatePostgres(bin_dir, base, run_as)
    try:
        pg.init()
        pg.start()
        admin = sa.create_engine(
            pg.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE "payhub"'))
        admin.dispose()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


class PrivateRedis:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = Proc(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(log_dir),
            ],
            dict(os.environ),
            log_dir,
        )

    def start(self) -> None:
        import redis

        self.proc.start()
        client = redis.Redis.from_url(self.url)

        def ping() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_for(ping, 20, f"redis\n{self.proc.tail()}")
        finally:
            client.close()

    def flushall(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()

    def restart_empty(self) -> None:
        self.proc.kill(signal.SIGKILL)
        self.start()


# --- payhub as production runs it ------------------------------------------------------------


class Platform:
    def __init__(self, pg: PrivatePostgres, redis_: PrivateRedis, tmp: Path) -> None:
        self.pg, self.redis = pg, redis_
        self.port = free_port()
        self.soap_url = f"http://127.0.0.1:{self.port}/soap/paForNode"
        self.auth = (AUTH_HEADER, secrets.token_urlsafe(24))
        ini = tmp / "chaos.ini"
        ini.write_text(
            "[app:main]\nuse = call:payhub.app:main\n"
            f"sqlalchemy.url = {pg.url}\npayhub.broker = redis\n"
            f"payhub.redis_url = {redis_.url}\npayhub.embedded_worker = false\n"
            "payhub.log_level = WARNING\npayhub.heartbeat_timeout_ms = 3000\n"
            # short leases and sweeps: what a wipe or a kill loses comes back within seconds
            "payhub.outbox_lease_seconds = 3\npayhub.outbox_sweep_seconds = 1\n"
            "payhub.outbox_sweep_grace_seconds = 1\npayhub.webhook_sweep_seconds = 1\n"
            "payhub.webhook_allow_http = true\npayhub.webhook_max_retries = 30\n"
            "payhub.outgoing_allowed_networks = 127.0.0.0/8\n"
            f"payhub.session_secret = {secrets.token_urlsafe(32)}\n"
            f"payhub.ops_secret = {secrets.token_urlsafe(32)}\n"
            "payhub.webhook_min_backoff_ms = 200\npayhub.webhook_max_backoff_ms = 2000\n"
            "payhub.webhook_timeout_seconds = 2\n"
            # as production.ini: the receipts' follow-ups are sent by the scheduler's relay
            "payhub.soap_defer_messages = true\npayhub.outbox_relay_seconds = 0.2\n"
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PAYHUB_") and k not in ("DATABASE_URL", "REDIS_URL")
        }
        env.update(
            {
                "PAYHUB_CONFIG": str(ini),
                "PYTHONUNBUFFERED": "1",
                "PAYHUB_SOAP_AUTH_HEADER": f"{self.auth[0]}: {self.auth[1]}",
            }
        )
        cli = [sys.executable, "-m", "payhub.cli", "-c", str(ini)]
        self.cli, self.env = cli, env
        self.web = Proc("web", [*cli, "serve", "--port", str(self.port)], env, tmp)
        self.workers = [
            Proc(f"worker{i}", [*cli, "worker", "--processes", "1", "--threads", "4"], env, tmp)
            for i in (1, 2)
        ]
        self.scheduler = Proc("scheduler", [*cli, "scheduler"], env, tmp)

    def migrate_and_seed(self) -> None:
        for command in ("migrate", "seed-demo"):
            done = subprocess.run(
                [*self.cli, command],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr

    def start_web(self) -> None:
        self.web.start()
        wait_for(
            lambda: (
                requests.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code
                in (200, 503)
            ),
            40,
            f"payhub web\n{self.web.tail()}",
        )

    def start(self) -> None:
        self.start_web()
        for worker in self.workers:
            worker.start()
        self.scheduler.start()

    def stop(self) -> None:
        for proc in (self.scheduler, *self.workers, self.web):
            proc.kill(signal.SIGTERM)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.tail()[-1500:]}" for p in (self.web, *self.workers, self.scheduler)
        )


# --- the Ente's positions and the Node's receipts -------------------------------------------


def create_notices(engine: sa.Engine, count: int) -> list[dict]:
    """``count`` published positions of one option each, created with payhub's own service."""
    from sqlalchemy.orm import Session

    notices = []
    with Session(engine, expire_on_commit=False) as session, session.begin():
        for n in range(count):
            amount = f"{10 + n % 90}.{n % 100:02d}"
            option = publish_notice(
                session, amount, prefix="CHAOS", description="Prova di resistenza"
            )
            notices.append(
                {
                    "notice": option.notice_number,
                    "iuv": option.iuv,
                    "amount": amount,
                    "receipt_id": uuid.uuid4().hex,
                }
            )
    return notices


def receipt_payload(notice: dict) -> bytes:
    """paSendRTV2 for ``notice``, built with nodesim's own receipt code."""
    from nodesim import psps, soapwire
    from nodesim.node import DEFAULT_PAYER
    from nodesim.receipts import Payment, receipt_element
    from nodesim.station import StationClient, StationConfig

    psp = psps.find("BCITITMM")
    value = Decimal(notice["amount"])
    from hub.seed import DEMO_IBAN

    payment = Payment(
        receipt_id=notice["receipt_id"],
        ec=EC,
        notice_number=notice["notice"],
        iuv=notice["iuv"],
        amount=value,
        description="Prova di resistenza",
        company_name="Comune demo",
        office_name=None,
        debtor=soapwire.subject(etree.Element("holder"), "debtor", DEFAULT_PAYER),
        transfers=[
            {
                "idTransfer": 1,
                "amount": value,
                "fiscalCodePA": EC,
                "companyName": None,
                "IBAN": DEMO_IBAN,
                "bollo": False,
                "remittanceInformation": "Prova di resistenza",
                "transferCategory": "9/0201109SE/",
                "metadata": None,
            }
        ],
        metadata=None,
        psp=psp,
        method="CP",
        fee=psp.fee("CP"),
        payer=DEFAULT_PAYER,
        paid_at=dt.datetime.now(dt.UTC),
    )
    client = StationClient(StationConfig(url="http://unused.invalid/"))
    return soapwire.envelope(client.send_rt_request(EC, receipt_element(payment, 2)))


class Node:
    """The Node's receipt delivery: each receipt repeated until OK or PAA_RECEIPT_DUPLICATA."""

    def __init__(self, platform: Platform, notices: list[dict]) -> None:
        self.platform = platform
        self.todo: queue.Queue[dict] = queue.Queue()
        for notice in notices:
            self.todo.put(notice)
        self.total = len(notices)
        self.answered: dict[str, str] = {}  # receipt id -> OK | PAA_RECEIPT_DUPLICATA
        self.failures: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    @property
    def done(self) -> int:
        with self._lock:
            return len(self.answered)

    def run(self) -> None:
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '"paSendRTV2"',
            self.platform.auth[0]: self.platform.auth[1],
        }
        http = requests.Session()
        while True:
            try:
                notice = self.todo.get_nowait()
            except queue.Empty:
                return
            payload = receipt_payload(notice)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                outcome = self._send(http, payload, headers)
                if outcome in ("OK", "PAA_RECEIPT_DUPLICATA"):
                    with self._lock:
                        self.answered[notice["receipt_id"]] = outcome
                    break
                with self._lock:
                    self.failures[outcome] += 1
                time.sleep(0.3)

    def _send(self, http: requests.Session, payload: bytes, headers: dict) -> str:
        try:
            answer = http.post(self.platform.soap_url, data=payload, headers=headers, timeout=15)
        except requests.RequestException as exc:
            return f"connection: {type(exc).__name__}"
        try:
            body = etree.fromstring(answer.content)
        except etree.XMLSyntaxError:
            return f"http {answer.status_code}"
        outcome = body.findtext(".//outcome")
        if outcome == "OK":
            return "OK"
        code = body.findtext(".//fault/faultCode") or body.findtext(".//faultstring")
        return code or f"http {answer.status_code}"


# --- the run ---------------------------------------------------------------------------------


@pytest.fixture
def platform(tmp_path) -> Iterator[Platform]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    with private_postgres() as pg:
        redis_ = PrivateRedis(tmp_path)
        redis_.start()
        platform = Platform(pg, redis_, tmp_path)
        try:
            platform.migrate_and_seed()
            yield platform
        finally:
            platform.stop()
            redis_.proc.kill(signal.SIGKILL)


def inject(platform: Platform, kind: str, n: int) -> None:
    if kind == "kill_worker":
        worker = platform.workers[n % len(platform.workers)]
        worker.kill(signal.SIGKILL)
        worker.start()
    elif kind == "flush_redis":
        platform.redis.flushall()
    elif kind == "restart_postgres":
        platform.pg.restart_immediate()
    elif kind == "kill_web":
        platform.web.kill(signal.SIGKILL)
        platform.start_web()
    elif kind == "restart_redis":
        platform.redis.restart_empty()
    elif kind == "kill_scheduler":  # its relay loop sends the receipts' messages
        platform.scheduler.kill(signal.SIGKILL)
        platform.scheduler.start()


def test_receipts_and_events_survive_killed_workers_wiped_redis_and_restarted_postgres(platform):
    started = time.monotonic()
    engine = sa.create_engine(platform.pg.url, pool_pre_ping=True)
    receiver = Receiver()
    receiver.start()
    try:
        _register_webhook(engine, receiver.url)
        notices = create_notices(engine, RECEIPTS)
        platform.start()
        node = Node(platform, notices)
        senders = [threading.Thread(target=node.run, daemon=True) for _ in range(SENDERS)]
        for sender in senders:
            sender.start()
        faults: list[tuple[str, float]] = []
        for n in range(FAULTS):
            # the faults spread over the delivery: fault n once (n + 1) / (FAULTS + 1) is done
            threshold = node.total * (n + 1) / (FAULTS + 1)
            while node.done < threshold and any(s.is_alive() for s in senders):
                time.sleep(0.05)
            kind = FAULT_KINDS[n % len(FAULT_KINDS)]
            at = time.monotonic()
            inject(platform, kind, n // len(FAULT_KINDS))
            faults.append((kind, round(time.monotonic() - at, 1)))
        for sender in senders:
            sender.join(timeout=600)
        delivered_at = time.monotonic()
        # every receipt answered: the Node stops repeating them
        assert node.done == node.total, (node.done, node.total, node.failures)

        paid = {n["notice"] for n in notices}

        def quiet() -> bool:
            with engine.connect() as conn:
                open_rows = conn.scalar(
                    sa.text("SELECT count(*) FROM outbox_message WHERE processed_at IS NULL")
                )
                undelivered = conn.scalar(
                    sa.text("SELECT count(*) FROM webhook_delivery WHERE status <> 'delivered'")
                )
            return open_rows == 0 and undelivered == 0 and paid <= _seen_notices(receiver)

        try:
            wait_for(quiet, QUIET_SECONDS, "every outbox row processed and event delivered")
        except AssertionError:
            print(_state(engine, receiver, paid))
            print(platform.logs())
            raise
        quiet_at = time.monotonic()
        report = _check(engine, receiver, notices)
        report.update(
            receipts=len(notices),
            faults=dict(collections.Counter(kind for kind, _ in faults)),
            longest_fault_seconds=max((s for _, s in faults), default=0),
            node_failures=dict(node.failures),
            deliver_seconds=round(delivered_at - started, 1),
            settle_seconds=round(quiet_at - delivered_at, 1),
            total_seconds=round(time.monotonic() - started, 1),
        )
        print("chaos report:", json.dumps(report, indent=1, default=str))
    finally:
        receiver.stop()
        engine.dispose()


def _register_webhook(engine: sa.Engine, url: str) -> None:
    from sqlalchemy.orm import Session

    from hub.models import Ente
    from hub.notify import webhooks

    with Session(engine) as session, session.begin():
        ente = session.scalars(sa.select(Ente).where(Ente.fiscal_code == EC)).one()
        webhooks.register_endpoint(session, ente, url, events=["payment.paid"])


def _seen_notices(receiver: Receiver) -> set[str]:
    with receiver._lock:
        bodies = [json.loads(r["body"]) for r in receiver.requests]
    return {b["noticeNumber"] for b in bodies if b.get("type") == "payment.paid"}


def _state(engine: sa.Engine, receiver: Receiver, paid: set[str]) -> str:
    with engine.connect() as conn:
        outbox = conn.execute(
            sa.text(
                "SELECT actor_name, attempts, dead_at IS NOT NULL AS dead, last_error, lease_until "
                "FROM outbox_message WHERE processed_at IS NULL ORDER BY id LIMIT 20"
            )
        ).all()
        deliveries = conn.execute(
            sa.text("SELECT status, count(*) FROM webhook_delivery GROUP BY status")
        ).all()
    missing = sorted(paid - _seen_notices(receiver))
    return (
        f"open outbox rows: {outbox}\ndeliveries: {deliveries}\n"
        f"events missing for {len(missing)} notices: {missing[:10]}"
    )


def _check(engine: sa.Engine, receiver: Receiver, notices: list[dict]) -> dict:
    numbers = [n["notice"] for n in notices]
    with engine.connect() as conn:
        stored = set(
            conn.scalars(
                sa.text("SELECT receipt_id FROM receipt WHERE ec_fiscal_code = :ec"), {"ec": EC}
            )
        )
        per_option = (
            conn.execute(
                sa.text(
                    "SELECT o.notice_number, o.status, o.amount_cents, o.paid_cents, "
                    "p.status AS position_status, "
                    "(SELECT count(*) FROM state_transition t WHERE t.option_id = o.id "
                    " AND t.event = 'receive_receipt') AS receipts_applied, "
                    "(SELECT count(*) FROM receipt r WHERE r.option_id = o.id) AS receipts "
                    "FROM payment_option o JOIN debt_position p ON p.id = o.position_id "
                    "WHERE o.notice_number = ANY(:n)"
                ),
                {"n": numbers},
            )
            .mappings()
            .all()
        )
        outbox = conn.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE processed_at IS NULL), "
                "count(*) FILTER (WHERE dead_at IS NOT NULL), count(*), max(attempts) "
                "FROM outbox_message"
            )
        ).one()
        deliveries = conn.execute(
            sa.text(
                "SELECT count(*), count(*) FILTER (WHERE status = 'delivered'), "
                "coalesce(sum(expired_claims), 0), coalesce(max(attempts), 0) "
                "FROM webhook_delivery"
            )
        ).one()
    lost = sorted(n["receipt_id"] for n in notices if n["receipt_id"] not in stored)
    assert lost == [], f"receipts answered OK but not stored: {lost[:10]}"
    assert len(per_option) == len(notices)
    twice = [r["notice_number"] for r in per_option if r["receipts_applied"] != 1]
    assert twice == [], f"options without exactly one receive_receipt: {twice[:10]}"
    assert all(r["receipts"] == 1 for r in per_option)
    doubled = [
        r["notice_number"]
        for r in per_option
        if r["status"] != "paid" or r["paid_cents"] != r["amount_cents"]
    ]
    assert doubled == [], f"options not paid exactly once: {doubled[:10]}"
    unpaid = [r["notice_number"] for r in per_option if r["position_status"] != "paid"]
    assert unpaid == [], f"positions not paid although their option is: {unpaid[:10]}"
    assert outbox[0] == 0 and outbox[1] == 0, f"outbox rows open or dead: {outbox}"
    # the demo data has a paid option of its own: at least one delivery per receipt, all done
    assert deliveries[0] == deliveries[1] >= len(notices), deliveries

    with receiver._lock:
        requests_ = list(receiver.requests)
    copies = collections.Counter(r["headers"].get("X-Payhub-Event-Id") for r in requests_)
    by_notice = collections.defaultdict(set)
    for r in requests_:
        body = json.loads(r["body"])
        assert body["type"] == "payment.paid"
        assert body["id"] == r["headers"].get("X-Payhub-Event-Id")
        by_notice[body["noticeNumber"]].add(body["id"])
    missing = sorted(set(numbers) - set(by_notice))
    assert missing == [], f"payment.paid never received for {missing[:10]}"
    assert all(len(ids) == 1 for ids in by_notice.values())  # one event per payment
    duplicates = {event: n for event, n in copies.items() if n > 1}
    print(f"events received more than once: {len(duplicates)} {duplicates}")
    assert max(copies.values()) <= MAX_COPIES_PER_EVENT, duplicates
    return {
        "receipts_stored": len(stored),
        "events": len(copies),
        "event_requests": len(requests_),
        "duplicate_events": len(duplicates),
        "duplicate_requests": sum(n - 1 for n in duplicates.values()),
        "outbox_rows": outbox[2],
        "outbox_max_attempts": outbox[3],
        "deliveries": deliveries[0],
        "expired_claims": deliveries[2],
        "delivery_max_attempts": deliveries[3],
    }
