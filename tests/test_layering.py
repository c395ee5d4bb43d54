"""The import contract of the layout in ARCHITECTURE.md: data flows one way, so no group imports
the groups that sit above it, and the thin client (wire, remote) never drags in the store."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "console"


def imported(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (also inside functions), as dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def offenders(files: list[Path], *forbidden: str) -> list[str]:
    """`file: module` for each import of a forbidden package (or of a module inside it)."""
    bad = []
    for path in files:
        for module in sorted(imported(path)):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)}: {module}")
    return bad


def group(name: str) -> list[Path]:
    return sorted((CONSOLE / name).rglob("*.py"))


def test_probes_never_import_console() -> None:
    assert offenders(sorted((ROOT / "probes").rglob("*.py")), "console") == []


def test_only_the_tui_package_imports_textual() -> None:
    outside = [p for p in CONSOLE.rglob("*.py") if CONSOLE / "tui" not in p.parents]
    assert offenders(outside, "textual", "textual_fastdatatable", "rich") == []


def test_the_engine_store_and_mail_never_import_the_front_ends() -> None:
    """monitor, store and mail sit below every way of reaching them (CLI, daemon, console)."""
    files = group("monitor") + group("store") + group("mail")
    assert offenders(files, "console.cli", "console.daemon", "console.tui", "console.sources") == []


def test_the_daemon_never_imports_the_cli_or_the_console() -> None:
    assert offenders(group("daemon"), "console.cli", "console.tui") == []


def test_nothing_imports_the_cli() -> None:
    outside = [p for p in CONSOLE.rglob("*.py") if CONSOLE / "cli" not in p.parents]
    assert offenders(outside, "console.cli") == []


def test_the_wire_and_the_client_never_import_the_store_or_the_engine() -> None:
    """An attached `nls` needs neither DuckDB nor the probes: its exceptions come from
    console.errors, its types from console.fleetview."""
    files = [CONSOLE / "daemon" / "wire.py", CONSOLE / "daemon" / "remote.py"]
    forbidden = ("console.store", "console.monitor.engine", "console.monitor.service", "duckdb")
    assert offenders(files, *forbidden) == []
    code = (
        "import sys, console.daemon.remote, console.fleetview, console.errors; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('duckdb', 'textual', "
        "'asyncssh') or m.startswith(('console.store', 'console.monitor.engine'))); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_the_vocabulary_modules_are_leaves() -> None:
    """errors, status, units and clock are imported from everywhere, so they import nothing of
    console themselves (no cycle can start there)."""
    leaves = [CONSOLE / f"{name}.py" for name in ("errors", "status", "units", "clock")]
    assert offenders(leaves, "console", "probes") == []
