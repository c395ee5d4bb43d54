"""The self-health mail to ops: the monitor itself is failing (or recovered), in English.

Sent straight over SMTP, not through the outbox, because the failing part may be the store the
outbox lives in; it goes to ops only, never to an installer.
"""

from __future__ import annotations

import html
import socket
from collections.abc import Sequence
from datetime import datetime

from console.mail.notify import Notification
from console.monitor.health import HealthStatus


def health_mail(
    status: HealthStatus, *, raised: bool, at: datetime, recipients: Sequence[str]
) -> Notification:
    host = socket.gethostname()
    since = status.since.isoformat(timespec="seconds") if status.since else at.isoformat()
    if raised:
        subject = f"[nls] monitoring impaired on {host}: {status.cause}"[:200]
        text = (
            f"nls on {host} cannot monitor part of the fleet since {since} (UTC).\n\n"
            f"Cause: {status.cause}\n"
            f"Probes affected so far: {status.affected}\n\n"
            "Their samples are stored as unknown: they count neither toward installer alerts "
            "nor toward downtime, and no installer was mailed because of them. This alarm is "
            "sent once; another mail follows when monitoring is whole again.\n"
        )
    else:
        subject = f"[nls] monitoring restored on {host}"
        text = (
            f"nls on {host} monitors the whole fleet again ({at.isoformat(timespec='seconds')} "
            f"UTC).\n\nThe alarm raised at {since} was: {status.cause}\n"
            f"Probes made unknown meanwhile: {status.affected}\n"
        )
    body_html = "<pre>" + html.escape(text) + "</pre>"
    key = f"health-{'on' if raised else 'off'}-{since}"
    return Notification(
        key=key,
        kind="alert" if raised else "recovery",
        server="",
        installer="",
        recipients=tuple(recipients),
        subject=subject,
        body_text=text,
        body_html=body_html,
        created=at,
    )
