"""The tutor's answers outside the lessons: a question typed in the chat, a message to check.

The engine notices them (`question.asked`, `message.submitted`); this answers them, offline:
the best lesson passage for a question, the rules' verdict for a message. Each answer offers
the lesson to take, as a button added to the screen's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.ask.retrieval import Hit, Library
from bot.engine import Catalog, Choice, Event, Input, Option, Reply, Start, TextReply
from bot.engine.engine import REVIEW_PAYLOAD
from bot.engine.lesson import Locale, Text
from bot.scam import Verdict, check

KEY_PREFIX = "a:"
"""Buttons of this module: `a:open:<lesson id>`, `a:resume`, `a:review`."""
LESSON_PAYLOAD = "lesson_"


def _t(vi: str, en: str) -> Text:
    return Text(vi=vi, en=en)


ANSWER = _t("💡 Bài «{title}» nói:\n\n{passage}", "💡 The lesson «{title}» says:\n\n{passage}")
OPEN_LESSON = _t("📘 Học bài: {title}", "📘 Learn: {title}")
NOT_COVERED = _t(
    "🤔 Mình chưa chắc — các bài học chưa nói về điều này. Bạn hỏi người giúp mình (gõ /helper), "
    "hoặc người thân, nhé. Nếu là chuyện tiền bạc hay mật khẩu, đừng làm theo ai khi chưa hỏi kỹ.",
    "🤔 I'm not sure — the lessons don't cover this. Please ask your helper (type /helper) or a "
    "family member. If it is about money or passwords, don't follow anyone before checking.",
)
HEADLINES: dict[str, Text] = {
    "likely_scam": _t("🚨 RẤT CÓ THỂ LÀ LỪA ĐẢO.", "🚨 VERY LIKELY A SCAM."),
    "be_careful": _t("⚠️ CẦN CẨN THẬN.", "⚠️ BE CAREFUL."),
    "no_red_flags": _t(
        "🔎 Mình chưa thấy dấu hiệu lừa đảo rõ ràng. Nhưng như vậy chưa chắc là an toàn.",
        "🔎 I found no clear warning signs. That does not mean it is safe.",
    ),
}
SIGNS = _t("Dấu hiệu đáng ngờ:", "Warning signs:")
TO_DO = _t("Nên làm gì:", "What to do:")


THINKING = _t(
    "🤔 Để mình xem trong các bài học… (vài giây)",
    "🤔 Let me look in the lessons… (a few seconds)",
)


@dataclass
class Addition:
    """What this module adds to a turn: notes before the screen's buttons, buttons, and work
    for the model worker (`kind`, `text`, `context` with the offline `fallback`)."""

    notes: list[Reply] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)


class Assistant:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.library = Library(catalog)

    def translate(self, event: Input) -> Input:
        """This module's buttons, as the engine inputs they stand for."""
        if isinstance(event, Choice) and event.key.startswith(KEY_PREFIX):
            verb, _, argument = event.key.removeprefix(KEY_PREFIX).partition(":")
            if verb == "open" and self.catalog.lesson(argument) is not None:
                return Start(payload=f"{LESSON_PAYLOAD}{argument}")
            if verb == "review":  # a reminder's "Review now"
                return Start(payload=REVIEW_PAYLOAD)
            return Start()
        return event

    def after(self, events: list[Event], locale: Locale, *, model: bool = False) -> Addition:
        """Answers for this turn's questions and messages; with `model`, the worker words them."""
        addition = Addition()
        for event in events:
            text = str(event.data.get("text", ""))
            if event.type == "question.asked":
                answer = Addition()
                self._answer(self.library.search(text), locale, answer)
                addition.options += answer.options
                if model and answer.options:  # the lessons cover it: the model may word it
                    addition.notes.append(TextReply(text=THINKING(locale)))
                    fallback = [note.model_dump() for note in answer.notes]
                    addition.jobs.append(
                        {"kind": "ask", "text": text, "context": {"fallback": fallback}}
                    )
                else:
                    addition.notes += answer.notes
            elif event.type == "answer.unsure" and model:
                options = event.data.get("options", [])
                addition.jobs.append(
                    {"kind": "grade", "text": text, "context": {"options": options, "fallback": []}}
                )
            elif event.type == "message.submitted":
                verdict = check(text)
                self._verdict(verdict, locale, addition)
                if model:
                    # Codes, not texts: a flag's text quotes the message, which stays fenced.
                    flags = [flag.code for flag in verdict.red_flags]
                    addition.jobs.append(
                        {"kind": "check", "text": text, "context": {"flags": flags, "fallback": []}}
                    )
        return addition

    @staticmethod
    def asks(events: list[Event]) -> bool:
        return any(
            event.type in ("question.asked", "message.submitted", "answer.unsure")
            for event in events
        )

    def _open(self, lesson_id: str, locale: Locale) -> Option:
        title = self.library.lesson_title(lesson_id, locale)
        return Option(
            key=f"{KEY_PREFIX}open:{lesson_id}", label=OPEN_LESSON(locale).format(title=title)
        )

    def _answer(self, hits: list[Hit], locale: Locale, addition: Addition) -> None:
        if not hits:
            addition.notes.append(TextReply(text=NOT_COVERED(locale)))
            return
        lesson_id = hits[0].passage.lesson_id
        # A step of the best lesson answers better than its summary, when one matched.
        passage = next(
            (
                hit.passage
                for hit in hits
                if hit.passage.lesson_id == lesson_id and hit.passage.step_id
            ),
            hits[0].passage,
        )
        title = self.library.lesson_title(lesson_id, locale)
        addition.notes.append(
            TextReply(text=ANSWER(locale).format(title=title, passage=passage.text(locale)))
        )
        addition.options.append(self._open(lesson_id, locale))

    def _verdict(self, verdict: Verdict, locale: Locale, addition: Addition) -> None:
        lines = [HEADLINES[verdict.verdict](locale)]
        if verdict.red_flags:
            lines += ["", SIGNS(locale)]
            lines += [f"• {flag.text(locale)}" for flag in verdict.red_flags]
        lines += ["", TO_DO(locale)]
        lines += [f"• {item.text(locale)}" for item in verdict.advice]
        addition.notes.append(TextReply(text="\n".join(lines)))
        if verdict.lesson is not None and self.catalog.lesson(verdict.lesson) is not None:
            addition.options.append(self._open(verdict.lesson, locale))
