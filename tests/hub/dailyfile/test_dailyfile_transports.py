"""The transports against real servers on 127.0.0.1: asyncssh's SFTP (password, key, host key
pinned), pyftpdlib's FTPS (explicit TLS, certificate checked), aiosmtpd (attachment, link)."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from pathlib import Path

import pytest

from hub import http
from hub.config import Config
from hub.dailyfile import transports
from hub.dailyfile.transports import DeliveryError, Parcel
from hub.models import DailyFileTarget

LOCAL = http.UrlPolicy(False, (ipaddress.ip_network("127.0.0.0/8"),))


@pytest.fixture
def parcel(tmp_path: Path) -> Parcel:
    content = b"PK\x03\x04 a zip, as far as the transports care" * 1000
    path = tmp_path / "file.zip"
    path.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    return Parcel(
        path=path,
        name=f"80000000001_MENSA_20261206_v1_{digest[:16]}.zip",
        size=len(content),
        sha256=digest,
        file_id=7,
        ente_fiscal_code="80000000001",
        ente_name="Comune di Prova",
        service_code="MENSA",
        business_date="2026-12-06",
        version=1,
    )


def test_sftp_with_password_uploads_the_file_under_its_hashed_name(sftp, parcel):
    target = DailyFileTarget(**sftp.target(password=True))
    done = transports.sftp_put(target, parcel, timeout=20, policy=LOCAL)
    assert done == "uploaded"
    assert (sftp.root / "incoming" / parcel.name).read_bytes() == parcel.path.read_bytes()
    assert not list((sftp.root / "incoming").glob(".*.part"))


def test_sftp_with_a_key_and_a_second_delivery_does_not_upload_again(sftp, parcel):
    target = DailyFileTarget(**sftp.target(password=False))
    assert transports.sftp_put(target, parcel, timeout=20, policy=LOCAL) == "uploaded"
    assert transports.sftp_put(target, parcel, timeout=20, policy=LOCAL) == "already there"
    assert len(sftp.uploads) == 1


def test_sftp_refuses_a_server_whose_host_key_is_not_the_pinned_one(sftp, parcel):
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    target = DailyFileTarget(**{**sftp.target(), "host_key": other})
    with pytest.raises(DeliveryError, match="host key"):
        transports.sftp_put(target, parcel, timeout=20, policy=LOCAL)
    assert sftp.uploads == []


def test_sftp_wrong_password_is_a_clear_error_without_the_password(sftp, parcel):
    target = DailyFileTarget(**{**sftp.target(), "secret": "not-the-password"})
    with pytest.raises(DeliveryError) as info:
        transports.sftp_put(target, parcel, timeout=20, policy=LOCAL)
    assert "login refused" in str(info.value)
    assert "not-the-password" not in str(info.value)


def test_a_loopback_target_is_refused_by_the_default_outgoing_policy(sftp, parcel):
    target = DailyFileTarget(**sftp.target())
    with pytest.raises(DeliveryError, match="outgoing policy"):
        transports.sftp_put(target, parcel, timeout=20, policy=http.UrlPolicy())
    assert sftp.connections == 0


def test_ftps_uploads_over_explicit_tls_and_skips_a_file_already_there(ftps, parcel):
    config = Config.from_settings(ftps.settings)
    target = DailyFileTarget(**ftps.target())
    assert transports.ftps_put(target, parcel, config, timeout=20, policy=LOCAL) == "uploaded"
    assert (ftps.root / "incoming" / parcel.name).read_bytes() == parcel.path.read_bytes()
    assert transports.ftps_put(target, parcel, config, timeout=20, policy=LOCAL) == "already there"
    assert [name for name, _ in ftps.uploads] == [f".{parcel.name}.part"]


def test_ftps_refuses_a_certificate_from_an_unknown_authority(ftps, parcel):
    config = Config.from_settings({})  # the public CAs only: the test CA is unknown
    target = DailyFileTarget(**ftps.target())
    with pytest.raises(DeliveryError, match="FTPS"):
        transports.ftps_put(target, parcel, config, timeout=20, policy=LOCAL)
    assert ftps.uploads == []


def test_email_attaches_a_small_file(smtp, parcel):
    config = Config.from_settings(smtp.settings)
    target = DailyFileTarget(kind="email", recipients=["ragioneria@comune.example.it"])
    assert transports.email(target, parcel, config) == "attached"
    (msg,) = smtp.wait_for(1)
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == parcel.name
    assert part.get_content() == parcel.path.read_bytes()
    assert msg["X-Payhub-File-SHA256"].strip() == parcel.sha256


def test_email_of_a_test_file_says_test_in_its_subject_and_first_line(smtp, parcel):
    config = Config.from_settings(smtp.settings)
    target = DailyFileTarget(kind="email", recipients=["ragioneria@comune.example.it"])
    trial = dataclasses.replace(parcel, name=parcel.name.replace("_v1_", "_TEST_v1_"), test=True)
    transports.email(target, parcel, config)
    transports.email(target, trial, config)
    real, test = smtp.wait_for(2)
    assert real["Subject"].strip().startswith("Flusso giornaliero / Daily file 80000000001 MENSA")
    assert "TEST" not in real.get_body().get_content()
    assert test["Subject"].strip() == f"[TEST] {real['Subject'].strip()}"
    first = test.get_body().get_content().splitlines()[0]
    assert first.startswith("FILE DI PROVA") and "TEST FILE" in first
    (part,) = list(test.iter_attachments())
    assert part.get_filename() == trial.name


def test_email_sends_a_signed_link_when_the_file_is_too_large(smtp, parcel):
    config = Config.from_settings(
        {
            **smtp.settings,
            "payhub.daily_file_attach_max_bytes": 100,
            "payhub.public_url": "https://payhub.example.it",
            "payhub.ops_secret": "x" * 40,
        }
    )
    target = DailyFileTarget(kind="email", recipients=["ragioneria@comune.example.it"])
    assert transports.email(target, parcel, config) == "linked"
    (msg,) = smtp.wait_for(1)
    assert not list(msg.iter_attachments())
    body = msg.get_body().get_content()
    link = next(line for line in body.splitlines() if line.startswith("https://"))
    assert link.startswith("https://payhub.example.it/ops/daily-files/link/")
    assert transports.read_link(config, link.rsplit("/", 1)[1]) == parcel.file_id
