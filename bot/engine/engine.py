"""The lesson engine: `Engine.step(state, input) -> Outcome(state, replies, events)`, no I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.engine import phrases as p
from bot.engine.lesson import (
    LOCALES,
    Catalog,
    CheckItem,
    CheckPhase,
    DrillStep,
    Lesson,
    Locale,
    Module,
    QuizStep,
    SayStep,
    ShowStep,
    Step,
    Text,
)
from bot.engine.matching import (
    looks_like_message,
    looks_like_question,
    match_option,
    nearly_matches,
)
from bot.engine.types import (
    Again,
    CheckScore,
    Choice,
    ChoicesReply,
    Done,
    Event,
    EventType,
    Input,
    Option,
    Outcome,
    PictureReply,
    Position,
    Reply,
    Review,
    Screen,
    Start,
    State,
    Stuck,
    TextInput,
    TextReply,
    Unsupported,
    fresh_copy,
)

LESSON_PAYLOAD = "lesson_"
"""A start payload that opens a lesson directly: `/start lesson_otp-is-secret`."""
LANG_PAYLOAD = "lang_"
"""A start payload that picks the language: `/start lang_en`."""

MAX_TEXT = 4000
"""Longer text is not a command or an answer; it is answered with the current prompt."""

PHASES: tuple[CheckPhase, ...] = ("pre", "post")

REVIEW_PAYLOAD = "review"
"""A start payload (and a reminder's button) that opens the due reviews: `/start review`."""
REVIEW_SIZE = 5
"""Items in one review: short enough for a tea break."""


def due_reviews(catalog: Catalog, state: State) -> list[str]:
    """The review items due at `state.now`, longest-waiting first; items no longer in the
    lessons are left out."""
    now = state.now
    if now is None:
        return []
    due = sorted(
        (when, item)
        for item, when in state.reviews.items()
        if when <= now and catalog.review_item(item) is not None
    )
    return [item for _, item in due]


def _week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def learned_today(state: State) -> None:
    """Count today in the streak: the day after the last, or two days after it when that week's
    one rest day is still free; otherwise the streak starts again at 1."""
    if state.today is None or state.streak_day == state.today:
        return
    today = date.fromisoformat(state.today)
    gap = (today - date.fromisoformat(state.streak_day)).days if state.streak_day else 0
    rest = _week(today - timedelta(days=1))
    if gap == 1:
        state.streak += 1
    elif gap == 2 and state.rest_week != rest:
        state.streak += 1
        state.rest_week = rest
    else:
        state.streak = 1
    state.streak_day = state.today


def current_streak(state: State) -> int:
    """The streak as it stands today: still alive if learned today, yesterday, or the day before
    with a rest day to spare; otherwise 0 (never shown as a loss)."""
    if state.today is None or state.streak_day is None:
        return 0
    today = date.fromisoformat(state.today)
    gap = (today - date.fromisoformat(state.streak_day)).days
    if gap <= 1 or (gap == 2 and state.rest_week != _week(today - timedelta(days=1))):
        return state.streak
    return 0


def answer_order(unit_id: str, step: QuizStep) -> list[int]:
    """The order a quiz's options are shown in: fixed for everyone, but not the file's order.

    Writers tend to put the right answer first; a learner must not be able to learn that.
    """

    def rank(index: int) -> bytes:
        return hashlib.blake2b(f"{unit_id}/{step.id}/{index}".encode(), digest_size=8).digest()

    return sorted(range(len(step.options)), key=rank)


@dataclass(frozen=True)
class _Unit:
    """What a position walks through: a lesson, or a module's pre- or post-check."""

    id: str
    title: Text
    steps: list[Step]
    module: Module
    check: CheckPhase | None = None


@dataclass
class _Turn:
    """The mutable working copy of one step: the new state and what it produced."""

    state: State
    replies: list[Reply] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def locale(self) -> Locale:
        return self.state.locale

    def say(self, text: Text | str, **fields: object) -> None:
        message = text(self.locale) if isinstance(text, Text) else text
        self.replies.append(TextReply(text=message.format(**fields) if fields else message))

    def emit(
        self,
        type_: EventType,
        lesson_id: str | None = None,
        step_id: str | None = None,
        **data: object,
    ) -> None:
        self.events.append(Event(type=type_, lesson_id=lesson_id, step_id=step_id, data=data))

    def go(self, screen: Screen) -> None:
        """Move to a new screen: buttons from earlier screens stop working."""
        self.state.screen = screen
        self.state.prompt += 1


class Engine:
    """Turns a learner's input into the next state, the replies to send and progress events."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._units: dict[tuple[str, CheckPhase | None], _Unit] = {}

    def step(self, state: State | None, event: Input) -> Outcome:
        turn = _Turn(fresh_copy(state) if state is not None else State())
        match event:
            case Start(payload=payload):
                self._start(turn, payload)
            case TextInput(text=text):
                self._text(turn, text)
            case Choice(key=key):
                self._choice(turn, key)
            case Done():
                self._act(turn, "done")
            case Stuck():
                self._act(turn, "stuck")
            case Again():
                self._act(turn, "again")
            case Unsupported():
                turn.say(p.UNSUPPORTED)
                self._render(turn)
        return Outcome(state=turn.state, replies=turn.replies, events=turn.events)

    # --- entry points -------------------------------------------------------------------

    def _start(self, turn: _Turn, payload: str | None) -> None:
        state = turn.state
        newcomer = not state.locale_chosen
        if payload and payload.startswith(LANG_PAYLOAD):
            wanted = payload.removeprefix(LANG_PAYLOAD)
            if wanted in LOCALES:
                self._switch_locale(turn, wanted)
                state.locale_chosen = True
            payload = None
        if state.locale_chosen and state.consent is None:
            lesson = None
            if payload and payload.startswith(LESSON_PAYLOAD):
                lesson = self.catalog.lesson(payload.removeprefix(LESSON_PAYLOAD))
            state.opening = lesson.id if lesson is not None else state.opening
            turn.go("consent")
            self._render(turn)
            return
        if payload == REVIEW_PAYLOAD and state.locale_chosen:
            self._open_review(turn)
            return
        if payload and payload.startswith(LESSON_PAYLOAD):
            lesson = self.catalog.lesson(payload.removeprefix(LESSON_PAYLOAD))
            if lesson is not None:
                state.locale_chosen = True
                if state.consent is None:
                    state.opening = lesson.id
                    turn.go("consent")
                    self._render(turn)
                    return
                self._open(turn, lesson)
                return
        if not state.locale_chosen:
            turn.go("welcome")
        elif state.position is not None:
            turn.say(p.WELCOME_BACK)
            turn.go("resume")
        else:
            if not newcomer:
                turn.say(p.WELCOME_BACK)
            turn.go("menu")
        self._render(turn)

    def _text(self, turn: _Turn, text: str) -> None:
        text = text.strip()
        if not text or len(text) > MAX_TEXT:
            self._nudge(turn)
            return
        if text.startswith("/"):
            self._command(turn, text)
            return
        options = self._options(turn)
        option = match_option(text, options)
        if option is not None:
            self._choice(turn, option.key)
        elif turn.state.screen == "inspect" or looks_like_message(text):
            # The service checks it and says what it found, before the buttons shown again.
            turn.emit("message.submitted", text=text)
            self._inspect(turn, again=turn.state.screen == "inspect")
        elif looks_like_question(text):
            turn.emit("question.asked", text=text)  # the service answers it from the lessons
            self._render(turn)
        elif nearly_matches(text, options):
            # An unsure grade is never "wrong": look again (a model, if any, may ask "did you
            # mean…?" with the options as they are now).
            turn.emit("answer.unsure", text=text, options=[o.model_dump() for o in options])
            turn.say(p.LOOK_AGAIN)
            self._render(turn)
        else:
            self._nudge(turn)

    def _inspect(self, turn: _Turn, *, again: bool) -> None:
        """The "Check a message" screen; a lesson in progress keeps its bookmark."""
        if not again:
            self._leave_lesson(turn)
            turn.go("inspect")
        self._render(turn)

    def _command(self, turn: _Turn, text: str) -> None:
        name, _, argument = text[1:].partition(" ")
        name = name.split("@", 1)[0].casefold()  # Telegram appends @botname in groups
        argument = argument.strip()
        if name == "start":
            self._start(turn, argument or None)
        elif name in ("menu", "lessons"):
            self._leave_lesson(turn)
            turn.go("menu")
            self._render(turn)
        elif name in ("check", "kiemtra"):
            if argument:
                turn.emit("message.submitted", text=argument)
                self._inspect(turn, again=turn.state.screen == "inspect")
            else:
                self._leave_lesson(turn)
                turn.say(p.INSPECT_INTRO)
                turn.go("inspect")
                self._render(turn)
        elif name in ("ask", "hoi"):
            if argument:
                turn.emit("question.asked", text=argument)
            else:
                turn.say(p.ASK_HOW)
            self._render(turn)
        elif name in ("agree", "dongy"):
            self._consent(turn, "yes")
        elif name in ("review", "ontap"):
            self._open_review(turn)
        elif name in ("together", "cungnhau"):
            self._together(turn, not turn.state.together)
        elif name in ("lang", "language", "vi", "en"):
            wanted = name if name in LOCALES else argument if argument in LOCALES else None
            self._switch_locale(turn, wanted)
            self._render(turn)
        else:
            turn.say(p.HELP)
            self._render(turn)

    def _choice(self, turn: _Turn, key: str) -> None:
        prompt, _, action = key.partition(":")
        if not prompt.isdigit() or int(prompt) != turn.state.prompt:
            turn.say(p.OLD_BUTTON)
            self._render(turn)
            return
        self._act(turn, action)

    # --- actions on the current screen --------------------------------------------------

    def _act(self, turn: _Turn, action: str) -> None:
        state = turn.state
        verb, _, argument = action.partition(":")
        if verb == "lang" and argument in LOCALES:
            self._switch_locale(turn, argument)
            if state.screen == "welcome":
                state.locale_chosen = True
                turn.go("menu" if state.consent is not None else "consent")
            self._render(turn)
        elif verb == "consent" and argument in ("yes", "no", "young", "parent"):
            self._consent(turn, argument)
        elif verb == "open":
            lesson = self.catalog.lesson(argument)
            if lesson is None:
                turn.say(p.LESSON_NOT_FOUND)
                turn.go("menu")
                self._render(turn)
            else:
                self._open(turn, lesson)
        elif verb == "module" and self.catalog.module(argument) is not None:
            self._leave_lesson(turn)
            state.module_id = argument
            turn.go("module")
            self._render(turn)
        elif verb == "check" and argument in PHASES and state.module_id is not None:
            self._open_check(turn, argument)
        elif verb == "review":
            self._open_review(turn)
        elif verb == "reminders":
            turn.emit("reminders.requested")  # the service asks when, before the buttons
            self._render(turn)
        elif verb == "inspect":
            self._leave_lesson(turn)
            turn.say(p.INSPECT_INTRO)
            turn.go("inspect")
            self._render(turn)
        elif verb == "together" and argument in ("on", "off"):
            self._together(turn, argument == "on")
        elif verb == "menu":
            self._leave_lesson(turn)
            turn.go("menu")
            self._render(turn)
        elif verb == "resume" and state.position is not None:
            turn.go("lesson")
            self._render(turn)
        elif state.screen == "lesson" and state.position is not None:
            self._step_action(turn, verb, argument)
        elif state.screen == "review" and state.review is not None:
            self._review_action(turn, state.review, verb, argument)
        else:
            self._nudge(turn)

    def _step_action(self, turn: _Turn, verb: str, argument: str) -> None:
        unit, step = self._current(turn)
        position = turn.state.position
        assert position is not None  # noqa: S101 -- guarded by the caller
        if isinstance(step, SayStep) and verb == "next":
            self._complete_step(turn, unit, step.id)
        elif isinstance(step, ShowStep) and verb in ("done", "stuck", "again"):
            if verb == "done":
                turn.say(p.DONE_PRAISE)
                self._complete_step(turn, unit, step.id)
                return
            if verb == "stuck":
                turn.emit("learner.stuck", unit.id, step.id, step=position.step)
                if step.hint is not None:
                    turn.say(p.STUCK_HELP, hint=step.hint(turn.locale))
                else:
                    turn.say(p.STUCK_NO_HINT)
            self._render(turn)
        elif isinstance(step, QuizStep) and verb == "answer" and argument.isdigit():
            self._answer_quiz(turn, unit, step, int(argument))
        elif isinstance(step, DrillStep) and verb == "verdict" and argument in p.DRILL_VERDICTS:
            self._answer_drill(turn, unit, step, argument)
        else:
            self._nudge(turn)

    def _answer_quiz(self, turn: _Turn, unit: _Unit, step: QuizStep, index: int) -> None:
        position = turn.state.position
        assert position is not None  # noqa: S101 -- only called inside a unit
        if not 0 <= index < len(step.options):
            self._nudge(turn)
            return
        chosen = step.options[index]
        position.answered += 1
        position.correct += int(chosen.correct)
        if isinstance(step, CheckItem):
            if not chosen.correct:
                position.missed.append(step.competency)
            turn.emit(
                "check.answered",
                None,
                step.id,
                module=unit.module.id,
                phase=unit.check,
                option=index,
                correct=chosen.correct,
                competency=step.competency,
            )
        else:
            turn.emit("quiz.answered", unit.id, step.id, option=index, correct=chosen.correct)
        self._quiz_feedback(turn, step, index)
        self._complete_step(turn, unit, step.id)

    def _quiz_feedback(self, turn: _Turn, step: QuizStep, index: int) -> None:
        chosen = step.options[index]
        feedback = chosen.feedback(turn.locale)
        if chosen.correct:
            turn.say(p.RIGHT(turn.locale) + feedback)
        else:
            right = " / ".join(o.text(turn.locale) for o in step.options if o.correct)
            turn.say(
                p.WRONG(turn.locale) + feedback + "\n" + p.RIGHT_ANSWER(turn.locale), answer=right
            )

    def _answer_drill(self, turn: _Turn, unit: _Unit, step: DrillStep, verdict: str) -> None:
        position = turn.state.position
        assert position is not None  # noqa: S101 -- only called inside a unit
        correct = verdict == step.verdict
        position.answered += 1
        position.correct += int(correct)
        turn.emit("drill.answered", unit.id, step.id, answer=verdict, correct=correct)
        self._drill_feedback(turn, step, verdict)
        self._complete_step(turn, unit, step.id)

    def _drill_feedback(self, turn: _Turn, step: DrillStep, verdict: str) -> None:
        correct = verdict == step.verdict
        if verdict == "unsure":
            turn.say(p.DRILL_UNSURE)
            turn.say(p.DRILL_WRONG[step.verdict])
        else:
            turn.say((p.DRILL_RIGHT if correct else p.DRILL_WRONG)[step.verdict])
        parts = [step.explanation(turn.locale)]
        if step.red_flags:
            flags = [p.RED_FLAGS(turn.locale)] + [
                f"• {flag(turn.locale)}" for flag in step.red_flags
            ]
            parts.insert(0, "\n".join(flags))
        turn.say("\n\n".join(parts))

    # --- the privacy notice -------------------------------------------------------------

    def _consent(self, turn: _Turn, answer: str) -> None:
        """The notice's answer: agree (the learner, or a parent beside a child under 16), just
        read, or "I'm under 16" (a parent or the inviting volunteer must agree)."""
        state = turn.state
        if answer in ("yes", "parent"):
            if state.consent != "given":
                state.consent = "given"
                by = "guardian" if answer == "parent" else "learner"
                turn.emit("consent.given", version=p.CONSENT_VERSION, by=by)
            turn.say(p.CONSENT_THANKS)
        elif answer == "young":
            if state.consent != "given":
                state.consent = "guardian"
                turn.emit("consent.guardian_needed")
            turn.say(p.CONSENT_GUARDIAN)
            turn.go("consent")
            self._render(turn)
            return
        else:
            if state.consent is None:
                state.consent = "declined"
                turn.emit("consent.declined")
            turn.say(p.CONSENT_READ_ONLY)
        if state.screen != "consent":
            turn.go(state.screen)
            self._render(turn)
            return
        lesson = self.catalog.lesson(state.opening or "")
        state.opening = None
        if lesson is not None:
            self._open(turn, lesson)
            return
        turn.go("resume" if state.position is not None else "menu")
        self._render(turn)

    # --- spaced review ------------------------------------------------------------------

    def _open_review(self, turn: _Turn) -> None:
        state = turn.state
        due = due_reviews(self.catalog, state)
        if not due:
            turn.say(p.REVIEW_NONE)
            if state.screen == "review":
                turn.go("menu")
            self._render(turn)
            return
        self._leave_lesson(turn)
        state.review = Review(items=due[:REVIEW_SIZE])
        turn.emit("review.started", count=len(state.review.items), due=len(due))
        turn.say(p.REVIEW_HEADER, count=len(state.review.items))
        turn.go("review")
        self._render(turn)

    def _review_step(self, review: Review) -> tuple[Lesson, QuizStep | DrillStep] | None:
        if review.step >= len(review.items):
            return None
        return self.catalog.review_item(review.items[review.step])

    def _review_action(self, turn: _Turn, review: Review, verb: str, argument: str) -> None:
        found = self._review_step(review)
        if found is None:  # pragma: no cover -- the lessons were reloaded during the review
            self._finish_review(turn, review)
            return
        lesson, step = found
        if isinstance(step, QuizStep) and verb == "answer" and argument.isdigit():
            index = int(argument)
            if not 0 <= index < len(step.options):
                self._nudge(turn)
                return
            correct = step.options[index].correct
            turn.emit("review.answered", lesson.id, step.id, option=index, correct=correct)
            self._quiz_feedback(turn, step, index)
        elif isinstance(step, DrillStep) and verb == "verdict" and argument in p.DRILL_VERDICTS:
            correct = argument == step.verdict
            turn.emit("review.answered", lesson.id, step.id, answer=argument, correct=correct)
            self._drill_feedback(turn, step, argument)
        else:
            self._nudge(turn)
            return
        # Answered: no longer due; the service's scheduler sets when it comes back.
        turn.state.reviews.pop(f"{lesson.id}/{step.id}", None)
        learned_today(turn.state)
        review.correct += int(correct)
        review.step += 1
        while review.step < len(review.items) and self._review_step(review) is None:
            review.step += 1  # pragma: no cover -- an item removed from the lessons meanwhile
        if review.step < len(review.items):
            turn.go("review")
            self._render(turn)
        else:
            self._finish_review(turn, review)

    def _finish_review(self, turn: _Turn, review: Review) -> None:
        state = turn.state
        turn.say(p.REVIEW_DONE, correct=review.correct, total=len(review.items))
        days = current_streak(state)
        if days >= 2:
            turn.say(p.STREAK, days=days)
        state.review = None
        turn.go("menu")
        self._render(turn)

    def _review_prompt(self, turn: _Turn, review: Review) -> str:
        loc = turn.locale
        found = self._review_step(review)
        assert found is not None  # noqa: S101 -- a review screen always has a current item
        lesson, step = found
        counter = p.REVIEW_PROGRESS(loc).format(number=review.step + 1, count=len(review.items))
        return counter + "\n" + self._item_prompt(turn, lesson.id, step)

    # --- lesson and check flow ----------------------------------------------------------

    def _open(self, turn: _Turn, lesson: Lesson) -> None:
        state = turn.state
        self._leave_lesson(turn)
        start_at = state.bookmarks.pop(lesson.id, 0)
        state.position = Position(lesson_id=lesson.id, step=start_at)
        state.module_id = lesson.module
        if start_at == 0:
            turn.emit("lesson.started", lesson.id)
        turn.say(
            p.LESSON_HEADER,
            title=lesson.title(turn.locale),
            minutes=lesson.minutes,
            steps=len(lesson.steps),
        )
        if state.together:
            turn.say(p.LEARNING_TOGETHER)
        turn.go("lesson")
        self._render(turn)

    def _open_check(self, turn: _Turn, phase: CheckPhase) -> None:
        state = turn.state
        module = self.catalog.module(state.module_id or "")
        assert module is not None  # noqa: S101 -- the caller checked the module id
        self._leave_lesson(turn)
        state.position = Position(lesson_id=module.id, check=phase)
        unit = self._unit(state.position)
        turn.emit("check.started", module=module.id, phase=phase)
        turn.say(p.CHECK_HEADER, title=unit.title(turn.locale), count=len(unit.steps))
        turn.go("lesson")
        self._render(turn)

    def _leave_lesson(self, turn: _Turn) -> None:
        """Keep a bookmark so a lesson resumes where it was left; a check starts afresh; a
        review is left (what was answered is kept, the rest stays due)."""
        state = turn.state
        state.review = None
        position = state.position
        if position is not None:
            if position.check is None and position.step > 0:
                state.bookmarks[position.lesson_id] = position.step
            state.position = None

    def _complete_step(self, turn: _Turn, unit: _Unit, step_id: str) -> None:
        position = turn.state.position
        assert position is not None  # noqa: S101 -- only called inside a unit
        learned_today(turn.state)
        if unit.check is None:
            turn.emit("step.completed", unit.id, step_id, step=position.step)
            position.assisted = position.assisted or turn.state.together
        position.step += 1
        if position.step < len(unit.steps):
            turn.go("lesson")
            self._render(turn)
        elif unit.check is None:
            self._finish_lesson(turn, unit, position)
        else:
            self._finish_check(turn, unit, position)

    def _finish_lesson(self, turn: _Turn, unit: _Unit, position: Position) -> None:
        state = turn.state
        if unit.id not in state.completed:
            state.completed.append(unit.id)
        turn.emit(
            "lesson.completed",
            unit.id,
            correct=position.correct,
            answered=position.answered,
            assisted=position.assisted,
        )
        turn.say(p.FINISHED, title=unit.title(turn.locale))
        if position.assisted:
            turn.say(p.FINISHED_TOGETHER)
        days = current_streak(state)
        if days >= 2:
            turn.say(p.STREAK, days=days)
        elif days == 1:
            turn.say(p.STREAK_FIRST_DAY)
        if position.answered:
            turn.say(p.FINISHED_SCORE, correct=position.correct, answered=position.answered)
        if all(lesson_id in state.completed for lesson_id in unit.module.lessons):
            turn.say(p.MODULE_DONE, title=unit.module.title(turn.locale))
        state.position = None
        state.last_finished = unit.id
        turn.go("finished")
        self._render(turn)

    def _finish_check(self, turn: _Turn, unit: _Unit, position: Position) -> None:
        state = turn.state
        module = unit.module
        assert unit.check is not None  # noqa: S101 -- a check unit
        score = CheckScore(correct=position.correct, total=len(unit.steps))
        state.checks[f"{module.id}:{unit.check}"] = score
        turn.emit(
            "check.completed",
            module=module.id,
            phase=unit.check,
            correct=score.correct,
            total=score.total,
        )
        turn.say(p.CHECK_SCORE, correct=score.correct, total=score.total)
        if unit.check == "pre":
            suggestion = self._suggest(module, set(position.missed), set(state.completed))
            state.recommended[module.id] = suggestion.id
            template = p.CHECK_RECOMMEND if position.missed else p.CHECK_ALL_RIGHT
            turn.say(template, title=suggestion.title(turn.locale))
        else:
            before = state.checks.get(f"{module.id}:pre")
            if before is not None:
                turn.say(
                    p.CHECK_GAIN,
                    pre_correct=before.correct,
                    pre_total=before.total,
                    correct=score.correct,
                    total=score.total,
                )
        state.position = None
        turn.go("checked")
        self._render(turn)

    def _suggest(self, module: Module, missed: set[str], done: set[str]) -> Lesson:
        """The first lesson not done yet that teaches something missed in the pre-check."""
        lessons = self.catalog.lessons_of(module)
        open_lessons = [lesson for lesson in lessons if lesson.id not in done] or lessons
        for lesson in open_lessons:
            if missed & set(lesson.competencies):
                return lesson
        return open_lessons[0]

    def _together(self, turn: _Turn, on: bool) -> None:
        """ "My helper is with me" (on) or "I'll go on by myself" (off), then the same screen."""
        state = turn.state
        if state.together != on:
            state.together = on
            turn.emit("together.changed", on=on)
        turn.say(p.TOGETHER_ON if on else p.TOGETHER_OFF)
        turn.go(state.screen)  # the menu's together button changes
        self._render(turn)

    def _switch_locale(self, turn: _Turn, wanted: Locale | None) -> None:
        state = turn.state
        new: Locale = wanted or ("en" if state.locale == "vi" else "vi")
        if new != state.locale:
            state.locale = new
            turn.emit("locale.changed", locale=new)
        turn.say(p.LANGUAGE_SET)

    # --- where the learner is -----------------------------------------------------------

    def _unit(self, position: Position) -> _Unit:
        key = (position.lesson_id, position.check)
        unit = self._units.get(key)
        if unit is None:
            unit = self._units[key] = self._make_unit(position)
        return unit

    def _make_unit(self, position: Position) -> _Unit:
        if position.check is not None:
            module = self.catalog.module(position.lesson_id)
            if module is None:  # pragma: no cover -- a module removed while learners were in it
                raise LookupError(position.lesson_id)
            template = p.PRE_CHECK_TITLE if position.check == "pre" else p.POST_CHECK_TITLE
            title = Text(
                vi=template("vi").format(title=module.title.vi),
                en=template("en").format(title=module.title.en),
            )
            steps: list[Step] = list(module.check(position.check))
            return _Unit(module.id, title, steps, module, position.check)
        lesson = self.catalog.lesson(position.lesson_id)
        module = self.catalog.module(lesson.module) if lesson is not None else None
        if lesson is None or module is None:  # pragma: no cover -- removed while in use
            raise LookupError(position.lesson_id)
        return _Unit(lesson.id, lesson.title, list(lesson.steps), module)

    def _current(self, turn: _Turn) -> tuple[_Unit, Step]:
        position = turn.state.position
        assert position is not None  # noqa: S101 -- only called inside a unit
        unit = self._unit(position)
        return unit, unit.steps[min(position.step, len(unit.steps) - 1)]

    def _module(self, turn: _Turn) -> Module:
        state = turn.state
        module = self.catalog.module(state.module_id or "")
        return module if module is not None else self.catalog.modules[0]

    def _module_done(self, state: State, module: Module) -> bool:
        return all(lesson_id in state.completed for lesson_id in module.lessons)

    def _next_module(self, state: State, after: Module) -> Module | None:
        modules = self.catalog.modules
        start = modules.index(after) + 1
        for module in modules[start:] + modules[:start]:
            if module is not after and not self._module_done(state, module):
                return module
        return None

    # --- rendering ----------------------------------------------------------------------

    def _key(self, turn: _Turn, action: str) -> str:
        return f"{turn.state.prompt}:{action}"

    def _option(self, turn: _Turn, action: str, label: str) -> Option:
        return Option(key=self._key(turn, action), label=label)

    def _options(self, turn: _Turn) -> list[Option]:
        """The buttons of the current screen; typed text is matched against these."""
        state = turn.state
        loc = turn.locale
        if state.screen == "welcome":
            return [
                self._option(turn, "lang:vi", "Tiếng Việt 🇻🇳"),
                self._option(turn, "lang:en", "English 🇬🇧"),
            ]
        if state.screen == "consent":
            if state.consent == "guardian":
                return [
                    self._option(turn, "consent:parent", p.CONSENT_PARENT(loc)),
                    self._option(turn, "consent:no", p.CONSENT_NO(loc)),
                ]
            return [
                self._option(turn, "consent:yes", p.CONSENT_YES(loc)),
                self._option(turn, "consent:no", p.CONSENT_NO(loc)),
                self._option(turn, "consent:young", p.CONSENT_YOUNG(loc)),
            ]
        if state.screen == "resume":
            return [
                self._option(turn, "resume", p.RESUME(loc)),
                self._option(turn, "menu", p.OTHER_LESSON(loc)),
            ]
        if state.screen == "finished":
            return self._finished_options(turn)
        if state.screen == "checked":
            return self._checked_options(turn)
        if state.screen == "inspect":
            return [self._option(turn, "menu", p.ALL_MODULES(loc))]
        if state.screen == "module":
            return self._module_options(turn)
        if state.screen == "lesson" and state.position is not None:
            unit, step = self._current(turn)
            if isinstance(step, SayStep):
                return [self._option(turn, "next", p.NEXT(loc))]
            if isinstance(step, ShowStep):
                return [
                    self._option(turn, "done", p.DONE(loc)),
                    self._option(turn, "stuck", p.STUCK(loc)),
                    self._option(turn, "again", p.AGAIN(loc)),
                ]
            return self._item_options(turn, unit.id, step)
        if state.screen == "review" and state.review is not None:
            found = self._review_step(state.review)
            if found is not None:
                return self._item_options(turn, found[0].id, found[1])
        return self._menu_options(turn)

    def _item_options(self, turn: _Turn, unit_id: str, step: QuizStep | DrillStep) -> list[Option]:
        """A quiz's answers (in their fixed shuffled order) or a drill's verdicts."""
        loc = turn.locale
        if isinstance(step, QuizStep):
            return [
                self._option(turn, f"answer:{index}", step.options[index].text(loc))
                for index in answer_order(unit_id, step)
            ]
        return [
            self._option(turn, f"verdict:{verdict}", label(loc))
            for verdict, label in p.DRILL_VERDICTS.items()
        ]

    def _menu_options(self, turn: _Turn) -> list[Option]:
        state = turn.state
        loc = turn.locale
        options = []
        due = due_reviews(self.catalog, state)
        if due:
            label = p.REVIEW_BUTTON(loc).format(count=min(len(due), REVIEW_SIZE))
            options.append(self._option(turn, "review", label))
        for module in self.catalog.modules:
            done = sum(lesson_id in state.completed for lesson_id in module.lessons)
            if done == len(module.lessons):
                mark = p.DONE_MARK
            elif done or any(lesson_id in state.bookmarks for lesson_id in module.lessons):
                mark = p.BOOKMARK_MARK
            else:
                mark = p.NEW_MARK
            label = f"{mark} {module.title(loc)} · {done}/{len(module.lessons)}"
            options.append(self._option(turn, f"module:{module.id}", label))
        options.append(self._option(turn, "inspect", p.CHECK_MESSAGE(loc)))
        options.append(self._option(turn, "reminders", p.REMINDERS(loc)))
        if state.together:
            options.append(self._option(turn, "together:off", p.TOGETHER_OFF_BUTTON(loc)))
        else:
            options.append(self._option(turn, "together:on", p.TOGETHER_ON_BUTTON(loc)))
        other = "en" if loc == "vi" else "vi"
        options.append(self._option(turn, f"lang:{other}", p.SWITCH_LANGUAGE(loc)))
        return options

    def _module_options(self, turn: _Turn) -> list[Option]:
        state = turn.state
        loc = turn.locale
        module = self._module(turn)
        options = []
        if self._offer_pre_check(state, module):
            options.append(self._option(turn, "check:pre", p.PRE_CHECK(loc)))
        recommended = state.recommended.get(module.id)
        for lesson in self.catalog.lessons_of(module):
            if lesson.id in state.completed:
                mark = p.DONE_MARK
            elif lesson.id in state.bookmarks:
                mark = p.BOOKMARK_MARK
            elif lesson.id == recommended:
                mark = p.RECOMMENDED_MARK
            else:
                mark = p.NEW_MARK
            options.append(self._option(turn, f"open:{lesson.id}", f"{mark} {lesson.title(loc)}"))
        post = self._option(turn, "check:post", p.POST_CHECK(loc))
        if self._module_done(state, module) and f"{module.id}:post" not in state.checks:
            options.insert(0, post)
        else:
            options.append(post)
        options.append(self._option(turn, "menu", p.ALL_MODULES(loc)))
        return options

    def _offer_pre_check(self, state: State, module: Module) -> bool:
        """Offered until the learner takes it or starts the module's lessons."""
        started = any(
            lesson_id in state.completed or lesson_id in state.bookmarks
            for lesson_id in module.lessons
        )
        return not started and f"{module.id}:pre" not in state.checks

    def _finished_options(self, turn: _Turn) -> list[Option]:
        state = turn.state
        loc = turn.locale
        module = self._module(turn)
        done = set(state.completed)
        options = []
        in_module = [lesson for lesson in self.catalog.lessons_of(module) if lesson.id not in done]
        if in_module:
            label = p.NEXT_LESSON(loc).format(title=in_module[0].title(loc))
            options.append(self._option(turn, f"open:{in_module[0].id}", label))
        elif f"{module.id}:post" not in state.checks:
            options.append(self._option(turn, "check:post", p.TAKE_POST_CHECK(loc)))
        else:
            upcoming = self.catalog.next_after(state.last_finished or "", done)
            if upcoming is not None:
                label = p.NEXT_LESSON(loc).format(title=upcoming.title(loc))
                options.append(self._option(turn, f"open:{upcoming.id}", label))
        options.append(self._option(turn, f"module:{module.id}", p.MODULE_LESSONS(loc)))
        options.append(self._option(turn, "menu", p.ALL_MODULES(loc)))
        return options

    def _checked_options(self, turn: _Turn) -> list[Option]:
        state = turn.state
        loc = turn.locale
        module = self._module(turn)
        options = []
        recommended = self.catalog.lesson(state.recommended.get(module.id, ""))
        if f"{module.id}:post" in state.checks and self._module_done(state, module):
            upcoming = self._next_module(state, module)
            if upcoming is not None:
                label = p.NEXT_MODULE(loc).format(title=upcoming.title(loc))
                options.append(self._option(turn, f"module:{upcoming.id}", label))
        elif recommended is not None and recommended.id not in state.completed:
            label = p.LEARN_LESSON(loc).format(title=recommended.title(loc))
            options.append(self._option(turn, f"open:{recommended.id}", label))
        options.append(self._option(turn, f"module:{module.id}", p.MODULE_LESSONS(loc)))
        options.append(self._option(turn, "menu", p.ALL_MODULES(loc)))
        return options

    def _render(self, turn: _Turn) -> None:
        """Send the current screen again: its text, picture and buttons."""
        state = turn.state
        loc = turn.locale
        options = self._options(turn)
        if state.screen == "welcome":
            prompt = p.WELCOME("vi") + "\n\n" + p.WELCOME("en")
        elif state.screen == "consent":
            prompt = p.CONSENT(loc)
        elif state.screen == "resume" and state.position is not None:
            unit, _ = self._current(turn)
            prompt = p.RESUME_PROMPT(loc).format(
                title=unit.title(loc), step=state.position.step + 1, total=len(unit.steps)
            )
        elif state.screen in ("finished", "checked"):
            prompt = p.WHAT_NEXT(loc)
        elif state.screen == "inspect":
            checked = any(event.type == "message.submitted" for event in turn.events)
            prompt = (p.INSPECT_AGAIN if checked else p.INSPECT_PROMPT)(loc)
        elif state.screen == "module":
            prompt = self._module_prompt(turn)
        elif state.screen == "lesson" and state.position is not None:
            prompt = self._step_prompt(turn)
        elif state.screen == "review" and state.review is not None:
            prompt = self._review_prompt(turn, state.review)
        else:
            prompt = self._menu_prompt(turn)
        turn.replies.append(ChoicesReply(text=prompt, options=options))

    def _menu_prompt(self, turn: _Turn) -> str:
        state = turn.state
        loc = turn.locale
        unfinished = [m for m in self.catalog.modules if not self._module_done(state, m)]
        days = current_streak(state)
        streak = "\n" + p.STREAK(loc).format(days=days) if days >= 2 else ""
        due = len(due_reviews(self.catalog, state))
        if due:
            streak += "\n" + p.MENU_REVIEW_DUE(loc).format(count=due)
        if state.consent in ("declined", "guardian"):
            streak += "\n" + p.READ_ONLY_NOTE(loc)
        if not unfinished:
            return p.MENU_ALL_DONE(loc) + streak
        current = self.catalog.module(state.module_id or "")
        suggested = current if current in unfinished else unfinished[0]
        return p.MENU(loc) + "\n" + p.MENU_SUGGEST(loc).format(title=suggested.title(loc)) + streak

    def _module_prompt(self, turn: _Turn) -> str:
        state = turn.state
        loc = turn.locale
        module = self._module(turn)
        lines = [p.MODULE_INTRO(loc).format(title=module.title(loc), summary=module.summary(loc))]
        if self._offer_pre_check(state, module):
            lines.append(p.MODULE_OFFER_CHECK(loc).format(count=len(module.pre_check)))
        recommended = self.catalog.lesson(state.recommended.get(module.id, ""))
        if recommended is not None and recommended.id not in state.completed:
            lines.append(p.MODULE_RECOMMENDED(loc).format(title=recommended.title(loc)))
        return "\n\n".join(lines)

    def _step_prompt(self, turn: _Turn) -> str:
        """Emit a step's picture and context; return the text that carries its buttons."""
        loc = turn.locale
        unit, step = self._current(turn)
        if isinstance(step, SayStep):
            self._picture(turn, step.picture)
            return step.text(loc)
        if isinstance(step, ShowStep):
            self._picture(turn, step.picture)
            return p.SHOW_PREFIX(loc) + step.instruction(loc)
        return self._item_prompt(turn, unit.id, step)

    def _picture(self, turn: _Turn, path: str | None) -> None:
        if path is not None:
            turn.replies.append(PictureReply(path=path))

    def _item_prompt(self, turn: _Turn, unit_id: str, step: QuizStep | DrillStep) -> str:
        """A quiz's question, or a drill's message (with its phone-screen picture)."""
        loc = turn.locale
        self._picture(turn, step.picture)
        if isinstance(step, QuizStep):
            return p.QUIZ_PREFIX(loc) + step.question(loc)
        screen = self.catalog.drill_picture(unit_id, step.id, loc)
        if screen is not None and step.picture is None:
            turn.replies.append(PictureReply(path=screen))
        intro = p.DRILL_INTRO[step.channel](loc).format(sender=step.sender)
        turn.say(f"{intro}\n\n“{step.message(loc)}”")
        return p.DRILL_QUESTION(loc)

    def _nudge(self, turn: _Turn) -> None:
        """Input that fits nothing on screen: say how to answer, and show the screen again."""
        turn.say(p.TAP_A_BUTTON)
        self._render(turn)
