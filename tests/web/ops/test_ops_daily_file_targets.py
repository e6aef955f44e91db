"""The daily files' delivery targets from /ops/: support adds an SFTP target (password never shown
back), tests it against the real SFTP server (a probe file uploaded), disables it; bad input is a
422 page with the reason in the user's language and the form kept without its secret; an
operator sees and tests targets but cannot change them; every change is audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.models import AuditEvent, DailyFileTarget, Ente
from hub.seed import DEMO_SUPPORT
from tests.servers.sftp import PASSWORD, USERNAME
from tests.web.ops.conftest import A

pytestmark = pytest.mark.pg
SECRET = "never-shown-3817"


def _post(ops, path: str, fields: dict, status, lang: str = "en"):
    return ops.app.post(
        f"{path}?lang={lang}",
        {"csrf_token": ops.csrf(), **fields},
        status=status,
        headers={"Referer": "https://payhub.test/ops/"},
    )


def _sftp_fields(sftp, **extra) -> dict:
    return {
        "kind": "sftp",
        "service": "",
        "host": "127.0.0.1",
        "port": str(sftp.port),
        "username": USERNAME,
        "password": PASSWORD,
        "directory": sftp.target()["directory"],
        "host_key": sftp.host_key,
        **extra,
    }


def _targets(ops) -> list[DailyFileTarget]:
    with ops.factory() as session:
        return list(session.scalars(sa.select(DailyFileTarget).order_by(DailyFileTarget.id)))


def _audit(ops, prefix: str) -> list[AuditEvent]:
    with ops.factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )


def test_support_adds_tests_and_disables_an_sftp_target(ops, sftp, local_targets):
    ops.login(DEMO_SUPPORT)
    answer = _post(ops, f"/ops/enti/{A}/daily-files/targets", _sftp_fields(sftp), 303)
    page = answer.follow()
    where = f"sftp://{USERNAME}@127.0.0.1:{sftp.port}/incoming"
    assert f"The delivery target is added: {where}" in page.text
    assert PASSWORD not in page.text
    (target,) = _targets(ops)
    assert (target.secret, target.host_key, target.enabled) == (PASSWORD, sftp.host_key, True)

    # the test button uploads a small probe file to the real server
    _post(ops, f"/ops/enti/{A}/daily-files/targets/{target.id}/probe", {}, 303)
    (probe,) = (sftp.root / "incoming").glob("payhub-probe-*.txt")
    assert b"daily file" in probe.read_bytes()
    page = ops.app.get(f"/ops/enti/{A}/daily-files")
    assert f"The test reached {where}: {probe.name}" in page.text

    _post(ops, f"/ops/enti/{A}/daily-files/targets/{target.id}/disable", {}, 303)
    assert _targets(ops)[0].enabled is False
    _post(ops, f"/ops/enti/{A}/daily-files/targets/{target.id}/disable", {}, 303)
    assert "already disabled" in ops.app.get(f"/ops/enti/{A}/daily-files").text

    events = _audit(ops, "ops.daily_file_target")
    assert [e.action for e in events] == [
        "ops.daily_file_target_add",
        "ops.daily_file_target_probe",
        "ops.daily_file_target_disable",
    ]
    assert all(e.actor == f"ops:{DEMO_SUPPORT}" for e in events)
    assert events[0].detail["authentication"] == "password"
    assert events[1].detail["outcome"] == "ok"
    assert not any(PASSWORD in repr(e.detail) for e in events)


def test_a_failing_test_says_why_without_the_secret(ops, sftp, local_targets, capsys, caplog):
    caplog.set_level("INFO")
    ops.login(DEMO_SUPPORT)
    fields = _sftp_fields(sftp, password=SECRET)  # not the server's password
    _post(ops, f"/ops/enti/{A}/daily-files/targets", fields, 303)
    (target,) = _targets(ops)
    _post(ops, f"/ops/enti/{A}/daily-files/targets/{target.id}/probe", {}, 303)
    page = ops.app.get(f"/ops/enti/{A}/daily-files")
    assert "The test failed: SFTP: login refused" in page.text and SECRET not in page.text
    (event,) = _audit(ops, "ops.daily_file_target_probe")
    assert event.detail == {"outcome": "error", "reason": "SFTP: login refused"}
    # as printed, or as records where an earlier test left logging configured otherwise
    out = capsys.readouterr()
    logged = out.out + out.err + "\n".join(str(r.msg) for r in caplog.records)
    assert "daily_file.target_probe" in logged  # the logs were captured
    assert SECRET not in logged


@pytest.mark.parametrize(
    ("change", "field", "english", "italian"),
    [
        ({"host": "bad host!"}, "host", "is not a host name or an IPv4 address",
         "non è un nome host né un indirizzo IPv4"),
        ({"host_key": ""}, "host_key", "Pin the server&#39;s host key",
         "Fissare la chiave host del server"),
        ({"host_key": "ssh-ed25519 not-a-key"}, "host_key", "is not an OpenSSH public key",
         "non è una chiave pubblica OpenSSH"),
        ({"port": "99999"}, "port", "The port must be a number between 1 and 65535",
         "La porta deve essere un numero tra 1 e 65535"),
        ({"kind": "email", "recipients": "ragioneria@comune.example.it\nnot-an-address"},
         "recipients", "not-an-address is not an e-mail address",
         "not-an-address non è un indirizzo e-mail"),
    ],
)  # fmt: skip
def test_bad_input_is_a_422_page_in_the_users_language_without_the_secret(
    ops, sftp, local_targets, change, field, english, italian
):
    ops.login(DEMO_SUPPORT)
    fields = _sftp_fields(sftp, password=SECRET, **change)
    for lang, message in (("en", english), ("it", italian)):
        page = _post(ops, f"/ops/enti/{A}/daily-files/targets", fields, 422, lang)
        error = page.html.find(id="target-error")
        assert message.replace("&#39;", "'") in error.text and "${" not in error.text
        assert SECRET not in page.text  # the password field is never filled back in
        shown = page.html.find(attrs={"name": field})
        assert shown.get("aria-invalid") == "true"
    if "host" in change:
        assert page.html.find(id="target-host")["value"] == change["host"]
    assert _targets(ops) == [] and _audit(ops, "ops.daily_file_target") == []


def test_an_internal_address_is_refused_unless_the_settings_allow_it(ops, sftp):
    ops.login(DEMO_SUPPORT)
    page = _post(ops, f"/ops/enti/{A}/daily-files/targets", _sftp_fields(sftp), 422)
    assert "payhub may not connect to this host" in page.html.find(id="target-error").text
    assert _targets(ops) == []


def test_an_operator_sees_and_tests_targets_but_cannot_change_them(ops, sftp, local_targets):
    with ops.factory.begin() as session:
        from hub.dailyfile import targets

        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == A))
        fields = _sftp_fields(sftp)
        target = targets.add_target(
            session,
            ente,
            "sftp",
            **{k: fields[k] for k in ("host", "username", "password", "directory")},
            port=sftp.port,
            pinned_host_key=sftp.host_key,
        )
        target_id = target.id
    ops.login()  # the demo Ente's operator
    page = ops.app.get(f"/ops/enti/{A}/daily-files")
    assert f"127.0.0.1:{sftp.port}/incoming" in page.text and PASSWORD not in page.text
    assert page.html.find(id="add-target") is None
    _post(ops, f"/ops/enti/{A}/daily-files/targets", _sftp_fields(sftp), 403)
    _post(ops, f"/ops/enti/{A}/daily-files/targets/{target_id}/disable", {}, 403)
    _post(ops, f"/ops/enti/{A}/daily-files/targets/{target_id}/probe", {}, 303)
    assert len(list((sftp.root / "incoming").glob("payhub-probe-*.txt"))) == 1
    assert _targets(ops)[0].enabled is True
    assert [e.action for e in _audit(ops, "ops.daily_file_target")] == [
        "ops.daily_file_target_probe"
    ]


def test_an_email_target_is_tested_with_a_short_message(ops, smtp, ops_app, monkeypatch):
    from hub.config import from_registry

    config = from_registry(ops_app.app.registry)
    smtp_config = config.replace(**{k.removeprefix("payhub."): v for k, v in smtp.settings.items()})
    monkeypatch.setitem(ops_app.app.registry, "payhub.config", smtp_config)
    ops.login(DEMO_SUPPORT)
    recipients = "ragioneria@comune.example.it, tesoreria@comune.example.it"
    _post(
        ops, f"/ops/enti/{A}/daily-files/targets", {"kind": "email", "recipients": recipients}, 303
    )
    (target,) = _targets(ops)
    assert target.recipients == ["ragioneria@comune.example.it", "tesoreria@comune.example.it"]
    _post(ops, f"/ops/enti/{A}/daily-files/targets/{target.id}/probe", {}, 303)
    (message,) = smtp.wait_for(1)
    assert message["X-Payhub-Daily-File-Probe"].strip().startswith("payhub-probe-")
    assert "tesoreria@comune.example.it" in message["To"]


def test_an_ftps_target_is_tested_over_explicit_tls(ops, ftps, ops_app, local_targets, monkeypatch):
    from hub.config import from_registry
    from tests.servers import ftps as ftps_server

    config = from_registry(ops_app.app.registry)
    ca = config.replace(**{k.removeprefix("payhub."): v for k, v in ftps.settings.items()})
    monkeypatch.setitem(ops_app.app.registry, "payhub.config", ca)
    ops.login(DEMO_SUPPORT)
    fields = {"kind": "ftps", "host": "127.0.0.1", "port": str(ftps.port), "directory": "incoming",
              "username": ftps_server.USERNAME, "password": ftps_server.PASSWORD}  # fmt: skip
    ftps.target()  # makes the folder
    _post(ops, f"/ops/enti/{A}/daily-files/targets", fields, 303)
    (target,) = _targets(ops)
    _post(ops, f"/ops/enti/{A}/daily-files/targets/{target.id}/probe", {}, 303)
    (probe,) = (ftps.root / "incoming").glob("payhub-probe-*.txt")
    assert b"daily file" in probe.read_bytes()
