"""The tables. Schema changes go through Alembic migrations in `bot/store/migrations`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend; SQLite would otherwise hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


REPLY_PRIORITY = 0
BULK_PRIORITY = 10


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _ts() -> Mapped[datetime]:
    return mapped_column(UTCDateTime())


class Learner(Base):
    """A person on one channel. Only what teaching needs: no phone number, no real name."""

    __tablename__ = "learners"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_learners_province_school_key_id", "province", "school_key", "id"),
        Index(
            "ix_learners_erased_at",
            "erased_at",
            postgresql_where=text("erased_at IS NOT NULL"),
            sqlite_where=text("erased_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(128))
    locale: Mapped[str] = mapped_column(String(5), default="vi")
    display_name: Mapped[str | None] = mapped_column(String(64))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the learner agreed to the privacy notice (on the person's row)."""
    consent_version: Mapped[str | None] = mapped_column(String(20))
    """Which version of the notice they agreed to."""
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when the learner erased their data: the bare row goes once the goodbye is sent."""
    created_at: Mapped[datetime] = _ts()
    last_active_at: Mapped[datetime] = _ts()
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when the platform says the learner blocked the bot; nothing is sent until cleared."""
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("learners.id", ondelete="SET NULL"), index=True
    )
    """Another channel's account whose progress this one shares (linked with /link)."""
    aside: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """A short exchange outside the lessons this account is in (a form, a tip being typed)."""
    # Where the person learns, for reports and scoped admins: their volunteer's province and
    # school when they joined with an invitation. Kept on the person's row only.
    province: Mapped[str | None] = mapped_column(String(40))
    school_key: Mapped[str | None] = mapped_column(String(120))
    # Milestones, set once on the person's row, in the turn that reaches them.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """First lesson opened."""
    first_lesson_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_module_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    equipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Every core module completed (Module.core)."""
    # Daily reminders, on the person's row.
    remind_at: Mapped[int | None] = mapped_column(Integer)
    """Minutes after midnight, Vietnam's time, of the daily reminder; None: no reminders."""
    reminders_ignored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Reminders sent since the learner last learned; at 5 they pause."""
    reminders_paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    learned_on: Mapped[str | None] = mapped_column(String(10))
    """The last day (YYYY-MM-DD, the learner's time) with a step learned."""
    time_zone: Mapped[str | None] = mapped_column(String(40))
    """An IANA zone for the learner's day and reminders; None: Vietnam (Asia/Ho_Chi_Minh)."""


class ConversationState(Base):
    """The engine's state for one learner, as JSON."""

    __tablename__ = "conversation_states"

    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = _ts()


class LessonProgress(Base):
    """One row per learner and lesson they opened: where they are and how they did."""

    __tablename__ = "lesson_progress"

    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True
    )
    lesson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # started | completed
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    stuck_count: Mapped[int] = mapped_column(Integer, default=0)
    assisted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Last completed with a helper beside the learner ("my helper is with me")."""
    started_at: Mapped[datetime] = _ts()
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = _ts()


class EventRecord(Base):
    """The append-only log of what learners did; reports are computed from it."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_learner_id_id", "learner_id", "id"),
        Index("ix_events_type_occurred_at", "type", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    """None once the event is older than the retention period: anonymous."""
    type: Mapped[str] = mapped_column(String(40))
    lesson_id: Mapped[str | None] = mapped_column(String(64))
    step_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = _ts()


class ProcessedUpdate(Base):
    """A platform update already applied; written in the same transaction as its effect."""

    __tablename__ = "processed_updates"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    update_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[datetime] = _ts()


class OutboxMessage(Base):
    """A reply waiting to be sent; sent only after the turn that made it has committed."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_learner_id_id", "status", "learner_id", "id"),
        Index("ix_outbox_status_channel_priority", "status", "channel", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    """pending | sent | failed (gave up) | cancelled (the learner blocked the bot) | held (the
    platform's rules forbid sending it now, e.g. outside Zalo OA's window)"""
    priority: Mapped[int] = mapped_column(Integer, default=REPLY_PRIORITY)
    """Lower goes first: replies to a learner before bulk messages."""
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _ts()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="SET NULL"), index=True
    )
    """The announcement this message belongs to, if any."""


class LinkCode(Base):
    """A one-time code that links a second channel's account to a learner's progress."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = _ts()


class MediaCache(Base):
    """A platform's id for a picture already uploaded, so it is never uploaded twice."""

    __tablename__ = "media_cache"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _ts()


class PlatformToken(Base):
    """A platform's token pair or usage counter that every process shares, by name."""

    # Zalo OA's refresh token is single-use, so the current one lives here, not in settings;
    # so does the OA's proactive-message counter of each month ("zalo_oa:proactive:2026-01").

    __tablename__ = "platform_tokens"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(String(1000))
    refresh_token: Mapped[str] = mapped_column(String(1000))
    """Empty on counter rows."""
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    counter: Mapped[int] = mapped_column(Integer, default=0)
    """Uses so far, on counter rows; 0 on token rows."""
    updated_at: Mapped[datetime] = _ts()


class Volunteer(Base):
    """A student (or anyone) who brings family members in and helps them learn."""

    __tablename__ = "volunteers"
    __table_args__ = (Index("ix_volunteers_province_school_key", "province", "school_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), unique=True
    )
    """The volunteer's own learner (their person)."""
    code: Mapped[str] = mapped_column(String(12), unique=True)
    """The personal invitation code, in links as `ref_<code>`."""
    name: Mapped[str] = mapped_column(String(40))
    school: Mapped[str] = mapped_column(String(120))
    school_key: Mapped[str] = mapped_column(String(120))
    """The school's name folded (no accents, case or extra spaces): one school, one board."""
    class_name: Mapped[str] = mapped_column(String(20))
    province: Mapped[str] = mapped_column(String(40))
    """A province code from bot/provinces.yaml."""
    created_at: Mapped[datetime] = _ts()


class Referral(Base):
    """A learner brought in by a volunteer: made once, never moved to another volunteer."""

    __tablename__ = "referrals"

    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True
    )
    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), index=True
    )
    nickname: Mapped[str | None] = mapped_column(String(40))
    """What the volunteer calls them ("Bà nội"), set by the volunteer."""
    joined_at: Mapped[datetime] = _ts()
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When they completed their first lesson: the referral counts from then."""
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the learner stopped sharing with the volunteer; they see nothing after it."""


class HelpRequest(Base):
    """A learner who tapped "I'm stuck": where, whom we told, and how it was answered."""

    __tablename__ = "help_requests"
    __table_args__ = (Index("ix_help_requests_learner_id_id", "learner_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    """The volunteer told; None when the learner had none (or too many alerts were sent)."""
    lesson_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = _ts()
    answer: Mapped[str | None] = mapped_column(String(8))
    """call | tip, once the volunteer answered."""
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the learner got past the step."""


# --- admin ------------------------------------------------------------------------------------


class AdminToken(Base):
    """An admin API token; only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "admin_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(12))
    """admin | analyst | viewer"""
    province: Mapped[str | None] = mapped_column(String(40))
    school_key: Mapped[str | None] = mapped_column(String(120))
    school: Mapped[str | None] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = _ts()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who exported, broadcast or changed a token, and when; never deleted by the app."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = _ts()
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_tokens.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)


class Broadcast(Base):
    """An announcement to a segment of learners, sent through the outbox at the platforms' pace."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = _ts()
    token_id: Mapped[int | None] = mapped_column(ForeignKey("admin_tokens.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(80))
    text_vi: Mapped[str] = mapped_column(String(2000))
    text_en: Mapped[str] = mapped_column(String(2000))
    segment: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """province, school, module status, inactive days: what chose the learners."""
    status: Mapped[str] = mapped_column(String(12), default="draft")
    """draft | queueing (being written to the outbox) | queued (all in the outbox)"""
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    queued_through: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """The last person id queued: queueing resumes after it, in any process, after a crash."""


# --- report rollups ---------------------------------------------------------------------------
# Refreshed from the source tables by admin/rollups.py; every report at province or national
# level reads these, so it answers in milliseconds however many learners there are.


class ReportProgress(Base):
    """Milestones reached per month by people of one place and channel."""

    __tablename__ = "report_progress"
    __table_args__ = (Index("ix_report_progress_province_month", "province", "month"),)

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    """YYYY-MM, in Vietnam's time."""
    province: Mapped[str] = mapped_column(String(40), primary_key=True)
    school_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    registered: Mapped[int] = mapped_column(Integer, default=0)
    started: Mapped[int] = mapped_column(Integer, default=0)
    completed_lesson: Mapped[int] = mapped_column(Integer, default=0)
    completed_module: Mapped[int] = mapped_column(Integer, default=0)
    equipped: Mapped[int] = mapped_column(Integer, default=0)


class ReportLesson(Base):
    """Per province and lesson: people who started and completed it, and the median time."""

    __tablename__ = "report_lessons"

    province: Mapped[str] = mapped_column(String(40), primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    median_seconds: Mapped[float | None] = mapped_column(Float)


class ReportStep(Base):
    """Per province, lesson and step: how many reached the step, and stuck taps there."""

    __tablename__ = "report_steps"

    province: Mapped[str] = mapped_column(String(40), primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    reached: Mapped[int] = mapped_column(Integer, default=0)
    stuck: Mapped[int] = mapped_column(Integer, default=0)


class ReportAnswer(Base):
    """Per province, quiz or drill item and option: how often it was chosen."""

    __tablename__ = "report_answers"

    province: Mapped[str] = mapped_column(String(40), primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    option: Mapped[str] = mapped_column(String(20), primary_key=True)
    """The option's index in the lesson file, or a drill verdict."""
    correct: Mapped[bool] = mapped_column(Boolean, default=False)
    answers: Mapped[int] = mapped_column(Integer, default=0)


class ReportGain(Base):
    """Per province and module: people with both checks, and their summed scores."""

    __tablename__ = "report_gain"

    province: Mapped[str] = mapped_column(String(40), primary_key=True)
    module_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    learners: Mapped[int] = mapped_column(Integer, default=0)
    pre_correct: Mapped[int] = mapped_column(Integer, default=0)
    pre_total: Mapped[int] = mapped_column(Integer, default=0)
    post_correct: Mapped[int] = mapped_column(Integer, default=0)
    post_total: Mapped[int] = mapped_column(Integer, default=0)


class ReportMeta(Base):
    """When the rollups were last refreshed, and how far into the event log."""

    __tablename__ = "report_meta"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = _ts()


class ReportVolunteer(Base):
    """Per volunteer: people referred, started, activated (first lesson), completed a module."""

    __tablename__ = "report_volunteers"
    __table_args__ = (Index("ix_report_volunteers_province_school_key", "province", "school_key"),)

    volunteer_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    province: Mapped[str] = mapped_column(String(40))
    school_key: Mapped[str] = mapped_column(String(120))
    school: Mapped[str] = mapped_column(String(120))
    class_name: Mapped[str] = mapped_column(String(20))
    referred: Mapped[int] = mapped_column(Integer, default=0)
    started: Mapped[int] = mapped_column(Integer, default=0)
    activated: Mapped[int] = mapped_column(Integer, default=0)
    completed_module: Mapped[int] = mapped_column(Integer, default=0)


class ModelJob(Base):
    """A question or message waiting for the language model; done by a worker, never in a request.

    The reply (the model's, or the offline fallback kept here) goes into the outbox in the same
    transaction that marks the job done, so it is delivered once whatever crashes.
    """

    __tablename__ = "model_jobs"
    __table_args__ = (
        Index("ix_model_jobs_status_id", "status", "id"),
        Index("ix_model_jobs_person_id_created_at", "person_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    """The account to answer."""
    person_id: Mapped[int] = mapped_column(BigInteger)
    """Whose rate limit it counts against."""
    kind: Mapped[str] = mapped_column(String(8))
    """ask | check"""
    locale: Mapped[str] = mapped_column(String(5))
    text: Mapped[str] = mapped_column(String(4000))
    context: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """The offline answer to fall back on, and what the model is given."""
    status: Mapped[str] = mapped_column(String(10), default="pending")
    """pending | running | done"""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(String(10))
    """model | fallback | none"""
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = _ts()
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Certificate(Base):
    """Issued once per person and module when the post-check is passed; public by its code.

    The verify page shows only the display name the learner chose, the module and the date.
    """

    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("learner_id", "module_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)
    """Random, from an alphabet without look-alike characters: printed and typed by hand."""
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("learners.id", ondelete="SET NULL"))
    """The person (the account other linked accounts point at); None once they are erased
    (the certificate is then revoked and names no one)."""
    module_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = _ts()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(300))


class ReminderSent(Base):
    """One reminder per person and day, claimed by inserting this row: workers never double."""

    __tablename__ = "reminders_sent"

    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    """reminder | paused | skipped (no reachable account)"""
    sent_at: Mapped[datetime] = _ts()


class ReviewCard(Base):
    """A quiz or drill item that comes back in short reviews, scheduled by FSRS."""

    __tablename__ = "review_cards"
    __table_args__ = (Index("ix_review_cards_learner_id_due", "learner_id", "due"),)

    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True
    )
    item: Mapped[str] = mapped_column(String(100), primary_key=True)
    """"<lesson id>/<step id>"."""
    card: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """The `fsrs.Card` as its own dict: state, step, stability, difficulty, due, last review."""
    due: Mapped[datetime] = _ts()
    reviews: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lapses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Times answered wrong, in the lesson or in a review."""
    updated_at: Mapped[datetime] = _ts()


# --- event webhooks ---------------------------------------------------------------------------


class WebhookSubscription(Base):
    """An organisation's system that receives learners' events, signed, as they happen."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSONType)
    """The public event types wanted (bot/hooks/events.py)."""
    province: Mapped[str | None] = mapped_column(String(40))
    """Only learners of this province; a scoped viewer's subscription always has theirs."""
    school_key: Mapped[str | None] = mapped_column(String(120))
    school: Mapped[str | None] = mapped_column(String(120))
    module: Mapped[str | None] = mapped_column(String(64))
    include_names: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Events carry the learner's display name: only on an admin's subscription that asked."""
    secret: Mapped[str] = mapped_column(String(100))
    """Signs every delivery, so it is stored as it is; shown once, when created."""
    status: Mapped[str] = mapped_column(String(10), default="active")
    """active | paused (by its owner, or after failing for 3 days)"""
    paused_reason: Mapped[str | None] = mapped_column(String(300))
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("admin_tokens.id", ondelete="SET NULL"), index=True
    )
    owner: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(12))
    """The owner's role when it was made: names go only to an admin's subscription."""
    created_at: Mapped[datetime] = _ts()
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """The first failed attempt since the last delivery that went through."""
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event for one subscription: written in the transaction of what it tells, sent after.

    A learner's deliveries to a subscription go in order: a later one waits while an earlier
    one is pending (retrying).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index(
            "ix_webhook_deliveries_subscription_id_learner_id_id",
            "subscription_id",
            "learner_id",
            "id",
        ),
        Index("ix_webhook_deliveries_subscription_id_status_id", "subscription_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(40))
    """The public event's id, the same for every subscription: receivers dedup on it."""
    learner_id: Mapped[int] = mapped_column(BigInteger)
    """The person (no foreign key: `learner.erased` outlives the learner's rows)."""
    type: Mapped[str] = mapped_column(String(40))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """The event; the pseudonymous learner id is added when it is sent."""
    status: Mapped[str] = mapped_column(String(10), default="pending")
    """pending | delivered | failed (gave up) | skipped (outside the subscription's module)"""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = _ts()
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = _ts()
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
