"""Mail delivery to a real aiosmtpd server on loopback: parts, recipients, TLS, credentials."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from console.mail.mailer import Mailer, MailError, SmtpSettings
from console.mail.notify import Notification
from tests.smtp import SmtpServer, self_signed

PASSWORD = "s3cr3t-Pa55/wörd"
ASCII_PASSWORD = "s3cr3t-Pa55/word+x"  # a server can only quote ASCII back


def notification(key: str = "nls-alert-0123456789abcdef", **kw) -> Notification:
    base = dict(
        key=key,
        kind="alert",
        server="s1",
        installer="in1",
        recipients=("alerts@installer.example", "ops@visuatech.example"),
        subject="[NLS] Panne chez Boulangerie Dupont - CREST-042 : Caméra hors ligne: Entrée",
        body_text="Bonjour,\nCaméra hors ligne: Entrée\n",
        body_html="<p>Bonjour,</p><p>Caméra hors ligne: Entrée</p>",
        created=datetime(2026, 3, 2, 8, 45, tzinfo=UTC),
    )
    return Notification(**(base | kw))


def settings(server: SmtpServer, **kw) -> SmtpSettings:
    base = dict(
        host="127.0.0.1",
        port=server.port,
        sender="Next Level Service <no-reply@visuatech.example>",
        ops_address="ops@visuatech.example",
        timeout=5,
    )
    return SmtpSettings(**(base | kw))


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


async def test_mail_has_text_and_html_parts_recipients_and_no_reply_sender(
    smtp: SmtpServer,
) -> None:
    await Mailer(settings(smtp)).send(notification())
    (got,) = await smtp.inbox.wait_for(1)
    assert got.mail_from == "no-reply@visuatech.example"
    assert sorted(got.rcpt_tos) == ["alerts@installer.example", "ops@visuatech.example"]
    msg = got.message
    assert msg["From"] == "Next Level Service <no-reply@visuatech.example>"
    assert msg["To"] == "alerts@installer.example"
    assert msg["Reply-To"] is None
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == "<nls-alert-0123456789abcdef@visuatech.example>"
    assert msg["Subject"] == notification().subject
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and "Caméra hors ligne: Entrée" in text.get_content()
    assert html is not None and "<p>Caméra hors ligne: Entrée</p>" in html.get_content()


async def test_ops_only_recipient_is_shown_in_to(smtp: SmtpServer) -> None:
    await Mailer(settings(smtp)).send(notification(recipients=("ops@visuatech.example",)))
    (got,) = await smtp.inbox.wait_for(1)
    assert got.message["To"] == "ops@visuatech.example"


async def test_no_recipients_is_a_permanent_error(smtp: SmtpServer) -> None:
    with pytest.raises(MailError) as info:
        await Mailer(settings(smtp)).send(notification(recipients=()))
    assert info.value.permanent


async def test_rejected_message_is_permanent_temporary_rejection_is_not(smtp: SmtpServer) -> None:
    mailer = Mailer(settings(smtp))
    smtp.inbox.reply = "554 5.7.1 content rejected"
    with pytest.raises(MailError, match="554") as info:
        await mailer.send(notification())
    assert info.value.permanent
    smtp.inbox.reply = "451 4.3.0 try again later"
    with pytest.raises(MailError, match="451") as info:
        await mailer.send(notification())
    assert not info.value.permanent


async def test_stopped_server_is_a_temporary_error(smtp: SmtpServer) -> None:
    await smtp.stop()
    with pytest.raises(MailError, match=f"127.0.0.1:{smtp.port}") as info:
        await Mailer(settings(smtp)).send(notification())
    assert not info.value.permanent


async def test_login_with_password_from_env_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NLS_TEST_SMTP_PASSWORD", PASSWORD)
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    async with SmtpServer(login=("nls", PASSWORD)) as server:
        await Mailer(settings(server, username="nls", password_env="NLS_TEST_SMTP_PASSWORD")).send(
            notification()
        )
        await Mailer(settings(server, username="nls", password_file=secret)).send(notification())
        assert len(await server.inbox.wait_for(2)) == 2


async def test_password_never_in_errors_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("NLS_TEST_SMTP_PASSWORD", ASCII_PASSWORD)
    async with SmtpServer(login=("nls", "the-right-one"), echo_credentials=True) as server:
        mailer = Mailer(settings(server, username="nls", password_env="NLS_TEST_SMTP_PASSWORD"))
        with pytest.raises(MailError) as info:
            await mailer.send(notification())
    text = f"{info.value} {info.value!r} {info.value.__cause__!r} {info.value.__context__!r}"
    assert "535" in text and "***" in text
    assert ASCII_PASSWORD not in text
    ours = [r for r in caplog.records if r.name.startswith(("console", "aiosmtplib"))]
    assert all(ASCII_PASSWORD not in r.getMessage() for r in ours)
    assert not info.value.permanent
    assert "NLS_TEST_SMTP_PASSWORD" not in repr(settings(server))


async def test_missing_password_env_names_the_variable_only(smtp: SmtpServer) -> None:
    mailer = Mailer(settings(smtp, username="nls", password_env="NLS_TEST_UNSET_VARIABLE"))
    with pytest.raises(MailError, match="NLS_TEST_UNSET_VARIABLE is unset"):
        await mailer.send(notification())


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_starttls_and_implicit_tls(tmp_path: Path, security: str) -> None:
    context, ca_file = self_signed(tmp_path)
    async with SmtpServer(tls=context, implicit_tls=security == "tls") as server:
        await Mailer(settings(server, security=security, ca_file=ca_file)).send(notification())
        (got,) = await server.inbox.wait_for(1)
        assert got.message["Message-ID"] == "<nls-alert-0123456789abcdef@visuatech.example>"
        with pytest.raises(MailError, match="certificate verify failed"):
            await Mailer(settings(server, security=security)).send(notification())


async def test_starttls_required_but_not_offered_fails(smtp: SmtpServer) -> None:
    with pytest.raises(MailError, match="STARTTLS"):
        await Mailer(settings(smtp, security="starttls")).send(notification())


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(password="inline"), "Extra inputs are not permitted"),
        (dict(username="nls"), "needs password_env or password_file"),
        (dict(password_env="X"), "without a username"),
        (dict(username="n", password_env="X", password_file="/f"), "not both"),
        (dict(sender="no-reply"), "is not an e-mail address"),
        (dict(security="ssl"), "Input should be 'none', 'starttls' or 'tls'"),
    ],
)
def test_settings_validation(kw: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SmtpSettings(**kw)
