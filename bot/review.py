"""Spaced review: quiz and drill items come back in short reviews, scheduled with FSRS.

An item answered wrong in a lesson gets a card (rated Again: back tomorrow); one answered right
gets one too for about one learner in three (rated Good: back in a few days), so reviews are
not only about mistakes. Each answer in a review rates the card again: Good when right, Again
when wrong or "not sure". The `fsrs` package's scheduler says when it is due next.

The cards live in `review_cards`; the learner's state keeps only each item's due time, so the
engine can show "🔁 Review (3)" without a query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from fsrs import Card, Rating, Scheduler

from bot.engine import Event, State
from bot.store.db import UnitOfWork
from bot.store.models import ReviewCard

SCHEDULER = Scheduler(
    desired_retention=0.9,
    # No same-day learning steps: a chat tutor asks again tomorrow, not in ten minutes.
    learning_steps=(),
    relearning_steps=(),
    maximum_interval=365,
    enable_fuzzing=False,
)
RIGHT_ONE_IN = 3
"""Of the items a learner answers right in lessons, about one in this many is reviewed too."""
ANSWERED = frozenset({"quiz.answered", "drill.answered", "review.answered"})


def iso(moment: datetime) -> str:
    """The form due times and `State.now` are kept in, comparable as strings."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _digest(person: int, item: str) -> int:
    data = f"{person}/{item}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=6).digest(), "big")


def sampled(person: int, item: str) -> bool:
    """Whether an item this learner answered right is reviewed anyway (fixed per person)."""
    return _digest(person, item) % RIGHT_ONE_IN == 0


async def schedule(
    uow: UnitOfWork, person: int, state: State, events: Sequence[Event], now: datetime
) -> list[str]:
    """Rate the cards of the items answered in `events` and record when each is due next, in
    `review_cards` and in `state.reviews`; returns the items (re)scheduled."""
    scheduled = []
    for event in events:
        if event.type not in ANSWERED or event.lesson_id is None or event.step_id is None:
            continue
        item = f"{event.lesson_id}/{event.step_id}"
        correct = bool(event.data.get("correct"))
        row = await uow.session.get(ReviewCard, (person, item))
        if row is None:
            if correct and event.type != "review.answered" and not sampled(person, item):
                continue
            card = Card(card_id=_digest(person, item))
        else:
            card = Card.from_dict(row.card)  # type: ignore[arg-type]
        card, _ = SCHEDULER.review_card(card, Rating.Good if correct else Rating.Again, now)
        if row is None:
            row = ReviewCard(learner_id=person, item=item, reviews=0, lapses=0)
            uow.session.add(row)
        row.card = dict(card.to_dict())
        row.due = card.due
        row.reviews += 1
        row.lapses += int(not correct)
        row.updated_at = now
        state.reviews[item] = iso(card.due)
        scheduled.append(item)
    return scheduled
