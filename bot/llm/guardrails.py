"""What a model answer may not do: invent numbers or sites, ask for secrets, call a scam safe.

A model answer that breaks one of these is replaced by the offline answer. A phone number is
allowed only when the lessons themselves give it (their teaching steps, not the scam examples
they quote); a site only when it is a known official one (a bank's, a *.gov.vn site, the app
stores, tinnhiemmang.vn).
"""

from __future__ import annotations

import re

from bot.engine.lesson import Catalog, DrillStep, QuizStep, SayStep, ShowStep, Text
from bot.engine.matching import fold
from bot.scam.domains import APP_STORE_HOSTS, BRANDS, GOVERNMENT_SUFFIX, SAFETY_SITES

_NUMBER = re.compile(r"(?<![\d.,])\+?\d[\d .-]{1,14}\d(?!\d)")
_HOST = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://)?((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}[a-z0-9-]*)",
    re.IGNORECASE,
)
_ASKED = (
    r"(?:ma (?:otp|pin|xac (?:thuc|nhan))|otp|mat khau|mat ma|pin|cvv|so the|"
    r"pass(?:word|code)|card number|the code|your code)"
)
_TO_US = r"(?:cho |toi |den )?(?:minh|toi|em|chung toi|cam tay|ban tro ly)"
_ASKS_FOR_SECRET = re.compile(
    "|".join(
        (
            rf"(?:gui|doc|nhan|dua|cung cap|chia se|noi)\s+(?:\w+\s+){{0,3}}?{_ASKED}"
            rf"\s+{_TO_US}\b",
            rf"(?:gui|doc|nhan|dua|noi|cho)\s+{_TO_US}\s+(?:biet\s+|xem\s+)?"
            rf"(?:\w+\s+){{0,2}}?{_ASKED}",
            rf"{_TO_US}\s+can\s+(?:\w+\s+){{0,2}}?{_ASKED}",
            rf"(?:send|give|tell|show|read|reply)\s+(?:it\s+)?(?:to\s+)?(?:me|us)\b.{{0,30}}?{_ASKED}",
            rf"(?:send|give|tell|share|type|read)\s+(?:\w+\s+){{0,3}}?{_ASKED}\s+(?:to|with)\s+(?:me|us)\b",
            rf"what(?:'s| is)\s+your\s+{_ASKED}",
            rf"reply\s+with\s+(?:\w+\s+){{0,2}}?{_ASKED}",
            # Urging the learner to hand it over ("cứ nhập mật khẩu", "go ahead and type").
            rf"(?<!khong )(?<!dung )(?<!chang )\b(?:cu|hay|nen|vui long)\s+(?:\w+\s+)?"
            rf"(?:nhap|go|dien|gui|cung cap|doc)\s+(?:\w+\s+){{0,2}}?{_ASKED}",
            rf"(?:go ahead and|please|just)\s+(?:enter|type|send|give|share)\s+"
            rf"(?:\w+\s+){{0,2}}?{_ASKED}",
        )
    )
)
_CALLS_IT_SAFE = re.compile(
    r"(?<!khong )(?<!chua chac )(?<!chua )(?<!not )(?<!un)"
    r"\b(?:an toan|safe|hop le|legit(?:imate)?)\b"
    r"|khong phai (?:la )?lua dao|not a scam|khong co gi (?:phai )?lo|nothing to worry|"
    r"(?:ban )?(?:co the|cu) (?:bam|nhan|lam theo)|you can (?:click|tap|follow)"
)
_CLAUSE = re.compile(r"[.!?;:,\n]+")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _official(host: str) -> bool:
    host = host.casefold().removeprefix("www.")
    known = {domain for brand in BRANDS for domain in brand.domains} | SAFETY_SITES
    known |= APP_STORE_HOSTS
    if host == GOVERNMENT_SUFFIX or host.endswith("." + GOVERNMENT_SUFFIX):
        return True
    return any(host == domain or host.endswith("." + domain) for domain in known)


def _teaching_text(catalog: Catalog) -> str:
    """What the lessons say in their own voice: not the scam messages their drills quote."""
    parts: list[Text] = []
    for lesson in catalog.ordered():
        for step in lesson.steps:
            if isinstance(step, SayStep):
                parts.append(step.text)
            elif isinstance(step, ShowStep):
                parts += [step.instruction, *([step.hint] if step.hint else [])]
            elif isinstance(step, QuizStep):
                parts += [step.question, *(o.feedback for o in step.options)]
            elif isinstance(step, DrillStep):
                parts.append(step.explanation)
    return "\n".join(f"{part.vi}\n{part.en}" for part in parts)


class Guardrails:
    def __init__(self, catalog: Catalog) -> None:
        self.numbers = {_digits(match) for match in _NUMBER.findall(_teaching_text(catalog))}

    def problems(self, answer: str, *, reading: bool = False) -> list[str]:
        """What is wrong with a model answer; `reading`: its opinion on a flagged message."""
        found = []
        for match in _NUMBER.findall(answer):
            digits = _digits(match)
            if len(digits) >= 3 and digits not in self.numbers:
                found.append(f"a number the lessons do not give: {match.strip()}")
        for host in _HOST.findall(answer):
            if "." in host and not host.replace(".", "").isdigit() and not _official(host):
                found.append(f"a site that is not an official one: {host}")
        for clause in _CLAUSE.split(answer):
            folded = fold(clause)
            match = _ASKS_FOR_SECRET.search(folded)
            if match is not None:
                found.append(f"asks for a secret: {match.group(0)}")
            if reading and _CALLS_IT_SAFE.search(folded):
                found.append(f"calls a flagged message safe: {clause.strip()[:60]}")
        return found
