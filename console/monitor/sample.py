"""One probe result: the unit that flows from probes through the store to alerting and views."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SampleState = Literal["ok", "fail", "unknown"]
Key = tuple[str, str, str]
Arg = str | float | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reason:
    """What a sample's detail says, without the words: a code that each mail language renders
    (console/mail/templates/*.toml, [details]) and the values it fills in. Numbers stay numbers
    and protocol outcomes stay codes (an error kind, never an exception's English text), so a
    Dutch mail can say all of it in Dutch. The English `detail` beside it is for ops and logs.
    """

    code: str
    args: tuple[tuple[str, Arg], ...] = ()

    @classmethod
    def of(cls, code: str, **args: Arg | None) -> Reason:
        return cls(code, tuple((k, v) for k, v in args.items() if v is not None))


@dataclass(frozen=True, slots=True)
class Sample:
    """`subject` is the camera id for camera checks and empty for server-level checks; `label`
    is what a person calls the subject (the camera name); neither it nor `reason` is stored."""

    ts: datetime
    server: str
    check: str
    subject: str
    state: SampleState
    value: float | None = None
    detail: str = ""
    label: str = ""
    latency_ms: float | None = None
    reason: Reason | None = None
    """The detail as a code and values for the installer's language; not stored."""

    @property
    def key(self) -> Key:
        return (self.server, self.check, self.subject)


def latest_per_key(samples: Sequence[Sample]) -> list[Sample]:
    """One sample per (server, check, subject), the newest: a batch folds one state per key."""
    latest: dict[tuple[str, str, str], Sample] = {}
    for s in samples:
        old = latest.get(s.key)
        if old is None or s.ts >= old.ts:
            latest[s.key] = s
    return list(latest.values())
