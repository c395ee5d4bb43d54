"""Web service checks against a real local HTTPS server with certificates made here."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from console.config import ConfigError, WebCheck, parse_config
from console.monitor.engine import Engine
from console.monitor.webchecks import WebProber, web_samples
from console.reports.latency import latency
from console.reports.scope import Scope, Subject
from console.sla.terms import AvailabilityTerms
from console.store.database import Store
from console.store.worker import StoreWorker
from probes.web import probe_web
from tests.availability_data import store, utc

NOW = datetime.now(UTC)


@dataclass
class Site:
    url: str
    ca: Path
    not_after: datetime


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path in ("/endless", "/huge"):
            # A hostile or broken page: an answer that never ends (a trickle), or one far
            # larger than a keyword search needs; the keyword is in its first bytes.
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"<p>Reserveringen</p>")
            chunk = b"." * (1 if self.path == "/endless" else 1024 * 1024)
            try:
                while True:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    if self.path == "/endless":
                        time.sleep(0.05)
            except OSError:
                return
        if self.path == "/broken":
            body, status = b"<h1>Internal error</h1>", 500
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/dashboard")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        else:
            body, status = b"<h1>Dashboard</h1><p>Reserveringen</p>", 200
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _certificates(tmp: Path, days: int) -> tuple[Path, Path, Path, datetime]:
    """A CA and a leaf for 127.0.0.1 valid for `days` more days."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nls test CA")])
    start = NOW - timedelta(days=1)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = (NOW + timedelta(days=days)).replace(microsecond=0)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path, not_after


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ca, cert, key, not_after = _certificates(tmp_path, days=10)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"https://127.0.0.1:{server.server_address[1]}", ca, not_after)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def trusting(site: Site) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(site.ca))


async def test_page_with_keyword_latency_and_certificate(site: Site) -> None:
    async with httpx.AsyncClient(verify=trusting(site)) as client:
        result = await probe_web(client, site.url + "/moved", keyword="Reserveringen", now=NOW)
    assert (result.ok, result.status, result.keyword_found) == (True, 200, True)
    assert result.latency_ms is not None and result.latency_ms > 0
    assert result.cert_not_after == site.not_after
    assert result.cert_days_left == pytest.approx(
        (site.not_after - NOW).total_seconds() / 86400, abs=0.001
    )


async def test_an_endless_or_huge_answer_is_bounded(site: Site) -> None:
    async with httpx.AsyncClient(verify=trusting(site)) as client:
        endless = await probe_web(client, site.url + "/endless", request_timeout=1)
        huge = await probe_web(client, site.url + "/huge", keyword="Reserveringen")
    assert (endless.ok, endless.error_kind) == (False, "timeout")
    assert (huge.ok, huge.keyword_found) == (True, True), "reading stops at MAX_BODY"


async def test_wrong_status_missing_keyword_untrusted_and_refused(site: Site) -> None:
    async with httpx.AsyncClient(verify=trusting(site)) as client:
        broken = await probe_web(client, site.url + "/broken")
        missing = await probe_web(client, site.url + "/", keyword="Login")
    assert (broken.ok, broken.error, broken.error_kind) == (
        False,
        "HTTP 500, expected 200",
        "status",
    )
    assert (missing.ok, missing.error) == (False, "keyword 'Login' not in the page")
    async with httpx.AsyncClient() as client:  # does not trust the test CA
        untrusted = await probe_web(client, site.url + "/")
    assert (untrusted.ok, untrusted.error_kind) == (False, "tls")
    assert "certificate" in (untrusted.error or "").lower()
    port = site.url.rsplit(":", 1)[1]
    async with httpx.AsyncClient() as client:
        refused = await probe_web(client, f"http://127.0.0.2:{port}/", request_timeout=5)
    assert (refused.ok, refused.error_kind) == (False, "connect")


async def test_samples_warn_before_the_certificate_expires(site: Site) -> None:
    check = WebCheck(
        id="tommy",
        customer="texpro",
        url=site.url + "/",
        keyword="Dashboard",
        cert_warn_days=14,
        latency_target_ms=3000,
    )
    prober = WebProber([check], clock=lambda: NOW, verify=trusting(site))
    try:
        samples = await prober.probe(["tommy"])
    finally:
        await prober.close()
    states = {s.check: (s.state, s.server) for s in samples}
    assert states == {
        "web": ("ok", "tommy"),
        "web_latency": ("ok", "tommy"),
        "tls_cert": ("fail", "tommy"),
    }
    cert = next(s for s in samples if s.check == "tls_cert")
    assert cert.detail.startswith("certificate expires in 10.0 days")
    slow = web_samples(
        check.model_copy(update={"latency_target_ms": 0.001}),
        (await _probe_once(site, check)),
        NOW,
    )
    assert [s.state for s in slow if s.check == "web_latency"] == ["fail"]


async def _probe_once(site: Site, check: WebCheck):  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(verify=trusting(site)) as client:
        return await probe_web(client, check.url, keyword=check.keyword, now=NOW)


async def test_engine_probes_web_checks_beside_servers(site: Site, tmp_path: Path) -> None:
    config = parse_config(
        {
            "installers": [{"id": "i", "name": "I", "emails": ["a@b.example"]}],
            "customers": [{"id": "texpro", "name": "Texpro", "installer": "i"}],
            "web_checks": [{"id": "tommy", "customer": "texpro", "url": site.url + "/"}],
        },
        tmp_path / "nls.toml",
    )
    worker = StoreWorker(tmp_path / "nls.duckdb")
    engine = Engine(config, worker, clock=lambda: NOW)
    engine.web._verify = trusting(site)
    try:
        probed = await engine.probe(["tommy"])
    finally:
        await engine.close()
        await worker.close() if hasattr(worker, "close") else None
    assert [(s.server, s.check, s.state) for s in probed.samples] == [
        ("tommy", "web", "ok"),
        ("tommy", "web_latency", "ok"),
        ("tommy", "tls_cert", "fail"),
    ]
    with pytest.raises(KeyError, match="unknown server"):
        await engine.probe(["nope"])


def test_config_refuses_a_web_check_named_like_a_server(tmp_path: Path) -> None:
    raw = {
        "installers": [{"id": "i", "name": "I", "emails": ["a@b.example"]}],
        "customers": [{"id": "c", "name": "C", "installer": "i"}],
        "servers": [{"id": "s1", "customer": "c", "address": "10.0.0.1"}],
        "web_checks": [{"id": "s1", "customer": "c", "url": "https://x.example/"}],
    }
    with pytest.raises(ConfigError, match=r"web_checks\[0\].*id.*also a server id"):
        parse_config(raw, tmp_path / "nls.toml")
    raw["web_checks"] = [{"id": "w", "customer": "c", "url": "ftp://x"}]
    with pytest.raises(ConfigError, match="is not an http"):
        parse_config(raw, tmp_path / "nls.toml")


def test_latency_report_p95_against_the_target(tmp_path: Path) -> None:
    # tommy: 20 page loads of 100, 200, ..., 2,000 ms: p95 = 1,900 + 0.05 x 100 = 1,905 ms
    # safr: the same plus 3 s: p95 = 4,905 ms > 3,000 ms
    rows = []
    for n in range(20):
        for web, extra in (("tommy", 0), ("safr", 3000)):
            rows.append(
                {
                    "ts": utc(2026, 4, 2) + timedelta(minutes=5 * n),
                    "cycle": 0,
                    "server": web,
                    "check_name": "web_latency",
                    "subject": "",
                    "state": "ok",
                    "value": float(100 * (n + 1) + extra),
                    "latency_ms": None,
                    "detail": "",
                }
            )
    scope = Scope(
        (Subject("tommy", "texpro", "i", kind="web"), Subject("safr", "texpro", "i", kind="web"))
    )
    with Store(tmp_path / "nls.duckdb") as db:
        store(db, rows)
        got = latency(
            db, AvailabilityTerms(latency_target_ms=3000, timezone="UTC"), scope, "2026-04"
        ).to_pylist()
    assert [(r["web_check"], r["samples"], r["percentile_ms"], r["met"]) for r in got] == [
        ("safr", 20, 4905.0, False),
        ("tommy", 20, 1905.0, True),
    ]
    assert got[1]["within_target_pct"] == 100.0 and got[0]["within_target_pct"] == 0.0
