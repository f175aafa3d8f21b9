"""The audit log: every export, broadcast, token change and content reload, with who did it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from admin.auth import Principal
from bot.store.db import UnitOfWork
from bot.store.models import AuditEntry


async def record(
    uow: UnitOfWork, who: Principal, action: str, now: datetime, **detail: Any
) -> None:
    """Add an entry in the caller's transaction; it commits with what it describes."""
    uow.session.add(
        AuditEntry(
            at=now,
            token_id=who.token_id,
            actor=who.name,
            action=action,
            detail={**detail, "role": who.role, "scope": who.province, "school": who.school},
        )
    )
    await uow.session.flush()
