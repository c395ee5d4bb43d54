"""One probe result: the unit that flows from probes through the store to alerting and views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SampleState = Literal["ok", "fail", "unknown"]
Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Sample:
    """`subject` is the camera id for camera checks and empty for server-level checks; `label`
    is what a person calls the subject (the camera name) and is not stored with the sample."""

    ts: datetime
    server: str
    check: str
    subject: str
    state: SampleState
    value: float | None = None
    detail: str = ""
    label: str = ""
    latency_ms: float | None = None

    @property
    def key(self) -> Key:
        return (self.server, self.check, self.subject)
