"""Turn one server's probe results into samples: the contract's checks and what each detail says.

Every detail names the case seen ("Eocortex service down", "camera offline") rather than a
protocol error, twice: in English for the store, logs and ops, and as a `Reason` (a code and
language-neutral values) that the installer's mail renders in nl, fr or en. Both are written
side by side here so they cannot drift apart; tests/test_mail_language.py renders every code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from console.monitor.sample import Reason, Sample, SampleState
from console.units import format_rate
from probes.eocortex import EocortexResult

if TYPE_CHECKING:
    from probes.rdp import RdpResult
    from probes.ssh import HostResult

SERVER_ONLINE = "server_online"
CAMERA = "camera"
CPU = "cpu"
DISK = "disk_activity"
VIDEO_RIGHTS = "video_rights"
CHECKS = (SERVER_ONLINE, CAMERA, CPU, DISK, VIDEO_RIGHTS)


@dataclass(frozen=True, slots=True)
class Limits:
    """The thresholds that apply to one server after installer/customer/server overrides."""

    cpu_threshold: float = 98.0
    disk_min_write_bps: float = 4096.0


@dataclass(slots=True)
class ServerProbe:
    """Everything probed on one server in one cycle; host and rdp are None when not probed."""

    server: str
    ts: datetime
    eocortex: EocortexResult
    host: HostResult | None = None
    rdp: RdpResult | None = None


def evaluate(
    probe: ServerProbe, known_cameras: Sequence[tuple[str, str]], limits: Limits
) -> list[Sample]:
    """All samples for one server: server_online, one per camera, video rights, cpu, disk."""
    samples = [_server_online(probe)]
    samples.extend(_cameras(probe, known_cameras))
    samples.append(_video_rights(probe))
    samples.extend(_host(probe, limits))
    return samples


def _sample(
    probe: ServerProbe,
    check: str,
    state: SampleState,
    detail: str,
    *,
    subject: str = "",
    value: float | None = None,
    latency_ms: float | None = None,
    label: str = "",
    reason: Reason | None = None,
) -> Sample:
    return Sample(
        probe.ts, probe.server, check, subject, state, value, detail, label, latency_ms, reason
    )


def _server_online(probe: ServerProbe) -> Sample:
    eoc = probe.eocortex
    if not eoc.ok and eoc.error_kind == "local":
        # The monitor could not probe (no free file descriptor or port, its own overload):
        # that says nothing about the server, so it is never counted as a failure.
        return _sample(probe, SERVER_ONLINE, "unknown", f"not checked: {eoc.error}")
    if eoc.ok:
        version = f" {eoc.version}" if eoc.version else ""
        ms = round(eoc.latency_ms or 0)
        return _sample(
            probe,
            SERVER_ONLINE,
            "ok",
            f"online; Eocortex{version} answered in {eoc.latency_ms or 0:.0f} ms",
            value=1.0,
            latency_ms=eoc.latency_ms,
            reason=Reason.of("online", ms=float(ms)),
        )
    host_alive, boot_hint = _host_answers(probe)
    error = eoc.error_kind or "unknown"
    if eoc.error_kind == "auth":
        detail = f"Eocortex answers but refuses the nls login: {eoc.error}"
        reason = Reason.of("eocortex_login_refused")
    elif host_alive:
        detail = f"Eocortex service down: {eoc.error} (the host itself answers)"
        reason = Reason.of("eocortex_down", error=error)
    elif boot_hint:
        detail = f"not booted or hung: {BOOT_HINTS[boot_hint]}; Eocortex: {eoc.error}"
        reason = Reason.of("not_booted", hint=boot_hint, error=error)
    elif probe.host is None and probe.rdp is None:
        detail = f"Eocortex API unreachable: {eoc.error}"
        reason = Reason.of("api_unreachable", error=error)
    else:
        detail = f"server offline: nothing answers (Eocortex: {eoc.error})"
        reason = Reason.of("server_offline", error=error)
    return _sample(probe, SERVER_ONLINE, "fail", detail, value=0.0, reason=reason)


BOOT_HINTS = {
    "rdp_hung": "RDP port accepts but gives no answer",
    "ssh_hung": "SSH accepts but does not complete",
}


def _host_answers(probe: ServerProbe) -> tuple[bool, str | None]:
    """(the OS answers over SSH or RDP, a hint that TCP accepts but nothing completes)."""
    host_ok = bool(probe.host is not None and getattr(probe.host, "ok", False))
    rdp_state = getattr(probe.rdp, "state", None)
    if host_ok or rdp_state == "alive":
        return True, None
    if rdp_state == "hung":
        return False, "rdp_hung"
    if probe.host is not None and getattr(probe.host, "error_kind", None) == "timeout":
        return False, "ssh_hung"
    return False, None


def _cameras(probe: ServerProbe, known: Sequence[tuple[str, str]]) -> list[Sample]:
    eoc = probe.eocortex
    if not eoc.ok:
        why = {"auth": "login_refused", "local": "not_probed"}.get(
            eoc.error_kind or "", "server_down"
        )
        words = {
            "server_down": "server down",
            "login_refused": "Eocortex login refused",
            "not_probed": "the monitor could not probe",
        }[why]
        return [
            _sample(
                probe,
                CAMERA,
                "unknown",
                f"{name}: not checked ({words})",
                subject=camera,
                label=name,
                reason=Reason.of("camera_not_checked", name=name, why=why),
            )
            # by name: the same order whether this process saw the cameras or read them back
            for camera, name in sorted(known, key=lambda c: (c[1], c[0]))
        ]
    samples = []
    state: SampleState
    for cam in eoc.cameras:
        if not cam.online:
            state, detail = "fail", f"{cam.name}: camera offline ({cam.stream_state})"
            reason = Reason.of("camera_offline", name=cam.name, stream=cam.stream_state)
        elif cam.archiving_enabled and not cam.recording:
            state, detail = "fail", f"{cam.name}: online but not recording"
            reason = Reason.of("camera_not_recording", name=cam.name)
        else:
            recording = "recording" if cam.recording else "not set to record"
            state, detail = "ok", f"{cam.name}: online, {recording}"
            code = "camera_recording" if cam.recording else "camera_not_set_to_record"
            reason = Reason.of(code, name=cam.name)
        samples.append(
            _sample(
                probe,
                CAMERA,
                state,
                detail,
                subject=cam.id,
                value=1.0 if cam.online else 0.0,
                label=cam.name,
                reason=reason,
            )
        )
    return samples


def _video_rights(probe: ServerProbe) -> Sample:
    eoc = probe.eocortex
    if not eoc.ok:
        return _sample(
            probe,
            VIDEO_RIGHTS,
            "unknown",
            "not checked: Eocortex did not answer",
            reason=Reason.of("rights_not_checked"),
        )
    if eoc.rights_findings:
        grants = getattr(eoc, "rights", [])

        def named(kind: str) -> tuple[str, ...] | None:
            return tuple(name for k, name in grants if k == kind) or None

        return _sample(
            probe,
            VIDEO_RIGHTS,
            "fail",
            "the nls user can view video, which the contract forbids: "
            + "; ".join(eoc.rights_findings),
            value=float(len(eoc.rights_findings)),
            reason=Reason.of(
                "rights_granted", group=named("group"), live=named("live"), archive=named("archive")
            ),
        )
    return _sample(
        probe,
        VIDEO_RIGHTS,
        "ok",
        "the nls user cannot view live or recorded video",
        reason=Reason.of("rights_none"),
    )


def _host(probe: ServerProbe, limits: Limits) -> list[Sample]:
    """cpu and disk_activity from SSH metrics; unknown (never a second failure) when unreachable."""
    host = probe.host
    if host is None:
        return []
    metrics = getattr(host, "metrics", None)
    if not getattr(host, "ok", False) or metrics is None:
        why = f"not checked: host metrics unavailable ({getattr(host, 'error', None) or 'no data'})"
        reason = Reason.of("host_not_checked", error=getattr(host, "error_kind", None) or "no_data")
        return [
            _sample(probe, CPU, "unknown", why, reason=reason),
            _sample(probe, DISK, "unknown", why, reason=reason),
        ]
    cpu = float(metrics.cpu_busy_pct)
    floor = float(getattr(metrics, "cpu_min_pct", cpu))
    seconds = float(round(metrics.window_s))
    window = f"over {seconds:.0f} s"
    if floor > limits.cpu_threshold:
        cpu_sample = _sample(
            probe,
            CPU,
            "fail",
            f"CPU at {cpu:.1f}% {window} (every sample above {limits.cpu_threshold:g}%)",
            value=cpu,
            reason=Reason.of(
                "cpu_high",
                pct=round(cpu, 1),
                seconds=seconds,
                threshold=float(limits.cpu_threshold),
            ),
        )
    else:
        cpu_sample = _sample(
            probe,
            CPU,
            "ok",
            f"CPU at {cpu:.1f}% {window}",
            value=cpu,
            reason=Reason.of("cpu_ok", pct=round(cpu, 1), seconds=seconds),
        )
    rate = float(metrics.disk_write_bps)
    recording = any(c.recording for c in probe.eocortex.cameras) if probe.eocortex.ok else None
    if rate <= limits.disk_min_write_bps and recording is not False:
        cause = "while cameras are set to record" if recording else "(camera state unknown)"
        code = "disk_idle" if recording else "disk_idle_cameras_unknown"
        disk_sample = _sample(
            probe,
            DISK,
            "fail",
            f"no disk activity: {format_rate(rate)} written {cause}; recording has stopped",
            value=rate,
            reason=Reason.of(code, rate=rate),
        )
    else:
        disk_sample = _sample(
            probe,
            DISK,
            "ok",
            f"disk writing {format_rate(rate)} {window}",
            value=rate,
            reason=Reason.of("disk_writing", rate=rate, seconds=seconds),
        )
    return [cpu_sample, disk_sample]
