"""Volunteers, the learners they bring in, and the help they give at a stuck step."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.driver import OnDriver
from bot.store.models import (
    ConversationState,
    HelpRequest,
    Learner,
    LessonProgress,
    Referral,
    Volunteer,
)

ON_DRIVER_RESOLVE = OnDriver(
    update(HelpRequest)
    .where(
        HelpRequest.learner_id == bindparam("person"),
        HelpRequest.lesson_id == bindparam("lesson"),
        HelpRequest.step == bindparam("at_step"),
        HelpRequest.resolved_at.is_(None),
    )
    .values(resolved_at=bindparam("now"))
)
"""VolunteerRepository.resolve's UPDATE."""

CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
"""No 0/o, 1/l/i: a code read aloud or copied by hand comes out right."""
CODE_LENGTH = 6


@dataclass(frozen=True)
class FamilyMember:
    """What a volunteer may see of one person they brought in."""

    referral: Referral
    accounts: tuple[Learner, ...]
    state: dict[str, object] | None
    completed: int
    assisted: int
    stuck_now: HelpRequest | None

    @property
    def last_active_at(self) -> datetime:
        return max(account.last_active_at for account in self.accounts)


@dataclass(frozen=True)
class BoardRow:
    """One class of a school: its volunteers and what the people they brought in did."""

    class_name: str
    volunteers: int
    referred: int
    activated: int
    completed_lessons: frozenset[tuple[int, str]]
    """(learner, lesson) pairs completed by the people brought in, for module counts."""


class VolunteerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- people and their accounts ----------------------------------------------------------

    async def accounts(self, person: int) -> Sequence[Learner]:
        """Every channel account of a person (the person's own row and those linked to it)."""
        result = await self.session.scalars(
            select(Learner)
            .where(or_(Learner.id == person, Learner.person_id == person))
            .order_by(Learner.last_active_at.desc(), Learner.id)
        )
        return result.all()

    async def reach(self, person: int) -> Learner | None:
        """The account to write to: the one used last that has not blocked the bot."""
        for account in await self.accounts(person):
            if account.unreachable_at is None:
                return account
        return None

    # --- volunteers -------------------------------------------------------------------------

    async def of_person(self, person: int) -> Volunteer | None:
        ids = [account.id for account in await self.accounts(person)]
        return await self.session.scalar(select(Volunteer).where(Volunteer.learner_id.in_(ids)))

    async def by_code(self, code: str) -> Volunteer | None:
        return await self.session.scalar(select(Volunteer).where(Volunteer.code == code))

    async def get(self, volunteer_id: int) -> Volunteer | None:
        return await self.session.get(Volunteer, volunteer_id)

    async def register(
        self,
        person: int,
        *,
        name: str,
        school: str,
        school_key: str,
        class_name: str,
        province: str,
        now: datetime,
    ) -> Volunteer:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if await self.by_code(code) is None:
                break
        volunteer = Volunteer(
            learner_id=person,
            code=code,
            name=name,
            school=school,
            school_key=school_key,
            class_name=class_name,
            province=province,
            created_at=now,
        )
        self.session.add(volunteer)
        await self.session.flush()
        return volunteer

    # --- referrals --------------------------------------------------------------------------

    async def referral(self, person: int) -> Referral | None:
        """The person's referral, ended or not: a learner is referred once."""
        ids = [account.id for account in await self.accounts(person)]
        return await self.session.scalar(
            select(Referral).where(Referral.learner_id.in_(ids)).order_by(Referral.joined_at)
        )

    async def helper(self, person: int) -> tuple[Referral, Volunteer] | None:
        """The volunteer who helps this person now (None once they stopped sharing)."""
        referral = await self.referral(person)
        if referral is None or referral.ended_at is not None:
            return None
        volunteer = await self.get(referral.volunteer_id)
        return None if volunteer is None else (referral, volunteer)

    async def join(self, person: int, volunteer: Volunteer, now: datetime) -> Referral:
        referral = Referral(learner_id=person, volunteer_id=volunteer.id, joined_at=now)
        self.session.add(referral)
        await self.session.flush()
        return referral

    async def referred(self, volunteer: Volunteer, person: int) -> Referral | None:
        """`person`'s referral if they were brought in by `volunteer` and still share with them."""
        referral = await self.session.get(Referral, person)
        if referral is None or referral.volunteer_id != volunteer.id or referral.ended_at:
            return None
        return referral

    async def family(self, volunteer: Volunteer) -> list[FamilyMember]:
        """The people this volunteer brought in who still share with them, oldest first."""
        referrals = (
            await self.session.scalars(
                select(Referral)
                .where(Referral.volunteer_id == volunteer.id, Referral.ended_at.is_(None))
                .order_by(Referral.joined_at, Referral.learner_id)
            )
        ).all()
        members = []
        for referral in referrals:
            person = referral.learner_id
            state = await self.session.get(ConversationState, person)
            completed, assisted = await self.lessons_done(person)
            members.append(
                FamilyMember(
                    referral=referral,
                    accounts=tuple(await self.accounts(person)),
                    state=None if state is None else dict(state.state),
                    completed=completed,
                    assisted=assisted,
                    stuck_now=await self.open_request(person),
                )
            )
        return members

    async def lessons_done(self, person: int) -> tuple[int, int]:
        """Lessons completed, and how many of them with a helper beside the learner."""
        row = (
            await self.session.execute(
                select(func.count(), func.count().filter(LessonProgress.assisted)).where(
                    LessonProgress.learner_id == person, LessonProgress.status == "completed"
                )
            )
        ).one()
        return int(row[0]), int(row[1])

    async def number(self, referral: Referral) -> int:
        """The referral's place among its volunteer's family, from 1, oldest first."""
        query = select(func.count()).where(
            Referral.volunteer_id == referral.volunteer_id,
            Referral.ended_at.is_(None),
            (Referral.joined_at < referral.joined_at)
            | (
                (Referral.joined_at == referral.joined_at)
                & (Referral.learner_id <= referral.learner_id)
            ),
        )
        return int(await self.session.scalar(query) or 0) or 1

    async def activate(self, referral: Referral, now: datetime) -> None:
        referral.activated_at = now
        await self.session.flush()

    # --- help at a stuck step ---------------------------------------------------------------

    async def ask_for_help(
        self,
        person: int,
        volunteer: Volunteer | None,
        *,
        lesson_id: str,
        step_id: str,
        step: int,
        now: datetime,
    ) -> HelpRequest:
        request = HelpRequest(
            learner_id=person,
            volunteer_id=None if volunteer is None else volunteer.id,
            lesson_id=lesson_id,
            step_id=step_id,
            step=step,
            created_at=now,
        )
        self.session.add(request)
        await self.session.flush()
        return request

    async def help_request(self, request_id: int) -> HelpRequest | None:
        return await self.session.get(HelpRequest, request_id)

    async def alerts_since(self, person: int, since: datetime) -> int:
        """Help requests of this person that reached a volunteer since `since`."""
        query = select(func.count()).where(
            HelpRequest.learner_id == person,
            HelpRequest.volunteer_id.is_not(None),
            HelpRequest.created_at >= since,
        )
        return int(await self.session.scalar(query) or 0)

    async def open_request(self, person: int) -> HelpRequest | None:
        """The latest request still open: the learner has not got past that step yet."""
        return await self.session.scalar(
            select(HelpRequest)
            .where(HelpRequest.learner_id == person, HelpRequest.resolved_at.is_(None))
            .order_by(HelpRequest.id.desc())
            .limit(1)
        )

    async def resolve(self, person: int, lesson_id: str, step: int, now: datetime) -> None:
        """The learner got past a step: its open requests are closed. (Every step completed
        runs this, and almost always finds none: a statement built once, run on the driver.)"""
        await ON_DRIVER_RESOLVE.run(
            self.session, {"person": person, "lesson": lesson_id, "at_step": step, "now": now}
        )

    async def answer(self, request: HelpRequest, answer: str, now: datetime) -> None:
        request.answer = answer
        request.answered_at = now
        await self.session.flush()

    # --- school boards ----------------------------------------------------------------------

    async def board(self, province: str, school_key: str) -> list[BoardRow]:
        """Per class of one school: volunteers, people referred and activated, lessons done."""
        volunteers = (
            await self.session.scalars(
                select(Volunteer).where(
                    Volunteer.province == province, Volunteer.school_key == school_key
                )
            )
        ).all()
        by_class: dict[str, list[Volunteer]] = {}
        for volunteer in volunteers:
            by_class.setdefault(volunteer.class_name, []).append(volunteer)
        rows = []
        for class_name, members in sorted(by_class.items()):
            ids = [volunteer.id for volunteer in members]
            referrals = (
                await self.session.scalars(select(Referral).where(Referral.volunteer_id.in_(ids)))
            ).all()
            people = [referral.learner_id for referral in referrals]
            done = (
                await self.session.execute(
                    select(LessonProgress.learner_id, LessonProgress.lesson_id).where(
                        LessonProgress.learner_id.in_(people),
                        LessonProgress.status == "completed",
                    )
                )
            ).all()
            rows.append(
                BoardRow(
                    class_name=class_name,
                    volunteers=len(members),
                    referred=len(referrals),
                    activated=sum(referral.activated_at is not None for referral in referrals),
                    completed_lessons=frozenset((row[0], row[1]) for row in done),
                )
            )
        return rows
