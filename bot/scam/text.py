"""Split a message into clauses and match folded phrases in them, accents optional.

Every clause is folded word by word with `bot.engine.matching.fold` (lower case, no accents, no
punctuation), so 'Chuyển khoản' and 'chuyen khoan' read the same. Each folded word remembers the
original word it came from, so a match can be shown to the learner as they wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from bot.engine.matching import fold

_SENTENCE_END = re.compile(r"(?<=[.!?;:…])\s+|\s*\n\s*")
_WORD = re.compile(r"\S+")
# Signs that fold would drop but that carry meaning here: "lãi 30%", "50$".
_SIGNS = str.maketrans({"%": " pct ", "$": " usd "})


def phrases(*alternatives: str) -> re.Pattern[str]:
    """A pattern matching any of the folded phrases (regular expressions) as whole words."""
    joined = "|".join(f"(?:{alternative})" for alternative in alternatives)
    return re.compile(rf"(?<![\w])(?:{joined})(?![\w])")


@dataclass(frozen=True)
class Clause:
    """One sentence of the message, raw and folded, with a map from folded to raw positions."""

    raw: str
    start: int
    """Where the clause starts in the (defanged) message."""
    folded: str
    words: tuple[tuple[int, int, int, int], ...]
    """(folded start, folded end, raw start, raw end) of each folded word, raw within `raw`."""

    def snippet(self, start: int, end: int) -> str:
        """The original words under folded[start:end]."""
        covered = [word for word in self.words if word[1] > start and word[0] < end]
        if not covered:
            return ""
        return self.raw[covered[0][2] : covered[-1][3]].strip(".,;:!?()[]\"'“”")

    def before(self, position: int, count: int) -> str:
        """The last `count` folded words before `position`, as a string."""
        head = self.folded[:position].split()
        return " ".join(head[-count:]) if count else ""

    def after(self, position: int, count: int) -> str:
        """The next `count` folded words from `position` on."""
        return " ".join(self.folded[position:].split()[:count])

    def word_index(self, position: int) -> int:
        """How many folded words start before `position`."""
        return len(self.folded[:position].split())

    def contains(self, position: int) -> bool:
        """Whether a position in the message falls inside this clause."""
        return self.start <= position < self.start + len(self.raw)


def clauses(text: str) -> list[Clause]:
    """The message cut at sentence ends and line breaks, each clause folded."""
    result: list[Clause] = []
    position = 0
    for piece in _SENTENCE_END.split(text):
        start = text.find(piece, position) if piece else position
        position = start + len(piece)
        clause = _fold_clause(piece, start)
        if clause.folded:
            result.append(clause)
    return result


def _fold_clause(raw: str, start: int) -> Clause:
    parts: list[str] = []
    words: list[tuple[int, int, int, int]] = []
    length = 0
    for match in _WORD.finditer(raw):
        folded = fold(match.group(0).translate(_SIGNS))
        if not folded:
            continue
        for piece in folded.split(" "):
            if parts:
                length += 1
            words.append((length, length + len(piece), match.start(), match.end()))
            parts.append(piece)
            length += len(piece)
    return Clause(raw, start, " ".join(parts), tuple(words))


def find(pattern: re.Pattern[str], clause: Clause) -> Iterator[re.Match[str]]:
    return pattern.finditer(clause.folded)
