"""Web service checks as samples, beside the Eocortex ones.

Per check three samples: `web` (status and keyword; what availability counts), `web_latency`
(the response time against `latency_target_ms`) and, over https, `tls_cert` (days until the
certificate expires against `cert_warn_days`). The check's id stands where a server id goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import httpx

from console.config import WebCheck
from console.monitor.sample import Sample
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
            )
        )
    if check.url.startswith("https://"):
        samples.append(_certificate(check, result, ts))
    return samples


def _certificate(check: WebCheck, result: WebResult, ts: datetime) -> Sample:
    days = result.cert_days_left
    if days is None:
        why = result.error or "no certificate seen"
        if result.error_kind == "tls":
            return Sample(ts, check.id, TLS_CERT, "", "fail", None, f"TLS failed: {why}")
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
        )
    return Sample(
        ts,
        check.id,
        TLS_CERT,
        "",
        "ok",
        days,
        f"certificate valid for {days:.0f} more days ({expires})",
    )


class WebProber:
    """Probes web checks with one shared client (few checks: one small pool is enough)."""

    def __init__(
        self,
        checks: Iterable[WebCheck],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        verify: bool | str | object = True,
    ) -> None:
        self.checks = {c.id: c for c in checks}
        self.clock = clock
        self._verify = verify
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                verify=self._verify,  # type: ignore[arg-type]
                trust_env=False,
                limits=httpx.Limits(max_connections=20, keepalive_expiry=30.0),
                headers={"User-Agent": "nls-web-check"},
            )
        return self._client

    async def probe(self, ids: Sequence[str]) -> list[Sample]:
        async def one(check: WebCheck) -> list[Sample]:
            ts = self.clock()
            result = await probe_web(
                self.client(),
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
        if self._client is not None:
            await self._client.aclose()
            self._client = None
