"""The service's promises, on SQLite and PostgreSQL: once, in order, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session

from bot.engine import Catalog, Choice, ChoicesReply, Engine, Input, Start, TextInput
from bot.engine.types import Outcome
from bot.locks import MemoryLocks, RedisLocks
from bot.service import Collector, Inbound, Outgoing, Tutor
from bot.store import Database
from bot.store.driver import statements
from bot.store.models import EventRecord, Learner, OutboxMessage
from tests.conftest import AGREE_LABELS, Clock, connect_redis, handle_agreeing


def last_buttons(collector: Collector) -> ChoicesReply:
    return [m.reply for m in collector.messages if isinstance(m.reply, ChoicesReply)][-1]


async def say(tutor: Tutor, event: Input, update: str | None = None, user: str = "u1") -> Collector:
    collector = Collector()
    await handle_agreeing(
        tutor, Inbound(channel="web", external_id=user, input=event, update_id=update), collector
    )
    return collector


async def press(tutor: Tutor, collector: Collector, label: str, user: str = "u1") -> Collector:
    options = last_buttons(collector).options
    key = next(option.key for option in options if option.label.startswith(label))
    return await say(tutor, Choice(key=key), user=user)


@contextmanager
def flushed_account_columns() -> Iterator[set[str]]:
    """The accounts' columns that the ORM flushes while the block runs (it flushes a row on
    which any attribute was set, even to the value it had)."""
    flushed: set[str] = set()

    def record(session: Session, *_: object) -> None:
        for learner in (o for o in session.dirty if isinstance(o, Learner)):
            flushed.update(inspect(learner).committed_state)

    event.listen(Session, "before_flush", record)
    try:
        yield flushed
    finally:
        event.remove(Session, "before_flush", record)


async def count(database: Database, model: type, **where: object) -> int:
    async with database.unit_of_work() as uow:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(await uow.session.scalar(query) or 0)


async def test_a_whole_lesson_is_saved_and_delivered(tutor: Tutor, database: Database) -> None:
    replies = await say(tutor, Start(payload="lang_en"))
    for label in ("📘 Demo", "📘 Lesson one", "Next", "Done", "Nobody", "A scam"):
        replies = await press(tutor, replies, label)
    assert "You finished «Lesson one»" in "\n".join(
        m.reply.text for m in replies.messages if hasattr(m.reply, "text")
    )
    async with database.unit_of_work() as uow:
        learner = await uow.learners.get("web", "u1")
        assert learner is not None
        assert learner.locale == "en"
        (progress,) = await uow.progress.for_learner(learner.id)
        assert (progress.lesson_id, progress.status, progress.correct, progress.answered) == (
            "first",
            "completed",
            2,
            2,
        )
        assert list(await uow.outbox.pending(learner.id)) == []
    assert await count(database, EventRecord, type="lesson.completed") == 1


async def test_a_redelivered_update_is_ignored(tutor: Tutor, database: Database) -> None:
    first = await say(tutor, Start(), update="upd-1")
    assert first.messages
    again = await say(tutor, Start(), update="upd-1")
    assert again.messages == []
    result = await tutor.handle(
        Inbound(channel="web", external_id="u1", input=Start(), update_id="upd-1")
    )
    assert result.duplicate
    assert await count(database, OutboxMessage) == len(first.messages)


async def test_two_quick_taps_on_one_button_advance_once(tutor: Tutor, database: Database) -> None:
    replies = await say(tutor, Start(payload="lesson_first"))
    key = last_buttons(replies).options[0].key  # "Next" on the first step
    taps = [
        Inbound(channel="web", external_id="u1", input=Choice(key=key), update_id=f"tap-{n}")
        for n in range(8)
    ]
    await asyncio.gather(*(tutor.handle(tap) for tap in taps))
    assert await count(database, EventRecord, type="step.completed") == 1
    async with database.unit_of_work() as uow:
        learner = await uow.learners.get("web", "u1")
        assert learner is not None
        state = await uow.states.load(learner.id)
    assert state is not None
    assert state["position"]["step"] == 1


async def test_a_turn_that_leaves_the_account_as_it_was_does_not_flush_it(
    tutor: Tutor, database: Database
) -> None:
    """Most turns change nothing on the account's row beyond what their statements stamp; the
    ORM must then have no work at commit (it flushes a row on which any attribute was set, even
    to the value it had). On SQLite the turn's stamp itself goes through the ORM."""
    replies = await say(tutor, Start(payload="lang_en"))
    replies = await press(tutor, replies, "📘 Demo")
    with flushed_account_columns() as assigned:
        replies = await press(tutor, replies, "📘 Lesson one")
        replies = await press(tutor, replies, "Next")
        await say(tutor, TextInput(text="hello"))
    stamp = set() if database.dialect == "postgresql" else {"last_active_at", "unreachable_at"}
    assert assigned <= stamp, assigned
    async with database.unit_of_work() as uow:
        learner = await uow.learners.get("web", "u1")
        assert learner is not None
        assert (learner.locale, learner.aside) == ("en", None)


async def test_a_new_language_and_an_agreement_are_written_with_the_state(
    tutor: Tutor, database: Database, clock: Clock
) -> None:
    """Choosing a language and agreeing to the privacy notice change the account's row. On
    PostgreSQL the state's statement writes them: no UPDATE of the account's own, nothing for
    the ORM to flush at commit. On SQLite the ORM flushes them. Either way the row has them."""
    welcome = Collector()
    await tutor.handle(Inbound("web", "u1", Start()), welcome)
    english = next(o for o in last_buttons(welcome).options if "English" in o.label)
    with flushed_account_columns() as flushed, statements(database.engine.sync_engine) as run:
        notice = Collector()
        await tutor.handle(Inbound("web", "u1", Choice(key=english.key)), notice)
        agree = next(o for o in last_buttons(notice).options if o.label in AGREE_LABELS)
        clock.advance(minutes=1)
        agreed = Collector()
        await tutor.handle(Inbound("web", "u1", Choice(key=agree.key)), agreed)
    assert any("Thank you!" in getattr(m.reply, "text", "") for m in agreed.messages)
    if database.dialect == "postgresql":
        assert flushed == set()
        assert not [s for s in run if s.lstrip().startswith("UPDATE learners")], run
        writes = [s for s in run if s.lstrip().startswith("WITH touched")]
        written = [("locale" in s, "consent_at" in s) for s in writes]
        assert written == [(True, False), (False, True)], writes
    else:
        assert {"consent_at", "consent_version", "locale"} <= flushed
    async with database.unit_of_work() as uow:
        learner = await uow.learners.get("web", "u1")
        assert learner is not None
        assert (learner.locale, learner.consent_at) == ("en", clock.now)
        assert learner.consent_version is not None
        assert learner.consent_version.endswith("/learner")


async def test_a_first_contact_reads_neither_the_account_nor_a_state_again(
    tutor: Tutor, database: Database
) -> None:
    """The opening found no account: the learner is inserted and read back in one statement,
    and a learner that did not exist has no state to read."""
    with statements(database.engine.sync_engine) as run:
        await tutor.handle(Inbound(channel="web", external_id="new", input=Start(), update_id="1"))
    reads = [s for s in run if s.lstrip().startswith("SELECT")]
    opening = 0 if database.dialect == "postgresql" else 1  # SQLite's opening reads the account
    assert sum("FROM learners" in s for s in reads) == opening, run
    assert not any("FROM conversation_states" in s for s in reads), run
    assert sum(s.lstrip().startswith("INSERT INTO learners") for s in run) == 1, run
    async with database.unit_of_work() as uow:
        learner = await uow.learners.get("web", "new")
        assert learner is not None
        assert await uow.states.load(learner.id) is not None  # the welcome's state was saved


async def test_a_turn_that_fails_leaves_nothing_behind(
    tutor: Tutor, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await say(tutor, Start(), update="a")
    real_step = tutor.engine.step

    def broken(*args: object) -> Outcome:
        raise RuntimeError("engine failed")

    monkeypatch.setattr(tutor.engine, "step", broken)
    with pytest.raises(RuntimeError):
        await say(tutor, TextInput(text="2"), update="b")
    monkeypatch.setattr(tutor.engine, "step", real_step)
    # The update was not marked processed, so the platform's retry is applied normally.
    retried = await say(tutor, TextInput(text="2"), update="b")
    assert any("Switched to English" in getattr(m.reply, "text", "") for m in retried.messages)


class FlakySender:
    """Sends the first `working` messages, then fails like a platform that went away."""

    def __init__(self, working: int) -> None:
        self.working = working
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> None:
        if len(self.sent) >= self.working:
            raise ConnectionError("platform unreachable")
        self.sent.append(message)


async def test_replies_that_could_not_be_sent_stay_in_the_outbox(tutor: Tutor) -> None:
    await say(tutor, Start(payload="lang_en"))  # and agree to the privacy notice
    result = await tutor.handle(
        Inbound(channel="web", external_id="u1", input=Start(payload="lesson_first"))
    )
    assert len(result.outbox_ids) == 2
    flaky = FlakySender(working=1)
    with pytest.raises(ConnectionError):
        await tutor.deliver(result.learner_id, "web", "u1", flaky)
    later = Collector()
    await tutor.deliver(result.learner_id, "web", "u1", later)
    assert [m.id for m in flaky.sent] + [m.id for m in later.messages] == list(result.outbox_ids)


async def test_learners_are_kept_apart(tutor: Tutor, database: Database) -> None:
    await asyncio.gather(
        *(say(tutor, Start(payload="lesson_second"), user=f"p{n}") for n in range(10))
    )
    async with database.unit_of_work() as uow:
        assert await uow.learners.count() == 10
    assert await count(database, EventRecord, type="lesson.started") == 10


@pytest.mark.redis
async def test_redis_locks_serialise_taps_across_tutors(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    """Two tutors (as two processes would) share only the database and Redis."""
    tutors = []
    for _ in range(2):
        locks = RedisLocks(await connect_redis(), timeout=5)
        tutors.append(
            Tutor(
                engine=Engine(demo_catalog),
                database=database,
                locks=locks,
                clock=clock,
            )
        )
    try:
        replies = await say(tutors[0], Start(payload="lesson_first"))
        key = last_buttons(replies).options[0].key
        await asyncio.gather(
            *(
                tutors[n % 2].handle(
                    Inbound(
                        channel="web", external_id="u1", input=Choice(key=key), update_id=f"tap-{n}"
                    )
                )
                for n in range(10)
            )
        )
        assert await count(database, EventRecord, type="step.completed") == 1
    finally:
        for each in tutors:
            await each.locks.close()


def test_memory_locks_are_the_embedded_default(demo_catalog: Catalog) -> None:
    from bot.settings import Settings
    from bot.wiring import build

    runtime = build(Settings(sqlite_path="unused.sqlite3"), demo_catalog)
    assert isinstance(runtime.locks, MemoryLocks)
