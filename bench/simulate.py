"""Simulated learners and timing helpers shared by the benchmarks (not a benchmark itself)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.engine import Choice, ChoicesReply, Event, Input, Reply, Start, State, TextReply
from bot.engine import phrases as p

# Replies that mean the simulated learner pressed something the engine did not expect.
MISFIRES = frozenset(
    text(locale) for text in (p.TAP_A_BUTTON, p.OLD_BUTTON) for locale in ("vi", "en")
)


# The first line of "you finished the lesson", before its {title}.
FINISHED = tuple(p.FINISHED(locale).split("{", 1)[0] for locale in ("vi", "en"))


@dataclass
class Learner:
    """A learner who presses the first button, and sends Start after every other lesson.

    On the screen right after a restart the learner presses the k-th button (k counts the
    restarts), so other topics and the language switch get their turn too.
    """

    index: int
    state: State | None = None
    choices: ChoicesReply | None = None
    restart: bool = True
    restarts: int = 0
    pick: int = 0
    events: Counter[str] = field(default_factory=Counter)
    misfires: int = 0
    finished: int = 0

    def next_input(self) -> Input:
        if self.restart or self.choices is None:
            self.restart = False
            return Start()
        options = self.choices.options
        pick, self.pick = self.pick, 0
        return Choice(key=options[pick % len(options)].key)

    def observe(self, replies: Sequence[Reply], events: Sequence[Event] = ()) -> None:
        """Read one turn's replies (and, when known, its events) to choose the next input."""
        choices = None
        for reply in replies:
            if isinstance(reply, ChoicesReply):
                choices = reply
            elif isinstance(reply, TextReply):
                if reply.text in MISFIRES:
                    self.misfires += 1
                elif reply.text.startswith(FINISHED):
                    self.finished += 1
                    if self.finished % 2 == 0:
                        self.restart = True
                        self.restarts += 1
                        self.pick = self.restarts
        assert choices is not None, "every turn should end on a screen with buttons"
        self.choices = choices
        for event in events:
            self.events[event.type] += 1


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def spread(values: Sequence[float]) -> str:
    """'median (min-max)' of a few rounds."""
    if len(values) == 1:
        return f"{values[0]:,.0f}"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain, aligned text table: first column left, the others right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for number, row in enumerate([header, *rows]):
        cells = [
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
