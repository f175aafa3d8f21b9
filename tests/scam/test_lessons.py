"""Each red flag points to a lesson that exists; the lesson drills agree with the checker."""

from __future__ import annotations

import pytest

from bot.engine import Catalog
from bot.engine.lesson import DrillStep
from bot.scam import FLAGS, LESSON_BY_FLAG, check, lesson_for
from bot.scam.flags import LESSON_PRIORITY


def test_every_mapped_lesson_exists_in_the_catalog(real_catalog: Catalog) -> None:
    assert LESSON_BY_FLAG, "no flag points to a lesson"
    missing = {
        code: lesson
        for code, lesson in LESSON_BY_FLAG.items()
        if lesson not in real_catalog.lessons
    }
    assert missing == {}


def test_every_flag_with_a_lesson_has_a_place_in_the_priority() -> None:
    assert set(LESSON_BY_FLAG) <= set(LESSON_PRIORITY)
    assert set(LESSON_PRIORITY) <= set(FLAGS)
    assert len(LESSON_PRIORITY) == len(set(LESSON_PRIORITY))


def test_the_lesson_comes_from_the_most_telling_flag() -> None:
    assert lesson_for([]) is None
    assert lesson_for(["threat", "urgency"]) is None
    assert lesson_for(["unusual_tld"]) == "check-a-website"
    assert lesson_for(["unusual_tld", "impersonates_bank"]) == "fake-bank-sms"
    assert lesson_for(["asks_otp", "impersonates_delivery"]) == "fake-shops-shippers"
    assert lesson_for(["impersonates_delivery", "impersonates_police"]) == "fake-police"


@pytest.mark.parametrize(
    ("text", "lesson"),
    [
        ("Vietcombank: tài khoản bị khóa, xác minh tại vietcombank-xacminh.top", "fake-bank-sms"),
        ("Tôi là cán bộ công an, bà chuyển tiền vào tài khoản tạm giữ ngay", "fake-police"),
        (
            "Điện lực: nhà bác sẽ bị cắt điện hôm nay, cài app tại dienluc-cskh.top",
            "fake-utility-and-tax",
        ),
        (
            "Công an phường: tài khoản VNeID của bác sắp bị khóa, cài bản mới tại vneid-moi.top",
            "fake-police",
        ),
        ("VNeID: cập nhật định danh mức 2 tại vneid-moi.top trước ngày 30", "one-real-vneid"),
        (
            "Mẹ ơi con bị tai nạn, mẹ chuyển gấp 20 triệu vào tài khoản bạn con nhé",
            "deepfake-calls",
        ),
        ("Tuyển CTV thả tim, mỗi nhiệm vụ 50.000đ", "task-scams"),
        ("Shipper đây ạ, chị đọc giúp em mã OTP vừa gửi về máy chị nhé", "fake-shops-shippers"),
        ("Anh đọc giúp em mã OTP vừa nhận nhé", "otp-is-secret"),
        ("Tải file cap-nhat.apk rồi cài đặt nhé", "safe-app-installs"),
        ("Cán bộ thuế đây, anh tải file etax-moi.apk rồi cài nhé", "fake-utility-and-tax"),
    ],
)
def test_messages_get_the_lesson_that_teaches_them(text: str, lesson: str) -> None:
    assert check(text).lesson == lesson


def _drills(catalog: Catalog) -> list[tuple[str, str, str]]:
    return [
        (f"{lesson.id}/{step.id}.{locale}", step.verdict, step.message(locale))
        for lesson in catalog.ordered()
        for step in lesson.steps
        if isinstance(step, DrillStep)
        for locale in ("vi", "en")
    ]


def test_the_lesson_drills_agree_with_the_checker(real_catalog: Catalog) -> None:
    drills = _drills(real_catalog)
    scams = [(name, check(text)) for name, verdict, text in drills if verdict == "scam"]
    safe = [(name, check(text)) for name, verdict, text in drills if verdict == "safe"]
    assert len(scams) >= 20
    assert len(safe) >= 6
    flagged = [name for name, result in scams if result.verdict != "no_red_flags"]
    assert len(flagged) / len(scams) >= 0.9, sorted({n for n, _ in scams} - set(flagged))
    alarmed = [name for name, result in safe if result.verdict == "likely_scam"]
    assert alarmed == []
