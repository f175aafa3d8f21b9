"""Spaced review with FSRS and reminders in the learner's own time zone, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsrs import Card, Rating
from sqlalchemy import select

from bot import review
from bot.engine import Catalog, Choice, ChoicesReply, Engine, Event, Start, State
from bot.engine.engine import REVIEW_SIZE, due_reviews
from bot.locks import MemoryLocks
from bot.reminders import send_due
from bot.service import Tutor
from bot.store import Database
from bot.store.models import Learner, ReviewCard
from tests.conftest import Clock
from tests.test_community import Person, words

QUIZ = "first/ask"
DRILL = "first/judge"


def make_tutor(database: Database, catalog: Catalog, clock: Clock) -> Tutor:
    return Tutor(engine=Engine(catalog), database=database, locks=MemoryLocks(), clock=clock)


async def cards(database: Database) -> dict[str, ReviewCard]:
    async with database.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(ReviewCard))).all()
    return {row.item: row for row in rows}


async def lesson_with_both_answers_wrong(lan: Person) -> None:
    await lan.send(Start(payload="lang_en"))
    await lan.tap("📘 Demo")
    await lan.tap("📘 Lesson one")
    await lan.tap("Next")
    await lan.tap("Done")
    assert "Not quite" in words(await lan.tap("The bank"))
    assert "Careful: this is a scam" in words(await lan.tap("Safe"))


async def test_wrong_answers_come_back_tomorrow_and_move_further_when_right(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    lan = Person(tutor, "telegram", "lan")
    await lesson_with_both_answers_wrong(lan)
    scheduled = await cards(database)
    assert set(scheduled) == {QUIZ, DRILL}
    assert {row.due for row in scheduled.values()} == {clock() + timedelta(days=1)}
    assert all(row.lapses == 1 and row.reviews == 1 for row in scheduled.values())

    menu = words(await lan.type("/menu"))
    assert "Review" not in menu  # not due yet: nothing to review today
    assert "Nothing to review today" in words(await lan.type("/review"))

    clock.advance(days=1)
    menu = words(await lan.type("/menu"))
    assert "2 questions are ready to review" in menu
    assert "🔁 Review (2 to go)" in [option.label for option in lan.buttons]
    opened = words(await lan.tap("🔁 Review"))
    assert "Let's go over 2 things" in opened
    assert "Question 1 of 2" in opened
    assert "Who may know the OTP?" in opened
    assert "That's right" in words(await lan.tap("Nobody"))
    second = words(await lan.tap("A scam"))
    assert "Review done! You got 2 of 2 right" in second
    assert "Review (" not in " ".join(option.label for option in lan.buttons)

    after = await cards(database)
    # FSRS: Again then Good on the next day gives two more days (default parameters).
    assert {row.due for row in after.values()} == {clock() + timedelta(days=2)}
    assert all(row.reviews == 2 and row.lapses == 1 for row in after.values())
    assert after[QUIZ].card["stability"] > scheduled[QUIZ].card["stability"]

    clock.advance(days=1)
    assert "Nothing to review today" in words(await lan.type("/review"))
    clock.advance(days=1)
    assert "🔁 Review (2 to go)" in [
        option.label
        for option in (await lan.type("/menu"))[-1].options  # type: ignore[union-attr]
    ]


async def test_a_miss_in_review_brings_the_item_back_sooner(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    lan = Person(tutor, "zalo_bot", "lan")
    await lesson_with_both_answers_wrong(lan)
    clock.advance(days=1)
    await lan.type("/review")
    assert "Not quite" in words(await lan.tap("The bank"))  # wrong again
    # "Not sure" is not right either: it comes back as soon as a wrong answer.
    done = words(await lan.tap("Not sure"))
    assert "You got 0 of 2 right" in done
    after = await cards(database)
    assert {row.due for row in after.values()} == {clock() + timedelta(days=1)}
    assert all(row.lapses == 2 for row in after.values())


async def test_leaving_a_review_keeps_the_rest_due_and_old_buttons_are_refused(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    lan = Person(tutor, "telegram", "lan")
    await lesson_with_both_answers_wrong(lan)
    clock.advance(days=1)
    await lan.type("/review")
    stale = list(lan.buttons)
    await lan.tap("Nobody")
    old = words(await lan.send(Choice(key=stale[0].key)))
    assert "That button belongs to an earlier message" in old
    await lan.type("/menu")  # leave half-way
    assert "🔁 Review (1 to go)" in [option.label for option in lan.buttons]
    assert "Question 1 of 1" in words(await lan.tap("🔁 Review"))


async def test_right_answers_are_sometimes_reviewed_too(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    """About one person in three gets a card for an item they answered right, always the same
    people (the choice is a hash of person and item)."""
    picked = [person for person in range(300) if review.sampled(person, QUIZ)]
    assert 70 < len(picked) < 130
    state = State()
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(
            channel="telegram", external_id="x", now=clock()
        )
        right = Event(
            type="quiz.answered", lesson_id="first", step_id="ask", data={"correct": True}
        )
        person = learner.id if review.sampled(learner.id, QUIZ) else None
        scheduled = await review.schedule(uow, learner.id, state, [right], clock())
        await uow.commit()
    assert scheduled == ([QUIZ] if person else [])
    if person:  # rated Good on a new card: a few days, not tomorrow
        assert state.reviews[QUIZ] == review.iso(clock() + timedelta(days=2))


def test_due_reviews_are_the_longest_waiting_first_and_only_existing_items(
    demo_catalog: Catalog,
) -> None:
    state = State(
        now="2026-01-20T08:00:00+00:00",
        reviews={
            DRILL: "2026-01-18T08:00:00+00:00",
            QUIZ: "2026-01-19T08:00:00+00:00",
            "first/hello": "2026-01-01T08:00:00+00:00",  # a "say" step is not reviewable
            "gone/ask": "2026-01-01T08:00:00+00:00",  # a lesson removed since
            "third/later": "2026-01-21T08:00:00+00:00",
        },
    )
    assert due_reviews(demo_catalog, state) == [DRILL, QUIZ]
    assert due_reviews(demo_catalog, state.model_copy(update={"now": None})) == []
    assert REVIEW_SIZE == 5


async def test_the_reminder_mentions_due_reviews_and_opens_them(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    lan = Person(tutor, "telegram", "lan")
    await lesson_with_both_answers_wrong(lan)
    await lan.type("/settings")
    await lan.tap("⏰ 19:00")
    clock.now = datetime(2026, 1, 16, 12, 0, tzinfo=UTC)  # 19:00 in Vietnam, the next day
    assert await send_due(database, demo_catalog, clock()) == 1
    (nudge,) = await lan.inbox()
    assert isinstance(nudge, ChoicesReply)
    assert "2 questions are ready to review" in nudge.text
    assert [option.label for option in nudge.options] == ["🔁 Review", "▶️ Learn now"]
    assert "Question 1 of 2" in words(await lan.tap("🔁 Review"))


async def test_reminders_follow_the_learners_own_time_zone(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    tutor = make_tutor(database, demo_catalog, clock)
    hoa = Person(tutor, "telegram", "hoa")  # works in Japan (UTC+9)
    await hoa.send(Start(payload="lang_en"))
    await hoa.type("/settings")
    await hoa.tap("⏰ 19:00")
    await hoa.type("/settings")
    assert "Where do you live?" in words(await hoa.tap("🌏"))
    assert "Now using 🇯🇵 Japan time. It is 17:00 there now." in words(await hoa.tap("🇯🇵"))
    assert "Times are in: 🇯🇵 Japan" in words(await hoa.type("/settings"))

    clock.now = datetime(2026, 1, 15, 9, 59, tzinfo=UTC)  # 18:59 in Tokyo
    assert await send_due(database, demo_catalog, clock()) == 0
    clock.now = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # 19:00 in Tokyo, 17:00 in Vietnam
    assert await send_due(database, demo_catalog, clock()) == 1
    assert len(await hoa.inbox()) == 1

    linh = Person(tutor, "zalo_bot", "linh")  # in Central Europe, where clocks change
    await linh.send(Start(payload="lang_en"))
    await linh.type("/settings")
    await linh.tap("⏰ 7:00")
    unknown = words(await linh.type("/timezone Mars/Olympus"))
    assert "I don't know the time zone «Mars/Olympus»" in unknown
    assert "Now using 🇪🇺 Central Europe time" in words(await linh.type("/timezone europe/berlin"))
    clock.now = datetime(2026, 1, 16, 5, 59, tzinfo=UTC)  # 06:59 in Berlin (winter, UTC+1)
    assert await send_due(database, demo_catalog, clock()) == 0
    clock.now = datetime(2026, 1, 16, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
    assert await send_due(database, demo_catalog, clock()) == 1
    clock.now = datetime(2026, 7, 16, 5, 0, tzinfo=UTC)  # 07:00 in Berlin in summer (UTC+2)
    assert await send_due(database, demo_catalog, clock()) == 1
    assert len(await linh.inbox()) == 2

    async with database.unit_of_work() as uow:
        zones = {
            row.external_id: row.time_zone
            for row in (await uow.session.scalars(select(Learner))).all()
        }
    assert zones == {"hoa": "Asia/Tokyo", "linh": "Europe/Berlin"}
    assert "Now using 🇻🇳 Vietnam time" in words(await hoa.type("/timezone Asia/Ho_Chi_Minh"))


async def test_the_learners_day_is_their_own_for_the_streak(
    database: Database, demo_catalog: Catalog, clock: Clock
) -> None:
    """At 23:30 UTC it is already tomorrow in Vietnam but still today in London."""
    tutor = make_tutor(database, demo_catalog, clock)
    clock.now = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    vy = Person(tutor, "telegram", "vy")
    await vy.send(Start(payload="lang_en"))
    await vy.type("/timezone Europe/London")
    await vy.type("/menu")
    await vy.tap("📘 Demo")
    await vy.tap("📘 Lesson one")
    await vy.tap("Next")
    async with database.unit_of_work() as uow:
        learner = await uow.learners.get("telegram", "vy")
        assert learner is not None
        raw = await uow.states.load(learner.id)
    assert learner.learned_on == "2026-01-15"
    assert raw is not None
    assert raw["streak_day"] == "2026-01-15"


def test_the_fsrs_schedule_spaces_reviews_out_and_a_miss_starts_again_short() -> None:
    """The scheduler's intervals in days, with the package's default parameters."""
    card = Card(card_id=1)
    when = datetime(2026, 1, 15, 8, tzinfo=UTC)
    gaps = []
    for rating in ("Again", "Good", "Good", "Good", "Again", "Good"):
        card, _ = review.SCHEDULER.review_card(card, Rating[rating], when)
        gaps.append((card.due - when).days)
        when = card.due
    assert gaps == [1, 2, 6, 17, 2, 4]
    assert gaps[3] > gaps[2] > gaps[1]  # each right answer waits longer
    assert gaps[4] <= 2  # a miss comes back within two days, however long it had waited
