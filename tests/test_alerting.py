"""Three-strike state machine, its policies, and grouping events into rendered mails."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.mail.notify import (
    NotifySettings,
    ServerFacts,
    build_notifications,
    notification_key,
    templates,
)
from console.monitor.alerting import (
    Alert,
    AlertState,
    CycleResult,
    Recovery,
    Sample,
    ServerPolicy,
    StillFailing,
    evaluate,
    quiet_until,
    wants_retry,
)
from console.monitor.maintenance import MaintenanceWindow
from console.monitor.sample import Reason

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)


def ts(cycle: int) -> datetime:
    return T0 + cycle * STEP


class Fleet:
    """Feeds cycles through `evaluate`, carrying the state as the engine would via the store."""

    def __init__(self, policy=None, maintenance=None) -> None:
        self.states: dict = {}
        self.cycle = 0
        self.policy = policy or ServerPolicy()
        self.maintenance = maintenance
        self.history: list[CycleResult] = []

    def run(self, *samples: tuple) -> CycleResult:
        self.cycle += 1
        batch = [
            Sample(ts(self.cycle), server, check, subject, state, value, detail, label)
            for server, check, subject, state, value, detail, label in (
                (*s, *([None, "", ""][len(s) - 4 :])) for s in samples
            )
        ]
        result = evaluate(self.cycle, batch, self.states, self.policy, self.maintenance)
        self.states.update({s.key: s for s in result.states})
        self.history.append(result)
        return result

    def state(self, server: str, check: str, subject: str = "") -> AlertState:
        return self.states[(server, check, subject)]


def cam(server: str, camera: str, state: str, name: str = "") -> tuple:
    return (server, "camera", camera, state, None, "offline" if state == "fail" else "", name)


def online(server: str, state: str) -> tuple:
    return (server, "server_online", "", state)


def kinds(result: CycleResult) -> list[tuple[str, str, str]]:
    return [(e.kind, e.check, e.subject) for e in result.events]


def test_exactly_one_alert_at_the_third_consecutive_failure() -> None:
    fleet = Fleet()
    assert fleet.run(cam("s1", "c1", "ok")).events == ()
    first = fleet.run(cam("s1", "c1", "fail"))
    second = fleet.run(cam("s1", "c1", "fail"))
    third = fleet.run(cam("s1", "c1", "fail", "Entrance"))
    fourth = fleet.run(cam("s1", "c1", "fail"))
    assert first.events == second.events == fourth.events == ()
    assert fleet.history[1].states[0].status == "pending"
    (alert,) = third.events
    assert isinstance(alert, Alert)
    assert (alert.label, alert.failures, alert.first_failed, alert.ts) == (
        "Entrance",
        3,
        ts(2),
        ts(4),
    )
    state = fleet.state("s1", "camera", "c1")
    assert (state.status, state.failures, state.first_failed, state.alerted_at) == (
        "alerting",
        4,
        ts(2),
        ts(4),
    )


def test_success_before_threshold_resets_silently() -> None:
    fleet = Fleet()
    fleet.run(cam("s1", "c1", "fail"))
    fleet.run(cam("s1", "c1", "fail"))
    assert fleet.run(cam("s1", "c1", "ok")).events == ()
    assert fleet.state("s1", "camera", "c1") == AlertState("s1", "camera", "c1", last_cycle=3)
    fleet.run(cam("s1", "c1", "fail"))
    assert fleet.run(cam("s1", "c1", "fail")).events == ()


def test_unknown_neither_counts_nor_resets() -> None:
    fleet = Fleet()
    fleet.run(cam("s1", "c1", "fail"))
    fleet.run(cam("s1", "c1", "unknown"))
    fleet.run(cam("s1", "c1", "fail"))
    assert fleet.state("s1", "camera", "c1").failures == 2
    fleet.run(cam("s1", "c1", "unknown"))
    result = fleet.run(cam("s1", "c1", "fail"))
    assert kinds(result) == [("alert", "camera", "c1")]
    assert result.events[0].first_failed == ts(1)


def test_recovery_exactly_once_with_incident_facts() -> None:
    fleet = Fleet()
    for _ in range(3):
        fleet.run(cam("s1", "c1", "fail"))
    recovered = fleet.run(cam("s1", "c1", "ok"))
    (event,) = recovered.events
    assert isinstance(event, Recovery)
    assert (event.first_failed, event.alerted_at, event.failures, event.ts) == (
        ts(1),
        ts(3),
        3,
        ts(4),
    )
    assert fleet.state("s1", "camera", "c1").status == "ok"
    assert fleet.run(cam("s1", "c1", "ok")).events == ()


def test_recovery_after_configured_successes() -> None:
    fleet = Fleet(policy=ServerPolicy(threshold=2, recover_after=2))
    fleet.run(cam("s1", "c1", "fail"))
    assert kinds(fleet.run(cam("s1", "c1", "fail"))) == [("alert", "camera", "c1")]
    assert fleet.run(cam("s1", "c1", "ok")).events == ()
    assert fleet.run(cam("s1", "c1", "fail")).events == ()
    assert fleet.run(cam("s1", "c1", "ok")).events == ()
    assert kinds(fleet.run(cam("s1", "c1", "ok"))) == [("recovery", "camera", "c1")]


def test_threshold_per_server_from_mapping_or_function() -> None:
    fleet = Fleet(policy={"fast": ServerPolicy(threshold=1)})
    assert kinds(fleet.run(cam("fast", "c1", "fail"), cam("slow", "c1", "fail"))) == [
        ("alert", "camera", "c1")
    ]
    fleet = Fleet(policy=lambda server: ServerPolicy(threshold=2 if server == "a" else 5))
    fleet.run(cam("a", "c1", "fail"), cam("b", "c1", "fail"))
    assert [e.server for e in fleet.run(cam("a", "c1", "fail"), cam("b", "c1", "fail")).events] == [
        "a"
    ]


def test_wants_retry_only_while_unconfirmed() -> None:
    fleet = Fleet()
    fleet.run(cam("s1", "c1", "ok"))
    assert not wants_retry(fleet.state("s1", "camera", "c1"))
    fleet.run(cam("s1", "c1", "fail"))
    assert wants_retry(fleet.state("s1", "camera", "c1"))
    fleet.run(cam("s1", "c1", "fail"))
    fleet.run(cam("s1", "c1", "fail"))
    assert not wants_retry(fleet.state("s1", "camera", "c1"))


def test_quiet_period_advances_state_without_events_and_alerts_late() -> None:
    until = quiet_until(date(2026, 3, 1), 2)
    assert until == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    fleet = Fleet(policy=ServerPolicy(quiet_until=until))
    results = [fleet.run(cam("s1", "c1", "fail")) for _ in range(4)]
    assert all(r.events == () for r in results)
    assert fleet.state("s1", "camera", "c1").status == "alerting"
    assert fleet.state("s1", "camera", "c1").alerted_at is None
    mark = results[-1].marks[("s1", "camera", "c1")]
    assert (mark.reason, mark.note) == ("quiet", "quiet until 2026-03-02")
    assert quiet_until(None, 14) is None

    fleet.policy = ServerPolicy(quiet_until=ts(5))
    late = fleet.run(cam("s1", "c1", "fail"))
    (alert,) = late.events
    assert alert.late and alert.first_failed == ts(1) and alert.failures == 5


def test_quiet_item_recovering_sends_nothing() -> None:
    fleet = Fleet(policy=ServerPolicy(quiet_until=ts(100)))
    for _ in range(3):
        fleet.run(cam("s1", "c1", "fail"))
    assert fleet.run(cam("s1", "c1", "ok")).events == ()


def window(**kw) -> MaintenanceWindow:
    base = dict(
        id=1,
        scope_kind="server",
        scope_id="s1",
        reason="firmware upgrade",
        announced_at=T0 - timedelta(days=2),
        starts=ts(0),
        ends=ts(3) + timedelta(minutes=1),
    )
    return MaintenanceWindow(**(base | kw))


def test_maintenance_records_failures_without_alert() -> None:
    w = window()

    def lookup(server: str, at: datetime) -> MaintenanceWindow | None:
        return w if server == "s1" and w.occurrence_at(at) else None

    fleet = Fleet(maintenance=lookup)
    results = [fleet.run(cam("s1", "c1", "fail"), cam("s2", "c1", "fail")) for _ in range(3)]
    assert [kinds(r) for r in results] == [[], [], [("alert", "camera", "c1")]]
    assert results[2].events[0].server == "s2"
    assert fleet.state("s1", "camera", "c1").failures == 3
    mark = results[2].marks[("s1", "camera", "c1")]
    assert (mark.reason, mark.note, mark.window) == (
        "maintenance",
        "maintenance: firmware upgrade",
        w,
    )
    assert mark.until == ts(3) + timedelta(minutes=1)
    assert ("s2", "camera", "c1") not in results[2].marks
    assert fleet.run(cam("s1", "c1", "ok")).events == ()


def test_fault_outliving_maintenance_is_announced_once() -> None:
    w = window(ends=ts(3) + timedelta(minutes=1))
    fleet = Fleet(maintenance=lambda s, at: w if w.occurrence_at(at) else None)
    for _ in range(3):
        assert fleet.run(cam("s1", "c1", "fail")).events == ()
    late = fleet.run(cam("s1", "c1", "fail"))
    assert kinds(late) == [("alert", "camera", "c1")] and late.events[0].late
    assert fleet.run(cam("s1", "c1", "fail")).events == ()
    assert kinds(fleet.run(cam("s1", "c1", "ok"))) == [("recovery", "camera", "c1")]


def test_server_down_suppresses_dependents_and_recovery_lists_them() -> None:
    fleet = Fleet()
    cams = [f"c{i}" for i in range(5)]
    everything_fails = [
        online("s1", "fail"),
        *(cam("s1", c, "fail", f"Cam {c}") for c in cams),
        ("s1", "cpu", "", "fail", 99.5),
        ("s1", "video_rights", "", "fail"),
    ]
    fleet.run(*everything_fails)
    fleet.run(*everything_fails)
    third = fleet.run(*everything_fails)
    assert kinds(third) == [("alert", "server_online", ""), ("alert", "video_rights", "")]
    assert third.marks[("s1", "camera", "c0")].note == "server down"
    assert third.marks[("s1", "cpu", "")].reason == "server_down"
    assert ("s1", "video_rights", "") not in third.marks
    assert fleet.state("s1", "camera", "c0").status == "alerting"
    assert fleet.state("s1", "camera", "c0").alerted_at is None

    back = fleet.run(
        online("s1", "ok"),
        cam("s1", "c0", "ok"),
        cam("s1", "c1", "ok"),
        cam("s1", "c2", "fail", "Cam c2"),
        cam("s1", "c3", "unknown", "Cam c3"),
        cam("s1", "c4", "ok"),
        ("s1", "cpu", "", "ok", 12.0),
    )
    assert kinds(back) == [("recovery", "server_online", "")]
    (recovery,) = back.events
    assert [(s.subject, s.label) for s in recovery.still_failing] == [
        ("c2", "Cam c2"),
        ("c3", "Cam c3"),
    ]
    assert fleet.state("s1", "camera", "c2").alerted_at == ts(4)
    assert fleet.run(cam("s1", "c2", "fail")).events == ()
    assert kinds(fleet.run(cam("s1", "c2", "ok"))) == [("recovery", "camera", "c2")]


def test_server_down_for_one_cycle_then_camera_alerts_normally() -> None:
    fleet = Fleet()
    fleet.run(online("s1", "ok"), cam("s1", "c1", "fail"))
    fleet.run(online("s1", "ok"), cam("s1", "c1", "fail"))
    blip = fleet.run(online("s1", "fail"), cam("s1", "c1", "fail"))
    assert blip.events == () and blip.marks[("s1", "camera", "c1")].reason == "server_down"
    after = fleet.run(online("s1", "ok"), cam("s1", "c1", "fail"))
    assert kinds(after) == [("alert", "camera", "c1")] and after.events[0].late


def test_replaying_a_cycle_gives_the_same_result() -> None:
    fleet = Fleet()
    fleet.run(cam("s1", "c1", "fail"))
    fleet.run(cam("s1", "c1", "fail"))
    before = dict(fleet.states)
    batch = [Sample(ts(3), "s1", "camera", "c1", "fail", None, "offline", "Entrance")]
    assert evaluate(3, batch, before) == evaluate(3, batch, before)


_STATES = st.lists(st.sampled_from(["ok", "fail", "unknown"]), max_size=40)


@settings(max_examples=200, deadline=None)
@given(_STATES, st.integers(1, 4), st.integers(1, 3))
def test_alerts_and_recoveries_alternate_and_match_the_run_lengths(
    sequence: list[str], threshold: int, recover_after: int
) -> None:
    fleet = Fleet(policy=ServerPolicy(threshold=threshold, recover_after=recover_after))
    emitted = []
    fails = oks = 0
    for s in sequence:
        events = fleet.run(cam("s1", "c1", s)).events
        alerting = bool(emitted) and emitted[-1] == "alert"
        if s == "fail":
            fails, oks = fails + 1, 0
        elif s == "ok":
            oks += 1
            if not alerting:
                fails = 0
        expect: Iterable[str] = ()
        if s == "fail" and not alerting and fails >= threshold:
            expect = ("alert",)
        elif s == "ok" and alerting and oks >= recover_after:
            expect, fails = ("recovery",), 0
        assert [e.kind for e in events] == list(expect)
        emitted.extend(e.kind for e in events)
    assert all(a != b for a, b in itertools.pairwise(emitted))


# Grouping and rendering


def facts(language: str = "nl", **kw) -> ServerFacts:
    base = dict(
        server="s1",
        server_name="CREST-042",
        customer="cu1",
        customer_name="Bakkerij Peeters",
        installer="in1",
        installer_name="Securitas Limburg",
        emails=("alerts@installer.example", "Tech@Installer.example"),
        language=language,
    )
    return ServerFacts(**(base | kw))


SETTINGS = NotifySettings(support="support@visuatech.be", ops_address="ops@visuatech.example")


def test_five_cameras_in_one_cycle_make_one_mail_listing_them() -> None:
    fleet = Fleet()
    names = ["Ingang", "Parking", "Magazijn", "Kassa", "Achterdeur"]
    rows = [cam("s1", f"c{i}", "fail", n) for i, n in enumerate(names)]
    rows.append(("s1", "cpu", "", "fail", 99.4))
    for _ in range(2):
        fleet.run(*rows)
    result = fleet.run(*rows)
    assert len(result.events) == 6
    (mail,) = build_notifications(result.events, {"s1": facts()}, SETTINGS)
    assert mail.kind == "alert" and mail.server == "s1" and mail.installer == "in1"
    assert mail.recipients == (
        "alerts@installer.example",
        "Tech@Installer.example",
        "ops@visuatech.example",
    )
    for name in names:
        assert f"Camera offline: {name}" in mail.body_text
        assert f"Camera offline: {name}" in mail.body_html
    assert "CPU-belasting te hoog" in mail.body_text and "99 %" in mail.body_text
    assert mail.subject == "[NLS] Storing bij Bakkerij Peeters - CREST-042: 6 fouten"
    assert mail.created == ts(3)


def test_alerts_and_recoveries_of_one_cycle_are_separate_mails_per_server() -> None:
    fleet = Fleet(policy=ServerPolicy(threshold=1))
    fleet.run(cam("s1", "a", "fail"), cam("s2", "a", "fail"))
    result = fleet.run(cam("s1", "a", "ok"), cam("s1", "b", "fail"), cam("s2", "a", "fail"))
    directory = {"s1": facts(), "s2": facts(server="s2", server_name="CREST-043")}
    mails = build_notifications(result.events, directory, SETTINGS)
    assert [(m.server, m.kind) for m in mails] == [("s1", "alert"), ("s1", "recovery")]


def test_key_is_stable_across_replays_and_distinct_per_incident() -> None:
    def incident(start: int) -> list:
        fleet = Fleet()
        fleet.cycle = start
        for _ in range(2):
            fleet.run(cam("s1", "c1", "fail"), cam("s1", "c2", "fail"))
        return list(fleet.run(cam("s1", "c1", "fail"), cam("s1", "c2", "fail")).events)

    first, replay, later = incident(0), incident(0), incident(10)
    assert notification_key("alert", "s1", first) == notification_key("alert", "s1", replay)
    assert notification_key("alert", "s1", first) != notification_key("alert", "s1", later)
    assert notification_key("alert", "s1", first) != notification_key("recovery", "s1", first)
    assert notification_key("alert", "s1", first[::-1]) == notification_key("alert", "s1", first)


SINCE = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def sample_events() -> tuple[Alert, Recovery]:
    alert = Alert(
        "s1",
        "camera",
        "c1",
        "Ingang <oost>",
        7,
        SINCE + 2 * STEP,
        SINCE,
        3,
        None,
        "Ingang <oost>: camera offline (NoConnection)",
        reason=Reason.of("camera_offline", name="Ingang <oost>", stream="NoConnection"),
    )
    recovery = Recovery(
        "s1",
        "server_online",
        "",
        "",
        9,
        SINCE + timedelta(hours=26, minutes=5),
        SINCE,
        SINCE + 2 * STEP,
        8,
        None,
        "",
        still_failing=(StillFailing("camera", "c2", "Parking & hof", 4, SINCE, "offline"),),
    )
    return alert, recovery


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        ("nl", ["Beste Securitas Limburg", "Op deze e-mail kan u niet antwoorden", "RMA"]),
        ("fr", ["Bonjour Securitas Limburg", "Vous ne pouvez pas répondre", "RMA"]),
        ("en", ["Hello Securitas Limburg", "cannot receive replies", "RMA"]),
        ("de", ["Hello Securitas Limburg", "cannot receive replies", "RMA"]),
        ("nl-BE", ["Beste Securitas Limburg"]),
    ],
)
def test_templates_render_every_field(language: str, phrases: list[str]) -> None:
    alert, recovery = sample_events()
    mails = build_notifications([alert, recovery], {"s1": facts(language)}, SETTINGS)
    assert [m.kind for m in mails] == ["alert", "recovery"]
    for mail in mails:
        for body in (mail.body_text, mail.body_html, mail.subject):
            assert "$" not in body
        for body in (mail.body_text, mail.body_html):
            for value in ("Securitas Limburg", "Bakkerij Peeters", "CREST-042", "s1"):
                assert value in body
            assert "support@visuatech.be" in body
            assert "2026-03-29 01:30 CET" in body and "00:30 UTC" in body
        assert phrases[1:2] == [] or phrases[1] in mail.body_text
    alert_mail, recovery_mail = mails
    for phrase in phrases:
        assert phrase in alert_mail.body_text
    assert "Ingang <oost>" in alert_mail.body_text
    assert "Ingang &lt;oost&gt;" in alert_mail.body_html
    assert "Ingang <oost>" not in alert_mail.body_html
    assert re.search(r"\b3\b", alert_mail.body_text)
    # The detail in the mail's own language, never the sample's English text.
    assert "(NoConnection)" not in alert_mail.body_text
    offline = {"nl": "geen verbinding", "fr": "pas de connexion"}.get(language[:2], "no connection")
    assert f"Ingang <oost>{templates(language)['units']['label_separator']}" in alert_mail.body_text
    assert offline in alert_mail.body_text
    assert "Parking & hof" in recovery_mail.body_text
    assert "Parking &amp; hof" in recovery_mail.body_html
    assert re.search(r"1 \w+ 2 \w+ 5 min", recovery_mail.body_text)


def test_every_language_defines_the_same_templates() -> None:
    def shape(lang: str) -> dict:
        t = templates(lang)
        return {section: sorted(t[section]) for section in t}

    assert shape("nl") == shape("en") == shape("fr")
    for lang in ("nl", "fr", "en"):
        for fmt in ("text", "html"):
            for name, body in templates(lang)[fmt].items():
                placeholders = set(re.findall(r"\$(\w+)", body))
                english = set(re.findall(r"\$(\w+)", templates("en")[fmt][name]))
                assert placeholders == english, (lang, fmt, name)


def test_headless_modules_never_import_textual() -> None:
    modules = "monitor.alerting, mail.notify, mail.mailer, mail.outbox, monitor.maintenance"
    code = (
        f"import sys; import {', '.join('console.' + m for m in modules.split(', '))}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'jinja2')); "
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
