"""`payhub operator create|disable|list` on a fresh SQLite database."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from hub.db import make_engine
from hub.models import AuditEvent, OperatorAccount
from hub.tenants.operators import authenticate, verify_password
from payhub.cli import main
from tests.payhub.test_cli import _ini


def _setup(tmp_path):
    ini = _ini(tmp_path)
    runner = CliRunner()
    for command in (["migrate"], ["seed-demo"]):
        result = runner.invoke(main, ["-c", str(ini), *command])
        assert result.exit_code == 0, result.output
    return runner, ini, make_engine(f"sqlite:///{tmp_path / 'var' / 'demo.sqlite'}")


def test_create_list_and_disable_accounts(tmp_path):
    runner, ini, engine = _setup(tmp_path)
    created = runner.invoke(
        main,
        [
            "-c",
            str(ini),
            "operator",
            "create",
            "anna",
            "--role",
            "operator",
            "--ente",
            "77777777777",
            "--password-stdin",
        ],
        input="a-long-secret-1\n",
    )
    assert created.exit_code == 0, created.output
    prompted = runner.invoke(
        main,
        ["-c", str(ini), "operator", "create", "sam", "--role", "support"],
        input="another-secret\nanother-secret\n",
    )
    assert prompted.exit_code == 0, prompted.output
    listing = runner.invoke(main, ["-c", str(ini), "operator", "list"]).output
    assert "anna\toperator\tenabled\t77777777777\tnever" in listing
    assert "sam\tsupport\tenabled\t-\tnever" in listing
    assert "demo-operator\toperator" in listing and "demo-support\tsupport" in listing
    with sa.orm.Session(engine) as session:
        anna = session.scalar(sa.select(OperatorAccount).where(OperatorAccount.username == "anna"))
        assert anna.password_hash.startswith("scrypt$")
        assert verify_password("a-long-secret-1", anna.password_hash)
        assert not verify_password("a-long-secret-2", anna.password_hash)
        assert authenticate(session, "anna", "a-long-secret-1").account is not None
    disabled = runner.invoke(main, ["-c", str(ini), "operator", "disable", "anna"])
    assert disabled.exit_code == 0, disabled.output
    assert (
        "anna\toperator\tdisabled"
        in runner.invoke(main, ["-c", str(ini), "operator", "list"]).output
    )
    with sa.orm.Session(engine) as session:
        assert authenticate(session, "anna", "a-long-secret-1").problem == "invalid"
        actions = set(session.scalars(sa.select(AuditEvent.action)))
        assert {"operator.create", "operator.disable"} <= actions
    engine.dispose()


def test_create_refuses_bad_input(tmp_path):
    runner, ini, engine = _setup(tmp_path)
    base = ["-c", str(ini), "operator", "create"]
    for args, words in (
        (["x", "--role", "operator", "--ente", "99999999999"], "no Ente"),
        (["x", "--role", "operator"], "at least one --ente"),
        (["demo-support", "--role", "support"], "taken"),
    ):
        result = runner.invoke(main, [*base, *args, "--password-stdin"], input="a-long-secret-1\n")
        assert result.exit_code != 0 and words in result.output, result.output
    short = runner.invoke(
        main, [*base, "y", "--role", "support", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0 and "at least" in short.output
    assert (
        "no account"
        in runner.invoke(main, ["-c", str(ini), "operator", "disable", "nobody"]).output
    )
    engine.dispose()
