"""The tutor service: lock, dedup, load, engine, save and outbox in one transaction, then send."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import TypeAdapter
from sqlalchemy import func, select

from bot import review, vietnam
from bot.ask.service import Assistant
from bot.community import Community, Context
from bot.engine import (
    ChoicesReply,
    Engine,
    Event,
    Input,
    Option,
    Outcome,
    Reply,
    Start,
    State,
    TextInput,
    TextReply,
)
from bot.engine import phrases as p
from bot.hooks.publisher import publish
from bot.locks import Hold, LearnerLocks, NoRecentUpdates, RecentUpdates
from bot.store.db import Database, UnitOfWork
from bot.store.models import REPLY_PRIORITY, Learner, ModelJob, OutboxMessage
from bot.store.repositories import remember_list, touched

if TYPE_CHECKING:
    from bot.flood import FloodGate

log = logging.getLogger(__name__)

REPLY = TypeAdapter[Reply](Reply)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Inbound:
    """One thing a learner did, already parsed by its channel; no platform types inside."""

    channel: str
    external_id: str
    input: Input
    update_id: str | None = None
    """The platform's id for this update; a second delivery with the same id is ignored."""


@dataclass(frozen=True)
class Outgoing:
    """A reply taken from the outbox, ready for a channel to render and send."""

    id: int
    channel: str
    external_id: str
    reply: Reply
    bulk: bool = False
    """A broadcast or reminder: paced after the replies waiting to go (bot.channels.pacing)."""

    @classmethod
    def from_row(cls, row: OutboxMessage) -> Outgoing:
        return cls(
            id=row.id,
            channel=row.channel,
            external_id=row.external_id,
            reply=REPLY.validate_python(row.payload),
            bulk=row.priority > REPLY_PRIORITY,
        )


START_COMMAND = re.compile(r"/start(?:@\w+)?\s+(\S{1,64})")
LINK_COMMAND = re.compile(r"/link(?:@\w+)?(?:\s+(\d{6}))?")
LEARNED = frozenset({"step.completed", "review.answered"})
"""Events that make today a day learned (streaks, reminders)."""
LINK_MINUTES = 10
LINK_CODE_LIFETIME = timedelta(minutes=LINK_MINUTES)
LINK_TRIES_PER_ACCOUNT = 5
LINK_TRIES_OVERALL = 200
"""Wrong codes allowed within a code's lifetime; 200 guesses at 10^6 codes: 1 chance in 5,000."""


@dataclass(frozen=True)
class _LinkNote:
    text: str
    resume: bool
    """Show the learner where they are after the note."""


@dataclass(frozen=True)
class TurnResult:
    learner_id: int
    duplicate: bool
    outbox_ids: tuple[int, ...] = ()


class Sender(Protocol):
    """A channel's way out: render one reply and send it; raise to leave it pending.

    Platform errors are raised as the neutral ones below, so the worker knows no platform.
    """

    async def send(self, message: Outgoing) -> None: ...


class DeliveryError(Exception):
    """Sending failed; the message stays in the outbox."""


class RetryAfter(DeliveryError):
    """The platform asks the whole bot to wait; nothing is sent to anyone until then."""

    def __init__(self, seconds: float, detail: str = "") -> None:
        super().__init__(detail or f"retry after {seconds} s")
        self.seconds = seconds


class Unreachable(DeliveryError):
    """The learner blocked the bot or left: stop sending to them."""


class TemporaryFailure(DeliveryError):
    """A network error or a server error: try again later."""


class Held(DeliveryError):
    """The platform's rules forbid this send now (say, outside Zalo OA's 48-hour window).

    The message is kept with status "held" and its reason, where an admin can see it; it is
    never dropped silently.
    """


class Tutor:
    """Everything a channel calls: `handle` an inbound input, `deliver` what it produced."""

    def __init__(
        self,
        *,
        engine: Engine,
        database: Database,
        locks: LearnerLocks,
        clock: Callable[[], datetime] = utcnow,
        community: Community | None = None,
        assistant: Assistant | None = None,
        model_per_hour: int = 0,
        on_model_job: Callable[[], None] = lambda: None,
        recent: RecentUpdates | None = None,
        flood: FloodGate | None = None,
    ) -> None:
        self.recent = recent or NoRecentUpdates()
        self.flood = flood
        """Inputs a minute per account (bot/flood.py); None: no limit (development)."""
        """Update ids applied lately (Redis): a redelivery is answered without the database."""
        self.engine = engine
        self.database = database
        self.locks = locks
        self.clock = clock
        self.community = community or Community(engine.catalog)
        self.assistant = assistant or Assistant(engine.catalog)
        self.model_per_hour = model_per_hour
        """Model answers a learner may have in an hour; 0: no model is configured."""
        self.on_model_job = on_model_job

    async def handle(self, inbound: Inbound, sender: Sender | None = None) -> TurnResult:
        """Apply one input exactly once; with a sender, deliver its replies right after commit.

        An account over its flood limit gets one "slow down" reply through the outbox; its
        other inputs in that minute are dropped unread.
        """
        flood = self.flood
        verdict = "ok" if flood is None else await flood.check(inbound.channel, inbound.external_id)
        if verdict == "drop":
            return TurnResult(learner_id=0, duplicate=True)
        update = None if inbound.update_id is None else (inbound.channel, inbound.update_id)
        async with self.locks.hold(
            f"{inbound.channel}:{inbound.external_id}", update=update
        ) as hold:
            if flood is not None and verdict == "warn":
                result: TurnResult = await flood.slow_down(self, inbound)
            else:
                result = await self._turn(inbound, hold)
            if sender is not None:
                await self._deliver(result.learner_id, sender)
            return result

    async def deliver(
        self, learner_id: int, channel: str, external_id: str, sender: Sender
    ) -> list[Outgoing]:
        """Send a learner's pending replies, in order, under their lock."""
        async with self.locks.hold(f"{channel}:{external_id}"):
            return await self._deliver(learner_id, sender)

    async def _turn(self, inbound: Inbound, hold: Hold) -> TurnResult:
        now = self.clock()
        if inbound.update_id is not None:
            known = (
                hold.known
                if hold.peeked
                else await self.recent.seen(inbound.channel, inbound.update_id)
            )
            if known is not None:
                log.info("duplicate update %s/%s ignored", inbound.channel, inbound.update_id)
                return TurnResult(learner_id=known, duplicate=True)
        async with self.database.unit_of_work() as uow:
            opening = await uow.open_turn(
                inbound.channel, inbound.external_id, inbound.update_id, now
            )
            learner = opening.learner
            if not opening.claimed:
                log.info("duplicate update %s/%s ignored", inbound.channel, inbound.update_id)
                return TurnResult(learner_id=learner.id if learner else 0, duplicate=True)
            raw = opening.state
            if learner is None:  # first contact: no state yet, unless another turn just began it
                learner, new = await uow.learners.create(
                    channel=inbound.channel, external_id=inbound.external_id, now=now
                )
                raw = None if new else await uow.states.load(learner.person_id or learner.id)
            if learner.erased_at is not None:
                learner.erased_at = None  # back after erasing everything: a new start
            # A linked account learns with the progress of the account it was linked to:
            # state, events and progress belong to the person; replies go to this account.
            person = learner.person_id or learner.id
            state = State.model_validate(raw) if raw is not None else None
            event = as_start(inbound.input)
            link = (
                LINK_COMMAND.fullmatch(event.text.strip().casefold())
                if isinstance(event, TextInput)
                else None
            )
            context = None
            erased = None
            queued_model_work = False
            if link is not None:
                person, state, notes = await self._link(uow, learner, state, link.group(1), now)
                outcome = self.engine.step(state, Start()) if notes.resume else None
                replies: list[Reply] = [TextReply(text=notes.text)]
            else:
                context = Context(uow=uow, account=learner, person=person, state=state, now=now)
                intercepted = await self.community.before(context, event)
                replies = intercepted.replies
                erased = intercepted.erased
                if intercepted.input is not None:
                    # The learner's date (streaks) and time (due reviews): the engine itself
                    # knows no clock.
                    state = state or State()
                    owner = (
                        learner if person == learner.id else await uow.session.get(Learner, person)
                    )
                    zone = owner.time_zone if owner is not None else None
                    state.today = vietnam.day(now, zone).isoformat()
                    state.now = review.iso(now)
                    if owner is not None and owner.consent_at is not None:
                        state.consent = "given"  # on another linked app, or by a volunteer
                outcome = (
                    None
                    if intercepted.input is None
                    else self.engine.step(state, self.assistant.translate(intercepted.input))
                )
            if outcome is not None:
                # Only the conversation's working memory is kept for a learner who has not
                # agreed to the privacy notice: no events, progress, reviews or sharing.
                tracked = outcome.state.consent == "given"
                # The account's own changes are written with the state's statement.
                changes: dict[str, Any] = {"locale": outcome.state.locale}
                if tracked:
                    changes |= await self._record_consent(uow, learner, person, outcome.events, now)
                    await review.schedule(uow, person, outcome.state, outcome.events, now)
                # `now` is this turn's clock, not state: the next turn sets it again.
                saved = outcome.state.model_dump(mode="json", exclude={"now"})
                await uow.states.save(person, saved, now, touch=learner, changes=changes)
                if tracked:
                    await uow.events.append(person, outcome.events, now)
                    await uow.progress.apply(person, outcome.events, now)
                    await uow.learners.reach(person, self._milestones(outcome), now)
                    if any(event.type in LEARNED for event in outcome.events):
                        await uow.learners.learned(person, outcome.state.today)
                shared = outcome if tracked else untracked(outcome)
                helped = (
                    [] if context is None else await self.community.after(context, state, shared)
                )
                model = (
                    tracked
                    and self.model_enabled
                    and self.assistant.asks(outcome.events)
                    and await self._model_allowed(uow, person, now)
                )
                answers = self.assistant.after(outcome.events, outcome.state.locale, model=model)
                for job in answers.jobs:
                    uow.session.add(
                        ModelJob(
                            learner_id=learner.id,
                            person_id=person,
                            kind=job["kind"],
                            locale=outcome.state.locale,
                            text=job["text"][:4000],
                            context=job["context"],
                            status="pending",
                            attempts=0,
                            created_at=now,
                        )
                    )
                queued_model_work = queued_model_work or bool(answers.jobs)
                added = [*(context.options if context is not None else []), *answers.options]
                shown = with_notes(outcome.replies, helped + answers.notes, added)
                if added:
                    remember_list(learner, shown)  # typed numbers pick the added buttons too
                replies += shown
            ids = await uow.outbox.add(learner, replies, now)
            if outcome is None:  # otherwise the state's save did it
                touched(learner, now)
            await uow.commit()
        if erased is not None:
            await self.recent.forget(erased.accounts, erased.ids)
        elif hold.peeked:
            hold.applied = learner.id  # remembered as the lock is freed
        elif inbound.update_id is not None:
            await self.recent.remember(inbound.channel, inbound.update_id, learner.id)
        if queued_model_work:
            self.on_model_job()
        return TurnResult(learner_id=learner.id, duplicate=False, outbox_ids=tuple(ids))

    async def _record_consent(
        self,
        uow: UnitOfWork,
        account: Learner,
        person: int,
        events: Sequence[Event],
        now: datetime,
    ) -> dict[str, Any]:
        """The privacy notice's agreement, with its version, on the person's row: returned as
        changes when that is the turn's account (the state's save writes them), set on the
        person's row otherwise."""
        given = next((event for event in events if event.type == "consent.given"), None)
        if given is None:
            return {}
        owner = account if person == account.id else await uow.session.get(Learner, person)
        if owner is None:
            return {}
        first = owner.consent_at is None
        agreed = {
            "consent_at": now,
            "consent_version": f"{given.data.get('version')}/{given.data.get('by')}"[:20],
        }
        if owner is not account:
            for column, value in agreed.items():
                setattr(owner, column, value)
        if first:  # event webhooks only: nobody hears of a learner before they agree
            await publish(uow.session, person, [Event(type="learner.registered")], now)
        return agreed if owner is account else {}

    async def _model_allowed(self, uow: UnitOfWork, person: int, now: datetime) -> bool:
        """Within the learner's hourly model allowance (beyond it, offline answers)."""
        used = await uow.session.scalar(
            select(func.count()).where(
                ModelJob.person_id == person, ModelJob.created_at >= now - timedelta(hours=1)
            )
        )
        return int(used or 0) < self.model_per_hour

    @property
    def model_enabled(self) -> bool:
        return self.model_per_hour > 0

    def _milestones(self, outcome: Outcome) -> list[str]:
        """The report milestones this turn may have reached (each is stamped only once)."""
        types = {event.type for event in outcome.events}
        reached = ["started_at"] if "lesson.started" in types else []
        if "lesson.completed" in types:
            reached.append("first_lesson_at")
            catalog = self.engine.catalog
            done = set(outcome.state.completed)
            if any(set(module.lessons) <= done for module in catalog.modules):
                reached.append("first_module_at")
            core = catalog.core_modules
            if core and all(set(module.lessons) <= done for module in core):
                reached.append("equipped_at")
        return reached

    async def _link(
        self,
        uow: UnitOfWork,
        account: Learner,
        state: State | None,
        code: str | None,
        now: datetime,
    ) -> tuple[int, State | None, _LinkNote]:
        """`/link` gives a one-time code; `/link CODE` on another channel joins its progress."""
        locale = state.locale if state is not None else "vi"
        person = account.person_id or account.id
        if code is None:
            issued = await uow.links.issue(person, now, LINK_CODE_LIFETIME)
            text = p.LINK_CODE(locale).format(code=issued, minutes=LINK_MINUTES)
            return person, state, _LinkNote(text, resume=False)
        # Six digits can be guessed: wrong codes are limited per account and for everyone.
        window = now - LINK_CODE_LIFETIME
        if (
            await uow.events.count_since("link.failed", window, person) >= LINK_TRIES_PER_ACCOUNT
            or await uow.events.count_since("link.failed", window) >= LINK_TRIES_OVERALL
        ):
            return person, state, _LinkNote(p.LINK_TOO_MANY(locale), resume=False)
        owner = await uow.links.redeem(code, now)
        if owner is None:
            await uow.events.append(person, [Event(type="link.failed")], now)
            return person, state, _LinkNote(p.LINK_BAD_CODE(locale), resume=False)
        if owner == person:
            return person, state, _LinkNote(p.LINK_SAME(locale), resume=True)
        await uow.learners.link(account, owner)
        await uow.events.append(
            owner, [Event(type="account.linked", data={"channel": account.channel})], now
        )
        raw = await uow.states.load(owner)
        joined = State.model_validate(raw) if raw is not None else None
        locale = joined.locale if joined is not None else locale
        return owner, joined, _LinkNote(p.LINK_DONE(locale), resume=True)

    async def _deliver(self, learner_id: int, sender: Sender) -> list[Outgoing]:
        async with self.database.unit_of_work() as uow:
            rows = await uow.outbox.pending(learner_id)
            messages = [Outgoing.from_row(row) for row in rows]
        sent: list[Outgoing] = []
        try:
            for message in messages:
                await sender.send(message)
                sent.append(message)
        finally:
            # Whatever went out is marked, even when a later send failed and stays pending.
            async with self.database.unit_of_work() as uow:
                await uow.outbox.mark_sent([message.id for message in sent], self.clock())
                await uow.commit()
        return sent


def untracked(outcome: Outcome) -> Outcome:
    """What the community may see of an untracked learner's turn: only a child's request for
    a parent or volunteer to agree to the privacy notice."""
    kept = [event for event in outcome.events if event.type == "consent.guardian_needed"]
    return outcome.model_copy(update={"events": kept})


def as_start(event: Input) -> Input:
    """`/start <payload>` typed or sent by Telegram's deep links is a start with that payload."""
    if isinstance(event, TextInput):
        match = START_COMMAND.fullmatch(event.text.strip())
        if match is not None:
            return Start(payload=match.group(1))
    return event


def with_notes(
    replies: list[Reply], notes: list[Reply], options: Sequence[Option] = ()
) -> list[Reply]:
    """Notes go just before the last list of buttons, which stays the last thing on screen;
    added `options` go first in that list."""
    if not notes and not options:
        return replies
    last = max(
        (i for i, reply in enumerate(replies) if isinstance(reply, ChoicesReply)),
        default=len(replies),
    )
    tail = replies[last:]
    if options and tail and isinstance(tail[0], ChoicesReply):
        screen = tail[0]
        tail = [screen.model_copy(update={"options": [*options, *screen.options]}), *tail[1:]]
    return [*replies[:last], *notes, *tail]


class Collector:
    """A sender for channels that answer in the same request (web chat, terminal)."""

    def __init__(self) -> None:
        self.messages: list[Outgoing] = []

    async def send(self, message: Outgoing) -> None:
        self.messages.append(message)
