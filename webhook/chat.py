"""Web chat routes: the page, its JSON API, the lesson pictures and QR codes."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import ValidationError

from bot.channels import web
from bot.content import ASSETS_DIR
from bot.qr import MAX_DATA, qr_png
from bot.service import Collector, Inbound, Outgoing
from bot.wiring import Runtime
from webhook.bodies import read_body

router = APIRouter(prefix="/chat", tags=["web chat"])

COOKIE = "camtay_chat"
MAX_BODY = 16 * 1024
PAGE = (Path(__file__).resolve().parent / "static" / "chat.html").read_text(encoding="utf-8")
"""Read once at import: the page is static."""
TOO_LONG = (
    "Tin nhắn dài quá. Bạn gõ ngắn hơn nhé (dưới 4.000 chữ). / "
    "That message is too long. Please keep it under 4,000 characters."
)

ChatCookie = Annotated[str | None, Cookie(alias=COOKIE, max_length=64)]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _remember(response: Response, visitor: str, request: Request) -> None:
    response.set_cookie(
        COOKIE,
        visitor,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, visitor: ChatCookie = None) -> HTMLResponse:
    response = HTMLResponse(PAGE)
    if not visitor:
        _remember(response, secrets.token_urlsafe(18), request)
    return response


@router.post("/api/send")
async def send(request: Request, response: Response, visitor: ChatCookie = None) -> dict[str, Any]:
    """Apply one input from the page; answer with the replies it produced."""
    body = await read_body(request, MAX_BODY, TOO_LONG)
    try:
        message = web.WebInput.model_validate_json(body)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_context=False, include_input=False)
        if any(problem["type"] == "json_invalid" for problem in problems):
            raise HTTPException(400, "the body is not valid JSON") from None
        raise HTTPException(422, problems) from None
    runtime = _runtime(request)
    if (
        message.text is not None
        and len(message.text.encode()) > runtime.settings.web_max_text_bytes
    ):
        raise HTTPException(413, TOO_LONG)
    if not visitor:
        visitor = secrets.token_urlsafe(18)
        _remember(response, visitor, request)
    collector = Collector()
    # Message ids come from browsers, so they are only unique per visitor.
    inbound = Inbound(
        channel=web.CHANNEL,
        external_id=visitor,
        input=message.to_input(),
        update_id=f"{visitor}:{message.id}",
    )
    result = await runtime.tutor.handle(inbound, collector)
    return {
        "duplicate": result.duplicate,
        "messages": [web.render(item) for item in collector.messages],
    }


@router.get("/api/history")
async def history(request: Request, after: int = 0, visitor: ChatCookie = None) -> dict[str, Any]:
    """Every reply this visitor has had after message `after`: the page's reload and its poll.

    Replies other people cause (a volunteer's tip, say) wait in the outbox as pending rows
    while the visitor is idle; returning them here is their delivery, so they are marked sent.
    """
    if not visitor:
        return {"messages": []}
    runtime = _runtime(request)
    async with runtime.database.unit_of_work() as uow:
        learner = await uow.learners.get(web.CHANNEL, visitor)
        if learner is None:
            return {"messages": []}
        rows = await uow.outbox.history(learner.id, after)
        messages = [Outgoing.from_row(row) for row in rows]
        # A turn being answered right now may mark its rows too: a second mark is harmless,
        # and the page draws each message id once.
        pending = [row.id for row in rows if row.status == "pending"]
        if pending:
            await uow.outbox.mark_sent(pending, runtime.tutor.clock())
            await uow.commit()
    return {"messages": [web.render(item) for item in messages]}


@router.get("/qr.png", include_in_schema=False)
def qr(data: Annotated[str, Query(min_length=1, max_length=MAX_DATA)]) -> Response:
    """A QR code of `data` (a link): for the page's QR messages and Zalo Bot's photo URLs."""
    # A plain def: FastAPI runs it in a thread, so drawing never holds up the event loop.
    return Response(
        qr_png(data),
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/assets/{name:path}", include_in_schema=False)
async def asset(request: Request, name: str) -> FileResponse:
    root = (_runtime(request).settings.lessons_dir / ASSETS_DIR).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, "no such picture")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
