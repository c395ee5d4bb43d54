"""The import contract: probes know protocols only; only console.tui may touch Textual."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_probes_never_import_console() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "probes").rglob("*.py")
        if "console" in imported_roots(p)
    ]
    assert offenders == []


def test_only_the_tui_package_imports_textual() -> None:
    tui = ROOT / "console" / "tui"
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "console").rglob("*.py")
        if tui not in p.parents and imported_roots(p) & {"textual", "textual_fastdatatable", "rich"}
    ]
    assert offenders == []
