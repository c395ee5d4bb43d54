"""Configuration: the example validates, and every mistake names file, key and remedy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from console.config import ConfigError, Overrides, load_config
from console.monitor.engine import limits_for

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = """
[eocortex]
password_env = "NLS_TEST_PW"

[[installers]]
id = "inst"
name = "Installer"
emails = ["a@inst.example"]

[[customers]]
id = "cust"
name = "Customer"
installer = "inst"

[[servers]]
id = "srv-1"
customer = "cust"
address = "127.0.0.1"
"""


def write(tmp_path: Path, text: str, name: str = "nls.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_example_config_is_valid_and_realistic(tmp_path: Path) -> None:
    config = load_config(ROOT / "config.example.toml")
    assert len(config.installers) == 3
    assert 6 <= len(config.customers) <= 10
    assert 15 <= len(config.servers) <= 25
    assert config.monitor.interval == 900
    assert config.monitor.failures_before_alert == 3


def test_defaults_and_database_path_relative_to_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.database_path == tmp_path / "nls.duckdb"
    assert config.servers[0].platform == "windows"
    assert config.monitor.quiet_days == 3


def test_unknown_key_is_named_with_its_path(tmp_path: Path) -> None:
    text = MINIMAL.replace('address = "127.0.0.1"', 'address = "127.0.0.1"\nadress = "x"')
    message = error_of(write(tmp_path, text))
    assert str(tmp_path / "nls.toml") in message
    assert "servers[0] (id 'srv-1').adress" in message
    assert "unknown key" in message


def test_bad_duration_and_bad_date(tmp_path: Path) -> None:
    text = MINIMAL + '\n[monitor]\ninterval = "fifteen"\n'
    assert "monitor.interval" in error_of(write(tmp_path, text))
    text = MINIMAL.replace(
        'address = "127.0.0.1"', 'address = "127.0.0.1"\ndelivered = "2025-13-01"'
    )
    assert "servers[0] (id 'srv-1').delivered" in error_of(write(tmp_path, text))


def test_unknown_reference_lists_known_ids(tmp_path: Path) -> None:
    text = MINIMAL.replace('customer = "cust"', 'customer = "nope"')
    message = error_of(write(tmp_path, text))
    assert "servers[0] (id 'srv-1').customer" in message
    assert "unknown customer 'nope'" in message and "cust" in message


def test_duplicate_id(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[servers]]\nid = "srv-1"\ncustomer = "cust"\naddress = "127.0.0.2"\n'
    assert "duplicate id 'srv-1'" in error_of(write(tmp_path, text))


def test_inline_password_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('password_env = "NLS_TEST_PW"', 'password = "hunter2"')
    message = error_of(write(tmp_path, text))
    assert "eocortex.password" in message
    assert "hunter2" not in message


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, MINIMAL + "\n[[servers]\n"))
    assert "not valid TOML" in message and "line" in message


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    message = error_of(tmp_path / "absent.toml")
    assert "no such file" in message and "config.example.toml" in message


def test_csv_inventory_adds_servers(tmp_path: Path) -> None:
    write(
        tmp_path,
        "id,name,customer,address,platform,delivered,ssh_port\n"
        "csv-1,First,cust,127.0.0.5,linux,2024-01-02,2222\n"
        "csv-2,,cust,127.0.0.6,,,\n",
        "servers.csv",
    )
    config = load_config(write(tmp_path, MINIMAL + '\n[inventory]\ncsv = "servers.csv"\n'))
    ids = [s.id for s in config.servers]
    assert ids == ["srv-1", "csv-1", "csv-2"]
    assert config.servers[1].ssh is not None and config.servers[1].ssh.port == 2222


def test_csv_error_names_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "id,customer,address,delivered\ncsv-1,cust,127.0.0.5,2024-01-02\ncsv-2,cust,127.0.0.6,yesterday\n",
        "servers.csv",
    )
    message = error_of(write(tmp_path, MINIMAL + '\n[inventory]\ncsv = "servers.csv"\n'))
    assert "servers.csv line 3" in message and "delivered" in message


def test_csv_unknown_column(tmp_path: Path) -> None:
    write(tmp_path, "id,customer,address,colour\n", "servers.csv")
    message = error_of(write(tmp_path, MINIMAL + '\n[inventory]\ncsv = "servers.csv"\n'))
    assert "servers.csv line 1" in message and "colour" in message


def test_thresholds_most_specific_wins() -> None:
    config = load_config(ROOT / "config.example.toml")
    overrides = Overrides(config)
    by_id = {s.id: s for s in config.servers}
    assert limits_for(overrides, by_id["crest-lge-02"]).cpu_threshold == 95.0  # server
    assert limits_for(overrides, by_id["crest-mst-01"]).cpu_threshold == 99.0  # installer
    assert limits_for(overrides, by_id["crest-hsl-01"]).cpu_threshold == 98.0  # monitor
    assert overrides.setting(by_id["crest-gnk-01"], "failures_before_alert") == 2  # customer
    assert overrides.timezone(by_id["crest-mst-01"]) == "Europe/Amsterdam"


def test_scoped_config_holds_one_installer(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.toml", tmp_path / "nls.toml")
    config = load_config(tmp_path / "nls.toml").scoped("alarmes-wallonie")
    assert {c.installer for c in config.customers} == {"alarmes-wallonie"}
    assert all(s.customer in {c.id for c in config.customers} for s in config.servers)
    with pytest.raises(ConfigError, match="no installer 'ghost'"):
        config.scoped("ghost")


def test_example_smtp_section_is_valid_when_uncommented(tmp_path: Path) -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    start = text.index("# [smtp]")
    end = text.index("[inventory]")
    block = "\n".join(
        line.removeprefix("# ") for line in text[start:end].splitlines() if line.startswith("# ")
    )
    config = load_config(write(tmp_path, text[:start] + block + "\n\n" + text[end:]))
    assert config.smtp is not None and config.smtp.security == "starttls"
    assert config.smtp.port == 587
