"""The engine stays pure: it imports no platform, HTTP, SQL, cache or model client."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "bot" / "engine"
FORBIDDEN = (
    "aiogram",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "redis",
    "httpx",
    "openai",
    "bot.channels",
    "bot.store",
    "bot.service",
    "yaml",
)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engine_imports_nothing_of_the_platforms() -> None:
    files = sorted(ENGINE.rglob("*.py"))
    assert files, "bot/engine has no modules"
    offenders = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert not offenders


def test_the_check_itself_catches_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom sqlalchemy import select\nimport aiogram.types\n")
    assert {"sqlalchemy", "aiogram.types"} <= imported_modules(bad)
