"""Every text an installer receives is in their language, the details of each check included.

The checks run over probe results that reach every branch of console/monitor/checks.py (every
failure, every unknown, every healthy reading); each resulting Reason is mailed as an alert, a
recovery and a still-failing item, in nl, fr and en. A mail may contain no word that only the
other languages' templates use: that catches an English detail in a Dutch mail (the issue-10
find: "Huidige waarde: 0 - Eocortex service down: ... (the host itself answers)"), a raw
protocol error, and a missing translation alike.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from types import SimpleNamespace
from typing import Any

import pytest

from console.mail.notify import NotifySettings, ServerFacts, build_notifications, templates
from console.monitor.alerting import Alert, Recovery, StillFailing
from console.monitor.checks import Limits, ServerProbe, evaluate
from console.monitor.sample import Sample
from probes.eocortex import CameraStatus, EocortexResult

LANGUAGES = ("nl", "fr", "en")
T0 = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)
WORD = re.compile(r"[^\W\d_]{3,}")


def cam(n: int, *, online: bool = True, recording: bool = True, archiving: bool = True) -> Any:
    return CameraStatus(
        id=f"id-{n}",
        name=f"Cam-{n}",
        online=online,
        stream_state="Active" if online else "NoConnection",
        recording=recording,
        archiving_enabled=archiving,
        allowed_realtime=False,
        allowed_archive=False,
    )


def eocortex(ok: bool = True, error_kind: str | None = None, **kw: Any) -> EocortexResult:
    if not ok:
        # The probe's own words, as a real failure carries them: they must never be mailed.
        kw.setdefault("error", f"{error_kind}: the host closed the connection unexpectedly")
    return EocortexResult(ok=ok, error_kind=error_kind, latency_ms=41.6, version="24.1", **kw)  # type: ignore[arg-type]


def host(cpu: float = 30.0, floor: float = 25.0, rate: float = 5e6) -> Any:
    metrics = SimpleNamespace(
        cpu_busy_pct=cpu, cpu_min_pct=floor, window_s=5.0, disk_write_bps=rate
    )
    return SimpleNamespace(ok=True, metrics=metrics, error=None, error_kind=None)


def host_down(kind: str) -> Any:
    return SimpleNamespace(ok=False, metrics=None, error=f"{kind}: nobody home", error_kind=kind)


KNOWN = [("id-1", "Cam-1"), ("id-2", "Cam-2")]
PROBES = {
    "everything fails but the server": ServerProbe(
        "s1",
        T0,
        eocortex(
            cameras=[
                cam(1, online=False),
                cam(2, recording=False),
                cam(3),
                cam(4, recording=False, archiving=False),
            ],
            rights_findings=["UserGroup grants CanViewArchive"],
            rights=[("group", "CanViewArchive"), ("live", "Cam-3"), ("archive", "Cam-4")],
        ),
        host=host(cpu=99.4, floor=98.6, rate=120.0),
    ),
    "healthy": ServerProbe("s1", T0, eocortex(cameras=[cam(1)]), host=host()),
    "service down, host answers": ServerProbe(
        "s1", T0, eocortex(False, "http"), host=host(rate=10.0)
    ),
    "login refused": ServerProbe("s1", T0, eocortex(False, "auth"), host=host()),
    "RDP accepts, says nothing": ServerProbe(
        "s1",
        T0,
        eocortex(False, "timeout"),
        host=host_down("refused"),
        rdp=SimpleNamespace(state="hung"),
    ),
    "SSH accepts, never completes": ServerProbe(
        "s1", T0, eocortex(False, "refused"), host=host_down("timeout")
    ),
    "no host probes": ServerProbe("s1", T0, eocortex(False, "garbage")),
    "nothing answers": ServerProbe(
        "s1",
        T0,
        eocortex(False, "refused"),
        host=host_down("hostkey"),
        rdp=SimpleNamespace(state="refused"),
    ),
}


def every_sample() -> list[Sample]:
    return [s for probe in PROBES.values() for s in evaluate(probe, KNOWN, Limits())]


def catalogue_words(language: str) -> set[str]:
    """Every word of a language's templates (comments excluded)."""
    text = resources.files("console.mail").joinpath("templates", f"{language}.toml").read_text()
    words: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, str):
            words.update(w.casefold() for w in WORD.findall(value))

    walk(tomllib.loads(text))
    return words


FACTS = dict(
    server="s1",
    server_name="CREST-042",
    customer="cu1",
    customer_name="Zonnedal",
    installer="in1",
    installer_name="Kaspar",
    emails=("alerts@kaspar.example",),
)


def mails_for(sample: Sample, language: str) -> list[str]:
    """Alert, recovery and still-failing mails that carry this sample's reason."""
    facts = ServerFacts(**FACTS, language=language)  # type: ignore[arg-type]
    later = T0 + timedelta(hours=1)
    alert = Alert(
        sample.server,
        sample.check,
        sample.subject,
        sample.label,
        3,
        T0,
        T0 - timedelta(minutes=30),
        3,
        sample.value,
        sample.detail,
        reason=sample.reason,
    )
    still = StillFailing(
        sample.check, sample.subject, sample.label, 4, T0, sample.detail, reason=sample.reason
    )
    recovery = Recovery(
        sample.server,
        "server_online",
        "",
        "",
        4,
        later,
        T0,
        T0,
        3,
        1.0,
        "",
        still_failing=(still,),
        reason=sample.reason,
    )
    events = [alert, replace(recovery, check=sample.check, subject=sample.subject), recovery]
    texts = []
    for event in events:
        for mail in build_notifications([event], {"s1": facts}, NotifySettings()):
            texts += [mail.subject, mail.body_text, mail.body_html]
    return texts


def test_every_reason_the_checks_give_has_words_in_every_language() -> None:
    given = {s.reason.code for s in every_sample() if s.reason is not None}
    assert all(s.reason is not None for s in every_sample()), "a sample without a reason"
    for language in LANGUAGES:
        details = templates(language)["details"]
        listed = {code for code in details if not code.startswith("rights_granted_")}
        assert given == listed, (language, given ^ listed)


# Not language: the product's and the facts' names, and time zone abbreviations ("CET" is also
# a French word).
NAMES = {
    w.casefold()
    for text in (NotifySettings().product, NotifySettings().support, *map(str, FACTS.values()))
    for w in WORD.findall(text)
} | {"cet", "cest", "utc"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_mails_contain_no_word_of_another_language(language: str) -> None:
    own = catalogue_words(language)
    others = set().union(*(catalogue_words(x) for x in LANGUAGES if x != language))
    foreign = others - own - NAMES
    for sample in every_sample():
        for text in mails_for(sample, language):
            assert "$" not in text, text
            leaked = {w.casefold() for w in WORD.findall(text)} & foreign
            assert not leaked, (language, sample.reason, sorted(leaked), text)


def test_details_say_what_was_seen_in_the_installers_words() -> None:
    samples = {s.reason.code: s for s in every_sample() if s.reason is not None}
    nl = mails_for(samples["eocortex_down"], "nl")[1]
    assert "Eocortex-dienst werkt niet (HTTP-fout); de server zelf antwoordt wel" in nl
    assert "the host itself answers" not in nl
    fr = mails_for(samples["cpu_high"], "fr")[1]
    assert "processeur à 99,4 % pendant 5 s (chaque mesure au-dessus de 98 %)" in fr
    en = mails_for(samples["rights_granted"], "en")[1]
    assert "user group rights CanViewArchive; live view of Cam-3; recordings of Cam-4" in en
    nl_disk = mails_for(samples["disk_idle"], "nl")[1]
    assert "geen schijfactiviteit: 120 B/s geschreven" in nl_disk
    offline = mails_for(samples["camera_offline"], "fr")[1]
    assert "Cam-1 : caméra hors ligne (pas de connexion)" in offline
