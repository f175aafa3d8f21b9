"""Platform tokens and shared counters: read and write `platform_tokens` inside a unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import PlatformToken
from bot.store.repositories import dialect_insert


class TokenRepository:
    """Used as `TokenRepository(uow.session)`; it flushes, the unit of work commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> PlatformToken | None:
        """The row as it is in the database now, not a copy cached by the session."""
        return await self.session.get(PlatformToken, name, populate_existing=True)

    async def put(
        self,
        name: str,
        *,
        access_token: str | None,
        refresh_token: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        """Store a token pair, replacing the one before."""
        row = await self.get(name)
        if row is None:
            self.session.add(
                PlatformToken(
                    name=name,
                    access_token=access_token,
                    refresh_token=refresh_token,
                    expires_at=expires_at,
                    counter=0,
                    updated_at=now,
                )
            )
        else:
            row.access_token = access_token
            row.refresh_token = refresh_token
            row.expires_at = expires_at
            row.updated_at = now
        await self.session.flush()

    async def take(self, name: str, limit: int, now: datetime) -> bool:
        """Count one use of `name` if fewer than `limit` were counted; False when none is left."""
        # The limit sits in the UPDATE's WHERE clause: two processes never both take the last.
        await self.session.execute(
            dialect_insert(self.session, PlatformToken)
            .values(name=name, refresh_token="", counter=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        result = await self.session.execute(
            update(PlatformToken)
            .where(PlatformToken.name == name, PlatformToken.counter < limit)
            .values(counter=PlatformToken.counter + 1, updated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def give_back(self, name: str, now: datetime) -> None:
        """Undo one `take` whose use did not happen (the send failed)."""
        await self.session.execute(
            update(PlatformToken)
            .where(PlatformToken.name == name, PlatformToken.counter > 0)
            .values(counter=PlatformToken.counter - 1, updated_at=now)
        )

    async def counted(self, name: str) -> int:
        row = await self.get(name)
        return 0 if row is None else row.counter
