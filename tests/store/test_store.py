"""The store suite, run against every backend: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm.util import identity_key

from bot.engine import Event, TextReply
from bot.store import Database
from bot.store.driver import begin, driver, statements
from bot.store.models import ConversationState, EventRecord, Learner
from bot.store.repositories import ON_DRIVER_CLAIM, clear_aside, touched
from tests.conftest import Clock


async def test_a_learner_is_unique_per_channel_and_chat(database: Database, clock: Clock) -> None:
    async with database.unit_of_work() as uow:
        first, created = await uow.learners.get_or_create(
            channel="web", external_id="a", now=clock()
        )
        again, created_again = await uow.learners.get_or_create(
            channel="web", external_id="a", now=clock()
        )
        other, _ = await uow.learners.get_or_create(
            channel="terminal", external_id="a", now=clock()
        )
        await uow.commit()
    assert created
    assert not created_again
    assert first.id == again.id != other.id
    async with database.unit_of_work() as uow:
        assert await uow.learners.count() == 2


async def test_dedup_claims_an_update_once(database: Database, clock: Clock) -> None:
    async with database.unit_of_work() as uow:
        assert await uow.dedup.claim("web", "u1", clock())
        assert not await uow.dedup.claim("web", "u1", clock())
        assert await uow.dedup.claim("terminal", "u1", clock())
        await uow.commit()
    async with database.unit_of_work() as uow:
        assert not await uow.dedup.claim("web", "u1", clock())


async def test_a_turn_opens_with_its_claim_its_account_and_its_persons_state(
    database: Database, clock: Clock
) -> None:
    """UnitOfWork.open_turn: one statement on PostgreSQL, the same answers everywhere."""
    async with database.unit_of_work() as uow:  # first contact: no account, no state
        assert await uow.open_turn("web", "o", "o1", clock()) == (None, True, None)
        await uow.commit()
    async with database.unit_of_work() as uow:  # its redelivery
        assert await uow.open_turn("web", "o", "o1", clock()) == (None, False, None)
    async with database.unit_of_work() as uow:
        account, _ = await uow.learners.get_or_create(channel="web", external_id="o", now=clock())
        other, _ = await uow.learners.get_or_create(channel="zalo", external_id="o", now=clock())
        await uow.states.save(account.id, {"screen": "lesson", "ý": "chào"}, clock())
        await uow.commit()
    with statements(database.engine.sync_engine) as run:
        async with database.unit_of_work() as uow:
            opened = await uow.open_turn("web", "o", "o2", clock())
            assert opened.learner is not None
            assert (opened.learner.id, opened.claimed) == (account.id, True)
            assert opened.state == {"screen": "lesson", "ý": "chào"}
            # The state read with it is updated in place, not inserted again.
            await uow.states.save(account.id, {"screen": "menu"}, clock())
            await uow.commit()
    assert not any(s.lstrip().startswith("INSERT INTO conversation_states") for s in run), run
    if database.dialect == "postgresql":
        assert run[0].lstrip().startswith("WITH claim AS"), run
        assert len(run) == 2, run  # the opening, then the state's UPDATE on the driver
    async with database.unit_of_work() as uow:  # an account linked to `account` learns as it
        linked = await uow.session.get(Learner, other.id)
        assert linked is not None
        linked.person_id = account.id
        await uow.commit()
    async with database.unit_of_work() as uow:
        opened = await uow.open_turn("zalo", "o", None, clock())  # no update id: nothing to claim
        assert opened.learner is not None
        assert (opened.learner.id, opened.claimed, opened.state) == (
            other.id,
            True,
            {"screen": "menu"},
        )
    async with database.unit_of_work() as uow:
        opened = await uow.open_turn("web", "o", "o2", clock())
        assert (opened.learner is not None, opened.claimed, opened.state) == (True, False, None)


async def test_an_opened_account_is_tracked_as_if_the_session_had_loaded_it(
    database: Database, clock: Clock
) -> None:
    """On PostgreSQL the opening reads the account on the driver and adopts the row: its values
    must be the ORM's, changes must reach the row at commit, and no change must write nothing."""
    async with database.unit_of_work() as uow:
        made, _ = await uow.learners.get_or_create(channel="web", external_id="t", now=clock())
        made.aside = {"kind": "menu", "options": [{"key": "a", "label": "Ạ"}]}
        made.time_zone = "Asia/Ho_Chi_Minh"
        await uow.commit()
    async with database.unit_of_work() as uow:
        loaded = await uow.learners.get("web", "t")
        assert loaded is not None
        columns = {column.key for column in Learner.__table__.columns}
        expected = {key: getattr(loaded, key) for key in columns}
    with statements(database.engine.sync_engine) as run:
        async with database.unit_of_work() as uow:
            learner = (await uow.open_turn("web", "t", "t1", clock())).learner
            assert learner is not None
            assert {key: getattr(learner, key) for key in columns} == expected
            assert learner.created_at.tzinfo is not None
            assert uow.session.sync_session.identity_map.get(identity_key(Learner, learner.id))
            assert await uow.session.get(Learner, learner.id) is learner  # no second read
            touched(learner, learner.last_active_at)  # values it has: nothing to write
            clear_aside(learner)  # it had one: a change
            learner.locale = "en"
            await uow.commit()
    updates = [s for s in run if s.lstrip().startswith("UPDATE learners")]
    assert len(updates) == 1, run
    assert "locale" in updates[0], updates
    assert "aside" in updates[0], updates
    assert "last_active_at" not in updates[0], updates
    with statements(database.engine.sync_engine) as run:
        async with database.unit_of_work() as uow:
            learner = (await uow.open_turn("web", "t", "t2", clock())).learner
            assert learner is not None
            touched(learner, learner.last_active_at)
            clear_aside(learner)  # none any more
            assert not uow.session.sync_session.dirty
            await uow.commit()
    assert not any(s.lstrip().startswith("UPDATE") for s in run), run
    async with database.unit_of_work() as uow:
        again = await uow.learners.get("web", "t")
        assert again is not None
        assert (again.locale, again.aside, again.time_zone) == ("en", None, "Asia/Ho_Chi_Minh")


async def test_a_transaction_begun_on_the_driver_is_sqlalchemys_own(
    database: Database, clock: Clock
) -> None:
    """`begin` sends BEGIN through SQLAlchemy's asyncpg adapter: what runs on the driver and what
    runs through the session then share one transaction, which the session commits or rolls
    back. (It calls the adapter's own `_start_transaction`; this fails if that changes.)"""
    if database.dialect != "postgresql":
        async with database.unit_of_work() as uow:
            assert not await begin(uow.session)
        return
    claim = {"channel": "web", "update_id": "b1", "processed_at": clock()}
    async with database.unit_of_work() as uow:
        assert await begin(uow.session)
        connection = driver(uow.session)
        assert connection is not None
        assert connection.is_in_transaction()
        assert await begin(uow.session)  # begun already: nothing more is sent
        assert await ON_DRIVER_CLAIM.execute(uow.session, claim) == "INSERT 0 1"
        await uow.learners.get_or_create(channel="web", external_id="b", now=clock())
        assert not await uow.dedup.claim("web", "b1", clock())  # through SQLAlchemy: seen
        # Rolled back, not committed: neither the driver's row nor SQLAlchemy's is kept.
    async with database.unit_of_work() as uow:
        assert await uow.learners.get("web", "b") is None
        assert await uow.dedup.claim("web", "b1", clock())  # through SQLAlchemy, begins it
        assert await begin(uow.session)
        await uow.learners.get_or_create(channel="web", external_id="b", now=clock())
        await uow.commit()
    async with database.unit_of_work() as uow:
        assert not await uow.dedup.claim("web", "b1", clock())
        assert await uow.learners.get("web", "b") is not None


async def test_a_new_chats_learner_is_made_with_one_statement(
    database: Database, clock: Clock
) -> None:
    with statements(database.engine.sync_engine) as run:
        async with database.unit_of_work() as uow:
            learner, new = await uow.learners.create(
                channel="web", external_id="n", now=clock(), locale="en"
            )
            assert new
            # Read back whole, the defaults the database gives included.
            assert (learner.channel, learner.external_id, learner.locale) == ("web", "n", "en")
            assert learner.created_at == clock()
            assert (learner.reminders_ignored, learner.reminders_paused) == (0, False)
            await uow.commit()
    assert [statement.split(" (")[0] for statement in run] == ["INSERT INTO learners"], run
    async with database.unit_of_work() as uow:  # made meanwhile by another turn: that one
        again, new = await uow.learners.create(channel="web", external_id="n", now=clock())
        assert (again.id, again.locale, new) == (learner.id, "en", False)
        assert await uow.learners.count() == 1


async def test_two_linked_accounts_opening_turns_take_their_persons_state_in_turn(
    database: Database, clock: Clock
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite queues its units of work: two are never open at once")
    async with database.unit_of_work() as uow:
        account, _ = await uow.learners.get_or_create(channel="web", external_id="p", now=clock())
        linked, _ = await uow.learners.get_or_create(channel="zalo", external_id="p", now=clock())
        linked.person_id = account.id
        await uow.states.save(account.id, {"n": 0}, clock())
        await uow.commit()

    async with database.unit_of_work() as first:
        opened = await first.open_turn("web", "p", "p1", clock())
        assert opened.state == {"n": 0}

        async def second_turn() -> dict[str, object] | None:
            async with database.unit_of_work() as second:
                return (await second.open_turn("zalo", "p", "p2", clock())).state

        waiting = asyncio.create_task(second_turn())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the person's state row is held by the first turn
        await first.states.save(account.id, {"n": 1}, clock())
        await first.commit()
    assert await asyncio.wait_for(waiting, 5) == {"n": 1}


async def test_nothing_is_kept_from_a_unit_of_work_that_did_not_commit(
    database: Database, clock: Clock
) -> None:
    async def half_a_turn() -> None:
        async with database.unit_of_work() as uow:
            learner, _ = await uow.learners.get_or_create(
                channel="web", external_id="b", now=clock()
            )
            await uow.dedup.claim("web", "u2", clock())
            await uow.events.append(
                learner.id, [Event(type="lesson.started", lesson_id="x")], clock()
            )
            raise RuntimeError("the turn failed half-way")

    with pytest.raises(RuntimeError):
        await half_a_turn()
    async with database.unit_of_work() as uow:
        assert await uow.learners.count() == 0
        assert await uow.dedup.claim("web", "u2", clock())  # the claim was rolled back too
        assert await uow.session.scalar(select(func.count()).select_from(EventRecord)) == 0


async def test_state_saves_and_loads_as_json(database: Database, clock: Clock) -> None:
    state = {
        "screen": "lesson",
        "bookmarks": {"otp": 2},
        "completed": ["a", "b"],
        "text": "Xin chào",
    }
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(channel="web", external_id="c", now=clock())
        assert await uow.states.load(learner.id) is None
        await uow.states.save(learner.id, state, clock())
        await uow.commit()
    async with database.unit_of_work() as uow:
        await uow.states.save(learner.id, {**state, "screen": "menu"}, clock())
        await uow.commit()
    async with database.unit_of_work() as uow:
        assert await uow.states.load(learner.id) == {**state, "screen": "menu"}


async def test_saving_a_turns_state_marks_the_account_active_and_reachable(
    database: Database, clock: Clock
) -> None:
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(channel="web", external_id="t", now=clock())
        await uow.states.save(learner.id, {"screen": "menu"}, clock(), touch=learner)  # the first
        learner.unreachable_at = clock()  # say they had blocked the bot meanwhile
        await uow.commit()
    clock.now += timedelta(minutes=5)
    with statements(database.engine.sync_engine) as run:
        async with database.unit_of_work() as uow:
            account = await uow.learners.get("web", "t")
            assert account is not None
            await uow.states.load(account.id)
            held = await uow.session.get(ConversationState, account.id)  # other code's copy
            await uow.states.save(account.id, {"screen": "lesson"}, clock(), touch=account)
            assert held is not None
            assert held.state == {"screen": "lesson"}
            assert account.last_active_at == clock()
            assert account.unreachable_at is None
            await uow.commit()
    async with database.unit_of_work() as uow:
        stored = await uow.learners.get("web", "t")
        assert stored is not None
        assert stored.last_active_at == clock()
        assert stored.unreachable_at is None
        assert await uow.states.load(stored.id) == {"screen": "lesson"}
    writes = [s for s in run if s.lstrip().upper().startswith(("UPDATE", "WITH"))]
    # PostgreSQL: one statement writes the state and stamps the account; elsewhere two.
    assert len(writes) == (1 if database.dialect == "postgresql" else 2), writes


async def test_a_turns_statements_run_on_the_driver_and_store_what_the_orm_reads_back(
    database: Database, clock: Clock
) -> None:
    """On PostgreSQL, once the transaction has begun, a turn's statements skip SQLAlchemy
    (bot/store/driver.py); what they store must read back as if the ORM had written it."""
    postgres = database.dialect == "postgresql"
    state = {"screen": "lesson", "text": "Bấm nút “Tiếp”", "bookmarks": {"otp": [1, 2]}}
    events = [
        Event(type="lesson.started", lesson_id="otp"),
        Event(type="quiz.answered", lesson_id="otp", step_id="q1", data={"correct": True}),
    ]
    replies = [TextReply(text=f"Ý {n}: cầm tay chỉ việc") for n in range(6)]
    through_sqlalchemy: list[str] = []

    def record(*arguments: object) -> None:
        through_sqlalchemy.append(str(arguments[2]))

    async with database.unit_of_work() as uow:
        assert driver(uow.session) is None  # nothing has begun the transaction yet
        learner, _ = await uow.learners.get_or_create(channel="web", external_id="d", now=clock())
        assert (driver(uow.session) is not None) is postgres
        event.listen(database.engine.sync_engine, "before_cursor_execute", record)
        try:
            assert await uow.dedup.claim("web", "d1", clock())
            assert not await uow.dedup.claim("web", "d1", clock())
            assert await uow.states.load(learner.id) is None
            await uow.states.save(learner.id, state, clock())
            assert await uow.states.load(learner.id) == state
            await uow.states.save(learner.id, {**state, "screen": "menu"}, clock(), touch=learner)
            await uow.events.append(learner.id, events, clock())
            ids = await uow.outbox.add(learner, replies, clock())
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", record)
        await uow.commit()
        assert driver(uow.session) is None  # the connection went back to the pool
    if postgres:  # the first save inserts the row through SQLAlchemy, the rest ran on the driver
        assert len(through_sqlalchemy) == 1, through_sqlalchemy
        assert through_sqlalchemy[0].startswith("INSERT INTO conversation_states")
    assert ids == sorted(ids)
    async with database.unit_of_work() as uow:
        assert await uow.states.load(learner.id) == {**state, "screen": "menu"}
        stored = await uow.events.for_learner(learner.id)
        assert [(e.type, e.step_id, e.data, e.occurred_at) for e in stored] == [
            ("lesson.started", None, {}, clock()),
            ("quiz.answered", "q1", {"correct": True}, clock()),
        ]
        pending = await uow.outbox.pending(learner.id)
        assert [row.id for row in pending] == ids
        assert [row.payload for row in pending] == [reply.model_dump() for reply in replies]
        assert {(row.status, row.priority, row.attempts, row.created_at) for row in pending} == {
            ("pending", 0, 0, clock())
        }


async def test_milestones_and_learning_days_reach_the_row_and_the_held_account(
    database: Database, clock: Clock
) -> None:
    started = clock()
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(channel="web", external_id="m", now=clock())
        learner.reminders_ignored = 2
        await uow.commit()
    clock.now += timedelta(days=1)
    async with database.unit_of_work() as uow:
        account = await uow.learners.get("web", "m")
        assert account is not None
        await uow.learners.reach(account.id, ["started_at"], started)
        await uow.learners.reach(account.id, ["started_at", "first_lesson_at"], clock())
        await uow.learners.learned(account.id, "2026-11-23")
        # The account this unit of work holds follows the row (the UPDATEs are Core ones).
        assert (account.started_at, account.first_lesson_at) == (started, clock())
        assert (account.learned_on, account.reminders_ignored) == ("2026-11-23", 0)
        await uow.commit()
    async with database.unit_of_work() as uow:
        stored = await uow.learners.get("web", "m")
        assert stored is not None
        assert (stored.started_at, stored.first_lesson_at) == (started, clock())
        assert (stored.learned_on, stored.reminders_ignored) == ("2026-11-23", 0)


async def test_progress_follows_the_events(database: Database, clock: Clock) -> None:
    events = [
        Event(type="lesson.started", lesson_id="otp"),
        Event(type="step.completed", lesson_id="otp", step_id="a", data={"step": 0}),
        Event(type="learner.stuck", lesson_id="otp", step_id="b", data={"step": 1}),
        Event(type="quiz.answered", lesson_id="otp", step_id="c", data={"correct": True}),
        Event(type="drill.answered", lesson_id="otp", step_id="d", data={"correct": False}),
        Event(type="step.completed", lesson_id="otp", step_id="d", data={"step": 3}),
        Event(type="locale.changed", data={"locale": "en"}),
    ]
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(channel="web", external_id="d", now=clock())
        await uow.events.append(learner.id, events, clock())
        await uow.progress.apply(learner.id, events, clock())
        await uow.commit()
    clock.advance(minutes=4)
    done = [Event(type="lesson.completed", lesson_id="otp", data={"correct": 1, "answered": 2})]
    async with database.unit_of_work() as uow:
        await uow.progress.apply(learner.id, done, clock())
        await uow.commit()
    async with database.unit_of_work() as uow:
        row = await uow.progress.get(learner.id, "otp")
        assert row is not None
        assert (row.status, row.current_step, row.correct, row.answered, row.stuck_count) == (
            "completed",
            4,
            1,
            2,
            1,
        )
        assert row.completed_at == clock.now
        logged = await uow.events.for_learner(learner.id)
        assert [event.type for event in logged] == [event.type for event in events]


async def test_progress_of_several_lessons_and_a_fresh_attempt_is_one_statement_a_turn(
    database: Database, clock: Clock
) -> None:
    def event(kind: str, lesson: str, **data: object) -> Event:
        return Event(type=kind, lesson_id=lesson, step_id="s", data=data)

    async def turn(*events: Event) -> list[str]:
        """The progress's statements in a turn, after its opening (which begins it)."""
        async with database.unit_of_work() as uow:
            await uow.open_turn("web", "g", None, clock())
            with statements(database.engine.sync_engine) as run:
                await uow.progress.apply(learner_id, list(events), clock())
            await uow.commit()
        return run

    async def row(lesson: str) -> tuple[object, ...]:
        async with database.unit_of_work() as uow:
            got = await uow.progress.get(learner_id, lesson)
            assert got is not None
            return (got.status, got.current_step, got.correct, got.answered, got.stuck_count,
                    got.assisted, got.started_at, got.completed_at, got.updated_at)  # fmt: skip

    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(channel="web", external_id="g", now=clock())
        learner_id = learner.id
        await uow.commit()
    start = clock()
    # Two lessons in one turn: the first completed (with a helper), the next one begun.
    run = await turn(
        event("lesson.started", "a"),
        event("quiz.answered", "a", correct=True),
        event("step.completed", "a", step=4),
        event("step.completed", "a"),  # no step: one on
        event("lesson.completed", "a", assisted=True),
        event("lesson.started", "b"),
        event("learner.stuck", "b"),
    )
    if database.dialect == "postgresql":
        assert [statement.split(" (")[0] for statement in run] == ["INSERT INTO lesson_progress"]
    else:
        assert len(run) == 2, run  # one for each lesson
    assert await row("a") == ("completed", 6, 1, 1, 0, True, start, start, start)
    assert await row("b") == ("started", 0, 0, 0, 1, False, start, None, start)
    clock.advance(minutes=5)
    # Lesson a again: a fresh attempt starts from step 0 and no answers; it stays completed.
    await turn(
        event("quiz.answered", "a", correct=False),
        event("lesson.started", "a"),
        event("drill.answered", "a", correct=True),
        event("drill.answered", "a", correct=False),
        event("step.completed", "a", step=1),
        event("learner.stuck", "a"),
    )
    assert await row("a") == ("completed", 2, 1, 2, 1, True, start, start, clock())
    clock.advance(minutes=5)
    await turn(event("lesson.completed", "a"), event("step.completed", "b"))  # b: one on
    assert await row("a") == ("completed", 2, 1, 2, 1, False, start, clock(), clock())
    assert (await row("b"))[:2] == ("started", 1)
    assert await turn(Event(type="locale.changed", data={"locale": "en"})) == []


async def test_outbox_keeps_order_and_marks_sent(database: Database, clock: Clock) -> None:
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(channel="web", external_id="e", now=clock())
        ids = await uow.outbox.add(learner, [TextReply(text=str(n)) for n in range(5)], clock())
        await uow.commit()
    async with database.unit_of_work() as uow:
        pending = await uow.outbox.pending(learner.id)
        assert [row.payload["text"] for row in pending] == ["0", "1", "2", "3", "4"]
        await uow.outbox.mark_sent(ids[:3], clock())
        await uow.outbox.mark_failed(ids[3], "blocked by the user")
        await uow.commit()
    async with database.unit_of_work() as uow:
        assert [row.id for row in await uow.outbox.pending(learner.id)] == ids[4:]
        assert [row.status for row in await uow.outbox.history(learner.id, 0)] == [
            "sent",
            "sent",
            "sent",
            "failed",
            "pending",
        ]


async def test_erasing_a_learner_cascades(database: Database, clock: Clock) -> None:
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(channel="web", external_id="f", now=clock())
        await uow.states.save(learner.id, {"screen": "menu"}, clock())
        await uow.events.append(learner.id, [Event(type="lesson.started", lesson_id="x")], clock())
        await uow.outbox.add(learner, [TextReply(text="hi")], clock())
        await uow.commit()
    async with database.unit_of_work() as uow:
        await uow.session.delete(await uow.session.get(Learner, learner.id))
        await uow.commit()
    async with database.unit_of_work() as uow:
        assert await uow.states.load(learner.id) is None
        assert list(await uow.events.for_learner(learner.id)) == []
        assert list(await uow.outbox.history(learner.id, 0)) == []


async def test_regression_a_nested_unit_of_work_fails_fast_instead_of_hanging(
    database: Database,
) -> None:
    """SQLite queues units of work in one lock; nesting them in one task used to deadlock."""
    if database.dialect != "sqlite":
        pytest.skip("only SQLite queues its units of work")
    async with database.unit_of_work():
        with pytest.raises(RuntimeError, match="would deadlock"):
            async with database.unit_of_work():
                pass
    async with database.unit_of_work():  # and the queue is free again
        pass


async def test_a_begin_cancelled_on_its_way_leaves_no_connection_in_doubt(
    database: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled while BEGIN is on its way, the connection's state is unknown: it is discarded,
    not given back to the pool, and the next unit of work gets a working one."""
    if database.dialect != "postgresql":
        pytest.skip("only PostgreSQL's turns begin on the driver")
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    begun: list[AsyncAdapt_asyncpg_connection] = []

    async def cancelled(self: AsyncAdapt_asyncpg_connection) -> None:
        begun.append(self)
        raise asyncio.CancelledError

    async with database.unit_of_work() as uow:
        await uow.learners.get_or_create(channel="web", external_id="c", now=clock())
        await uow.commit()
    with monkeypatch.context() as patched:
        patched.setattr(AsyncAdapt_asyncpg_connection, "_start_transaction", cancelled)
        with pytest.raises(asyncio.CancelledError):
            async with database.unit_of_work() as uow:
                await uow.open_turn("web", "c", "c1", clock())
    assert [adapter.driver_connection.is_closed() for adapter in begun] == [True]
    async with database.unit_of_work() as uow:
        opened = await uow.open_turn("web", "c", "c1", clock())
        assert opened.learner is not None
        assert opened.claimed
        await uow.commit()


@pytest.mark.parametrize("first", ["through SQLAlchemy", "a turn's opening"])
async def test_a_dropped_connection_costs_one_unit_of_work_at_most(
    database: Database, clock: Clock, first: str
) -> None:
    """No pre-ping: when PostgreSQL drops the pooled connections (a restart), the first unit of
    work may fail; SQLAlchemy then discards the stale pool, and the next ones work. Also when
    the unit of work begins on the driver (a turn's opening: `begin` sends BEGIN itself)."""
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL's backends can be terminated")
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    async def a_learner(name: str) -> None:
        async with database.unit_of_work() as uow:
            if first == "a turn's opening":
                await uow.open_turn("web", name, f"{name}-1", clock())
            await uow.learners.get_or_create(channel="web", external_id=name, now=clock())
            await uow.commit()

    # Several pooled connections, all of them then terminated by another connection.
    await asyncio.gather(*(a_learner(f"before-{n}") for n in range(4)))
    async with database.engine.connect() as connection:
        mine = await connection.scalar(text("SELECT pg_backend_pid()"))
        killed = await connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> :mine"
            ),
            {"mine": mine},
        )
        await connection.commit()
    assert killed >= 1
    errors: list[DBAPIError] = []
    for n in range(6):
        try:
            await a_learner(f"after-{n}")
        except DBAPIError as error:
            errors.append(error)
    assert len(errors) <= 1
    assert all(error.connection_invalidated for error in errors)
    failures = len(errors)
    async with database.unit_of_work() as uow:
        assert await uow.learners.count() == 4 + 6 - failures


@pytest.mark.postgres
async def test_a_busy_process_keeps_its_connections(postgres_url: str, clock: Clock) -> None:
    """More units of work at once than the pool holds wait for a connection: no connection
    beyond the pool is opened, and none is closed when given back (an overflow connection
    was closed on its return, so steady load opened a new one every few dozen turns)."""
    from sqlalchemy import text

    database = Database(postgres_url, pool_size=4)
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda *_: opened.append(1))
    backends: set[int] = set()

    async def a_turn(name: str) -> None:
        async with database.unit_of_work() as uow:
            backends.add(await uow.session.scalar(text("SELECT pg_backend_pid()")))
            await uow.session.execute(text("SELECT pg_sleep(0.02)"))
            await uow.learners.get_or_create(channel="web", external_id=name, now=clock())
            await uow.commit()

    try:
        async with database.unit_of_work() as uow:  # the database is shared: count what is new
            before = await uow.learners.count()
        for wave in range(3):
            await asyncio.gather(*(a_turn(f"busy-{wave}-{n}") for n in range(12)))
        assert len(opened) == 4
        assert len(backends) == 4
        async with database.unit_of_work() as uow:
            assert await uow.learners.count() == before + 36
    finally:
        await database.dispose()
