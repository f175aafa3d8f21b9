"""Admin tokens: created by the CLI, stored hashed, checked on every request, scoped by place."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import ColumnElement, select, true

from bot import provinces
from bot.engine.matching import fold
from bot.store.db import UnitOfWork
from bot.store.models import AdminToken, Learner
from bot.wiring import Runtime

Role = Literal["admin", "analyst", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "analyst", "viewer")
TOKEN_PREFIX = "camtay_"  # noqa: S105 -- a prefix, not a secret
TOUCH_EVERY = timedelta(minutes=1)
"""last_used_at is written at most this often, so reads stay reads."""


def hash_token(token: str) -> str:
    # A 256-bit random token needs no slow hash: SHA-256 cannot be reversed or guessed.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is asking, with what role, limited to which place."""

    token_id: int | None
    name: str
    role: Role
    province: str | None = None
    school_key: str | None = None
    school: str | None = None

    @property
    def sees_names(self) -> bool:
        """Analysts work with anonymous figures; admins and scoped viewers may see names."""
        return self.role != "analyst"

    @property
    def scoped(self) -> bool:
        return self.province is not None

    def learners(self) -> ColumnElement[bool]:
        """The condition on `learners` that keeps a query inside this principal's place."""
        if self.province is None:
            return true()
        condition = Learner.province == self.province
        if self.school_key is not None:
            condition = condition & (Learner.school_key == self.school_key)
        return condition

    def allows(self, province: str | None, school_key: str | None = None) -> bool:
        """May this principal ask about that place (None: everywhere)?"""
        if self.province is None:
            return True
        if province != self.province:
            return False
        return self.school_key is None or school_key == self.school_key

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "province": self.province,
            "school": self.school,
        }


CLI = Principal(token_id=None, name="cli", role="admin")


class TokenError(ValueError):
    """A token request that makes no sense (an unknown role, a viewer with no place)."""


async def create_token(
    uow: UnitOfWork,
    *,
    role: str,
    name: str,
    now: datetime,
    province: str | None = None,
    school: str | None = None,
) -> tuple[AdminToken, str]:
    """A new token; the plain token is returned once and never stored."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}")
    place = None
    if province is not None:
        place = provinces.by_code(province) or provinces.find(province)
        if place is None:
            raise TokenError(f"no province called {province!r}")
    if school is not None and place is None:
        raise TokenError("a school scope needs its --province too")
    if role == "viewer" and place is None:
        raise TokenError("a viewer is scoped to one province (and optionally one school)")
    if role != "viewer" and place is not None:
        raise TokenError("only viewers are scoped; admins and analysts see every place")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AdminToken(
        token_hash=hash_token(token),
        role=role,
        province=place.code if place else None,
        school=school,
        school_key=fold(school) if school else None,
        name=name[:80],
        created_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    return row, token


async def authenticate(uow: UnitOfWork, token: str, now: datetime) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await uow.session.scalar(
        select(AdminToken).where(AdminToken.token_hash == hash_token(token))
    )
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = now
        await uow.commit()
    role: Role = row.role  # type: ignore[assignment]
    return Principal(
        token_id=row.id,
        name=row.name,
        role=role,
        province=row.province,
        school_key=row.school_key,
        school=row.school,
    )


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


_bearer = HTTPBearer(auto_error=False, description="camtay admin token")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from `Authorization: Bearer <token>`; 401 without a valid one."""
    if credentials is None or credentials.scheme.casefold() != "bearer":
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    runtime = runtime_of(request)
    async with runtime.database.unit_of_work() as uow:
        found = await authenticate(uow, credentials.credentials, runtime.tutor.clock())
    if found is None:
        raise HTTPException(401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
    return found


def require(*roles: Role) -> Any:
    """A dependency: the caller, if their role is one of `roles`; 403 otherwise."""

    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}")
        return who

    return Depends(check)


Anyone = Annotated[Principal, require("admin", "analyst", "viewer")]
AdminOnly = Annotated[Principal, require("admin")]
AdminOrViewer = Annotated[Principal, require("admin", "viewer")]
NotViewer = Annotated[Principal, require("admin", "analyst")]
