"""Questions and suspicious messages in the chat, offline: lesson passages and rule verdicts."""

from __future__ import annotations

import pytest

from bot.ask.retrieval import Library
from bot.engine import Catalog, Engine, Start
from bot.engine.matching import (
    looks_like_message,
    looks_like_question,
    match_option,
    nearly_matches,
)
from bot.engine.types import Option
from bot.llm.guardrails import Guardrails
from bot.locks import MemoryLocks
from bot.service import Tutor
from bot.store import Database
from tests.conftest import Clock
from tests.test_community import Person, words

FAKE_BANK_SMS = (
    "Vietcombank: Tai khoan cua quy khach bi tam khoa. Vui long xac minh tai "
    "vcb-xacminh.top trong 24h de tranh bi khoa vinh vien."
)


@pytest.mark.parametrize(
    ("text", "question", "message"),
    [
        ("làm sao biết tin nhắn ngân hàng giả?", True, False),
        ("OTP la gi", True, False),
        ("how do I make the text bigger", True, False),
        ("Không ai cả", False, False),
        ("2", False, False),
        (FAKE_BANK_SMS, False, True),
        ("Goi ngay 0912 345 678 de nhan qua", False, True),
    ],
)
def test_questions_and_messages_are_told_apart(text: str, question: bool, message: bool) -> None:
    assert (looks_like_question(text), looks_like_message(text)) == (question, message)


def test_typos_match_a_clear_option_and_near_misses_are_looked_at_again() -> None:
    options = [Option(key="1", label="Không ai cả"), Option(key="2", label="Ngân hàng")]
    assert match_option("khog ai ca", options) == options[0]
    assert match_option("ngan hag", options) == options[1]
    assert match_option("khôngg aii", options) is None
    assert nearly_matches("khôngg aii", options)
    assert not nearly_matches("thời tiết", options)


@pytest.fixture(scope="module")
def library(real_catalog: Catalog) -> Library:
    return Library(real_catalog)


@pytest.mark.parametrize(
    ("question", "lesson"),
    [
        ("làm sao biết tin nhắn ngân hàng giả?", "fake-bank-sms"),
        ("lam sao biet tin nhan ngan hang gia", "fake-bank-sms"),
        ("How do I make the text on my phone bigger?", "bigger-text-and-sound"),
        ("what is vneid level 2?", "vneid-activate-level-2"),
        ("cách gọi video zalo", "zalo-video-calls"),
    ],
)
def test_questions_find_the_lesson_that_answers_them(
    library: Library, question: str, lesson: str
) -> None:
    hits = library.search(question)
    assert hits
    assert hits[0].passage.lesson_id == lesson


def test_questions_the_lessons_do_not_cover_find_nothing(library: Library) -> None:
    assert library.search("how to cook pho?") == []
    assert library.search("") == []


async def test_offline_chat_answers_a_question_and_checks_a_fake_bank_sms(
    database: Database, real_catalog: Catalog, clock: Clock
) -> None:
    tutor = Tutor(engine=Engine(real_catalog), database=database, locks=MemoryLocks(), clock=clock)
    grandma = Person(tutor, "zalo_bot", "g")
    await grandma.send(Start())
    await grandma.type("1")  # Tiếng Việt
    answer = words(await grandma.type("làm sao biết tin nhắn ngân hàng giả?"))
    assert "💡 Bài «Tin nhắn ngân hàng giả» nói:" in answer
    assert grandma.buttons[0].label == "📘 Học bài: Tin nhắn ngân hàng giả"
    opened = words(await grandma.type("1"))  # a typed number picks the added button
    assert "📘 Bài: Tin nhắn ngân hàng giả" in opened

    await grandma.type("/check")
    verdict = words(await grandma.type(FAKE_BANK_SMS))
    assert "🚨 RẤT CÓ THỂ LÀ LỪA ĐẢO." in verdict
    assert "vcb-xacminh.top" in verdict  # the red flag names what it found
    assert "5656" in verdict
    assert grandma.buttons[0].label.startswith("📘 Học bài:")
    # Pasted straight into the menu, a message with a link is checked too.
    await grandma.type("/menu")
    again = words(await grandma.type(FAKE_BANK_SMS))
    assert "🚨" in again
    unsure = words(await grandma.type("/ask nấu phở thế nào?"))
    assert "Mình chưa chắc" in unsure


def test_guardrails_catch_made_up_numbers_links_and_requests_for_secrets(
    real_catalog: Catalog,
) -> None:
    rails = Guardrails(real_catalog)
    assert rails.problems("Bạn nhắn 5656 hoặc gọi 156 để báo nhé.") == []
    assert rails.problems("Đừng bao giờ đưa mã OTP cho ai.") == []
    assert rails.problems("Never share your OTP with anyone.") == []
    assert rails.problems("Gọi ngay 0912 345 678 để được hỗ trợ.")
    assert rails.problems("Vào trang vcb-hotro.top để xác minh.")
    assert rails.problems("Bạn gửi mã OTP cho mình để kiểm tra nhé.")
    assert rails.problems("Please send me your password so I can check.")
