"""Learners' own data over the web: the web chat's download (by its cookie), and the signed,
one-hour links sent to channels that cannot carry a file (Zalo)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from bot import privacy
from bot.channels import web
from bot.store.models import Learner
from bot.wiring import Runtime
from webhook.chat import ChatCookie

router = APIRouter(tags=["privacy"])
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _download(runtime: Runtime, person: int) -> Response:
    now = runtime.tutor.clock()
    content = await privacy.export_bytes(runtime.database, person, now)
    disposition = f'attachment; filename="{privacy.file_name(now)}"'
    return Response(
        content,
        media_type="application/json",
        headers={**HEADERS, "Content-Disposition": disposition},
    )


@router.get(web.MYDATA_PATH, include_in_schema=False)
async def chat_mydata(request: Request, visitor: ChatCookie = None) -> Response:
    """Everything kept about the web chat's visitor (their cookie says who they are)."""
    runtime = _runtime(request)
    async with runtime.database.unit_of_work() as uow:
        learner = await uow.learners.get(web.CHANNEL, visitor) if visitor else None
    if learner is None or learner.erased_at is not None:
        raise HTTPException(404, "nothing is kept about you")
    return await _download(runtime, learner.person_id or learner.id)


@router.get("/mydata/{token}", include_in_schema=False)
async def linked_mydata(request: Request, token: str) -> Response:
    """Everything kept about the person a signed link was made for, while it is valid."""
    runtime = _runtime(request)
    person = privacy.verify(runtime.settings.link_secret, token, runtime.tutor.clock())
    if person is None:
        raise HTTPException(404, "this link is not valid or has expired; type /mydata again")
    async with runtime.database.unit_of_work() as uow:
        learner = await uow.session.get(Learner, person)
    if learner is None or learner.erased_at is not None:
        raise HTTPException(404, "nothing is kept about you")
    return await _download(runtime, person)
