"""Find the lesson passage that answers a question: BM25 over every lesson, in both languages.

Passages are indexed accent-free (`fold`) with word pairs as well as words, so "ngan hang" and
"ngân hàng" match, and "tin nhắn" scores as the phrase it is. Vietnamese and English text of a
passage share one index entry, so a question in either language finds it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from bot.engine.lesson import Catalog, DrillStep, Lesson, Locale, QuizStep, SayStep, ShowStep, Text
from bot.engine.matching import fold

MIN_SCORE = 3.5
"""Below this, the lessons do not cover the question; measured on the real library's questions."""
_STOPWORDS = (
    "la va cua co cho thi ma nhu the nay do de duoc bi toi minh ban em anh chi ong ba "
    "a an the is are to of and or in on for it my i you do does how what why can"
)
STOPWORDS = frozenset(_STOPWORDS.split())
"""Words that carry no meaning for the search (Vietnamese without accents, and English)."""


@dataclass(frozen=True)
class Passage:
    lesson_id: str
    step_id: str | None
    text: Text


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


def tokens(text: str) -> list[str]:
    words = [word for word in fold(text).split() if word not in STOPWORDS]
    return words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]


def _join(*parts: Text | None) -> Text:
    present = [part for part in parts if part is not None]
    return Text(
        vi="\n".join(part.vi for part in present), en="\n".join(part.en for part in present)
    )


def passages(lesson: Lesson) -> list[Passage]:
    """What a lesson says, a passage per step, each readable on its own."""
    found = [Passage(lesson.id, None, _join(lesson.title, lesson.summary))]
    for step in lesson.steps:
        if isinstance(step, SayStep):
            text = step.text
        elif isinstance(step, ShowStep):
            text = _join(step.instruction, step.hint)
        elif isinstance(step, QuizStep):
            right = [option for option in step.options if option.correct]
            text = _join(step.question, *(o.text for o in right), *(o.feedback for o in right))
        elif isinstance(step, DrillStep):
            text = _join(step.explanation, *step.red_flags)
        else:  # pragma: no cover -- the step union has four members
            continue
        found.append(Passage(lesson.id, step.id, text))
    return found


class Library:
    """Every lesson passage, indexed on the first question (a few hundred; milliseconds).

    The index is built when it is first searched, not at start-up: bm25s brings numpy, some
    13 MB in every web process, and most processes never answer a question.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.passages = [passage for lesson in catalog.ordered() for passage in passages(lesson)]
        self._built: Any = None

    @property
    def _index(self) -> Any:
        """The BM25 index over the passages, built on first use (no await: one turn builds it)."""
        if self._built is None:
            import bm25s  # type: ignore[import-untyped]

            index = bm25s.BM25()
            corpus = [tokens(f"{p.text.vi}\n{p.text.en}") for p in self.passages]
            index.index(corpus, show_progress=False)
            self._built = index
        return self._built

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        """The best passages for a question, best first; empty when nothing is close enough."""
        query = tokens(question[:1000])
        if not query or not self.passages:
            return []
        documents, scores = self._index.retrieve(
            [query], k=min(limit, len(self.passages)), show_progress=False
        )
        return [
            Hit(self.passages[int(index)], float(score))
            for index, score in zip(documents[0], scores[0], strict=True)
            if float(score) >= MIN_SCORE
        ]

    def lesson_title(self, lesson_id: str, locale: Locale) -> str:
        lesson = self.catalog.lesson(lesson_id)
        return lesson.title(locale) if lesson is not None else lesson_id
