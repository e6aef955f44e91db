"""hub.mail against a real SMTP server (aiosmtpd on 127.0.0.1, STARTTLS, login)."""

from __future__ import annotations

import pytest

from hub import mail, signing
from hub.config import Config
from hub.settings import SettingsError


def test_send_delivers_over_starttls_with_login_and_attachment(smtp) -> None:
    config = Config.from_settings(smtp.settings)
    message_id = mail.send(
        config,
        to=["referente@comune.example.it"],
        subject="Conferma attivazione",
        text="Gentile referente,\nconfermi.",
        attachments=[mail.Attachment("file.zip", b"PK\x03\x04data", "application/zip")],
    )
    (msg,) = smtp.wait_for(1)
    assert msg["Message-ID"] == message_id
    assert msg["Subject"] == "Conferma attivazione"
    assert "confermi." in msg.get_body(preferencelist=("plain",)).get_content()
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "file.zip"
    assert part.get_content() == b"PK\x03\x04data"
    assert smtp.envelopes[0][1] == ["referente@comune.example.it"]


def test_send_refuses_a_server_whose_certificate_we_do_not_trust(smtp) -> None:
    settings = {**smtp.settings}
    del settings["payhub.outgoing_ca_bundle"]
    with pytest.raises(mail.MailError):
        mail.send(Config.from_settings(settings), to=["a@example.it"], subject="s", text="t")
    assert smtp.messages == []


def test_a_temporary_refusal_is_a_mail_error_to_retry(smtp) -> None:
    smtp.fail_next(1)
    config = Config.from_settings(smtp.settings)
    with pytest.raises(mail.MailError, match="451"):
        mail.send(config, to=["a@example.it"], subject="s", text="t")
    mail.send(config, to=["a@example.it"], subject="s", text="t")
    assert len(smtp.wait_for(1)) == 1


def test_plaintext_smtp_only_towards_loopback() -> None:
    config = Config.from_settings(
        {"payhub.smtp_host": "smtp.example.it", "payhub.smtp_security": "none"}
    )
    with pytest.raises(SettingsError, match="loopback"):
        mail.send(config, to=["a@example.it"], subject="s", text="t")


def test_without_a_host_mail_is_disabled() -> None:
    with pytest.raises(mail.MailNotConfigured):
        mail.send(Config.from_settings({}), to=["a@example.it"], subject="s", text="t")


def test_header_injection_in_subject_is_neutralised(smtp) -> None:
    config = Config.from_settings(smtp.settings)
    mail.send(config, to=["a@example.it"], subject="hi\r\nBcc: x@evil.example", text="t")
    (msg,) = smtp.wait_for(1)
    assert msg["Bcc"] is None
    assert smtp.envelopes[0][1] == ["a@example.it"]


def test_signed_links_round_trip_and_refuse_tampering_other_purposes_and_age() -> None:
    config = Config.from_settings({"payhub.ops_secret": "x" * 40})
    token = signing.make_token(config, "confirm", {"request": 7})
    assert signing.read_token(config, "confirm", token) == {"request": 7}
    with pytest.raises(signing.BadLink):
        signing.read_token(config, "download", token)
    with pytest.raises(signing.BadLink):
        signing.read_token(config, "confirm", token[:-2] + "xx")
    with pytest.raises(signing.BadLink) as info:
        signing.read_token(config, "confirm", token, max_age=-1)
    assert info.value.expired
