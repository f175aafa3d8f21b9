"""What goes into the engine (inputs, state) and what comes out (replies, events)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.engine.lesson import CheckPhase, Locale


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- inputs -------------------------------------------------------------------------------


class Start(_Frozen):
    """The learner opened the chat (Telegram /start, a deep link, a new web session)."""

    kind: Literal["start"] = "start"
    payload: str | None = None


class TextInput(_Frozen):
    """Anything the learner typed."""

    kind: Literal["text"] = "text"
    text: str


class Choice(_Frozen):
    """A button the learner pressed; `key` is the option's key as the engine gave it."""

    kind: Literal["choice"] = "choice"
    key: Annotated[str, Field(max_length=64)]


class Done(_Frozen):
    """'Done' on a hands-on step, from a channel that has its own control for it."""

    kind: Literal["done"] = "done"


class Stuck(_Frozen):
    """'I'm stuck' on a hands-on step."""

    kind: Literal["stuck"] = "stuck"


class Again(_Frozen):
    """'Show me again'."""

    kind: Literal["again"] = "again"


class Unsupported(_Frozen):
    """Something the tutor cannot read: a sticker, a photo, a voice message, a file."""

    kind: Literal["unsupported"] = "unsupported"
    what: Annotated[str, Field(max_length=20)] = ""


Input = Annotated[
    Start | TextInput | Choice | Done | Stuck | Again | Unsupported, Field(discriminator="kind")
]


# --- replies ------------------------------------------------------------------------------


class Option(_Frozen):
    key: str
    label: str


class TextReply(_Frozen):
    kind: Literal["text"] = "text"
    text: str


class PictureReply(_Frozen):
    """A picture from `lessons/assets/`, named by its path relative to that folder."""

    kind: Literal["picture"] = "picture"
    path: str
    caption: str | None = None


class ChoicesReply(_Frozen):
    """A message with buttons; channels without buttons show them as a numbered list."""

    kind: Literal["choices"] = "choices"
    text: str
    options: list[Option]


class QRReply(_Frozen):
    """A QR code of `data` (a link), drawn by the channel; the link is also written under it."""

    kind: Literal["qr"] = "qr"
    data: Annotated[str, Field(max_length=300)]
    caption: str | None = None


class FileReply(_Frozen):
    """A file of the learner's own data (/mydata), made from the database when it is sent;
    `url` opens it for channels that cannot carry a file."""

    kind: Literal["file"] = "file"
    name: Annotated[str, Field(max_length=80)]
    person: int
    url: Annotated[str, Field(max_length=300)] | None = None
    caption: Annotated[str, Field(max_length=1000)] | None = None


Reply = Annotated[
    TextReply | PictureReply | ChoicesReply | QRReply | FileReply, Field(discriminator="kind")
]


# --- events -------------------------------------------------------------------------------

EventType = Literal[
    "lesson.started",
    "step.completed",
    "quiz.answered",
    "drill.answered",
    "learner.stuck",
    "lesson.completed",
    "check.started",
    "check.answered",
    "check.completed",
    "locale.changed",
    "together.changed",
    "question.asked",
    "message.submitted",
    "answer.unsure",
    "reminders.requested",
    "review.started",
    "review.answered",
    "consent.given",
    "consent.declined",
    "consent.guardian_needed",
    # Recorded by the service, not the engine:
    "account.linked",
    "link.failed",
    "volunteer.registered",
    "referral.joined",
    "referral.refused",
    "referral.activated",
    "referral.ended",
    "help.requested",
    "help.answered",
    "relay.sent",
    "relay.received",
    # Published to event webhooks only (bot/hooks), never in the event log:
    "learner.registered",
    "learner.erased",
    "certificate.issued",
    "certificate.revoked",
]


class Event(_Frozen):
    """Something the learner did that progress, reports and volunteers care about."""

    type: EventType
    lesson_id: str | None = None
    step_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


# --- state --------------------------------------------------------------------------------

Screen = Literal[
    "welcome",
    "consent",
    "menu",
    "module",
    "lesson",
    "resume",
    "finished",
    "checked",
    "inspect",
    "review",
]
"""`inspect`: waiting for a suspicious message to check ("Check a message"); `review`: a short
review of quiz and drill items that are due."""


class Position(BaseModel):
    """Where the learner is inside a lesson, or inside a module's pre- or post-check."""

    model_config = ConfigDict(extra="forbid")

    lesson_id: str
    """The lesson; for a check, the module."""
    check: CheckPhase | None = None
    step: int = 0
    correct: int = 0
    answered: int = 0
    missed: list[str] = Field(default_factory=list)
    """Competencies answered wrong in a check, to recommend where to start."""
    assisted: bool = False
    """A step of this lesson was done with a helper beside the learner."""


class Review(BaseModel):
    """A short review in progress: the items due when it started, and how it is going."""

    model_config = ConfigDict(extra="forbid")

    items: list[str]
    """"<lesson id>/<step id>" of each quiz or drill item, in the order they are asked."""
    step: int = 0
    correct: int = 0


class CheckScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    correct: int
    total: int


class State(BaseModel):
    """A learner's whole conversation state; plain JSON, stored between turns."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    locale: Locale = "vi"
    locale_chosen: bool = False
    screen: Screen = "welcome"
    prompt: int = 0
    """Bumped whenever the screen changes; button keys carry it, so an old button is recognised."""
    position: Position | None = None
    module_id: str | None = None
    """The topic the learner is in (its lessons, checks and suggestions)."""
    last_finished: str | None = None
    completed: list[str] = Field(default_factory=list)
    bookmarks: dict[str, int] = Field(default_factory=dict)
    """Lessons left half-way: lesson id -> step index to resume at."""
    checks: dict[str, CheckScore] = Field(default_factory=dict)
    """Check results by "<module>:<pre|post>"."""
    recommended: dict[str, str] = Field(default_factory=dict)
    """Where a module's pre-check suggests starting: module id -> lesson id."""
    together: bool = False
    """"My helper is with me": lessons done now are recorded as assisted."""
    today: str | None = None
    """The learner's date (YYYY-MM-DD, Vietnam's time), set by the service before each step."""
    streak: int = 0
    """Days in a row with at least one step learned, up to streak_day."""
    streak_day: str | None = None
    rest_week: str | None = None
    """The ISO week (YYYY-Www) whose one rest day has been used to keep the streak."""
    now: str | None = None
    """The time of this turn (UTC, ISO 8601), set by the service: which reviews are due."""
    reviews: dict[str, str] = Field(default_factory=dict)
    """Items scheduled for review ("<lesson id>/<step id>") -> when due (UTC, ISO 8601); the
    service's scheduler (FSRS) sets them, the engine drops one when it is answered."""
    review: Review | None = None
    consent: Literal["given", "declined", "guardian"] | None = None
    """The privacy notice's answer: None not asked yet; "declined" and "guardian" (under 16,
    waiting for a parent or volunteer) read the lessons with nothing tracked."""
    opening: str | None = None
    """A lesson a link asked for before the notice was answered: opened right after it."""


def fresh_copy(state: State) -> State:
    """A copy the engine may change freely: each container copied, the scalars shared.

    Five times cheaper than a deep copy, which dominated a step's cost.
    """
    position = state.position
    return state.model_copy(
        update={
            "position": None
            if position is None
            else position.model_copy(update={"missed": list(position.missed)}),
            "completed": list(state.completed),
            "bookmarks": dict(state.bookmarks),
            "checks": dict(state.checks),  # CheckScore values are replaced, never changed
            "recommended": dict(state.recommended),
            "reviews": dict(state.reviews),
            "review": None if state.review is None else state.review.model_copy(),
        }
    )


class Outcome(_Frozen):
    state: State
    replies: list[Reply]
    events: list[Event]
