"""The fleet configuration: a TOML file (plus an optional CSV inventory) validated strictly.

Every mistake is reported with the file, the key path (or CSV line) and what to do, because the
people editing this file are on call and the config is the only thing standing between a typo
and a silent blind spot in monitoring.
"""

from __future__ import annotations

import codecs
import csv
import io
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from console.directory import Directory
from console.errors import ConfigError, NotFound
from console.mail.mailer import SmtpSettings
from console.sla.policy import CalendarSpec, SlaPolicy, SlaRefError, check_references
from console.zones import TimeZone

DEFAULT_CONFIG = "nls.toml"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _duration(value: Any) -> Any:
    """Accept 900, 900.0, "900", "15m", "1h", "500ms"; the result is seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, 30s or 900")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError(f"{value!r} is not a duration; write e.g. 15m, 30s, 2h or a number of seconds")


Seconds = Annotated[float, BeforeValidator(_duration), Field(gt=0)]
Ident = Annotated[str, Field(pattern=_ID.pattern)]
DAY = 86400.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {None: 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def _size(value: Any) -> Any:
    """Accept 4194304, "4MB", "512 KiB", "1GB" (K/M/G are powers of 1024); the result is bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 256MB, 64KB or a number of bytes")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        unit = (m.group(2) or "").lower().replace("i", "") or None
        return int(float(m.group(1)) * _SIZE_UNITS[unit])
    raise ValueError(f"{value!r} is not a size; write e.g. 256MB, 64KB or a number of bytes")


Bytes = Annotated[int, BeforeValidator(_size)]
UnixName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$")]


def _check_address(value: Any) -> Any:
    """A host name or an IP address; ports belong to eocortex_url, ssh.port and rdp.port."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("address is empty: give the server's host name or IP address")
    text = value.strip()
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else (rest or None)
    elif text.count(":") == 1:
        host, port = text.split(":")
    if port is not None:
        valid = port.isdigit() and 1 <= int(port) <= 65535
        raise ValueError(
            f"{text!r}: {'port ' + port + ' is not 1-65535; ' if not valid else ''}"
            "address takes a host name or IP address without a port; set ports with "
            "eocortex_url, ssh.port and rdp.port"
        )
    try:
        ipaddress.ip_address(host)
        return text
    except ValueError:
        pass
    if not re.fullmatch(_HOSTNAME, host):
        raise ValueError(f"{text!r} is not a host name or IP address")
    return text


_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(Strict):
    """Where a password is read from; inline passwords are refused so they never reach git."""

    password_env: str | None = None
    password_file: Path | None = None

    def secret(self, what: str) -> str:
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"{what}: environment variable {self.password_env} (password_env) is not set"
                )
            return value
        if self.password_file:
            try:
                return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"{what}: cannot read password_file {self.password_file}: {exc.strerror}"
                ) from None
        return ""


class Thresholds(Strict):
    """Settings that an installer, customer or server may override, most specific first."""

    failures_before_alert: int | None = Field(None, ge=1, le=100)
    cpu_threshold: float | None = Field(None, gt=0, le=100)
    disk_min_write_bps: float | None = Field(None, ge=0)


class MonitorSettings(Strict):
    interval: Seconds = Field(900.0, le=DAY)
    failures_before_alert: int = Field(3, ge=1, le=100)
    recover_after: int = Field(1, ge=1, le=100)
    retry_interval: Annotated[Seconds, Field(le=DAY)] | None = None
    quiet_days: int = Field(3, ge=0, le=365)
    concurrency: int = Field(100, ge=1, le=5000)
    request_timeout: Seconds = Field(5.0, le=3600)
    server_timeout: Seconds = Field(30.0, le=3600)
    cpu_threshold: float = Field(98.0, gt=0, le=100)
    disk_min_write_bps: float = Field(4096.0, ge=0)
    sample_window: Seconds = Field(5.0, le=600)


class DatabaseSettings(Strict):
    path: Path = Path("nls.duckdb")
    keep_raw_months: int = Field(13, ge=1, le=1200)
    """Months of raw samples kept in the database; older months move to Parquet files."""
    keep_hourly_days: int = Field(35, ge=9, le=3660)
    """Days of hourly rollups kept (history spans up to 8 days read them, longer ones the
    daily rollups, which are kept for good)."""
    archive: Path | None = None
    """Folder of the Parquet archive (default: <database>.archive beside the database); it
    stays queryable through the same `samples` view, so nls sql must be allowed to read it."""
    checkpoint_threshold: str | None = Field(None, pattern=r"^\s*\d+(\.\d+)?\s*[KMG]?i?B\s*$")
    """DuckDB's WAL size that triggers a checkpoint (e.g. "16MB"); DuckDB's default if unset."""


class EocortexSettings(Secret):
    user: str = "nls"
    port: int = Field(8080, ge=1, le=65535)
    responsetype: Literal["json", "xml"] = "json"


class EocortexOverride(Secret):
    user: str | None = None


class SshSettings(Secret):
    enabled: bool = True
    user: str = "nls"
    port: int = Field(22, ge=1, le=65535)
    key_file: Path | None = None
    known_hosts: Path | None = None
    trust_on_first_use: bool = False
    keep_open: bool = True
    archive_disk: str | None = None


class SshOverride(Secret):
    enabled: bool | None = None
    user: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    key_file: Path | None = None
    known_hosts: Path | None = None
    trust_on_first_use: bool | None = None
    keep_open: bool | None = None
    archive_disk: str | None = None


class RdpSettings(Strict):
    enabled: bool = True
    port: int = Field(3389, ge=1, le=65535)


class RdpOverride(Strict):
    enabled: bool | None = None
    port: int | None = Field(None, ge=1, le=65535)


class Installer(Thresholds):
    id: Ident
    name: str
    emails: list[str] = Field(min_length=1)
    language: Literal["nl", "fr", "en"] = "en"
    timezone: TimeZone = "Europe/Brussels"

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value


class Customer(Thresholds):
    id: Ident
    name: str
    installer: str
    sla_plan: str | None = None
    timezone: TimeZone | None = None


class Server(Thresholds):
    id: Ident
    name: str = ""
    customer: str
    address: Annotated[str, BeforeValidator(_check_address)]
    platform: Literal["windows", "linux"] = "windows"
    delivered: date | None = None
    eocortex_url: str | None = None
    eocortex: EocortexOverride | None = None
    ssh: SshOverride | None = None
    rdp: RdpOverride | None = None

    @field_validator("eocortex_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL such as http://10.0.0.5:8080")
        return value.rstrip("/") if value else value


class WebCheck(Strict):
    """An HTTP(S) service check of a SaaS contract (issue 12): status, keyword, response time
    and certificate expiry. Its samples use the check's id where a server's id goes, so ids
    must differ from every server id."""

    id: Ident
    customer: str
    url: str
    expect_status: int = Field(200, ge=100, le=599)
    keyword: str | None = None
    interval: Seconds = 300.0
    timeout: Seconds = 10.0
    cert_warn_days: int = Field(14, ge=0, le=365)
    latency_target_ms: float | None = Field(None, gt=0)
    ca_file: Path | None = None
    """PEM certificates to trust for this check instead of the system's (a private CA)."""

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL such as https://example.com/login")
        return value


class InventorySettings(Strict):
    csv: Path | None = None


class SqlSettings(Strict):
    """Limits on every client statement (`nls sql`, the console's SQL screen), per query: a
    statement that runs longer is stopped, a result that grows past a limit is cut (and says so)."""

    timeout: Seconds = Field(60.0, le=DAY)
    max_rows: int = Field(1_000_000, ge=1, le=100_000_000)
    max_bytes: Annotated[Bytes, Field(ge=1024, le=16 * 1024**3)] = 256 * 1024**2
    concurrent: int = Field(4, ge=1, le=32)


class InstallerAccess(Strict):
    """The Unix accounts that are one installer's staff: by user name or by group."""

    users: list[UnixName] = Field(default_factory=list)
    groups: list[UnixName] = Field(default_factory=list)


class AccessSettings(Strict):
    """Who may do what through the daemon's socket, decided from the peer's Unix credentials.

    root and the daemon's own account are always ops. Anyone else needs a line here: ops see
    everything (and may run SQL); an installer's staff see only that installer's customers,
    servers, mails and maintenance, and no SQL. A peer with no role is refused.
    """

    ops_users: list[UnixName] = Field(default_factory=list)
    ops_groups: list[UnixName] = Field(default_factory=list)
    installers: dict[str, InstallerAccess] = Field(default_factory=dict)
    socket: Path | None = None
    socket_group: UnixName | None = None
    socket_mode: int = Field(0o660, ge=0o600, le=0o777)


class Config(Strict):
    """The whole validated configuration; `source` is the file it came from."""

    monitor: MonitorSettings = MonitorSettings()
    database: DatabaseSettings = DatabaseSettings()
    eocortex: EocortexSettings = EocortexSettings()
    ssh: SshSettings = SshSettings()
    rdp: RdpSettings = RdpSettings()
    smtp: SmtpSettings | None = None
    inventory: InventorySettings = InventorySettings()
    sql: SqlSettings = SqlSettings()
    access: AccessSettings = AccessSettings()
    installers: list[Installer] = Field(default_factory=list)
    customers: list[Customer] = Field(default_factory=list)
    servers: list[Server] = Field(default_factory=list)
    web_checks: list[WebCheck] = Field(default_factory=list)
    calendars: dict[Ident, CalendarSpec] = Field(default_factory=dict)
    sla_policies: dict[Ident, SlaPolicy] = Field(default_factory=dict)
    source: Path = Field(default=Path(DEFAULT_CONFIG), exclude=True)

    @model_validator(mode="after")
    def _references(self) -> Config:
        _unique("installers", self.installers)
        _unique("customers", self.customers)
        _unique("servers", self.servers)
        installers = {i.id for i in self.installers}
        customers = {c.id for c in self.customers}
        for n, customer in enumerate(self.customers):
            if customer.installer not in installers:
                raise _RefError(
                    ("customers", n, "installer"),
                    f"unknown installer {customer.installer!r}; known: {_some(installers)}",
                )
        for n, server in enumerate(self.servers):
            if server.customer not in customers:
                raise _RefError(
                    ("servers", n, "customer"),
                    f"unknown customer {server.customer!r}; known: {_some(customers)}",
                )
        self._sla_references()
        _check_web(self, customers)
        return self

    def _sla_references(self) -> None:
        """Policies name existing calendars, and every customer's sla_plan names a policy."""
        try:
            check_references(self.calendars, self.sla_policies)
        except SlaRefError as exc:
            raise _RefError(exc.loc, str(exc)) from None
        for n, customer in enumerate(self.customers):
            if customer.sla_plan is not None and customer.sla_plan not in self.sla_policies:
                raise _RefError(
                    ("customers", n, "sla_plan"),
                    f"unknown SLA policy {customer.sla_plan!r} for customer {customer.id!r}; "
                    f"known: {_some(self.sla_policies)} ([sla_policies.NAME] tables)",
                )

    @model_validator(mode="after")
    def _access_references(self) -> Config:
        """Every installer in [access] exists, and no account is listed for two roles."""
        known = {i.id for i in self.installers}
        owner: dict[str, str] = {u: "ops" for u in self.access.ops_users}
        for installer, staff in self.access.installers.items():
            if installer not in known:
                raise _RefError(
                    ("access", "installers", installer),
                    f"unknown installer {installer!r}; known: {_some(known)}",
                )
            for user in staff.users:
                if owner.setdefault(user, installer) != installer:
                    raise _RefError(
                        ("access", "installers", installer, "users"),
                        f"user {user!r} is also listed for {owner[user]}; one role per account",
                    )
        return self

    @property
    def database_path(self) -> Path:
        return _relative(self.source, self.database.path)

    @property
    def archive_path(self) -> Path:
        """The Parquet archive folder of raw samples older than keep_raw_months."""
        if self.database.archive is not None:
            return _relative(self.source, self.database.archive)
        db = self.database_path
        return db.with_name(db.name + ".archive")

    def scoped(self, installer_id: str) -> Config:
        """The same config holding only one installer's customers and servers."""
        directory = Directory(self)
        try:
            installer = directory.installer(installer_id)
        except NotFound as exc:
            raise ConfigError(str(exc)) from None
        customers = directory.customers_of(installer_id)
        mine = {c.id for c in customers}
        return self.model_copy(
            update={
                "installers": [installer],
                "customers": customers,
                "servers": directory.servers_of(installer_id),
                "web_checks": [w for w in self.web_checks if w.customer in mine],
            }
        )


def _check_web(config: Config, customers: set[str]) -> None:
    _unique("web_checks", config.web_checks)
    servers = {s.id for s in config.servers}
    for n, web in enumerate(config.web_checks):
        if web.customer not in customers:
            raise _RefError(
                ("web_checks", n, "customer"),
                f"unknown customer {web.customer!r}; known: {_some(customers)}",
            )
        if web.id in servers:
            raise _RefError(
                ("web_checks", n, "id"),
                f"{web.id!r} is also a server id; a web check needs an id of its own",
            )


Overrides = Directory
"""The directory's former name, kept for callers not yet renamed."""


class _RefError(ValueError):
    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _unique(section: str, items: Iterable[Any]) -> None:
    seen: dict[str, int] = {}
    for n, item in enumerate(items):
        if item.id in seen:
            raise _RefError(
                (section, n, "id"), f"duplicate id {item.id!r} (also {section}[{seen[item.id]}])"
            )
        seen[item.id] = n


def _some(ids: Iterable[str], limit: int = 8) -> str:
    ordered = sorted(ids)
    text = ", ".join(ordered[:limit]) or "(none)"
    return text + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")


def _relative(source: Path, path: Path) -> Path:
    return path if path.is_absolute() else source.parent / path


def resolve_path(source: str | os.PathLike[str] | None) -> Path:
    """--config, else $NLS_CONFIG, else ./nls.toml."""
    return Path(source or os.environ.get("NLS_CONFIG") or DEFAULT_CONFIG)


def load_config(source: str | os.PathLike[str] | None = None) -> Config:
    """Read, validate and cross-check the configuration, raising ConfigError on any problem."""
    path = resolve_path(source)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; pass --config FILE, set NLS_CONFIG, or start from "
            "config.example.toml"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    raw = dict(raw)
    inventory = raw.get("inventory")
    if isinstance(inventory, dict) and inventory.get("csv"):
        csv_path = _relative(path, Path(str(inventory["csv"])))
        raw["servers"] = list(raw.get("servers", [])) + read_inventory(csv_path)
    origins = {
        n: server.pop("_csv")
        for n, server in enumerate(raw.get("servers", []))
        if isinstance(server, dict) and "_csv" in server
    }
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(path, raw, exc, origins)) from None
    return config.model_copy(update={"source": path})


def _explain(path: Path, raw: dict[str, Any], exc: ValidationError, origins: dict[int, str]) -> str:
    lines = []
    for error in exc.errors()[:10]:
        loc = tuple(error["loc"])
        ref = error.get("ctx", {}).get("error")
        if isinstance(ref, _RefError):
            loc, message = ref.loc, str(ref)
        elif error["type"] == "extra_forbidden":
            message = "unknown key; check the spelling against config.example.toml"
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if "input" in error and not isinstance(error["input"], dict | list):
                message += f" (got {error['input']!r})"
        lines.append(f"{path}: {_key_path(loc, raw, origins)}: {message}")
    more = len(exc.errors()) - len(lines)
    if more > 0:
        lines.append(f"{path}: ... and {more} more problems")
    return "\n".join(lines)


def _key_path(loc: tuple[Any, ...], raw: dict[str, Any], origins: dict[int, str]) -> str:
    """`servers[3] (id 'crest-04', servers.csv line 5).address`: a path a human can find."""
    parts: list[str] = []
    node: Any = raw
    for part in loc:
        if isinstance(part, int):
            label = f"[{part}]"
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(item, dict):
                hints = []
                if "id" in item:
                    hints.append(f"id {item['id']!r}")
                if parts == ["servers"] and part in origins:
                    hints.append(origins[part])
                if hints:
                    label += f" ({', '.join(hints)})"
            parts.append(label)
            node = item
        else:
            parts.append(("." if parts else "") + str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts)


_CSV_COLUMNS = {
    "id",
    "name",
    "customer",
    "address",
    "platform",
    "delivered",
    "eocortex_url",
    "ssh_user",
    "ssh_port",
    "rdp_port",
}
_CSV_REQUIRED = ("id", "customer", "address")


def read_inventory(path: Path) -> list[dict[str, Any]]:
    """Servers from a CSV inventory; every problem names the file, line and column."""
    try:
        handle = io.StringIO(_utf8_text(path, path.read_bytes()), newline="")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the inventory CSV: {exc.strerror}") from None
    servers: list[dict[str, Any]] = []
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in _CSV_COLUMNS]
        if unknown:
            raise ConfigError(
                f"{path} line 1: unknown column(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(sorted(_CSV_COLUMNS))}"
            )
        missing = [c for c in _CSV_REQUIRED if c not in header]
        if missing:
            raise ConfigError(f"{path} line 1: missing column(s) {', '.join(missing)}")
        for row in reader:
            line = reader.line_num
            if None in row:
                raise ConfigError(f"{path} line {line}: more fields than columns in the header")
            values = {k: (v or "").strip() for k, v in row.items()}
            for column in _CSV_REQUIRED:
                if not values[column]:
                    raise ConfigError(f"{path} line {line}, column {column}: empty")
            server: dict[str, Any] = {
                k: values[k]
                for k in ("id", "name", "customer", "address", "platform", "eocortex_url")
                if values.get(k)
            }
            if values.get("delivered"):
                server["delivered"] = values["delivered"]
            for column, section in (("ssh_user", "ssh"), ("ssh_port", "ssh"), ("rdp_port", "rdp")):
                if values.get(column):
                    key = column.split("_", 1)[1]
                    server.setdefault(section, {})[key] = values[column]
            server["_csv"] = f"{path.name} line {line}"
            servers.append(server)
    return servers


_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _utf8_text(path: Path, data: bytes) -> str:
    """The file as text, or a ConfigError naming the line that is not UTF-8 (Excel's "CSV" is
    often Windows-1252 or UTF-16)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise ConfigError(
                f"{path} line 1: the file is {name} (it starts with a {name} byte-order mark); "
                "save it as CSV UTF-8"
            )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path} line {line}: byte 0x{data[exc.start]:02x} at column {column} is not UTF-8 "
            "(the file looks like Latin-1 or Windows-1252); save it as CSV UTF-8"
        ) from None
