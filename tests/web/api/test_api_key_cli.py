"""`payhub api-key create/list/revoke`: a key works until it is revoked; both are audited."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner
from webtest import TestApp

from hub.db import make_session_factory
from hub.models import AuditEvent
from payhub.app import configure
from payhub.cli import main
from tests.factories import make_ente


def test_created_key_works_until_revoked(sqlite_engine, tmp_path):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    ini = tmp_path / "t.ini"
    ini.write_text(f"[app:main]\nuse = call:payhub.app:main\nsqlalchemy.url = {url}\n")
    with make_session_factory(sqlite_engine).begin() as session:
        make_ente(session, "77777777777")
    runner = CliRunner()
    created = runner.invoke(
        main, ["-c", str(ini), "api-key", "create", "--name", "app", "--ente", "77777777777"]
    )
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    app = TestApp(
        configure(
            {"sqlalchemy.url": url, "payhub.broker": "stub", "payhub.embedded_worker": "false"}
        ).make_wsgi_app()
    )
    headers = {"Authorization": f"Bearer {secret}"}
    assert app.get("/api/v1/enti/77777777777/debt-positions", headers=headers).json["items"] == []
    listed = runner.invoke(main, ["-c", str(ini), "api-key", "list"])
    assert secret[:11] in listed.output and "active" in listed.output
    revoked = runner.invoke(main, ["-c", str(ini), "api-key", "revoke", secret[:11]])
    assert revoked.exit_code == 0, revoked.output
    app.get("/api/v1/enti/77777777777/debt-positions", headers=headers, status=401)
    unknown = runner.invoke(
        main, ["-c", str(ini), "api-key", "create", "--name", "x", "--ente", "12345678901"]
    )
    assert unknown.exit_code != 0 and "12345678901" in unknown.output
    with make_session_factory(sqlite_engine)() as session:
        actions = session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["api_key.create", "api_key.revoke"]
