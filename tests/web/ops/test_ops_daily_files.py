"""The daily files in /ops/: an Ente's files and deliveries (download, re-deliver, build a past
day), a failing delivery shown on the Ente's pages, no secret ever on a page, support's list of
Enti that did not receive a day's files, the signed link of the e-mails, a test file marked
test; in English and Italian."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from hub import actor_names, signing
from hub.dailyfile import files, targets
from hub.models import DailyFileDelivery, Ente, OutboxMessage
from hub.seed import DEMO_SUPPORT
from tests.hub.dailyfile.data import DAY, add_receipt, at, went_live
from tests.web.ops.conftest import A, B

pytestmark = pytest.mark.pg
SECRET_PASSWORD = "do-not-show-me-1234"


@pytest.fixture
def with_files(ops, tmp_path):
    """Ente A: a file of DAY with an SFTP target (password) whose delivery is dead."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    with ops.factory.begin() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == A))
        add_receipt(session, ente, None, paid_at=at(10), cents=4200)
        targets.add_target(
            session,
            ente,
            "sftp",
            host="sftp.comune.example.it",
            username="ragioneria",
            password=SECRET_PASSWORD,
            pinned_host_key=key.export_public_key().decode(),
        )
        file, _ = files.produce(session, ente, "GENERICO", DAY, tmp_path)
        row = session.scalar(sa.select(DailyFileDelivery))
        row.status, row.attempts, row.last_error = "dead", 9, "SFTP: login refused"
        return {"file_id": file.id, "sha256": file.sha256, "delivery_id": row.id}


def test_the_operator_sees_files_and_deliveries_and_downloads_a_zip(ops, with_files):
    ops.login()
    page = ops.app.get(f"/ops/enti/{A}/daily-files")
    assert "Daily files" in page.text and "SFTP: login refused" in page.text
    assert "sftp://ragioneria@sftp.comune.example.it:22/" in page.text
    assert SECRET_PASSWORD not in page.text
    link = page.html.find("a", string=lambda s: s and s.endswith(".zip"))
    zipped = ops.app.get(link["href"])
    assert hashlib.sha256(zipped.body).hexdigest() == with_files["sha256"]


def test_a_failing_delivery_is_shown_on_the_entes_dashboard(ops, with_files):
    ops.login()
    overview = ops.app.get(f"/ops/enti/{A}/")
    alert = overview.html.find(id="daily-file-failures")
    assert alert is not None and "1 deliveries of the daily files are failing" in alert.text


def test_another_entes_files_are_not_found(ops, with_files):
    ops.login()
    ops.app.get(f"/ops/enti/{B}/daily-files", status=404)
    ops.app.get(f"/ops/enti/{B}/daily-files/{with_files['file_id']}.zip", status=404)


def test_a_delivery_is_redelivered_by_hand_through_the_outbox(ops, with_files):
    ops.login()
    ops.post(f"/ops/enti/{A}/daily-files/deliveries/{with_files['delivery_id']}", {}, status=303)
    with ops.factory() as session:
        row = session.get(DailyFileDelivery, with_files["delivery_id"])
        assert (row.status, row.attempts, row.replays) == ("pending", 0, 1)
        messages = session.scalars(
            sa.select(OutboxMessage.args).where(
                OutboxMessage.actor_name == actor_names.DELIVER_DAILY_FILE
            )
        ).all()
    assert {"delivery_id": with_files["delivery_id"]} in messages


def test_a_past_day_is_built_on_demand_and_a_future_one_refused(ops):
    ops.login()
    ops.post(f"/ops/enti/{A}/daily-files/build", {"day": "2026-11-30"}, status=303)
    ops.post(f"/ops/enti/{A}/daily-files/build", {"day": "2999-01-01"}, status=303)
    page = ops.app.get(f"/ops/enti/{A}/daily-files")
    assert "Only a day that is over can be built." in page.text
    with ops.factory() as session:
        days = session.scalars(
            sa.select(OutboxMessage.args).where(
                OutboxMessage.actor_name == actor_names.BUILD_DAILY_FILES
            )
        ).all()
    assert [d["day"] for d in days] == ["2026-11-30"]


def test_support_sees_which_enti_did_not_receive_their_files(ops, with_files):
    ops.login()
    ops.app.get("/ops/support/daily-files", status=403)
    ops.app.reset()
    ops.login(DEMO_SUPPORT)
    page = ops.app.get(f"/ops/support/daily-files?day={DAY.isoformat()}")
    row = page.html.find("td", string=A).parent
    assert "delivery given up" in row.text


def test_the_signed_link_downloads_the_file_and_a_bad_one_is_404(ops, ops_app, with_files):
    config = ops_app.app.registry["payhub.config"]
    token = signing.make_token(config, "daily-file", {"file": with_files["file_id"]})
    zipped = ops.app.get(f"/ops/daily-files/link/{token}")
    assert hashlib.sha256(zipped.body).hexdigest() == with_files["sha256"]
    ops.app.get(f"/ops/daily-files/link/{token}x", status=404)


def test_the_page_speaks_italian(ops, with_files):
    ops.login()
    page = ops.app.get(f"/ops/enti/{A}/daily-files?lang=it")
    assert "File giornalieri" in page.text and "Consegne" in page.text


def test_support_sees_every_delivery_given_up_whatever_its_day_and_delivers_it_again(
    ops, with_files
):
    """The dead letters: listed for support whatever day is asked, each delivered again from
    there (a new round through the outbox, back to the list)."""
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/support/daily-files?day=2026-01-01")  # not the file's day
    section = page.html.find(id="given-up").find_next("table")
    (row,) = section.find("tbody").find_all("tr")
    assert A in row.text and DAY.isoformat() in row.text and "SFTP: login refused" in row.text
    assert SECRET_PASSWORD not in page.text
    form = row.find("form")
    answer = ops.post(form["action"], {"back": "support"}, status=303)
    assert answer.location.endswith("/ops/support/daily-files")
    with ops.factory() as session:
        assert session.get(DailyFileDelivery, with_files["delivery_id"]).status == "pending"
    after = ops.app.get("/ops/support/daily-files")
    assert after.html.find(id="given-up").find_next("table") is None


def test_each_attempt_is_shown_with_when_where_size_hash_and_outcome(ops, with_files):
    import datetime as dt

    from hub.models import DailyFileAttempt

    with ops.factory.begin() as session:
        row = session.get(DailyFileDelivery, with_files["delivery_id"])
        for minute, outcome, error in ((0, "error", "SFTP: timed out"), (5, "ok", None)):
            session.add(
                DailyFileAttempt(
                    delivery_id=row.id,
                    started_at=dt.datetime(2026, 12, 6, 0, minute, tzinfo=dt.UTC),
                    duration_ms=120,
                    where=row.where,
                    size=4321,
                    sha256=with_files["sha256"],
                    outcome=outcome,
                    error=error,
                )
            )
    ops.login()
    page = ops.app.get(f"/ops/enti/{A}/daily-files")
    details = page.html.find("details", class_="daily-file-attempts")
    rows = [
        [td.get_text(strip=True) for td in tr.find_all("td")] for tr in details.find_all("tr")[1:]
    ]
    assert [r[0] for r in rows] == ["2026-12-06 01:00:00 CET", "2026-12-06 01:05:00 CET"]
    assert {r[1] for r in rows} == {"sftp://ragioneria@sftp.comune.example.it:22/"}
    assert {r[2] for r in rows} == {"4321"}
    assert {r[3] for r in rows} == {with_files["sha256"][:16] + "…"}
    assert [(r[4], r[5]) for r in rows] == [("failed", "SFTP: timed out"), ("delivered", "")]


def test_supports_list_is_of_yesterday_when_no_day_is_asked(ops, tmp_path):
    """Yesterday (Italian calendar) by default: an Ente with a target and no file of
    yesterday is listed as such."""
    import datetime as dt

    import asyncssh

    from hub import clock

    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with ops.factory.begin() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == B))
        targets.add_target(
            session, ente, "sftp", host="sftp.comune.example.it", username="ragioneria",
            password=SECRET_PASSWORD, pinned_host_key=key,
        )  # fmt: skip
    ops.login(DEMO_SUPPORT)
    page = ops.app.get("/ops/support/daily-files")
    yesterday = (clock.today() - dt.timedelta(days=1)).isoformat()
    assert page.html.find(id="missing-day")["value"] == yesterday
    row = page.html.find("td", string=B).parent
    assert "no file built" in row.text


def test_a_test_file_is_marked_test_on_the_entes_page_and_a_real_one_is_not(ops, tmp_path):
    with ops.factory.begin() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == A))
        test_file, real_file = went_live(session, ente, tmp_path)
        names = {test_file.file_name: True, real_file.file_name: False}
    ops.login()
    page = ops.app.get(f"/ops/enti/{A}/daily-files")
    (table,) = [t for t in page.html.find_all("table") if t.get("aria-labelledby") == "files"]
    rows = {r.find("a").get_text(): r for r in table.find("tbody").find_all("tr")}
    assert set(rows) == set(names)
    for name, is_test in names.items():
        assert bool(rows[name].find(class_="badge-test")) is is_test, name
    assert "_TEST_v1_" in next(n for n, t in names.items() if t)
