"""`camtay chat` as a person uses it: typed lines in, replies out, progress kept between runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.channels.terminal import render
from bot.engine import QRReply
from tests.conftest import FIXTURE_LESSONS, ROOT

CAMTAY = str(Path(sys.executable).parent / "camtay")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CAMTAY_SQLITE_PATH": str(tmp_path / "chat.sqlite3"),
        "CAMTAY_LESSONS_DIR": str(FIXTURE_LESSONS),
        "CAMTAY_DATABASE_URL": "",
        "CAMTAY_REDIS_URL": "",
    }


def chat(env: dict[str, str], lines: list[str], *args: str) -> str:
    done = subprocess.run(
        [CAMTAY, "chat", "--user", "grandma", *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_whole_lesson_in_the_terminal(env: dict[str, str]) -> None:
    # "I agree" to the privacy notice, Lesson one, Next, Done, then the quiz and the drill
    # answered in words.
    out = chat(env, ["1", "demo", "2", "1", "done", "nobody", "scam"], "--lang", "en")
    assert "1. ✅ I agree" in out
    assert "Welcome back" not in out
    assert "  1. 📘 Demo · 0/2" in out
    assert "  2. 📘 Lesson one" in out
    assert "👉 Try it now on your phone:\nOpen Settings." in out
    assert "✅ That's right! Right." in out
    assert "✅ Exactly! This is a scam." in out
    assert "🎉 You finished «Lesson one»!" in out
    assert "You got 2 of 2 answers right." in out


def test_progress_persists_between_runs(env: dict[str, str]) -> None:
    chat(env, ["1", "1", "2", "1"], "--lang", "en")  # agrees, stops half-way through Lesson one
    out = chat(env, ["1", "1", "the bank"])  # carry on, done, a wrong answer
    assert "Welcome back! 👋" in out
    assert "You are part-way through «Lesson one» (step 2 of 4)." in out
    assert "❌ Not quite. Banks never ask." in out
    out = chat(env, [])
    assert "You are part-way through «Lesson one» (step 4 of 4)." in out
    out = chat(env, ["1", "1"])  # carry on, "A scam"
    assert "🎉 You finished «Lesson one»!" in out
    out = chat(env, ["/menu", "demo"])
    assert "  1. ▶️ Demo · 1/2" in out
    assert "  1. ✅ Lesson one" in out


def test_eof_and_quit_end_the_chat_cleanly(env: dict[str, str]) -> None:
    out = chat(env, ["/quit", "1"])
    assert "Tiếng Việt 🇻🇳" in out
    assert "Switched to English" not in out  # nothing after /quit was read


def test_a_bad_language_is_refused(env: dict[str, str]) -> None:
    done = subprocess.run(
        [CAMTAY, "chat", "--lang", "fr"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "use vi or en" in done.stderr


def test_a_qr_code_is_its_caption_and_link_on_plain_lines() -> None:
    link = "https://t.me/camtay_bot?start=ref_Vx7Q2a"
    assert render(QRReply(data=link, caption="Your invitation link:")) == (
        f"Your invitation link:\n{link}"
    )
    assert render(QRReply(data=link)) == link
