"""Match what a learner typed to the options on screen: by number or by words, accents optional."""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

from bot.engine.types import Option

_NUMBER_WORDS = {
    # Vietnamese, written without accents after folding, and English.
    "mot": 1, "hai": 2, "ba": 3, "bon": 4, "tu": 4, "nam": 5, "sau": 6, "bay": 7, "tam": 8,
    "chin": 9, "muoi": 10,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10,
}  # fmt: skip
_NOT_WORD = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case, strip Vietnamese accents, emoji and punctuation: 'Lừa đảo 🚫' -> 'lua dao'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = _NOT_WORD.sub(" ", bare.casefold())
    return _SPACES.sub(" ", bare).strip()


def match_option(text: str, options: list[Option]) -> Option | None:
    """The option the learner meant, or None when it is not clear."""
    folded = fold(text)
    if not folded:
        return None
    if folded.isdigit():
        number = int(folded)
        return options[number - 1] if 1 <= number <= len(options) else None
    labels = [fold(option.label) for option in options]
    exact = [option for option, label in zip(options, labels, strict=True) if label == folded]
    if len(exact) == 1:
        return exact[0]
    # A number word counts only when no button says those words ("Hai" may be an answer).
    word = _NUMBER_WORDS.get(folded)
    if word is not None:
        return options[word - 1] if 1 <= word <= len(options) else None
    if len(folded) < 3:
        return None
    # A unique label that starts with, or contains as whole words, what was typed.
    padded = f" {folded} "
    partial = [
        option
        for option, label in zip(options, labels, strict=True)
        if label.startswith(folded) or padded in f" {label} "
    ]
    if partial:
        return partial[0] if len(partial) == 1 else None
    # Typos: a clear winner among the labels, by normalised fuzzy similarity.
    ranked = _ranked(folded, labels)
    if ranked and ranked[0][0] >= SURE and (len(ranked) == 1 or ranked[0][0] - ranked[1][0] >= 10):
        return options[ranked[0][1]]
    return None


SURE = 88.0
"""Fuzzy similarity (0-100) from which a typed answer counts as that option."""
NEARLY = 70.0
"""From here to SURE, a typed answer is close but not clear: "let's look again", not wrong."""


def _ranked(folded: str, labels: list[str]) -> list[tuple[float, int]]:
    scores = [(fuzz.ratio(folded, label), index) for index, label in enumerate(labels) if label]
    return sorted(scores, reverse=True)


def nearly_matches(text: str, options: list[Option]) -> bool:
    """Close to an option without being clearly it (a grade we are unsure of)."""
    folded = fold(text)
    if len(folded) < 3 or folded.isdigit():
        return False
    ranked = _ranked(folded, [fold(option.label) for option in options])
    return bool(ranked) and ranked[0][0] >= NEARLY


_QUESTION_STARTS = (
    "lam sao", "lam the nao", "tai sao", "vi sao", "the nao", "co nen", "co phai", "nhu the nao",
    "bao gio", "khi nao", "o dau", "cach nao", "cach", "ai ", "gi ", "nen ", "how", "what",
    "why", "where", "when", "which", "who", "should", "can i", "can you", "is it", "is this",
    "do i", "does", "are ", "hoi ",
)  # fmt: skip
_QUESTION_WORDS = (" la gi", " the nao", " o dau", " khong", " chua", " bao nhieu", " sao")
_LINK = re.compile(r"(https?://|www\.|\b[a-z0-9-]+\.(?:[a-z]{2,6})(?:/|\b))", re.IGNORECASE)
_PHONE = re.compile(r"(?:\+?84|0)(?:[\s.-]?\d){8,10}")


def looks_like_question(text: str) -> bool:
    """Typed words that ask something, rather than answer the screen."""
    folded = fold(text)
    if len(folded.split()) < 2:
        return False
    return (
        text.rstrip().endswith("?")
        or folded.startswith(_QUESTION_STARTS)
        or f" {folded}".endswith(_QUESTION_WORDS)
    )


def looks_like_message(text: str) -> bool:
    """Pasted or forwarded text to check: it carries a link or a phone number, or is long."""
    return bool(_LINK.search(text) or _PHONE.search(text)) or len(text.split()) >= 20
