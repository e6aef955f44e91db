"""`payhub daily-file`: an Ente's targets added (checked, secrets never printed) and listed, a
past day built, the Enti without their files listed."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hub.models import DailyFile, DailyFileDelivery, DailyFileTarget
from payhub.cli import main
from tests.hub.dailyfile.data import DAY, a_day

pytestmark = pytest.mark.pg
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(pg_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("PAYHUB_DAILY_FILE_DIR", str(tmp_path / "files"))
    monkeypatch.delenv("PAYHUB_BROKER", raising=False)
    runner = CliRunner()

    def run(*args: str, **kw):
        return runner.invoke(main, ["-c", str(ROOT / "development.ini"), *args], **kw)

    return run


def test_targets_are_added_checked_and_listed_without_secrets(cli, committed_factory, tmp_path):
    with committed_factory.begin() as session:
        fiscal_code = a_day(session).ente.fiscal_code
    host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    added = cli(
        "daily-file", "target", "add", fiscal_code, "sftp", "--host", "sftp.example.it",
        "--user", "ragioneria", "--host-key", host_key, "--directory", "in",
        env={"DAILYFILE_TARGET_PASSWORD": "pw-never-shown-1"},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    mail = cli(
        "daily-file", "target", "add", fiscal_code, "email", "--service", "TARI",
        "--recipient", "ragioneria@comune.example.it",
    )  # fmt: skip
    assert mail.exit_code == 0, mail.output
    internal = cli(
        "daily-file", "target", "add", fiscal_code, "ftps", "--host", "10.0.0.5", "--user", "u",
        env={"DAILYFILE_TARGET_PASSWORD": "x"},
    )  # fmt: skip
    assert internal.exit_code != 0 and "not a public address" in internal.output
    no_key = cli(
        "daily-file", "target", "add", fiscal_code, "sftp", "--host", "sftp.example.it",
        "--user", "u", env={"DAILYFILE_TARGET_PASSWORD": "x"},
    )  # fmt: skip
    assert no_key.exit_code != 0 and "host_key" in no_key.output
    listed = cli("daily-file", "target", "list", fiscal_code)
    assert "sftp://ragioneria@sftp.example.it:22/in password enabled" in listed.output
    assert "email TARI email:ragioneria@comune.example.it" in listed.output
    assert "pw-never-shown-1" not in listed.output + added.output
    with committed_factory() as session:
        assert session.scalar(sa.select(sa.func.count(DailyFileTarget.id))) == 2


def test_a_past_day_is_built_and_missing_deliveries_listed(cli, committed_factory):
    with committed_factory.begin() as session:
        fiscal_code = a_day(session).ente.fiscal_code
    cli(
        "daily-file", "target", "add", fiscal_code, "email",
        "--recipient", "ragioneria@comune.example.it",
    )  # fmt: skip
    built = cli("daily-file", "build", "--day", DAY.isoformat(), "--ente", fiscal_code)
    assert built.exit_code == 0, built.output
    assert [line.split()[1] for line in built.output.splitlines()] == [
        "GENERICO",
        "MENSA",
        "TARI",
    ]
    again = cli("daily-file", "build", "--day", DAY.isoformat(), "--ente", fiscal_code)
    assert all(" unchanged " in line for line in again.output.splitlines())
    with committed_factory() as session:
        assert session.scalar(sa.select(sa.func.count(DailyFile.id))) == 3
        assert session.scalar(sa.select(sa.func.count(DailyFileDelivery.id))) == 3
    missing = cli("daily-file", "missing", "--day", DAY.isoformat())
    assert missing.output.split()[:2] == [fiscal_code, "pending"]


def test_target_changes_from_the_cli_are_audited_without_the_secret(cli, committed_factory):
    from hub.models import AuditEvent

    with committed_factory.begin() as session:
        fiscal_code = a_day(session).ente.fiscal_code
    host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    added = cli(
        "daily-file", "target", "add", fiscal_code, "sftp", "--host", "sftp.example.it",
        "--user", "ragioneria", "--host-key", host_key,
        env={"DAILYFILE_TARGET_PASSWORD": "pw-never-audited-2"},
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    target_id = added.output.split()[1].rstrip(":")
    assert cli("daily-file", "target", "disable", target_id).exit_code == 0
    again = cli("daily-file", "target", "disable", target_id)
    assert again.exit_code != 0 and "already disabled" in again.output
    with committed_factory() as session:
        events = list(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
    assert [(e.actor, e.action, e.target) for e in events] == [
        ("cli", "cli.daily_file_target_add", f"daily_file_target:{target_id}"),
        ("cli", "cli.daily_file_target_disable", f"daily_file_target:{target_id}"),
    ]
    assert events[0].detail["where"] == "sftp://ragioneria@sftp.example.it:22/"
    assert not any("pw-never-audited-2" in repr(e.detail) for e in events)
