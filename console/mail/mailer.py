"""SMTP delivery of rendered notifications with aiosmtplib.

The password is read from an environment variable or a file at send time (never from the config
text) and is scrubbed from every error message, because send errors are stored in the outbox and
shown in the console. The SMTP transaction is split so the outbox can record "the server has the
envelope, DATA is next" just before the one step whose outcome a crash can leave in doubt.
"""

from __future__ import annotations

import base64
import inspect
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Literal

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, model_validator

from console.mail.notify import Notification

log = logging.getLogger(__name__)

BeforeData = Callable[[], Awaitable[None] | None]


class MailError(Exception):
    """A failed send; `permanent` when retrying the same message cannot succeed (5xx)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmtpSettings(BaseModel):
    """The [smtp] table. Credentials come from `password_env` or `password_file`, never inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    sender: str = "Next Level Service <no-reply@visuatech.be>"
    ops_address: str | None = None
    ops_emails: list[str] = Field(default_factory=list)
    """Who receives the monitor's self-health alarms (default: ops_address)."""
    support: str = "support@visuatech.be"
    timeout: float = Field(30.0, gt=0, le=600)
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SmtpSettings:
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        if self.username and not (self.password_env or self.password_file):
            raise ValueError(f"username {self.username!r} needs password_env or password_file")
        if not self.username and (self.password_env or self.password_file):
            raise ValueError("password_env/password_file given without a username")
        if "@" not in parseaddr(self.sender)[1]:
            raise ValueError(f"sender {self.sender!r} is not an e-mail address")
        if self.ops_address is not None and "@" not in parseaddr(self.ops_address)[1]:
            raise ValueError(f"ops_address {self.ops_address!r} is not an e-mail address")
        for address in self.ops_emails:
            if "@" not in parseaddr(address)[1]:
                raise ValueError(f"ops_emails: {address!r} is not an e-mail address")
        return self

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    def password(self) -> str | None:
        """Read at send time so a rotated secret is picked up without a restart."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise MailError(f"SMTP password: environment variable {self.password_env} is unset")
            return value
        if self.password_file:
            try:
                return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise MailError(
                    f"SMTP password: cannot read {self.password_file}: {exc.strerror}"
                ) from None
        return None


class Mailer:
    """Sends one Notification per SMTP connection; the volume is a few mails per cycle."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def message(self, n: Notification) -> EmailMessage:
        """Multipart text + HTML, with a Message-ID derived from the idempotence key."""
        s = self.settings
        domain = s.sender_address.rpartition("@")[2]
        ops = parseaddr(s.ops_address or "")[1].lower()
        visible = [r for r in n.recipients if r.lower() != ops] or list(n.recipients)
        msg = EmailMessage()
        msg["From"] = s.sender
        msg["To"] = ", ".join(visible)
        msg["Subject"] = n.subject
        msg["Date"] = format_datetime(n.created)
        msg["Message-ID"] = f"<{n.key}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["X-NLS-Key"] = n.key
        msg.set_content(n.body_text)
        msg.add_alternative(n.body_html, subtype="html")
        return msg

    async def send(self, n: Notification, before_data: BeforeData | None = None) -> None:
        """Deliver `n` to all its recipients; `before_data` runs once the envelope is accepted.

        Raises MailError with the password scrubbed; `permanent` when the server rejects the
        message itself (5xx to DATA, every recipient refused with 5xx) or there is no recipient.
        """
        if not n.recipients:
            raise MailError(f"{n.key}: no recipients", permanent=True)
        password = self.settings.password()
        try:
            await self._transaction(n, password, before_data)
            return
        except MailError:
            raise
        except aiosmtplib.SMTPResponseException as exc:
            # Only a rejected message is final; a rejected login or sender is a configuration
            # fault that ops can fix, and giving up then would lose the alert.
            rejected = isinstance(exc, aiosmtplib.SMTPDataError) and 500 <= exc.code < 600
            error = MailError(f"{self._where()}: {exc.code} {exc.message}", permanent=rejected)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            detail = "; ".join(f"{e.recipient}: {e.code} {e.message}" for e in exc.recipients)
            error = MailError(
                f"{self._where()}: all recipients refused: {detail}",
                permanent=all(500 <= c < 600 for c in codes),
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as exc:
            error = MailError(f"{self._where()}: {str(exc) or type(exc).__name__}")
        # Raised outside the handler so the original exception, which may quote the
        # credentials, is not kept as __context__.
        raise MailError(_scrub(str(error), password), permanent=error.permanent)

    async def _transaction(
        self, n: Notification, password: str | None, before_data: BeforeData | None
    ) -> None:
        s = self.settings
        context = None
        if s.security != "none":
            context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=context,
            username=s.username,
            password=password,
            timeout=s.timeout,
        )
        data = self.message(n).as_bytes()
        await smtp.connect()
        try:
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
            await smtp.mail(s.sender_address)
            refused = []
            addresses = _addresses(n.recipients)
            for rcpt in addresses:
                try:
                    await smtp.rcpt(rcpt)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused.append(exc)
            if len(refused) == len(addresses):
                raise aiosmtplib.SMTPRecipientsRefused(refused)
            if refused:
                log.warning(
                    "mail %s: refused recipients %s",
                    n.key,
                    ", ".join(f"{e.recipient} ({e.code})" for e in refused),
                )
            if before_data is not None:
                result = before_data()
                if inspect.isawaitable(result):
                    await result
            await smtp.data(data)
        finally:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()

    def _where(self) -> str:
        return f"SMTP {self.settings.host}:{self.settings.port}"


def _addresses(recipients: tuple[str, ...]) -> list[str]:
    return [addr for _, addr in getaddresses(list(recipients)) if addr]


def _scrub(text: str, password: str | None) -> str:
    """Remove the password and the encodings AUTH PLAIN/LOGIN put on the wire."""
    if not password:
        return text
    forms = {password, base64.b64encode(password.encode()).decode()}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text
