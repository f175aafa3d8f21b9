"""Every drill has up-to-date phone-screen pictures, drawn from its own text, in both languages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot import pictures
from bot.content import ASSETS_DIR, DEFAULT_LESSONS_DIR, load
from bot.engine.lesson import LOCALES, DrillStep, Lesson, Locale, drill_picture
from tests.conftest import FIXTURE_LESSONS, ROOT, unavailable

TONES = (
    "Tiếng Việt có đủ dấu: ả ã ạ ẩ ẫ ậ ằ ẳ ẵ ặ ề ể ễ ệ ỉ ĩ ị ỏ õ ọ ồ ổ ỗ ộ ờ ở ỡ ợ ủ ũ ụ "
    "ừ ử ữ ự ỳ ỷ ỹ ỵ đ Đ"
)
CAPITALS = "ẢÃẠẨẪẬẰẲẴẶỀỂỄỆỈĨỊỎÕỌỒỔỖỘỜỞỠỢỦŨỤỪỬỮỰỲỶỸỴ"
EMOJI = "🎉👍🏽 ⚠️ 👨‍👩‍👧 1️⃣"


@pytest.fixture
def fonts() -> None:
    try:
        pictures.font_files()
    except pictures.FontsMissingError:
        unavailable("DejaVu fonts are not installed")


def drill_steps(lessons: list[Lesson]) -> list[tuple[Lesson, DrillStep, Locale]]:
    return [
        (lesson, step, locale)
        for lesson in lessons
        for step in lesson.steps
        if isinstance(step, DrillStep)
        for locale in LOCALES
    ]


def check_pictures(root: Path) -> int:
    catalog, problems = load(root)
    assert catalog is not None, problems
    checked = 0
    for lesson, step, locale in drill_steps(catalog.ordered()):
        path = root / ASSETS_DIR / drill_picture(lesson.id, step.id, locale)
        assert path.is_file(), f"{path} is missing: run make pictures"
        assert path.stat().st_size <= 1_000_000, f"{path} is over 1 MB"
        with Image.open(path) as image:
            assert image.format == "PNG", path
            image.verify()
        with Image.open(path) as image:
            assert image.width <= 1280, path
            assert image.height <= 1280, path
        assert pictures.stored_hash(path) == pictures.source_hash(step, locale), (
            f"{path} is out of date: run make pictures"
        )
        checked += 1
    return checked


def test_fixture_drills_have_current_pictures() -> None:
    assert check_pictures(FIXTURE_LESSONS) >= 2


def test_lesson_drills_have_current_pictures() -> None:
    _, problems = load(DEFAULT_LESSONS_DIR)
    if problems:
        pytest.skip(f"the lesson library does not load yet ({len(problems)} problems)")
    check_pictures(DEFAULT_LESSONS_DIR)


def test_the_font_draws_every_vietnamese_letter_and_leaves_emoji_out(fonts: None) -> None:
    for text in (TONES, CAPITALS, CAPITALS.lower()):
        assert pictures.drawable(text) == text
        assert pictures.drawable(text, bold=True) == text
    cleaned = pictures.drawable(f"{TONES} {EMOJI}.")
    assert cleaned.startswith(TONES)
    assert all(ord(char) <= 0xFFFF for char in cleaned)
    assert "\ufe0f" not in cleaned
    assert "\u200d" not in cleaned
    assert pictures.drawable("Look for the gear 🔧.") == "Look for the gear."


def drill(channel: str, sender: str, vi: str, en: str) -> DrillStep:
    return DrillStep.model_validate(
        {
            "id": "d-test",
            "kind": "drill",
            "channel": channel,
            "sender": sender,
            "message": {"vi": vi, "en": en},
            "verdict": "safe",
            "explanation": {"vi": "Giải thích.", "en": "Explanation."},
        }
    )


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("channel", "sender"),
    [
        ("sms", "VBank-CSKH"),
        ("zalo", "Đỗ Thị Ánh Hồng 🌸"),
        ("call", "Ông Nguyễn Văn Bảy"),
        ("web", "vbank-xac-minh-tai-khoan-khach-hang.top/dang-nhap?id=1234"),
    ],
)
def test_every_channel_draws_vietnamese_and_emoji(
    fonts: None, channel: str, sender: str, locale: Locale
) -> None:
    step = drill(channel, sender, f"{TONES} {EMOJI}\n{CAPITALS}", f"Hello 👋 {TONES}")
    image = pictures.render(step, locale)
    assert image.mode == "RGB"
    assert 600 <= image.width <= 720
    assert image.width < image.height <= 1280, "a phone screen is portrait"
    assert len(image.getcolors(maxcolors=1_000_000) or []) > 10, "the screen has content"


def test_a_very_long_message_still_fits_the_screen(fonts: None) -> None:
    long = ("Tài khoản của Quý khách sẽ bị khóa sau 24 giờ. " * 30)[:1000]
    for channel in ("sms", "zalo", "call", "web"):
        image = pictures.render(drill(channel, "X" * 60, long, long), "vi")
        assert image.width <= 720
        assert image.height <= 1280


def generated(root: Path) -> dict[str, bytes]:
    drills = root / ASSETS_DIR / pictures.DRILLS_DIR
    return {
        path.relative_to(drills).as_posix(): path.read_bytes()
        for path in sorted(drills.rglob("*"))
        if path.is_file()
    }


def is_current(root: Path, lesson_id: str, step_id: str, locale: Locale) -> bool:
    catalog, problems = load(root)
    assert catalog is not None, problems
    lesson = catalog.lesson(lesson_id)
    assert lesson is not None
    index = lesson.step_index(step_id)
    assert index is not None
    step = lesson.steps[index]
    assert isinstance(step, DrillStep)
    path = root / ASSETS_DIR / drill_picture(lesson_id, step_id, locale)
    return pictures.stored_hash(path) == pictures.source_hash(step, locale)


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text(encoding="utf-8")
    assert old in text
    file.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_generator_redraws_only_what_changed(
    fonts: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "lessons"
    shutil.copytree(FIXTURE_LESSONS, root, ignore=shutil.ignore_patterns(ASSETS_DIR))
    lesson_file = root / "demo" / "first.yaml"

    first = pictures.generate(root)
    assert (first.written, first.unchanged, first.removed) == (2, 0, 0)
    assert set(generated(root)) == {"first/judge.vi.png", "first/judge.en.png"}
    before = generated(root)
    again = pictures.generate(root)
    assert (again.written, again.unchanged, again.removed) == (0, 2, 0)
    assert generated(root) == before, "unchanged pictures must stay byte-identical"

    edit(lesson_file, "Tài khoản bị khóa", "Tài khoản đã bị khóa")
    assert not is_current(root, "first", "judge", "vi")
    assert is_current(root, "first", "judge", "en")
    redrawn = pictures.generate(root)
    assert (redrawn.written, redrawn.unchanged) == (1, 1)
    assert is_current(root, "first", "judge", "vi")
    assert generated(root)["first/judge.en.png"] == before["first/judge.en.png"]

    edit(lesson_file, "kind: drill", "kind: dril")  # a writer's typo: pictures stay meanwhile
    broken = pictures.generate(root)
    assert (broken.written, broken.removed) == (0, 0)
    assert broken.skipped == [lesson_file]
    assert f"warning: {lesson_file}" in capsys.readouterr().err
    assert set(generated(root)) == {"first/judge.vi.png", "first/judge.en.png"}

    edit(lesson_file, "kind: dril", "kind: drill")
    edit(lesson_file, "id: judge", "id: judge-again")
    renamed = pictures.generate(root)
    assert (renamed.written, renamed.removed) == (2, 2)
    assert set(generated(root)) == {"first/judge-again.vi.png", "first/judge-again.en.png"}


def test_the_command_line_reports_what_it_did(fonts: None, tmp_path: Path) -> None:
    root = tmp_path / "lessons"
    shutil.copytree(FIXTURE_LESSONS, root, ignore=shutil.ignore_patterns(ASSETS_DIR))
    stale = root / ASSETS_DIR / pictures.DRILLS_DIR / "gone" / "old.vi.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"not even a picture")
    (root / "demo" / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot.pictures", str(root)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "pictures: written 2, unchanged 0, removed 1, skipped 1 invalid lesson file"
    )
    assert "broken.yaml" in done.stderr
    assert not stale.parent.exists()
