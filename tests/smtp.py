"""A real aiosmtpd server on 127.0.0.1 inside the test's event loop.

`SmtpServer` binds a free port, can be stopped and restarted on the same port (an SMTP outage),
offers STARTTLS or implicit TLS with a throwaway certificate, and can demand a login. Tests wait
for mail with `Inbox.wait_for(n)`, never with sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps every accepted message; `reply` overrides the DATA answer."""

    messages: list[Received] = field(default_factory=list)
    reply: str | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.reply is not None:
            return self.reply
        raw = bytes(envelope.original_content or envelope.content)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), raw, message))
        self._changed.set()
        return "250 2.0.0 OK queued"

    async def wait_for(self, count: int) -> list[Received]:
        """Wait until `count` messages arrived; a hung test fails after 10 s instead of blocking."""
        async with asyncio.timeout(10.0):
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.messages


class SmtpServer:
    """Start with `async with SmtpServer(...) as server`; `stop()`/`start()` simulate an outage."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        login: tuple[str, str] | None = None,
        echo_credentials: bool = False,
    ) -> None:
        self.inbox = Inbox()
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.login = login
        self.echo_credentials = echo_credentials
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> SmtpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            "127.0.0.1",
            self.port,
            ssl=self.tls if self.implicit_tls else None,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _protocol(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return self._smtp()

    def _smtp(self) -> SMTP:
        return SMTP(
            self.inbox,
            hostname="smtp.test",
            tls_context=None if self.implicit_tls else self.tls,
            authenticator=self._authenticate if self.login else None,
            auth_required=self.login is not None,
            auth_require_tls=False,
        )

    def _authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.login is not None
        user, password = self.login
        if (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        ):
            return AuthResult(success=True)
        if self.echo_credentials and isinstance(data, LoginPassword):
            # A careless server quoting what it got, in clear and in base64.
            given = data.password.decode()
            encoded = base64.b64encode(data.password).decode()
            message = f"535 5.7.8 bad credentials {given} ({encoded})"
            return AuthResult(success=False, handled=False, message=message)
        return AuthResult(success=False, handled=False)


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the CA file a client needs to trust it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "smtp-cert.pem"
    key_file = directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
