"""The lesson engine: `Engine.step(state, input) -> Outcome(state, replies, events)`, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.engine import phrases as p
from bot.engine.lesson import (
    LOCALES,
    Catalog,
    DrillStep,
    Lesson,
    Locale,
    QuizStep,
    SayStep,
    ShowStep,
    Text,
)
from bot.engine.matching import match_option
from bot.engine.types import (
    Again,
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
    Start,
    State,
    Stuck,
    TextInput,
    TextReply,
)

LESSON_PAYLOAD = "lesson_"
"""A start payload that opens a lesson directly: `/start lesson_otp-secret`."""
LANG_PAYLOAD = "lang_"
"""A start payload that picks the language: `/start lang_en`."""

MAX_TEXT = 4000
"""Longer text is not a command or an answer; it is answered with the current prompt."""


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

    def go(self, screen: str) -> None:
        """Move to a new screen: buttons from earlier screens stop working."""
        self.state.screen = screen  # type: ignore[assignment]
        self.state.prompt += 1


class Engine:
    """Turns a learner's input into the next state, the replies to send and progress events."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def step(self, state: State | None, event: Input) -> Outcome:
        turn = _Turn(state.model_copy(deep=True) if state is not None else State())
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
        return Outcome(state=turn.state, replies=turn.replies, events=turn.events)

    # --- entry points -------------------------------------------------------------------

    def _start(self, turn: _Turn, payload: str | None) -> None:
        state = turn.state
        newcomer = not state.locale_chosen
        if payload and payload.startswith(LANG_PAYLOAD) and payload[len(LANG_PAYLOAD) :] in LOCALES:
            self._switch_locale(turn, payload[len(LANG_PAYLOAD) :])  # type: ignore[arg-type]
            state.locale_chosen = True
            payload = None
        if payload and payload.startswith(LESSON_PAYLOAD):
            lesson = self.catalog.lesson(payload.removeprefix(LESSON_PAYLOAD))
            if lesson is not None:
                if not state.locale_chosen:
                    state.locale_chosen = True
                self._open(turn, lesson)
                return
        if not state.locale_chosen:
            turn.go("welcome")
            self._render(turn)
        elif state.position is not None:
            turn.say(p.WELCOME_BACK)
            turn.go("resume")
            self._render(turn)
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
        option = match_option(text, self._options(turn))
        if option is None:
            self._nudge(turn)
            return
        self._choice(turn, option.key)

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
                turn.go("menu")
            self._render(turn)
        elif verb == "open":
            lesson = self.catalog.lesson(argument)
            if lesson is None:
                turn.say(p.LESSON_NOT_FOUND)
                turn.go("menu")
                self._render(turn)
            else:
                self._open(turn, lesson)
        elif verb == "menu":
            self._leave_lesson(turn)
            turn.go("menu")
            self._render(turn)
        elif verb == "resume" and state.position is not None:
            turn.go("lesson")
            self._render(turn)
        elif state.screen == "lesson" and state.position is not None:
            self._lesson_action(turn, verb, argument)
        else:
            self._nudge(turn)

    def _lesson_action(self, turn: _Turn, verb: str, argument: str) -> None:
        lesson, step = self._current(turn)
        position = turn.state.position
        assert position is not None  # noqa: S101 -- guarded by the caller
        if isinstance(step, SayStep) and verb == "next":
            self._complete_step(turn, lesson, step.id)
        elif isinstance(step, ShowStep) and verb in ("done", "stuck", "again"):
            if verb == "done":
                turn.say(p.DONE_PRAISE)
                self._complete_step(turn, lesson, step.id)
            elif verb == "stuck":
                turn.emit("learner.stuck", lesson.id, step.id, step=position.step)
                if step.hint is not None:
                    turn.say(p.STUCK_HELP, hint=step.hint(turn.locale))
                else:
                    turn.say(p.STUCK_NO_HINT)
                self._render(turn)
            else:
                self._render(turn)
        elif isinstance(step, QuizStep) and verb == "answer" and argument.isdigit():
            index = int(argument)
            if not 0 <= index < len(step.options):
                self._nudge(turn)
                return
            chosen = step.options[index]
            position.answered += 1
            position.correct += int(chosen.correct)
            turn.emit("quiz.answered", lesson.id, step.id, option=index, correct=chosen.correct)
            feedback = chosen.feedback(turn.locale)
            if chosen.correct:
                turn.say(p.RIGHT(turn.locale) + feedback)
            else:
                right = " / ".join(o.text(turn.locale) for o in step.options if o.correct)
                turn.say(
                    p.WRONG(turn.locale) + feedback + "\n" + p.RIGHT_ANSWER(turn.locale),
                    answer=right,
                )
            self._complete_step(turn, lesson, step.id)
        elif isinstance(step, DrillStep) and verb == "verdict" and argument in p.DRILL_VERDICTS:
            correct = argument == step.verdict
            position.answered += 1
            position.correct += int(correct)
            turn.emit("drill.answered", lesson.id, step.id, answer=argument, correct=correct)
            if argument == "unsure":
                turn.say(p.DRILL_UNSURE)
                turn.say(p.DRILL_WRONG[step.verdict])
            elif correct:
                turn.say(p.DRILL_RIGHT[step.verdict])
            else:
                turn.say(p.DRILL_WRONG[step.verdict])
            lines = [step.explanation(turn.locale)]
            if step.red_flags:
                lines.insert(
                    0,
                    "\n".join(
                        [p.RED_FLAGS(turn.locale)]
                        + [f"• {flag(turn.locale)}" for flag in step.red_flags]
                    ),
                )
            turn.say("\n\n".join(lines))
            self._complete_step(turn, lesson, step.id)
        else:
            self._nudge(turn)

    # --- lesson flow --------------------------------------------------------------------

    def _open(self, turn: _Turn, lesson: Lesson) -> None:
        state = turn.state
        self._leave_lesson(turn)
        start_at = state.bookmarks.pop(lesson.id, 0)
        state.position = Position(lesson_id=lesson.id, step=start_at)
        if start_at == 0:
            turn.emit("lesson.started", lesson.id)
        turn.say(
            p.LESSON_HEADER,
            title=lesson.title(turn.locale),
            minutes=lesson.minutes,
            steps=len(lesson.steps),
        )
        turn.go("lesson")
        self._render(turn)

    def _leave_lesson(self, turn: _Turn) -> None:
        """Keep a bookmark so the lesson resumes where it was left."""
        state = turn.state
        if state.position is not None:
            if state.position.step > 0:
                state.bookmarks[state.position.lesson_id] = state.position.step
            state.position = None

    def _complete_step(self, turn: _Turn, lesson: Lesson, step_id: str) -> None:
        position = turn.state.position
        assert position is not None  # noqa: S101 -- only called inside a lesson
        turn.emit("step.completed", lesson.id, step_id, step=position.step)
        position.step += 1
        if position.step < len(lesson.steps):
            turn.go("lesson")
            self._render(turn)
            return
        state = turn.state
        if lesson.id not in state.completed:
            state.completed.append(lesson.id)
        turn.emit(
            "lesson.completed", lesson.id, correct=position.correct, answered=position.answered
        )
        turn.say(p.FINISHED, title=lesson.title(turn.locale))
        if position.answered:
            turn.say(p.FINISHED_SCORE, correct=position.correct, answered=position.answered)
        state.position = None
        state.last_finished = lesson.id
        turn.go("finished")
        self._render(turn)

    def _switch_locale(self, turn: _Turn, wanted: Locale | None) -> None:
        state = turn.state
        new: Locale = wanted or ("en" if state.locale == "vi" else "vi")
        if new != state.locale:
            state.locale = new
            turn.emit("locale.changed", locale=new)
        turn.say(p.LANGUAGE_SET)

    # --- rendering ----------------------------------------------------------------------

    def _current(self, turn: _Turn) -> tuple[Lesson, SayStep | ShowStep | QuizStep | DrillStep]:
        position = turn.state.position
        assert position is not None  # noqa: S101 -- only called inside a lesson
        lesson = self.catalog.lesson(position.lesson_id)
        if lesson is None:  # pragma: no cover -- a lesson removed while learners were in it
            raise LookupError(position.lesson_id)
        return lesson, lesson.steps[min(position.step, len(lesson.steps) - 1)]

    def _key(self, turn: _Turn, action: str) -> str:
        return f"{turn.state.prompt}:{action}"

    def _options(self, turn: _Turn) -> list[Option]:
        """The buttons of the current screen; typed text is matched against these."""
        state = turn.state
        loc = turn.locale
        key = self._key
        if state.screen == "welcome":
            return [
                Option(key=key(turn, "lang:vi"), label="Tiếng Việt 🇻🇳"),
                Option(key=key(turn, "lang:en"), label="English 🇬🇧"),
            ]
        if state.screen == "resume":
            return [
                Option(key=key(turn, "resume"), label=p.RESUME(loc)),
                Option(key=key(turn, "menu"), label=p.OTHER_LESSON(loc)),
            ]
        if state.screen == "finished":
            options = []
            done = set(state.completed)
            upcoming = self.catalog.next_after(state.last_finished or "", done)
            if upcoming is not None:
                label = p.NEXT_LESSON(loc).format(title=upcoming.title(loc))
                options.append(Option(key=key(turn, f"open:{upcoming.id}"), label=label))
            options.append(Option(key=key(turn, "menu"), label=p.TO_MENU(loc)))
            return options
        if state.screen == "lesson" and state.position is not None:
            _, step = self._current(turn)
            if isinstance(step, SayStep):
                return [Option(key=key(turn, "next"), label=p.NEXT(loc))]
            if isinstance(step, ShowStep):
                return [
                    Option(key=key(turn, "done"), label=p.DONE(loc)),
                    Option(key=key(turn, "stuck"), label=p.STUCK(loc)),
                    Option(key=key(turn, "again"), label=p.AGAIN(loc)),
                ]
            if isinstance(step, QuizStep):
                return [
                    Option(key=key(turn, f"answer:{index}"), label=option.text(loc))
                    for index, option in enumerate(step.options)
                ]
            return [
                Option(key=key(turn, f"verdict:{verdict}"), label=label(loc))
                for verdict, label in p.DRILL_VERDICTS.items()
            ]
        return self._menu_options(turn)

    def _menu_options(self, turn: _Turn) -> list[Option]:
        state = turn.state
        loc = turn.locale
        done = set(state.completed)
        options = []
        for lesson in self.catalog.ordered():
            if lesson.id in done:
                mark = p.DONE_MARK
            elif lesson.id in state.bookmarks:
                mark = p.BOOKMARK_MARK
            else:
                mark = p.NEW_MARK
            options.append(
                Option(
                    key=self._key(turn, f"open:{lesson.id}"), label=f"{mark} {lesson.title(loc)}"
                )
            )
        options.append(
            Option(
                key=self._key(turn, "lang:" + ("en" if loc == "vi" else "vi")),
                label=p.SWITCH_LANGUAGE(loc),
            )
        )
        return options

    def _render(self, turn: _Turn) -> None:
        """Send the current screen again: its text, picture and buttons."""
        state = turn.state
        loc = turn.locale
        options = self._options(turn)
        if state.screen == "welcome":
            prompt = p.WELCOME("vi") + "\n\n" + p.WELCOME("en")
        elif state.screen == "resume" and state.position is not None:
            lesson, _ = self._current(turn)
            prompt = p.RESUME_PROMPT(loc).format(
                title=lesson.title(loc), step=state.position.step + 1, total=len(lesson.steps)
            )
        elif state.screen == "finished":
            prompt = p.TO_MENU(loc) if len(options) == 1 else p.MENU(loc)
        elif state.screen == "lesson" and state.position is not None:
            prompt = self._step_prompt(turn)
        else:
            all_done = len(set(state.completed)) >= len(self.catalog.lessons)
            prompt = (p.MENU_ALL_DONE if all_done else p.MENU)(loc)
        turn.replies.append(ChoicesReply(text=prompt, options=options))

    def _step_prompt(self, turn: _Turn) -> str:
        """Emit a step's picture and context; return the text that carries its buttons."""
        loc = turn.locale
        _, step = self._current(turn)
        if step.picture is not None:
            turn.replies.append(PictureReply(path=step.picture))
        if isinstance(step, SayStep):
            return step.text(loc)
        if isinstance(step, ShowStep):
            return p.SHOW_PREFIX(loc) + step.instruction(loc)
        if isinstance(step, QuizStep):
            return p.QUIZ_PREFIX(loc) + step.question(loc)
        intro = p.DRILL_INTRO[step.channel](loc).format(sender=step.sender)
        turn.say(f"{intro}\n\n“{step.message(loc)}”")
        return p.DRILL_QUESTION(loc)

    def _nudge(self, turn: _Turn) -> None:
        """Input that fits nothing on screen: say how to answer, and show the screen again."""
        turn.say(p.TAP_A_BUTTON)
        self._render(turn)
