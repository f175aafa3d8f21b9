"""What a model answer may not do: invent numbers or links, or ask for secrets.

A model answer that breaks one of these is replaced by the offline answer. Numbers and links
are allowed only when they appear in the lessons (official hotlines and sites are there).
"""

from __future__ import annotations

import re

from bot.ask.retrieval import passages
from bot.engine.lesson import Catalog
from bot.engine.matching import fold

_NUMBER = re.compile(r"(?<![\d.,])\+?\d[\d .-]{1,14}\d(?![\d])")
_DOMAIN = re.compile(
    r"(?:https?://)?(?:www\.)?((?:[a-z0-9-]+\.)+(?:vn|com|net|org|gov|info|top|xyz|vip|io|me|app|"
    r"link|ly|co|cc|online|site|shop|store|club))\b",
    re.IGNORECASE,
)
_WHAT_IS_ASKED = (
    r"(?:ma )?(?:otp|mat khau|mat ma|pin|cvv|so the|ma xac (?:thuc|nhan)|pass(?:word|code)|"
    r"card number|code)"
)
_ASKS = re.compile(
    rf"(?:gui|doc|cho (?:minh|toi|em|chung toi) (?:biet|xin)|nhap|cung cap|dua|send|tell|give|"
    rf"share|type|enter|provide|reply with)\s+(?:\w+\s+){{0,4}}?{_WHAT_IS_ASKED}"
)
_NEGATED = re.compile(
    r"(?:khong|dung|never|don t|do not|not|chang|tuyet doi khong)\s+(?:\w+\s+){0,3}$"
)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


class Guardrails:
    def __init__(self, catalog: Catalog) -> None:
        corpus = "\n".join(
            f"{p.text.vi}\n{p.text.en}" for lesson in catalog.ordered() for p in passages(lesson)
        )
        self.numbers = {_digits(match) for match in _NUMBER.findall(corpus)}
        self.domains = {match.casefold() for match in _DOMAIN.findall(corpus)}

    def problems(self, answer: str) -> list[str]:
        found = []
        for match in _NUMBER.findall(answer):
            digits = _digits(match)
            if len(digits) >= 3 and digits not in self.numbers:
                found.append(f"a number not in the lessons: {match.strip()}")
        for domain in _DOMAIN.findall(answer):
            if domain.casefold() not in self.domains:
                found.append(f"a site not in the lessons: {domain}")
        folded = fold(answer)
        for match in _ASKS.finditer(folded):
            if not _NEGATED.search(folded[: match.start()]):
                found.append(f"asks for a secret: {match.group(0)}")
        return found
