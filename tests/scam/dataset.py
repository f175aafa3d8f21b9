"""The labelled messages in messages.yaml, and the figures the tests and the benchmark report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from bot.scam import VERDICTS, VerdictLabel

MESSAGES = Path(__file__).resolve().with_name("messages.yaml")
Label = Literal["scam", "legit"]
FIELDS = {"id", "label", "lang", "note", "text"}
OPTIONAL = {"batch"}


@dataclass(frozen=True)
class Message:
    id: str
    label: Label
    lang: Literal["vi", "en"]
    note: str
    text: str
    batch: str = "main"


def load_messages(path: Path = MESSAGES) -> list[Message]:
    """Every labelled message; ValueError names the first entry that is malformed."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path} must be a YAML list")
    messages: list[Message] = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise ValueError(f"entry {number} is not a mapping")
        keys = set(item)
        if not FIELDS <= keys <= FIELDS | OPTIONAL:
            raise ValueError(f"entry {number} has fields {sorted(keys)}, wants {sorted(FIELDS)}")
        if item["label"] not in ("scam", "legit") or item["lang"] not in ("vi", "en"):
            raise ValueError(f"entry {number} ({item['id']}): bad label or lang")
        if not all(isinstance(item[key], str) and item[key].strip() for key in FIELDS):
            raise ValueError(f"entry {number} ({item['id']}): empty field")
        messages.append(
            Message(
                id=item["id"],
                label=item["label"],
                lang=item["lang"],
                note=item["note"],
                text=item["text"],
                batch=str(item.get("batch", "main")),
            )
        )
    return messages


@dataclass(frozen=True)
class Metrics:
    """How verdicts compare with labels. 'Flagged' is likely_scam or be_careful."""

    confusion: Counter[tuple[Label, VerdictLabel]]

    def count(self, label: Label, *verdicts: VerdictLabel) -> int:
        return sum(self.confusion[(label, verdict)] for verdict in verdicts or VERDICTS)

    @property
    def scams(self) -> int:
        return self.count("scam")

    @property
    def legit(self) -> int:
        return self.count("legit")

    @property
    def recall(self) -> float:
        """Share of scams flagged (likely_scam or be_careful)."""
        return _ratio(self.count("scam", "likely_scam", "be_careful"), self.scams)

    @property
    def recall_likely(self) -> float:
        """Share of scams called likely_scam."""
        return _ratio(self.count("scam", "likely_scam"), self.scams)

    @property
    def precision(self) -> float:
        """Share of likely_scam verdicts that are scams."""
        called = self.count("scam", "likely_scam") + self.count("legit", "likely_scam")
        return _ratio(self.count("scam", "likely_scam"), called)

    @property
    def precision_flagged(self) -> float:
        """Share of flagged messages (likely_scam or be_careful) that are scams."""
        flagged: tuple[VerdictLabel, ...] = ("likely_scam", "be_careful")
        called = self.count("scam", *flagged) + self.count("legit", *flagged)
        return _ratio(self.count("scam", *flagged), called)

    @property
    def false_likely_rate(self) -> float:
        """Share of legitimate messages called likely_scam."""
        return _ratio(self.count("legit", "likely_scam"), self.legit)

    @property
    def false_flag_rate(self) -> float:
        """Share of legitimate messages flagged at all (likely_scam or be_careful)."""
        return _ratio(self.count("legit", "likely_scam", "be_careful"), self.legit)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def metrics(pairs: Iterable[tuple[Label, VerdictLabel]]) -> Metrics:
    return Metrics(Counter(pairs))
