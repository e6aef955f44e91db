"""The daily files' delivery targets over the REST API: added with the Ente's key (the password
and the private key never in an answer), listed, disabled; bad input is a 422 problem naming the
field; another Ente's key sees nothing; every change audited; the OpenAPI document describes
them; and a target added through the API receives a real delivery on the test SFTP server."""

from __future__ import annotations

import hashlib
import time

import pytest
import sqlalchemy as sa

from actors.middleware import current_settings, use_settings
from hub import actor_names
from hub.models import AuditEvent, DailyFile, DailyFileDelivery, DailyFileTarget, Ente
from tests.actors.conftest import stub_broker, stub_worker  # noqa: F401  (the fixtures)
from tests.hub.dailyfile.data import DAY, add_receipt, at
from tests.servers.sftp import PASSWORD, USERNAME

pytestmark = pytest.mark.pg


def _url(world, tail: str = "", ente: str | None = None) -> str:
    return f"/api/v1/enti/{ente or world.ente}/daily-file-targets{tail}"


def _sftp(sftp, **extra) -> dict:
    return {
        "kind": "sftp",
        "host": "127.0.0.1",
        "port": sftp.port,
        "username": USERNAME,
        "password": PASSWORD,
        "hostKey": sftp.host_key,
        "directory": sftp.target()["directory"],
        **extra,
    }


def _audit(world) -> list[AuditEvent]:
    with world.factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.action.startswith("api.daily_file_target"))
                .order_by(AuditEvent.id)
            )
        )


def test_a_target_is_added_listed_and_disabled_and_its_secret_never_returned(
    world, sftp, local_targets, capsys, caplog
):
    added = world.app.post_json(_url(world), _sftp(sftp), headers=world.auth(), status=201)
    body = added.json
    assert body["where"] == f"sftp://{USERNAME}@127.0.0.1:{sftp.port}/incoming"
    assert body["authentication"] == "password" and body["enabled"] is True
    assert body["hostKey"] == sftp.host_key and body["service"] is None
    assert PASSWORD not in added.text and "password" not in body
    listed = world.app.get(_url(world), headers=world.auth())
    assert [t["id"] for t in listed.json["items"]] == [body["id"]]
    assert PASSWORD not in listed.text
    others = world.app.get(_url(world, ente=world.other), headers=world.auth(world.other_key))
    assert others.json == {"items": []}
    # another Ente's key cannot disable it; the Ente's own can, once
    world.app.post(
        _url(world, f"/{body['id']}/disable", world.other),
        headers=world.auth(world.other_key),
        status=404,
    )
    disabled = world.app.post(_url(world, f"/{body['id']}/disable"), headers=world.auth())
    assert disabled.json["enabled"] is False
    again = world.app.post(_url(world, f"/{body['id']}/disable"), headers=world.auth(), status=409)
    assert again.content_type == "application/problem+json"
    events = _audit(world)
    assert [e.action for e in events] == [
        "api.daily_file_target_add",
        "api.daily_file_target_disable",
    ]
    assert all(e.actor.startswith("api_key:") and e.api_key_id for e in events)
    assert not any(PASSWORD in repr(e.detail) for e in events)
    logged = capsys.readouterr()  # the console, and the standard library's records
    assert PASSWORD not in logged.out + logged.err + caplog.text


def test_a_key_and_a_service_target(world, sftp, local_targets):
    body = world.app.post_json(
        _url(world),
        _sftp(sftp, password=None, privateKey=sftp.client_key, service="MENSA"),
        headers=world.auth(),
        status=201,
    ).json
    assert body["authentication"] == "key" and body["service"] == "MENSA"
    assert "PRIVATE" not in str(body)
    with world.factory() as session:
        (target,) = session.scalars(sa.select(DailyFileTarget))
        assert target.private_key == sftp.client_key and target.secret is None


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"host": "bad host!"}, "host", "a host name or an IPv4 address"),
        ({"host": "evil.example/../x"}, "host", "a host name or an IPv4 address"),
        ({"hostKey": None}, "hostKey", "pin the server's host key"),
        ({"hostKey": "ssh-ed25519 AAAAnope"}, "hostKey", "not an OpenSSH public key"),
        ({"password": None}, "password", "give a password or a key"),
        ({"privateKey": "-----BEGIN nonsense"}, "privateKey", "not an unencrypted private key"),
        ({"service": "NOPE"}, "service", "not a service of this Ente"),
        ({"directory": "../etc"}, "directory", "without .."),
        ({"kind": "email", "recipients": ["ok@comune.example.it", "not-an-address"]},
         "recipients", "'not-an-address' is not an e-mail address"),
        ({"kind": "email", "recipients": ["a@b.it>\r\nBcc: x@y.it"]}, "recipients",
         "not an e-mail"),
        ({"kind": "email"}, "recipients", "give at least one address"),
        ({"kind": "ftp"}, "kind", "kind must be one of"),
        ({"port": 0}, "port", "port must be at least 1"),
        ({"secret": "x"}, "secret", "is not a field of this request"),
    ],
)  # fmt: skip
def test_bad_input_is_a_422_problem_naming_the_field_without_the_secret(
    world, sftp, local_targets, change, field, words
):
    secret = "never-echoed-5521"
    body = {k: v for k, v in {**_sftp(sftp, password=secret), **change}.items() if v is not None}
    answer = world.app.post_json(_url(world), body, headers=world.auth(), status=422)
    assert answer.content_type == "application/problem+json"
    assert answer.json["field"] == field and words in answer.json["detail"]
    assert secret not in answer.text
    with world.factory() as session:
        assert session.scalar(sa.select(sa.func.count(DailyFileTarget.id))) == 0
    assert _audit(world) == []


def test_an_internal_address_is_refused_by_the_default_outgoing_policy(world, sftp):
    answer = world.app.post_json(_url(world), _sftp(sftp), headers=world.auth(), status=422)
    assert answer.json["field"] == "host" and "not a public address" in answer.json["detail"]


def test_malformed_bodies_and_other_methods(world):
    world.app.post(
        _url(world), "{", headers={**world.auth(), "Content-Type": "application/json"}, status=400
    )
    world.app.post(_url(world), "kind=sftp", headers=world.auth(), status=415)
    world.app.delete(_url(world), headers=world.auth(), status=405)
    world.app.get(_url(world), status=401)
    world.app.post(_url(world, "/999999/disable"), headers=world.auth(), status=404)


def test_the_openapi_document_describes_the_targets_with_write_only_secrets(world):
    import re

    from web.api import dailyfile_targets

    document = world.app.get("/api/v1/openapi.json").json
    for name, (pattern, methods) in dailyfile_targets.ROUTES.items():
        path = re.sub(r"\{(\w+):[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", lambda m: "{" + m.group(1) + "}",
                      pattern).replace("{fiscal_code}", "{fiscalCode}").replace(
                          "{target_id}", "{targetId}")  # fmt: skip
        assert {m.lower() for m in methods} == set(document["paths"][path]), name
    schemas = document["components"]["schemas"]
    given = schemas["DailyFileTargetInput"]["properties"]
    assert given["password"]["writeOnly"] is True and given["privateKey"]["writeOnly"] is True
    shown = schemas["DailyFileTargetOutput"]["properties"]
    assert "password" not in shown and "privateKey" not in shown and "hostKey" in shown
    post = document["paths"]["/enti/{fiscalCode}/daily-file-targets"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DailyFileTargetInput"
    )
    assert {"201", "422"} <= set(post["responses"])


@pytest.mark.usefixtures("local_targets", "stub_worker")
def test_a_target_added_through_the_api_receives_the_days_file_over_sftp(
    world, sftp, request, tmp_path
):
    broker = request.getfixturevalue("stub_broker")  # tests/actors/conftest.py's
    use_settings(
        broker,
        current_settings().replace(
            daily_file_dir=str(tmp_path / "files"), daily_file_timeout_seconds=20
        ),
    )
    with world.factory.begin() as session:
        ente = session.scalar(sa.select(Ente).where(Ente.fiscal_code == world.ente))
        add_receipt(session, ente, None, paid_at=at(10), cents=4200)
        ente_id = ente.id
    world.app.post_json(_url(world), _sftp(sftp), headers=world.auth(), status=201)

    broker.get_actor(actor_names.BUILD_DAILY_FILES).send(day=DAY.isoformat(), ente_id=ente_id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with world.factory() as session:
            if session.scalar(
                sa.select(DailyFileDelivery.status).where(DailyFileDelivery.status == "delivered")
            ):
                break
        time.sleep(0.1)
    with world.factory() as session:
        (row,) = session.scalars(sa.select(DailyFileDelivery))
        file = session.get(DailyFile, row.file_id)
        assert row.status == "delivered", row.last_error
        uploaded = (sftp.root / "incoming" / file.file_name).read_bytes()
    assert hashlib.sha256(uploaded).hexdigest() == file.sha256
    assert len(sftp.uploads) == 1  # the file, once
