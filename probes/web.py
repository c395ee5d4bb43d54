"""HTTP(S) web service check: one GET, the status and a keyword, the response time and the TLS
certificate's expiry (the SaaS contracts: Tommy's pages, SAFR Cloud, Navixy).

The response time is what a user waits for: from sending the request until the whole body has
arrived (redirects included). The certificate's expiry is read from the connection that
answered; a certificate that is not trusted (or has expired) fails the request as a TLS error.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx

ErrorKind = Literal["timeout", "connect", "tls", "status", "keyword", "http"]
MAX_BODY = 2 * 1024 * 1024  # a keyword is looked for in the first 2 MB


@dataclass(frozen=True, slots=True)
class WebResult:
    url: str
    ok: bool
    status: int | None = None
    latency_ms: float | None = None
    keyword_found: bool | None = None
    cert_not_after: datetime | None = None
    cert_days_left: float | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None


async def probe_web(
    client: httpx.AsyncClient,
    url: str,
    *,
    expect_status: int = 200,
    keyword: str | None = None,
    request_timeout: float = 10.0,
    now: datetime | None = None,
) -> WebResult:
    """GET `url` and judge it; never raises for a network or protocol problem."""
    started = time.perf_counter()
    cert: datetime | None = None
    try:
        # httpx's timeout bounds each read; the whole answer (an endless trickle, a huge
        # body) is bounded too: by the same time, and by MAX_BODY, after which reading stops.
        async with (
            asyncio.timeout(request_timeout),
            client.stream("GET", url, timeout=request_timeout, follow_redirects=True) as response,
        ):
            cert = _certificate_expiry(response)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk[: MAX_BODY - len(body)])
                if len(body) >= MAX_BODY:
                    break
            latency = (time.perf_counter() - started) * 1000
            status = response.status_code
            encoding = response.encoding or "utf-8"
    except (httpx.TimeoutException, TimeoutError):
        return WebResult(
            url, False, error=f"no answer within {request_timeout:g} s", error_kind="timeout"
        )
    except httpx.ConnectError as exc:
        failed: ErrorKind = "tls" if _is_tls(exc) else "connect"
        return WebResult(url, False, error=_reason(exc), error_kind=failed, cert_not_after=cert)
    except httpx.HTTPError as exc:
        return WebResult(url, False, error=_reason(exc), error_kind="http")
    days = None
    if cert is not None:
        days = ((cert - (now or datetime.now(UTC))).total_seconds()) / 86400
    found = None
    if keyword is not None:
        found = keyword in bytes(body).decode(encoding, errors="replace")
    error: str | None = None
    kind: ErrorKind | None = None
    if status != expect_status:
        error, kind = f"HTTP {status}, expected {expect_status}", "status"
    elif found is False:
        error, kind = f"keyword {keyword!r} not in the page", "keyword"
    return WebResult(
        url,
        error is None,
        status=status,
        latency_ms=round(latency, 3),
        keyword_found=found,
        cert_not_after=cert,
        cert_days_left=None if days is None else round(days, 3),
        error=error,
        error_kind=kind,
    )


def _certificate_expiry(response: httpx.Response) -> datetime | None:
    """notAfter of the peer certificate of the connection that answered (None over http)."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der).not_valid_after_utc


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "certificate" in str(exc).lower() or "ssl" in str(exc).lower()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
