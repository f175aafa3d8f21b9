"""Every lesson file loads; a broken one is reported by file and field, never by a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.content import DEFAULT_LESSONS_DIR, load
from bot.engine import SPEC_VERSION
from tests.conftest import FIXTURE_LESSONS, ROOT

CAMTAY = str(Path(sys.executable).parent / "camtay")


def test_every_lesson_file_loads() -> None:
    catalog, problems = load(DEFAULT_LESSONS_DIR)
    assert problems == []
    assert catalog is not None
    assert len(catalog.lessons) >= 3
    for lesson in catalog.ordered():
        assert lesson.spec_version == SPEC_VERSION
        assert any(step.kind in ("show", "quiz", "drill") for step in lesson.steps), lesson.id
        assert all(str(source).startswith(("https://", "http://")) for source in lesson.sources)


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CAMTAY, "lessons", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_check_is_clean_on_the_library() -> None:
    done = check(DEFAULT_LESSONS_DIR)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    root = tmp_path / "lessons"
    shutil.copytree(FIXTURE_LESSONS, root)
    return root


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text(encoding="utf-8")
    assert old in text
    file.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "first.yaml",
            "  - id: ask\n",
            "  - id: ask\n  -: [\n",
            "first.yaml: not valid YAML: line",
        ),
        (
            "first.yaml",
            "    hint: {vi: Tìm bánh răng ⚙️., en: Look for the gear ⚙️.}\n",
            "    hint: {vi: Tìm bánh răng ⚙️.}\n",
            "first.yaml [steps[1](id=try-it).hint.en]: Field required",
        ),
        (
            "first.yaml",
            "        correct: true\n",
            "",
            "first.yaml [steps[2](id=ask)]: a quiz needs",
        ),
        (
            "first.yaml",
            "    verdict: scam",
            "    verdict: maybe",
            "first.yaml [steps[3](id=judge).verdict]: Input should be 'scam' or 'safe'",
        ),
        (
            "first.yaml",
            "spec_version: 1",
            "spec_version: 9",
            "first.yaml [spec_version]: written for spec_version 9",
        ),
        (
            "first.yaml",
            'competencies: ["4.2"]',
            'competencies: ["digital"]',
            "first.yaml [competencies]: 'digital' is not a competency code",
        ),
        (
            "first.yaml",
            'sources: ["https://example.org/source"]',
            "sources: [not a url]",
            "first.yaml [sources[0]]: Input should be a valid URL",
        ),
        ("first.yaml", "  - id: judge", "  - id: ask", "first.yaml: step id 'ask' is used twice"),
        (
            "first.yaml",
            "    kind: quiz",
            "    kind: poll",
            "first.yaml [steps[2](id=ask)]: Input tag 'poll'",
        ),
        (
            "first.yaml",
            "module: demo",
            "module: other",
            "first.yaml [module]: must be its folder 'demo'",
        ),
        (
            "module.yaml",
            "lessons: [first, second]",
            "lessons: [first, second, third]",
            "module.yaml [lessons]: 'third' has no lesson file",
        ),
        (
            "second.yaml",
            "  - id: intro\n",
            "  - id: intro\n    picture: nowhere.png\n",
            "second.yaml [steps(id=intro).picture]: 'nowhere.png' is not in",
        ),
    ],
    ids=[
        "yaml-syntax",
        "missing-english",
        "no-correct-option",
        "bad-verdict",
        "newer-spec",
        "bad-competency",
        "bad-source",
        "duplicate-step",
        "unknown-step-kind",
        "wrong-module",
        "unlisted-lesson",
        "missing-picture",
    ],
)
def test_check_names_file_and_field(
    broken: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(broken / "demo" / file, old, new)
    done = check(broken)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert expected in done.stderr, done.stderr


def test_a_file_that_is_not_a_mapping(broken: Path) -> None:
    (broken / "demo" / "first.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    done = check(broken)
    assert done.returncode == 1
    assert "first.yaml: must be a YAML mapping" in done.stderr


def test_a_missing_folder(tmp_path: Path) -> None:
    done = check(tmp_path / "nope")
    assert done.returncode == 1
    assert "no such lessons folder" in done.stderr
