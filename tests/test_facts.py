"""Facts that must stay right, pinned to the sources they come from (see CURRICULUM.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from bot.engine import Catalog, Lesson
from bot.engine.lesson import DrillStep, Text

# Every hotline a lesson may give, with a source page that states it.
HOTLINES = {
    "5656": "thongbaorac.ais.gov.vn",  # AIS: spam and scam reports by SMS
    "156": "thongbaorac.ais.gov.vn",  # AIS: the free line for reporting scam calls
    "0339035656": "sggp.org.vn/0339035656",  # AIS: fake base-station equipment reports
    "19001288": "vtcnews.vn/evnhanoi",  # EVNHANOI customer care
    "18008108": "vn-z.vn/tags/trung-tam-xu-ly-tin-gia",  # Anti-Fake-News Centre
}
# Official sites a lesson may name outside a drill; anything else must look plainly fake.
OFFICIAL_SITES = {
    "binhdanhocvuso.gov.vn",
    "gov.vn",
    "online.gov.vn",
    "thongbaorac.ais.gov.vn",
    "tingia.gov.vn",
    "tinnhiemmang.vn",
}
FAKE_ENDINGS = (".top", ".xyz", ".vip", ".apk")
PHONE = re.compile(r"(?<!\d)(?<!\d[.,])(?:0\d{9}|1[89]00\d{4}|5656|156)(?!\d)(?![.,]\d)")
DOMAIN = re.compile(r"\b(?:[a-z0-9-]+\.)+(?:vn|com|net|org|top|xyz|vip|apk|info)\b", re.IGNORECASE)


def texts(value: object, in_drill: bool = False) -> Iterator[tuple[str, bool]]:
    """Every text of a lesson in both languages, and whether it is part of a drill message."""
    if isinstance(value, Text):
        yield value.vi, in_drill
        yield value.en, in_drill
    elif isinstance(value, list):
        for item in value:
            yield from texts(item, in_drill)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            part = getattr(value, name)
            yield from texts(part, in_drill or (isinstance(value, DrillStep) and name == "message"))


def sources(lesson: Lesson) -> str:
    return " ".join(str(source) for source in lesson.sources)


def test_every_hotline_is_a_known_one_with_its_source(real_catalog: Catalog) -> None:
    for lesson in real_catalog.ordered():
        for text, in_drill in texts(lesson):
            if in_drill:
                continue  # a scammer's message may quote anything
            for number in PHONE.findall(text):
                assert number in HOTLINES, f"{lesson.id}: unknown hotline {number}"
                assert HOTLINES[number] in sources(lesson), (
                    f"{lesson.id} gives {number} but does not cite {HOTLINES[number]}"
                )


def test_sites_outside_drills_are_official_or_plainly_fake(real_catalog: Catalog) -> None:
    for lesson in real_catalog.ordered():
        for text, in_drill in texts(lesson):
            if in_drill:
                continue
            for site in DOMAIN.findall(text):
                site = site.lower()
                assert site in OFFICIAL_SITES or site.endswith(FAKE_ENDINGS), (
                    f"{lesson.id} names {site}: neither an official site nor an obvious fake"
                )


def test_the_5656_report_syntax(real_catalog: Catalog) -> None:
    """AIS (thongbaorac.ais.gov.vn): S for spam texts, V for spam calls, LD for scam calls."""
    lesson = real_catalog.lessons["report-spam-5656"]
    vi = "\n".join(text for text, _ in texts(lesson))
    for line in (
        "S [người gửi] [nội dung]",
        "V [số điện thoại] [nội dung]",
        "LD [số điện thoại] [nội dung]",
        "S [sender] [content]",
        "V [phone number] [content]",
        "LD [phone number] [content]",
        "DK DNC",
    ):
        assert line in vi, line
    assert "thongbaorac.ais.gov.vn" in sources(lesson)


def test_biometric_thresholds(real_catalog: Catalog) -> None:
    """Decision 2345/QĐ-NHNN, from 1/7/2024: over 10 million a transfer, over 20 million a day."""
    lesson = real_catalog.lessons["biometrics"]
    text = "\n".join(text for text, _ in texts(lesson))
    for fact in ("1/7/2024", "2345", "10 triệu", "20 triệu", "10 million", "20 million"):
        assert fact in text, fact
    assert "uongbi.gov.vn" in sources(lesson)


@pytest.mark.parametrize(
    ("lesson_id", "facts", "source"),
    [
        ("fake-bank-sms", ["0339035656", ".top"], "sggp.org.vn"),
        ("fake-news", ["18008108", "tingia.gov.vn"], "tingia.gov.vn"),
        ("fake-utility-and-tax", ["19001288", "eTaxMobile"], "vtcnews.vn"),
        ("check-a-website", ["tinnhiemmang.vn"], "sggp.org.vn"),
        ("public-service-login", ["VNeID", "1/7/2024"], "linhdong"),
    ],
)
def test_pinned_facts(real_catalog: Catalog, lesson_id: str, facts: list[str], source: str) -> None:
    lesson = real_catalog.lessons[lesson_id]
    text = "\n".join(text for text, _ in texts(lesson))
    for fact in facts:
        assert fact in text, f"{lesson_id}: {fact}"
    assert source in sources(lesson)


def test_the_checks_find_what_they_should() -> None:
    assert PHONE.findall("gọi 156 hoặc 19001288, không phải 1560 hay 2.156") == ["156", "19001288"]
    assert DOMAIN.findall("vào tinnhiemmang.vn hoặc vbank-xacminh.top") == [
        "tinnhiemmang.vn",
        "vbank-xacminh.top",
    ]
