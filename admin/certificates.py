"""Admin API: look up a certificate by its code and revoke it (audit-logged)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from admin.audit import record
from admin.auth import AdminOnly, runtime_of
from bot import certificates
from bot.store.models import Certificate

router = APIRouter(tags=["certificates"])


class CertificateInfo(BaseModel):
    code: str
    learner_id: int
    module_id: str
    display_name: str
    issued_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None

    @classmethod
    def of(cls, row: Certificate) -> CertificateInfo:
        return cls(
            code=row.code,
            learner_id=row.learner_id,
            module_id=row.module_id,
            display_name=row.display_name,
            issued_at=row.issued_at,
            revoked_at=row.revoked_at,
            revoked_reason=row.revoked_reason,
        )


class Revocation(BaseModel):
    reason: Annotated[str, Field(min_length=3, max_length=300)]
    """Why it is revoked; kept with the certificate and in the audit log, never shown publicly."""


def _code(code: str) -> str:
    normal = certificates.normalise_code(code)
    if normal is None:
        raise HTTPException(422, f"{code!r} is not a certificate code")
    return normal


@router.get("/certificates/{code}", response_model=CertificateInfo)
async def get_certificate(request: Request, code: str, who: AdminOnly) -> CertificateInfo:
    """A certificate by its verification code, revoked or not."""
    normal = _code(code)
    async with runtime_of(request).database.unit_of_work() as uow:
        row = await uow.certificates.by_code(normal)
    if row is None:
        raise HTTPException(404, f"no certificate {normal}")
    return CertificateInfo.of(row)


@router.post("/certificates/{code}/revoke", response_model=CertificateInfo)
async def revoke_certificate(
    request: Request, code: str, body: Revocation, who: AdminOnly
) -> CertificateInfo:
    """Revoke a certificate: its verify page says "revoked" from now on. Revoking it again
    keeps the first date and reason."""
    normal = _code(code)
    runtime = runtime_of(request)
    now: datetime = runtime.tutor.clock()
    async with runtime.database.unit_of_work() as uow:
        if not await certificates.revoke(uow, normal, body.reason, now):
            raise HTTPException(404, f"no certificate {normal}")
        await record(uow, who, "certificate.revoke", now, code=normal, reason=body.reason)
        row = await uow.certificates.by_code(normal)
        assert row is not None  # noqa: S101 -- just revoked in this transaction
        info = CertificateInfo.of(row)
        await uow.commit()
    return info
