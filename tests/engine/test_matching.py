"""Typed answers match buttons by number or words, with or without Vietnamese accents."""

from __future__ import annotations

import pytest

from bot.engine.matching import fold, match_option
from bot.engine.types import Option

OPTIONS = [
    Option(key="1:scam", label="Lừa đảo 🚫"),
    Option(key="1:safe", label="An toàn ✅"),
    Option(key="1:unsure", label="Không chắc 🤔"),
]


def test_fold_strips_accents_emoji_and_case() -> None:
    assert fold("  Lừa ĐẢO 🚫!! ") == "lua dao"
    assert fold("Đồng ý") == "dong y"


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("1", "1:scam"),
        ("1.", "1:scam"),
        ("mot", "1:scam"),
        ("một", "1:scam"),
        ("Lừa đảo", "1:scam"),
        ("lua dao", "1:scam"),
        ("LUA DAO!", "1:scam"),
        ("2", "1:safe"),
        ("hai", "1:safe"),
        ("an toan", "1:safe"),
        ("khong chac", "1:unsure"),
        ("three", "1:unsure"),
        ("khong", "1:unsure"),
    ],
)
def test_matches(typed: str, key: str) -> None:
    option = match_option(typed, OPTIONS)
    assert option is not None
    assert option.key == key


@pytest.mark.parametrize("typed", ["", "4", "0", "xin chao", "a", "🚫", "đ"])
def test_no_match(typed: str) -> None:
    assert match_option(typed, OPTIONS) is None


def test_ambiguous_words_match_nothing() -> None:
    options = [Option(key="a", label="Bài một"), Option(key="b", label="Bài hai")]
    assert match_option("bai", options) is None


def test_regression_a_label_that_is_a_number_word_wins_over_the_number() -> None:
    """'Hai' (two) typed where the first answer reads 'Hai' chose the second option."""
    options = [Option(key="a", label="Hai"), Option(key="b", label="Ba")]
    chosen = match_option("hai", options)
    assert chosen is not None
    assert chosen.key == "a"
    other = match_option("ba", options)
    assert other is not None
    assert other.key == "b"
