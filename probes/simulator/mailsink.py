"""The simulated installers' mail server: an SMTP server on loopback that accepts every message.

`nls demo` points its [smtp] table here, so the alert and recovery mails of the scenario are
really sent (and shown as sent) instead of waiting forever for a server that does not exist.
It keeps the last `keep` messages in memory and never relays anything anywhere.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP


@dataclass(frozen=True, slots=True)
class SunkMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class MailSink:
    """`async with MailSink() as sink:` then send to `sink.host`:`sink.port` (plain SMTP)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, keep: int = 500) -> None:
        self.host = host
        self.port = port
        self.messages: deque[SunkMail] = deque(maxlen=keep)
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> MailSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="mailsink.invalid"), self.host, self.port
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def smtp_table(self) -> str:
        """The [smtp] table of a config that sends to this sink."""
        return (
            f'[smtp]\nhost = "{self.host}"\nport = {self.port}\nsecurity = "none"\n'
            'sender = "Next Level Service demo <no-reply@nls-demo.invalid>"\n'
        )

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(SunkMail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        self._arrived.set()
        return "250 2.0.0 OK: kept by the nls demo's mail sink"

    async def wait_for(self, count: int) -> list[SunkMail]:
        """Wait until `count` messages arrived (bounded by the caller's timeout)."""
        while len(self.messages) < count:
            self._arrived.clear()
            await self._arrived.wait()
        return list(self.messages)
