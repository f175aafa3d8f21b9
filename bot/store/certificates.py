"""Certificates: issued once per person and module, looked up by code, revoked by an admin."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Certificate


class CertificateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_code(self, code: str) -> Certificate | None:
        result = await self.session.execute(select(Certificate).where(Certificate.code == code))
        return result.scalar_one_or_none()

    async def find(self, person: int, module_id: str) -> Certificate | None:
        result = await self.session.execute(
            select(Certificate).where(
                Certificate.learner_id == person, Certificate.module_id == module_id
            )
        )
        return result.scalar_one_or_none()

    async def of_person(self, person: int) -> Sequence[Certificate]:
        """Every certificate of a person, oldest first (revoked ones included)."""
        result = await self.session.execute(
            select(Certificate)
            .where(Certificate.learner_id == person)
            .order_by(Certificate.issued_at, Certificate.id)
        )
        return result.scalars().all()

    async def add(self, certificate: Certificate) -> bool:
        """Insert in a savepoint; False (and nothing added) when the person already has one
        for the module, or the code is taken."""
        try:
            async with self.session.begin_nested():
                self.session.add(certificate)
        except IntegrityError:
            return False
        return True
