"""Web service checks as samples, beside the Eocortex ones.

Per check three samples: `web` (status and keyword; what availability counts), `web_latency`
(the response time against `latency_target_ms`) and, over https, `tls_cert` (days until the
certificate expires against `cert_warn_days`). The check's id stands where a server id goes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

from console.config import WebCheck
from console.monitor.sample import Reason, Sample
from probes.web import WebResult, probe_web

WEB = "web"
WEB_LATENCY = "web_latency"
TLS_CERT = "tls_cert"
WEB_CHECKS = (WEB, WEB_LATENCY, TLS_CERT)


def web_samples(check: WebCheck, result: WebResult, ts: datetime) -> list[Sample]:
    """The samples of one web check's result; wording is what the installer reads."""
    sid = check.id
    if result.ok:
        found = f", {check.keyword!r} found" if check.keyword else ""
        web = Sample(
            ts,
            sid,
            WEB,
            "",
            "ok",
            float(result.status or 0),
            f"HTTP {result.status}{found} in {result.latency_ms:.0f} ms",
            latency_ms=result.latency_ms,
            reason=Reason.of("web_ok", status=result.status, ms=result.latency_ms),
        )
    else:
        web = Sample(
            ts,
            sid,
            WEB,
            "",
            "fail",
            None if result.status is None else float(result.status),
            f"{check.url}: {result.error}",
            latency_ms=result.latency_ms,
            reason=_failure(check, result),
        )
    samples = [web]
    if result.latency_ms is None:
        samples.append(
            Sample(
                ts, sid, WEB_LATENCY, "", "unknown", None, "no response time: the request failed"
            )
        )
    else:
        target = check.latency_target_ms
        slow = target is not None and result.latency_ms > target
        limit = f" (target {target:g} ms)" if target is not None else ""
        samples.append(
            Sample(
                ts,
                sid,
                WEB_LATENCY,
                "",
                "fail" if slow else "ok",
                result.latency_ms,
                f"{result.latency_ms:.0f} ms{limit}",
                latency_ms=result.latency_ms,
                reason=Reason.of(
                    "web_slow" if slow else "web_fast", ms=result.latency_ms, target=target
                ),
            )
        )
    if check.url.startswith("https://"):
        samples.append(_certificate(check, result, ts))
    return samples


def _failure(check: WebCheck, result: WebResult) -> Reason:
    """The failed request as a code the installer's language renders."""
    if result.error_kind == "status":
        return Reason.of("web_status", status=result.status, expected=check.expect_status)
    if result.error_kind == "keyword":
        return Reason.of("web_keyword", keyword=check.keyword)
    return Reason.of("web_unreachable", url=check.url, error=result.error_kind or "unknown")


def _certificate(check: WebCheck, result: WebResult, ts: datetime) -> Sample:
    """`fail` from `cert_warn_days` before the expiry: alerted once after the usual number of
    checks, like any other fault, and recovered when a renewed certificate is seen."""
    days = result.cert_days_left
    if days is None:
        why = result.error or "no certificate seen"
        if result.error_kind == "tls":
            return Sample(
                ts,
                check.id,
                TLS_CERT,
                "",
                "fail",
                None,
                f"TLS failed: {why}",
                reason=Reason.of("tls_failed"),
            )
        return Sample(ts, check.id, TLS_CERT, "", "unknown", None, f"not checked: {why}")
    expires = f"{result.cert_not_after:%Y-%m-%d}" if result.cert_not_after else "?"
    if days < check.cert_warn_days:
        return Sample(
            ts,
            check.id,
            TLS_CERT,
            "",
            "fail",
            days,
            f"certificate expires in {days:.1f} days ({expires}); renew it",
            reason=Reason.of("cert_expiring", days=max(days, 0.0), date=expires),
        )
    return Sample(
        ts,
        check.id,
        TLS_CERT,
        "",
        "ok",
        days,
        f"certificate valid for {days:.0f} more days ({expires})",
        reason=Reason.of("cert_valid", days=days, date=expires),
    )


class WebProber:
    """Probes web checks with one shared client per trust store (few checks: one small pool
    each is enough); a check's `ca_file` (relative to `base`) replaces the system's CAs."""

    def __init__(
        self,
        checks: Iterable[WebCheck],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        verify: bool | ssl.SSLContext = True,
        base: Path | None = None,
    ) -> None:
        self.checks = {c.id: c for c in checks}
        self.clock = clock
        self._verify = verify
        self._base = base or Path.cwd()
        self._clients: dict[Path | None, httpx.AsyncClient] = {}

    def client(self, ca_file: Path | None = None) -> httpx.AsyncClient:
        client = self._clients.get(ca_file)
        if client is None:
            verify: bool | ssl.SSLContext = self._verify
            if ca_file is not None:
                path = ca_file if ca_file.is_absolute() else self._base / ca_file
                verify = ssl.create_default_context(cafile=str(path))
            client = self._clients[ca_file] = httpx.AsyncClient(
                verify=verify,
                trust_env=False,
                limits=httpx.Limits(max_connections=20, keepalive_expiry=30.0),
                headers={"User-Agent": "nls-web-check"},
            )
        return client

    async def probe(self, ids: Sequence[str]) -> list[Sample]:
        async def one(check: WebCheck) -> list[Sample]:
            ts = self.clock()
            try:
                client = self.client(check.ca_file)
            except (OSError, ssl.SSLError) as exc:
                # An unreadable ca_file is the monitor's own fault, not the service's.
                why = f"ca_file {check.ca_file}: {exc}"
                return [Sample(ts, check.id, c, "", "unknown", None, why) for c in WEB_CHECKS]
            result = await probe_web(
                client,
                check.url,
                expect_status=check.expect_status,
                keyword=check.keyword,
                request_timeout=check.timeout,
                now=ts,
            )
            return web_samples(check, result, ts)

        results = await asyncio.gather(*(one(self.checks[i]) for i in ids))
        return [s for r in results for s in r]

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()
