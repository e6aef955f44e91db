"""The one typed settings object (hub/config.py): validated at start-up, built the same way by
web, worker and scheduler, the only reader of ``payhub.*`` settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.config import Config, SettingsError, load

ROOT = Path(__file__).resolve().parents[2]


def test_an_unknown_key_stops_the_start_naming_it():
    with pytest.raises(SettingsError, match=r"payhub\.soap_max_body_byte is not a setting") as e:
        load({"payhub.soap_max_body_byte": "1000"}, environ={})
    assert "did you mean payhub.soap_max_body_bytes" in str(e.value)


def test_a_bad_value_stops_the_start_naming_the_key():
    with pytest.raises(SettingsError, match=r"payhub\.soap_max_body_bytes = 'lots'"):
        load({"payhub.soap_max_body_bytes": "lots"}, environ={})
    with pytest.raises(SettingsError, match=r"payhub\.broker = 'rabbitmq'"):
        Config.from_settings({"payhub.broker": "rabbitmq"})
    with pytest.raises(SettingsError, match=r"payhub\.embedded_worker = 'maybe'"):
        Config.from_settings({"payhub.embedded_worker": "maybe"})
    with pytest.raises(SettingsError, match=r"payhub\.sla_timezone"):
        Config.from_settings({"payhub.sla_timezone": "Europe/Roma"})


def test_an_unknown_key_from_the_environment_is_refused_too():
    with pytest.raises(SettingsError, match=r"payhub\.soap_max_bodybytes is not a setting"):
        load({}, environ={"PAYHUB_SOAP_MAX_BODYBYTES": "1"})


def test_values_are_typed_and_the_environment_wins():
    config = load(
        {"payhub.soap_max_body_bytes": "1000", "payhub.fdr_xsd": "a.xsd b.xsd"},
        environ={"PAYHUB_SOAP_MAX_BODY_BYTES": "2048", "PAYHUB_SOAP_OPEN_STATION": "yes"},
    )
    assert config.soap_max_body_bytes == 2048
    assert config.soap_open_station is True
    assert config.fdr_xsd == ("a.xsd", "b.xsd")
    assert config.embedded_worker is True  # the documented default


def test_other_keys_pass_through_to_pyramid():
    config = load(
        {
            "sqlalchemy.url": "postgres://u@db/payhub",
            "pyramid.reload_templates": "true",
            "retry.attempts": "5",
            "nodesim.retry_backoff_seconds": "5",
        },
        environ={},
    )
    settings = config.pyramid_settings()
    assert settings["pyramid.reload_templates"] == "true"
    assert settings["retry.attempts"] == "5" and settings["nodesim.retry_backoff_seconds"] == "5"
    assert config.sqlalchemy_url == settings["sqlalchemy.url"] == "postgresql+psycopg://u@db/payhub"


def test_an_empty_value_means_the_default():
    config = Config.from_settings({"payhub.worker_metrics_port": "", "payhub.soap_public_url": ""})
    assert config.worker_metrics_port is None and config.soap_public_url is None


def test_every_key_has_a_type_a_default_and_a_description():
    for name, field in Config.model_fields.items():
        if name != "source":
            assert field.description, name


def test_web_worker_and_scheduler_build_the_same_settings(tmp_path, monkeypatch):
    from payhub import cli, worker_boot
    from payhub.app import configure

    ini = tmp_path / "payhub.ini"
    ini.write_text(
        "[app:main]\nuse = egg:payhub\n"
        f"sqlalchemy.url = sqlite:///{tmp_path / 'db.sqlite'}\n"
        "payhub.embedded_worker = false\npayhub.db_pool_size = 7\n"
        "payhub.soap_open_station = true\npayhub.sla_recorder = false\n"
    )
    monkeypatch.setenv("PAYHUB_OUTBOX_MAX_ATTEMPTS", "4")
    monkeypatch.setattr("hub.logging.configure_logging", lambda *_args: None)
    from plaster import get_settings

    web = configure(dict(get_settings(str(ini), "app:main"))).registry["payhub.config"]
    worker = worker_boot.read_config(str(ini))
    scheduler = cli.read_settings(str(ini))
    assert web == worker == scheduler
    assert scheduler.outbox_max_attempts == 4 and scheduler.db_pool_size == 7


def test_no_payhub_setting_is_read_outside_the_settings_module():
    """A literal that is a setting's name (``"payhub.x"``, ``f"payhub.x_{...}"``) is a read of
    it; only hub/config.py (and its loader hub/settings.py) may hold one."""
    allowed = {ROOT / "hub" / "config.py", ROOT / "hub" / "settings.py"}
    keys = set(Config.keys())
    found = []
    for package in ("hub", "soap", "web", "actors", "sla_monitor", "payhub", "workflows"):
        for path in (ROOT / package).rglob("*.py"):
            if path in allowed:
                continue
            for lineno, line in enumerate(path.read_text().splitlines(), 1):
                for key in re.findall(r"[\"'](payhub\.[a-z_0-9]+)(?:[\"']|\{)", line):
                    if key in keys or key.endswith("_"):
                        found.append(f"{path.relative_to(ROOT)}:{lineno}: {key}")
    assert not found, "read through hub.config.Config instead:\n" + "\n".join(found)
