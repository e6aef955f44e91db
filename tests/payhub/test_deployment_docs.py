"""Every setting the code reads is in the deployment page's table; production.ini and the
deployment files say what a deployment needs."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from hub.config import Config

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "soap", "web", "actors", "sla_monitor", "payhub")
# names that are not settings: prefixes built at run time, loggers, module paths, i18n domains
NOT_SETTINGS = {
    "payhub.node_",
    "payhub.cli",
    "payhub.worker_boot",
    "payhub.pot",
    "payhub.css",
    "payhub.request",
    "payhub.session",
    "payhub.sqlite",
    "payhub.ops",
    "payhub.app",
    "payhub.config",  # the registry key of the settings object
}


def settings_read_by_the_code() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found |= set(re.findall(r"[\"'](payhub\.[a-z_0-9]+)[\"']", path.read_text()))
    return found - NOT_SETTINGS


def test_every_setting_is_in_the_deployment_table():
    table = (ROOT / "docs" / "deployment.md").read_text()
    keys = settings_read_by_the_code() | set(Config.keys())
    missing = sorted(k for k in keys if f"`{k}`" not in table)
    assert not missing, f"add to docs/deployment.md's settings table: {missing}"


def test_the_deployment_table_names_only_settings():
    table = (ROOT / "docs" / "deployment.md").read_text().split("| setting |", 1)[-1]
    named = set(re.findall(r"`(payhub\.[a-z_0-9]+)`", table))
    unknown = sorted(named - set(Config.keys()))
    assert not unknown, f"settings in docs/deployment.md that hub/config.py lacks: {unknown}"


def test_production_ini_sets_what_a_deployment_needs():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "production.ini")
    app = parser["app:main"]
    for key in (
        "payhub.session_secret",
        "payhub.ops_secret",
        "payhub.bulk_load_dir",
        "payhub.notice_batch_dir",
        "payhub.metrics_allowed_networks",
        "payhub.soap_allowed_networks",
        "payhub.soap_auth_header",
    ):
        assert key in app, key
    assert app["payhub.require_secrets"] == "true" and app["payhub.broker"] == "redis"
    assert not parser.has_section("server:main")  # production is served by `payhub web`


def test_the_web_process_is_payhub_web_everywhere():
    unit = (ROOT / "deploy" / "systemd" / "payhub-web.service").read_text()
    procfile = (ROOT / "Procfile").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    assert exec_start.endswith(" web") and "/payhub -c " in exec_start
    assert web.endswith(" web") and web.startswith("web: payhub -c ")


def test_every_long_running_unit_restarts_always():
    units = sorted((ROOT / "deploy" / "systemd").glob("payhub-*.service"))
    long_running = [u for u in units if "Type=oneshot" not in u.read_text()]
    assert {u.name for u in long_running} == {
        "payhub-web.service",
        "payhub-worker@.service",
        "payhub-scheduler.service",
    }
    for unit in long_running:
        assert "Restart=always" in unit.read_text(), unit.name
    procfile = (ROOT / "Procfile").read_text()
    assert all(f"\n{name}:" in procfile for name in ("web", "worker", "scheduler"))
