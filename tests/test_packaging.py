"""Packaging checks: the Dockerfile's layer order and user, the hashed locks, the README."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
LOCKS = [ROOT / "requirements.lock", ROOT / "requirements-dev.lock"]
REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[^\s;\\]+")
CODE = ("pyproject.toml", "bot", "webhook", "admin", "lessons")
ROOT_USERS = {"root", "0", "0:0", "root:root"}
# A lock compiled behind a mirror remembers the mirror; pip would then ask it for every install.
REGISTRY_HINTS = (
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--trusted-host",
    "pypi.org",
    "pythonhosted.org",
    "/simple",
)
BUILD_FILES = [
    "Dockerfile",
    ".dockerignore",
    "Makefile",
    "pyproject.toml",
    "requirements.lock",
    "requirements-dev.lock",
    "pip.conf",
    "uv.toml",
]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    if not DOCKERFILE.exists():
        pytest.fail("there is no Dockerfile")
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def _index(instructions: list[tuple[str, str]], keyword: str, *needles: str) -> int:
    for position, (name, arguments) in enumerate(instructions):
        if name == keyword and all(needle in arguments for needle in needles):
            return position
    pytest.fail(f"no {keyword} with {needles!r} in the Dockerfile")


def _copy_sources(arguments: str) -> list[str]:
    words = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
    words = [word for word in words if not word.startswith("--")]
    return words[:-1]


def _command(instructions: list[tuple[str, str]]) -> str:
    """What the container runs: ENTRYPOINT then CMD, exec form flattened to one string."""
    parts: dict[str, str] = {}
    for name, arguments in instructions:
        if name in ("ENTRYPOINT", "CMD"):
            parts[name] = (
                " ".join(json.loads(arguments)) if arguments.startswith("[") else arguments
            )
    return " ".join(parts[name] for name in ("ENTRYPOINT", "CMD") if name in parts)


def test_the_image_is_python_3_11() -> None:
    name, arguments = _instructions()[0]
    assert name == "FROM"
    assert arguments.split()[0].startswith("python:3.11"), arguments


def test_locked_dependencies_install_before_the_code_is_copied() -> None:
    # The dependency layer is rebuilt only when the lock changes, not on every code edit.
    instructions = _instructions()
    lock_copy = _index(instructions, "COPY", "requirements.lock")
    assert _copy_sources(instructions[lock_copy][1]) == ["requirements.lock"]
    install = _index(instructions, "RUN", "pip install", "--require-hashes", "requirements.lock")
    code_copies = [
        position
        for position, (name, arguments) in enumerate(instructions)
        if name == "COPY" and any(part.rstrip("/") in CODE for part in _copy_sources(arguments))
    ]
    assert code_copies, "the Dockerfile never copies the project"
    assert lock_copy < install < min(code_copies)
    project = _index(instructions, "RUN", "pip install", "--no-deps")
    assert project > max(code_copies)


def test_everything_the_dockerfile_copies_exists() -> None:
    for name, arguments in _instructions():
        if name != "COPY" or "--from" in arguments:
            continue
        for source in _copy_sources(arguments):
            if not (ROOT / source).exists():
                if source == "README.md":
                    pytest.skip("README.md is not written yet; the image cannot build without it")
                pytest.fail(f"COPY {source}: no such file in the project")


def test_the_container_runs_as_a_user_that_is_not_root() -> None:
    instructions = _instructions()
    command = max(
        (
            position
            for position, (name, _) in enumerate(instructions)
            if name in ("CMD", "ENTRYPOINT")
        ),
        default=-1,
    )
    assert command >= 0, "the Dockerfile has no CMD"
    users = [
        (position, arguments)
        for position, (name, arguments) in enumerate(instructions)
        if name == "USER" and position < command
    ]
    assert users, "no USER before CMD: the server would run as root"
    assert users[-1][1].strip() not in ROOT_USERS, users[-1]


def test_the_container_migrates_then_serves() -> None:
    command = _command(_instructions())
    upgrade, serve = command.find("camtay db upgrade"), command.find("camtay serve")
    assert upgrade >= 0, command
    assert serve > upgrade, command
    assert "0.0.0.0" in command, "serving on localhost inside a container is unreachable"  # noqa: S104


def test_the_image_has_a_healthcheck_and_knows_where_the_lessons_are() -> None:
    instructions = _instructions()
    health = _index(instructions, "HEALTHCHECK", "/healthz")
    assert "NONE" not in instructions[health][1].split()
    assert _index(instructions, "EXPOSE", "8000") >= 0
    assert _index(instructions, "ENV", "CAMTAY_LESSONS_DIR") >= 0


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", ".git", "var", "tests"):
        assert entry in ignored, entry


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_every_locked_requirement_is_pinned_with_hashes(lock: Path) -> None:
    assert lock.exists(), f"{lock.name} is missing: run `make lock`"
    requirements = re.sub(r"\\\n", " ", lock.read_text(encoding="utf-8"))
    lines = [line.strip() for line in requirements.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert lines, f"{lock.name} is empty"
    for line in lines:
        assert REQUIREMENT.match(line), f"{lock.name}: not pinned with ==: {line[:120]}"
        assert "--hash=sha256:" in line, f"{lock.name}: no hash: {line[:120]}"


@pytest.mark.parametrize("name", BUILD_FILES)
def test_no_package_registry_address_is_committed(name: str) -> None:
    path = ROOT / name
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    if path in LOCKS or name == "pyproject.toml":
        assert "http://" not in text, name
        assert "https://" not in text, name
    for hint in REGISTRY_HINTS:
        assert hint not in text, f"{name} names a package registry ({hint})"


def test_uv_lock_is_not_committed() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        [git, "ls-files", "uv.lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if listed.returncode != 0:
        pytest.skip(f"git cannot list files here: {listed.stderr.strip()}")
    assert listed.stdout.strip() == "", "uv.lock is committed; requirements*.lock are the locks"


def test_the_readme_tells_how_to_run_and_test() -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not written yet")
    text = readme.read_text(encoding="utf-8")
    assert "make run" in text
    assert "make test" in text
