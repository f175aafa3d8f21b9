"""What the checker returns: a verdict, the red flags behind it, advice, and a lesson."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

VerdictLabel = Literal["likely_scam", "be_careful", "no_red_flags"]
"""Never 'safe': a message with no red flags found can still be a scam."""

VERDICTS: tuple[VerdictLabel, ...] = ("likely_scam", "be_careful", "no_red_flags")


@dataclass(frozen=True)
class RedFlag:
    """One warning sign, explained in plain words."""

    code: str
    """Stable identifier, e.g. 'unusual_tld' or 'asks_otp'."""
    vi: str
    en: str
    evidence: str = ""
    """What in the message raised it, as written there (a domain, a few words)."""

    def text(self, locale: str) -> str:
        return self.en if locale == "en" else self.vi


@dataclass(frozen=True)
class Advice:
    """One thing to do (or not do), in plain words."""

    code: str
    vi: str
    en: str

    def text(self, locale: str) -> str:
        return self.en if locale == "en" else self.vi


@dataclass(frozen=True)
class Verdict:
    """The checker's answer for one message."""

    verdict: VerdictLabel
    red_flags: list[RedFlag] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)
    lesson: str | None = None
    """Id of the lesson in lessons/ that best explains the red flags found."""
    score: int = 0
    """Sum of the red flags' weights (for tuning and benchmarks; not shown to learners)."""

    @property
    def codes(self) -> list[str]:
        return [flag.code for flag in self.red_flags]

    def to_json(self) -> dict[str, object]:
        """The shape `camtay check-message --json` prints."""
        return {
            "verdict": self.verdict,
            "red_flags": [
                {"code": flag.code, "vi": flag.vi, "en": flag.en, "evidence": flag.evidence}
                for flag in self.red_flags
            ],
            "advice": [{"code": item.code, "vi": item.vi, "en": item.en} for item in self.advice],
            "lesson": self.lesson,
        }
