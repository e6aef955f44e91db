"""The daily file end to end through the actors, against real servers on 127.0.0.1: a day with
payments of two services of one Ente -> two zips -> delivered by SFTP and e-mail -> read back
and checked member by member against the receipts in the database; a receiver down for the
first two attempts gets the file exactly once; a crash mid-delivery re-delivers, never loses."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import time
import zipfile

import dramatiq
import pytest
import sqlalchemy as sa

from actors.middleware import current_settings, use_settings
from hub import actor_names
from hub.dailyfile import delivery, targets
from hub.models import (
    DailyFile,
    DailyFileAttempt,
    DailyFileDelivery,
    Ente,
    OutboxMessage,
    Receipt,
)
from tests.hub.dailyfile.data import DAY, a_day

pytestmark = pytest.mark.pg


@pytest.fixture
def daily(stub_broker, local_targets, smtp, tmp_path):
    """The broker with daily-file settings: the SMTP server, files under tmp_path, quick
    retries."""
    use_settings(
        stub_broker,
        current_settings().replace(
            daily_file_dir=str(tmp_path / "files"),
            daily_file_min_backoff_ms=50,
            daily_file_max_backoff_ms=200,
            daily_file_max_retries=4,
            daily_file_timeout_seconds=20,
            **{k.removeprefix("payhub."): v for k, v in smtp.settings.items()},
        ),
    )
    return stub_broker


def _world(factory, sftp) -> dict:
    with factory.begin() as session:
        day = a_day(session, generic=False)
        ente = day.ente
        _sftp_target(session, ente, sftp, password=None, private_key=sftp.client_key)
        targets.add_target(session, ente, "email", recipients=["ragioneria@comune.example.it"])
        return {"ente_id": ente.id, "fiscal_code": ente.fiscal_code}


def _local():
    import ipaddress

    from hub import http

    return http.UrlPolicy(False, (ipaddress.ip_network("127.0.0.0/8"),))


def _sftp_target(session, ente, sftp, *, directory=None, password="s3cret-sftp", **more):
    """An SFTP target of ``ente`` on the test's server (its host key pinned), by password
    unless ``password=None`` and a ``private_key`` are given."""
    return targets.add_target(
        session,
        ente,
        "sftp",
        host="127.0.0.1",
        port=sftp.port,
        username="ente",
        password=password,
        pinned_host_key=sftp.host_key,
        directory=directory or sftp.target()["directory"],
        policy=_local(),
        **more,
    )


def _wait(factory, predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with factory() as session:
            value = predicate(session)
            if value:
                return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _all_delivered(session) -> bool:
    statuses = list(session.scalars(sa.select(DailyFileDelivery.status)))
    return bool(statuses) and all(s == "delivered" for s in statuses)


def _day_receipts(session, ente_id: int, service: str) -> list[Receipt]:
    """The Ente's OK receipts of DAY of one service, read from the database on their own."""
    from hub.dailyfile.files import day_bounds
    from hub.models import DebtPosition, PaymentOption, PaymentService

    start, end = day_bounds(DAY)
    code = sa.func.coalesce(PaymentService.code, "GENERICO")
    return list(
        session.scalars(
            sa.select(Receipt)
            .outerjoin(PaymentOption, PaymentOption.id == Receipt.option_id)
            .outerjoin(DebtPosition, DebtPosition.id == PaymentOption.position_id)
            .outerjoin(PaymentService, PaymentService.id == DebtPosition.service_id)
            .where(
                Receipt.ente_id == ente_id,
                Receipt.outcome == "OK",
                Receipt.payment_date_time >= start,
                Receipt.payment_date_time < end,
                code == service,
            )
            .order_by(Receipt.payment_date_time, Receipt.id)
        )
    )


def _check_zip(session, data: bytes, ente_id: int, service: str) -> None:
    """Every member against the database: each record of the .txt against its receipt's
    columns, each receipt's XML byte for byte, the CSV pointing at it, the manifest's counts,
    total and hashes."""
    from hub.dailyfile import layout

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        content = {name: zf.read(name) for name in zf.namelist()}
    expected = _day_receipts(session, ente_id, service)
    assert expected
    total = sum(r.payment_amount_cents for r in expected)
    manifest = json.loads(content["manifest.json"])
    assert manifest["service"] == service and manifest["business_date"] == DAY.isoformat()
    assert manifest["payments"] == manifest["receipts"] == len(expected)
    assert manifest["total_cents"] == total
    assert {m["name"] for m in manifest["members"]} == set(content) - {"manifest.json"}
    for member in manifest["members"]:
        assert hashlib.sha256(content[member["name"]]).hexdigest() == member["sha256"]
        assert len(content[member["name"]]) == member["size"]
    # the .txt: header, one D record per receipt of the day in payment order, trailer
    txt_name = next(n for n in content if n.startswith("PAGAMENTI_"))
    header, *details, trailer, end = content[txt_name].decode("utf-8").split("\r\n")
    assert end == "" and header.split("|")[:6] == [
        "H", "DF01", manifest["ente"], session.get(Ente, ente_id).name, service, DAY.isoformat()
    ]  # fmt: skip
    assert trailer == f"T|{len(expected)}|{total}"
    names = [name for name, _ in layout.DETAIL_FIELDS]
    for line, (record, receipt) in enumerate(zip(details, expected, strict=True), start=1):
        d = dict(zip(names, record.split("|"), strict=True))
        assert (d["tipo_record"], d["riga"]) == ("D", str(line))
        assert d["iuv"] == receipt.creditor_reference_id
        assert d["numero_avviso"] == receipt.notice_number
        assert d["id_ricevuta"] == receipt.receipt_id
        assert d["importo_centesimi"] == str(receipt.payment_amount_cents)
        assert d["commissione_centesimi"] == str(receipt.fee_cents)
        assert d["cf_debitore"] == receipt.debtor_fiscal_code
        assert d["cf_pagatore"] == (receipt.payer_fiscal_code or "")
        assert d["id_psp"] == receipt.id_psp and d["metodo"] == receipt.payment_method
        assert dt.datetime.fromisoformat(d["data_pagamento"]) == receipt.payment_date_time
        assert d["versione_rt"] == str(receipt.primitive_version)
        # the receipt's own XML, byte for byte, where the record says
        assert content[d["file_ricevuta"]] == receipt.raw_xml.encode("utf-8")
    # the CSV: one row per record, pointing at the same receipt file
    csv_name = next(n for n in content if n.endswith(".csv"))
    assert content[csv_name].startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(content[csv_name].decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == len(expected)
    for line, (row, receipt) in enumerate(zip(rows, expected, strict=True), start=1):
        assert row["riga"] == str(line) and row["id_ricevuta"] == receipt.receipt_id
        assert content[row["file_ricevuta"]] == receipt.raw_xml.encode("utf-8")
        assert row["iuv"] == receipt.creditor_reference_id
        assert row["importo"] == layout.euro(receipt.payment_amount_cents)
    rt_members = [n for n in content if n.startswith("RT/")]
    assert sorted(rt_members) == sorted(row["file_ricevuta"] for row in rows)


def test_two_services_give_two_zips_delivered_by_sftp_and_email_and_read_back(
    committed_factory, daily, stub_worker, sftp, smtp
):
    world = _world(committed_factory, sftp)
    daily.get_actor(actor_names.BUILD_DAILY_FILES).send(day=DAY.isoformat())
    mine = sa.select(DailyFile).where(DailyFile.ente_id == world["ente_id"])
    _wait(committed_factory, lambda s: len(s.scalars(mine).all()) == 2)
    _wait(committed_factory, _all_delivered)
    messages = smtp.wait_for(2)
    with committed_factory() as session:
        made = {f.service_code: f for f in session.scalars(mine)}
        # the other Ente of the day has its own (generic) file, delivered nowhere
        assert session.scalar(sa.select(sa.func.count(DailyFile.id))) == 3
        assert sorted(made) == ["MENSA", "TARI"]
        for service, file in made.items():
            # SFTP: the file under its name (with its hash), read back from the server's disk
            uploaded = (sftp.root / "incoming" / file.file_name).read_bytes()
            assert hashlib.sha256(uploaded).hexdigest() == file.sha256
            _check_zip(session, uploaded, world["ente_id"], service)
            # e-mail: the zip attached, same bytes
            (msg,) = [m for m in messages if m["X-Payhub-Daily-File"].strip() == file.file_name]
            (part,) = list(msg.iter_attachments())
            assert part.get_filename() == file.file_name
            attached = part.get_content()
            assert attached == uploaded
            _check_zip(session, attached, world["ente_id"], service)
        attempts = list(session.scalars(sa.select(DailyFileAttempt)))
        assert len(attempts) == 4 and {a.outcome for a in attempts} == {"ok"}
        assert all(a.sha256 in {f.sha256 for f in made.values()} for a in attempts)
        assert not any("s3cret" in a.where or "PRIVATE" in a.where for a in attempts)
    assert len(sftp.uploads) == 2


def test_a_receiver_down_for_two_attempts_gets_the_file_once_when_it_is_back(
    committed_factory, daily, stub_worker, sftp, capsys, caplog
):
    caplog.set_level("INFO")  # an earlier test may have left the root logger at WARNING
    with committed_factory.begin() as session:
        day = a_day(session, generic=False)
        _sftp_target(session, day.ente, sftp, service_code="TARI")
        ente_id = day.ente.id
    sftp.fail_next(2)
    daily.get_actor(actor_names.BUILD_DAILY_FILES).send(day=DAY.isoformat(), ente_id=ente_id)
    _wait(committed_factory, _all_delivered)
    with committed_factory() as session:
        (row,) = session.scalars(sa.select(DailyFileDelivery))
        outcomes = [a.outcome for a in row.attempt_log]
        assert outcomes == ["error", "error", "ok"]
        assert row.attempts == 3 and row.file.service_code == "TARI"
    time.sleep(0.5)  # nothing more arrives afterwards
    assert len(sftp.uploads) == 1
    assert [p.name for p in (sftp.root / "incoming").iterdir()] == [row.file.file_name]
    # structlog writes to the console or, once an earlier test routed it there, to the standard
    # library's logging: read both
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "daily_file.attempt" in logged  # the attempts were logged ...
    assert "s3cret-sftp" not in logged  # ... without the password


def test_a_crash_mid_delivery_redelivers_and_the_receiver_keeps_one_file(
    committed_factory, daily, sftp
):
    """The worker claimed the delivery, uploaded, and died before recording it: once the lease
    ends the sweep sends it again, and the receiver still has exactly one copy."""
    from actors import dailyfile
    from hub.dailyfile import files, transports

    with committed_factory.begin() as session:
        day = a_day(session, generic=False)
        _sftp_target(session, day.ente, sftp, service_code="MENSA", directory="incoming")
        sftp.target()
        ente = session.get(Ente, day.ente.id)
        file, _ = files.produce(session, ente, "MENSA", DAY, daily_dir(daily))
        delivery_id = session.scalar(sa.select(DailyFileDelivery.id))
        assert session.scalar(
            sa.select(OutboxMessage.args).where(
                OutboxMessage.actor_name == actor_names.DELIVER_DAILY_FILE
            )
        ) == {"delivery_id": delivery_id}
    lease = dt.timedelta(seconds=30)
    with committed_factory.begin() as session:
        claimed = delivery.claim(session, delivery_id, lease=lease, max_attempts=5)
    assert claimed is not None
    transports.deliver(claimed.target, claimed.parcel, current_settings(), timeout=20)
    # ... and the worker dies here. While the lease runs, nobody sends it again:
    with committed_factory.begin() as session:
        assert delivery.take_due(session, lease=lease) == []
    later = dt.datetime.now(dt.UTC) + lease * 3
    with committed_factory.begin() as session:
        assert delivery.take_due(session, lease=lease, now=later) == [delivery_id]
        claimed = delivery.claim(session, delivery_id, lease=lease, max_attempts=5, now=later)
    assert claimed is not None
    assert transports.deliver(claimed.target, claimed.parcel, current_settings(), timeout=20) == (
        "already there"
    )
    with committed_factory.begin() as session:
        row = delivery.record(
            session,
            delivery_id,
            started=later,
            duration_ms=1,
            error=None,
            max_attempts=5,
            backoff=dailyfile.retry_policy({}).backoff,
        )
        assert row.status == "delivered"
        assert [a.outcome for a in row.attempt_log] == ["error", "ok"]  # the lost one, then ok
    assert len(sftp.uploads) == 1
    assert [p.name for p in (sftp.root / "incoming").iterdir()] == [file.file_name]


def daily_dir(broker):
    from pathlib import Path

    return Path(current_settings().daily_file_dir)


def test_a_dead_delivery_is_listed_for_support_and_redelivered_by_hand(
    committed_factory, daily, stub_worker, sftp
):
    with committed_factory.begin() as session:
        day = a_day(session, generic=False)
        _sftp_target(session, day.ente, sftp, directory="incoming")
        sftp.target()
        ente_id = day.ente.id
    sftp.fail_next(100)
    daily.get_actor(actor_names.BUILD_DAILY_FILES).send(day=DAY.isoformat(), ente_id=ente_id)
    _wait(
        committed_factory,
        lambda s: s.scalars(sa.select(DailyFileDelivery.status)).all() == ["dead", "dead"],
    )
    with committed_factory() as session:
        (missing,) = delivery.undelivered_enti(session, DAY)
        assert (missing.ente_id, missing.reason) == (ente_id, "dead")
        assert delivery.undelivered_enti(session, DAY + dt.timedelta(days=1))[0].reason == (
            "no file"
        )
    sftp.fail_next(0)
    with committed_factory.begin() as session:
        for row in session.scalars(sa.select(DailyFileDelivery)):
            delivery.redeliver(session, row)
    _wait(committed_factory, _all_delivered)
    with committed_factory() as session:
        assert delivery.undelivered_enti(session, DAY) == []
    assert len(sftp.uploads) == 2


def test_the_scheduler_builds_yesterday_at_the_configured_italian_time(stub_broker):
    from apscheduler.schedulers.background import BackgroundScheduler

    from actors.scheduler import add_jobs

    settings = {"payhub.daily_file_at": "02:30", "payhub.daily_file_sweep_seconds": 15}
    jobs = {
        j.id: j for j in add_jobs(BackgroundScheduler(), stub_broker, None, settings).get_jobs()
    }
    build = jobs[actor_names.BUILD_DAILY_FILES].trigger
    assert str(build) == "cron[hour='2', minute='30']" and str(build.timezone) == "Europe/Rome"
    assert jobs["daily_file_sweep"].trigger.interval == dt.timedelta(seconds=15)


def test_the_scheduled_run_sends_one_build_per_ente_of_yesterday(committed_factory, daily):
    """No day given: yesterday (Italian calendar), one message per Ente with payments."""
    from actors import dailyfile
    from hub import clock
    from tests.factories import make_ente
    from tests.hub.dailyfile.data import add_receipt, at

    yesterday = clock.today() - dt.timedelta(days=1)
    with committed_factory.begin() as session:
        enti = [make_ente(session) for _ in range(2)]
        for ente in enti:
            add_receipt(session, ente, None, paid_at=at(12, 0, yesterday))
        ids = sorted(e.id for e in enti)
    assert dailyfile.yesterday() == yesterday
    daily.get_actor(actor_names.BUILD_DAILY_FILES).send()
    worker = dramatiq.Worker(daily, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        _wait(committed_factory, lambda s: len(s.scalars(sa.select(DailyFile)).all()) == 2)
    finally:
        worker.stop()
    with committed_factory() as session:
        built = sorted(session.scalars(sa.select(DailyFile.ente_id)))
        days = set(session.scalars(sa.select(DailyFile.business_date)))
    assert built == ids and days == {yesterday}


def test_an_ftps_receiver_down_twice_gets_the_file_once_over_explicit_tls(
    committed_factory, daily, stub_worker, ftps
):
    use_settings(daily, current_settings().replace(outgoing_ca_bundle=str(ftps.ca_pem)))
    with committed_factory.begin() as session:
        day = a_day(session, generic=False)
        fields = ftps.target()
        targets.add_target(
            session,
            day.ente,
            "ftps",
            service_code="MENSA",
            host=fields["host"],
            port=fields["port"],
            username=fields["username"],
            password=fields["secret"],
            directory=fields["directory"],
            policy=_local(),
        )
        ente_id = day.ente.id
    ftps.fail_next(2)
    daily.get_actor(actor_names.BUILD_DAILY_FILES).send(day=DAY.isoformat(), ente_id=ente_id)
    _wait(committed_factory, _all_delivered)
    with committed_factory() as session:
        (row,) = session.scalars(sa.select(DailyFileDelivery))
        assert [a.outcome for a in row.attempt_log] == ["error", "error", "ok"]
        received = (ftps.root / "incoming" / row.file.file_name).read_bytes()
        assert hashlib.sha256(received).hexdigest() == row.file.sha256
        _check_zip(session, received, ente_id, "MENSA")
    assert len(ftps.uploads) == 1


def test_a_mail_server_down_for_two_attempts_gets_the_file_once_when_it_is_back(
    committed_factory, daily, stub_worker, smtp
):
    """The SMTP server answers 451 twice (STARTTLS, then a temporary failure): the third
    attempt delivers, and exactly one message arrives, the zip attached and read back."""
    with committed_factory.begin() as session:
        day = a_day(session, generic=False)
        targets.add_target(
            session, day.ente, "email", service_code="TARI", recipients=["ragioneria@example.it"]
        )
        ente_id = day.ente.id
    smtp.fail_next(2)
    daily.get_actor(actor_names.BUILD_DAILY_FILES).send(day=DAY.isoformat(), ente_id=ente_id)
    _wait(committed_factory, _all_delivered)
    time.sleep(0.5)  # nothing more arrives afterwards
    (msg,) = smtp.wait_for(1)
    with committed_factory() as session:
        (row,) = session.scalars(sa.select(DailyFileDelivery))
        assert [a.outcome for a in row.attempt_log] == ["error", "error", "ok"]
        assert all("451" in a.error for a in row.attempt_log[:2])
        assert row.attempts == 3 and row.file.service_code == "TARI"
        assert msg["X-Payhub-File-SHA256"].strip() == row.file.sha256
        (part,) = list(msg.iter_attachments())
        assert part.get_filename() == row.file.file_name
        _check_zip(session, part.get_content(), ente_id, "TARI")
    assert len(smtp.messages) == 1


def test_a_crash_after_the_mail_was_sent_sends_it_again_with_the_same_name_and_hash(
    committed_factory, daily, smtp
):
    """E-mail cannot ask the receiver whether it already has the file: a worker that died
    after sending leaves a second message, which the receiver tells a duplicate by the
    attachment's name and the X-Payhub-File-SHA256 header (the zip's hash), the same in both."""
    from hub.dailyfile import files, transports

    with committed_factory.begin() as session:
        day = a_day(session, generic=False)
        targets.add_target(
            session, day.ente, "email", service_code="MENSA", recipients=["ragioneria@example.it"]
        )
        ente = session.get(Ente, day.ente.id)
        files.produce(session, ente, "MENSA", DAY, daily_dir(daily))
        delivery_id = session.scalar(sa.select(DailyFileDelivery.id))
    daily.flush_all()  # the message relayed after the commit is lost with the worker
    lease = dt.timedelta(seconds=30)
    with committed_factory.begin() as session:
        claimed = delivery.claim(session, delivery_id, lease=lease, max_attempts=5)
    assert transports.deliver(claimed.target, claimed.parcel, current_settings(), timeout=20) == (
        "attached"
    )
    # ... the worker dies here; the lease ends and the scheduler's sweep sends it again
    with committed_factory.begin() as session:
        row = session.get(DailyFileDelivery, delivery_id)
        row.lease_until = row.next_attempt_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    _sweep_job(daily, committed_factory)()
    _work_until(daily, committed_factory, _all_delivered)
    first, second = smtp.wait_for(2)
    with committed_factory() as session:
        row = session.get(DailyFileDelivery, delivery_id)
        assert [a.outcome for a in row.attempt_log] == ["error", "ok"]
        assert row.attempt_log[0].error == "interrupted (lease expired)"
        sha256, name = row.file.sha256, row.file.file_name
    for msg in (first, second):
        assert msg["X-Payhub-File-SHA256"].strip() == sha256
        (part,) = list(msg.iter_attachments())
        assert part.get_filename() == name and sha256[:16] in name
        assert hashlib.sha256(part.get_content()).hexdigest() == sha256


def dailyfile_queue() -> str:
    from hub.dailyfile import files

    return files.QUEUE


def _work_until(broker, factory, predicate) -> None:
    """Run a worker (started now, after the messages were sent) until ``predicate`` holds."""
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        _wait(factory, predicate)
    finally:
        worker.stop()


def _sweep_job(broker, factory):
    """The scheduler's own job that sends the deliveries due (actors/scheduler.py)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from actors.scheduler import add_jobs

    scheduler = add_jobs(BackgroundScheduler(), broker, factory, current_settings())
    return scheduler.get_job("daily_file_sweep").func


def test_the_schedulers_sweep_sends_a_delivery_whose_worker_died_mid_transfer(
    committed_factory, daily, sftp, capsys, caplog
):
    """The sweep job itself (not only take_due): a claim whose lease ended is sent again and
    the receiver keeps one file; the job logs no failure."""
    from hub.dailyfile import files, transports

    caplog.set_level("INFO")
    with committed_factory.begin() as session:
        day = a_day(session, generic=False)
        _sftp_target(session, day.ente, sftp, service_code="MENSA")
        ente = session.get(Ente, day.ente.id)
        file, _ = files.produce(session, ente, "MENSA", DAY, daily_dir(daily))
        delivery_id = session.scalar(sa.select(DailyFileDelivery.id))
    daily.flush_all()  # the message relayed after the commit is lost with the worker
    with committed_factory.begin() as session:
        claimed = delivery.claim(
            session, delivery_id, lease=dt.timedelta(seconds=30), max_attempts=5
        )
    transports.deliver(claimed.target, claimed.parcel, current_settings(), timeout=20)
    job = _sweep_job(daily, committed_factory)
    job()  # the lease still runs: nothing is sent
    assert daily.queues[dailyfile_queue()].qsize() == 0
    with committed_factory.begin() as session:
        row = session.get(DailyFileDelivery, delivery_id)
        row.lease_until = row.next_attempt_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    job()
    assert daily.queues[dailyfile_queue()].qsize() == 1
    _work_until(daily, committed_factory, _all_delivered)
    with committed_factory() as session:
        row = session.get(DailyFileDelivery, delivery_id)
        assert [a.outcome for a in row.attempt_log] == ["error", "ok"]
    assert len(sftp.uploads) == 1
    assert [p.name for p in (sftp.root / "incoming").iterdir()] == [file.file_name]
    captured = capsys.readouterr()
    assert "daily_file.sweep_failed" not in captured.out + captured.err + caplog.text


def test_the_nights_run_builds_a_new_version_of_an_earlier_day_a_late_receipt_belongs_to(
    committed_factory, daily, sftp
):
    """A receipt paid three days ago arrives yesterday: the scheduled run builds that day's
    v2 by itself and delivers it; v1 stays, at payhub and at the receiver."""
    from hub import clock
    from hub.dailyfile import files
    from tests.factories import make_ente
    from tests.hub.dailyfile.data import add_receipt, at

    yesterday = clock.today() - dt.timedelta(days=1)
    earlier = yesterday - dt.timedelta(days=2)
    with committed_factory.begin() as session:
        ente = make_ente(session)
        _sftp_target(session, ente, sftp)
        add_receipt(session, ente, None, paid_at=at(9, 0, earlier), cents=1000)
        v1, _ = files.produce(session, ente, "GENERICO", earlier, daily_dir(daily))
        add_receipt(
            session, ente, None, paid_at=at(18, 0, earlier), received_at=at(11, 0, yesterday)
        )
    daily.get_actor(actor_names.BUILD_DAILY_FILES).send()
    versions = sa.select(DailyFile.version).where(DailyFile.business_date == earlier)

    def done(session) -> bool:
        return sorted(session.scalars(versions)) == [1, 2] and _all_delivered(session)

    _work_until(daily, committed_factory, done)
    with committed_factory() as session:
        v2 = session.scalar(sa.select(DailyFile).where(DailyFile.business_date == earlier,
                                                       DailyFile.version == 2))  # fmt: skip
        assert (v1.payments, v2.payments) == (1, 2)
        names = {p.name for p in (sftp.root / "incoming").iterdir()}
        assert {v1.file_name, v2.file_name} <= names
        # yesterday's own file (nothing paid: the empty generic file of an Ente with a target)
        assert (
            session.scalar(
                sa.select(DailyFile.payments).where(DailyFile.business_date == yesterday)
            )
            == 0
        )
