"""Turn one server's probe results into samples: the contract's checks and what each detail says.

The wording here is what an installer reads in a mail and on the dashboard, so every detail names
the case seen ("Eocortex service down", "camera offline") rather than a protocol error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from console.monitor.sample import Sample, SampleState
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
) -> Sample:
    return Sample(probe.ts, probe.server, check, subject, state, value, detail, label, latency_ms)


def _server_online(probe: ServerProbe) -> Sample:
    eoc = probe.eocortex
    if not eoc.ok and eoc.error_kind == "local":
        # The monitor could not probe (no free file descriptor or port, its own overload):
        # that says nothing about the server, so it is never counted as a failure.
        return _sample(probe, SERVER_ONLINE, "unknown", f"not checked: {eoc.error}")
    if eoc.ok:
        version = f" {eoc.version}" if eoc.version else ""
        return _sample(
            probe,
            SERVER_ONLINE,
            "ok",
            f"online; Eocortex{version} answered in {eoc.latency_ms or 0:.0f} ms",
            value=1.0,
            latency_ms=eoc.latency_ms,
        )
    host_alive, boot_hint = _host_answers(probe)
    if eoc.error_kind == "auth":
        detail = f"Eocortex answers but refuses the nls login: {eoc.error}"
    elif host_alive:
        detail = f"Eocortex service down: {eoc.error} (the host itself answers)"
    elif boot_hint:
        detail = f"not booted or hung: {boot_hint}; Eocortex: {eoc.error}"
    elif probe.host is None and probe.rdp is None:
        detail = f"Eocortex API unreachable: {eoc.error}"
    else:
        detail = f"server offline: nothing answers (Eocortex: {eoc.error})"
    return _sample(probe, SERVER_ONLINE, "fail", detail, value=0.0)


def _host_answers(probe: ServerProbe) -> tuple[bool, str | None]:
    """(the OS answers over SSH or RDP, a hint that TCP accepts but nothing completes)."""
    host_ok = bool(probe.host is not None and getattr(probe.host, "ok", False))
    rdp_state = getattr(probe.rdp, "state", None)
    if host_ok or rdp_state == "alive":
        return True, None
    if rdp_state == "hung":
        return False, "RDP port accepts but gives no answer"
    if probe.host is not None and getattr(probe.host, "error_kind", None) == "timeout":
        return False, "SSH accepts but does not complete"
    return False, None


def _cameras(probe: ServerProbe, known: Sequence[tuple[str, str]]) -> list[Sample]:
    eoc = probe.eocortex
    if not eoc.ok:
        why = {"auth": "Eocortex login refused", "local": "the monitor could not probe"}.get(
            eoc.error_kind or "", "server down"
        )
        return [
            _sample(
                probe, CAMERA, "unknown", f"{name}: not checked ({why})", subject=camera, label=name
            )
            # by name: the same order whether this process saw the cameras or read them back
            for camera, name in sorted(known, key=lambda c: (c[1], c[0]))
        ]
    samples = []
    state: SampleState
    for cam in eoc.cameras:
        if not cam.online:
            state, detail = "fail", f"{cam.name}: camera offline ({cam.stream_state})"
        elif cam.archiving_enabled and not cam.recording:
            state, detail = "fail", f"{cam.name}: online but not recording"
        else:
            recording = "recording" if cam.recording else "not set to record"
            state, detail = "ok", f"{cam.name}: online, {recording}"
        samples.append(
            _sample(
                probe,
                CAMERA,
                state,
                detail,
                subject=cam.id,
                value=1.0 if cam.online else 0.0,
                label=cam.name,
            )
        )
    return samples


def _video_rights(probe: ServerProbe) -> Sample:
    eoc = probe.eocortex
    if not eoc.ok:
        return _sample(probe, VIDEO_RIGHTS, "unknown", "not checked: Eocortex did not answer")
    if eoc.rights_findings:
        return _sample(
            probe,
            VIDEO_RIGHTS,
            "fail",
            "the nls user can view video, which the contract forbids: "
            + "; ".join(eoc.rights_findings),
            value=float(len(eoc.rights_findings)),
        )
    return _sample(probe, VIDEO_RIGHTS, "ok", "the nls user cannot view live or recorded video")


def _host(probe: ServerProbe, limits: Limits) -> list[Sample]:
    """cpu and disk_activity from SSH metrics; unknown (never a second failure) when unreachable."""
    host = probe.host
    if host is None:
        return []
    metrics = getattr(host, "metrics", None)
    if not getattr(host, "ok", False) or metrics is None:
        why = f"not checked: host metrics unavailable ({getattr(host, 'error', None) or 'no data'})"
        return [_sample(probe, CPU, "unknown", why), _sample(probe, DISK, "unknown", why)]
    cpu = float(metrics.cpu_busy_pct)
    floor = float(getattr(metrics, "cpu_min_pct", cpu))
    window = f"over {metrics.window_s:.0f} s"
    if floor > limits.cpu_threshold:
        cpu_sample = _sample(
            probe,
            CPU,
            "fail",
            f"CPU at {cpu:.1f}% {window} (every sample above {limits.cpu_threshold:g}%)",
            value=cpu,
        )
    else:
        cpu_sample = _sample(probe, CPU, "ok", f"CPU at {cpu:.1f}% {window}", value=cpu)
    rate = float(metrics.disk_write_bps)
    recording = any(c.recording for c in probe.eocortex.cameras) if probe.eocortex.ok else None
    if rate <= limits.disk_min_write_bps and recording is not False:
        cause = "while cameras are set to record" if recording else "(camera state unknown)"
        disk_sample = _sample(
            probe,
            DISK,
            "fail",
            f"no disk activity: {format_rate(rate)} written {cause}; recording has stopped",
            value=rate,
        )
    else:
        disk_sample = _sample(
            probe, DISK, "ok", f"disk writing {format_rate(rate)} {window}", value=rate
        )
    return [cpu_sample, disk_sample]
