"""`camtay check-message` reads one message on standard input and explains the verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.scam import check
from tests.conftest import ROOT

CAMTAY = str(Path(sys.executable).parent / "camtay")
SCAM = "VCB: Tai khoan cua Quy khach bi khoa. Xac minh ngay tai hxxps://vcb-xacminh[.]top/login"


def run(message: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CAMTAY, "check-message", *options],
        input=message,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_prints_the_verdict_and_red_flags_in_both_languages() -> None:
    done = run(SCAM)
    assert done.returncode == 0, done.stderr
    assert "RẤT CÓ THỂ LÀ LỪA ĐẢO" in done.stdout
    assert "VERY LIKELY A SCAM" in done.stdout
    for flag in check(SCAM).red_flags:
        assert flag.vi in done.stdout
        assert flag.en in done.stdout
    assert "5656" in done.stdout
    assert "Tin nhắn ngân hàng giả / Fake bank SMS (fake-bank-sms)" in done.stdout


def test_json_has_verdict_red_flags_advice_and_lesson() -> None:
    done = run(SCAM, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"verdict", "red_flags", "advice", "lesson"}
    assert data["verdict"] == "likely_scam"
    assert data["lesson"] == "fake-bank-sms"
    codes = [flag["code"] for flag in data["red_flags"]]
    assert {"lookalike_domain", "unusual_tld", "threat"} <= set(codes)
    for flag in data["red_flags"]:
        assert flag["vi"]
        assert flag["en"]
    assert all(item["vi"] and item["en"] for item in data["advice"])
    assert data == check(SCAM).to_json()


def test_an_ordinary_message_is_never_called_safe() -> None:
    done = run("Mẹ ơi tối nay con về ăn cơm nhé", "--json")
    data = json.loads(done.stdout)
    assert data["verdict"] == "no_red_flags"
    assert data["red_flags"] == []
    plain = run("Mẹ ơi tối nay con về ăn cơm nhé")
    assert "Chưa thấy dấu hiệu lừa đảo rõ ràng / No clear warning signs found" in plain.stdout


def test_an_empty_message_is_refused() -> None:
    done = run("  \n")
    assert done.returncode == 2
    assert "Paste the message" in done.stderr
