"""Web chat routes: the page, its JSON API, the lesson pictures and QR codes.

Cross-site requests are refused (403) before anything is read or changed. The visitor is known
by a cookie, so a page elsewhere must not be able to make their browser send inputs for them:

- `POST /chat/api/send` takes only `Content-Type: application/json` (when a type is given).
  A cross-site form can only send form or text types; a script elsewhere that asks for JSON
  needs a CORS preflight, which this app never grants.
- Browsers say where a request comes from: `Sec-Fetch-Site` must be same-origin (or none:
  typed in the address bar), and `Origin`, when sent, must be this site's.
- The cookie is SameSite=Lax, so browsers leave it out of cross-site POSTs and fetches anyway.

A request with none of these headers is not from a browser page (curl, tests): with no
cookie to abuse it is let through. No token is needed on top: the page stays static and cached.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import ValidationError

from bot.channels import web
from bot.content import ASSETS_DIR
from bot.observability import Tally, counted
from bot.qr import MAX_DATA, qr_png
from bot.service import Collector, Inbound, Outgoing
from bot.wiring import Runtime
from webhook.bodies import read_body

log = logging.getLogger(__name__)

router = APIRouter(prefix="/chat", tags=["web chat"])

COOKIE = "camtay_chat"
MAX_BODY = 16 * 1024
STATIC = Path(__file__).resolve().parent / "static"
PAGE = (STATIC / "chat.html").read_text(encoding="utf-8")
"""Read once at import: the page is static."""
FILES = {name: (STATIC / name).read_bytes() for name in ("chat.js", "chat.css")}
"""The page's script and style sheet, also read once."""
MEDIA = {"chat.js": "text/javascript; charset=utf-8", "chat.css": "text/css; charset=utf-8"}
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-cache",
}
"""Only this site's own script and style run: no inline script, so text drawn into the page
can never become code even if it slipped past the page's textContent."""
SAME_SITE = frozenset({"same-origin", "none"})
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


def _hosts(request: Request) -> set[str]:
    """The names this site answers to: Host, a proxy's X-Forwarded-Host, the public URL's."""
    hosts = {request.headers.get("host", "")}
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded:
        hosts.add(forwarded.split(",")[0].strip())
    public = _runtime(request).settings.public_url
    if public:
        hosts.add(urlsplit(public).netloc)
    return {_bare(host) for host in hosts if host}


def _bare(netloc: str) -> str:
    """host[:port] without the scheme's default port, lower case."""
    netloc = netloc.lower()
    for port in (":80", ":443"):
        netloc = netloc.removesuffix(port)
    return netloc


def cross_site(request: Request) -> str | None:
    """Why the browser's request came from another site, or None when it did not."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in SAME_SITE:
        return f"Sec-Fetch-Site: {fetch_site[:20]}"
    origin = request.headers.get("origin")
    if origin is not None and (
        origin == "null" or _bare(urlsplit(origin).netloc) not in _hosts(request)
    ):
        return f"Origin: {origin[:100]}"
    return None


def refuse_cross_site(request: Request, *, json_only: bool = False) -> None:
    """403 for a cross-site request (or, with `json_only`, a body declared as anything but
    JSON, which is all a cross-site form can send)."""
    why = cross_site(request)
    kind = request.headers.get("content-type")
    declared = kind.split(";")[0].strip().lower() if kind is not None else "application/json"
    if why is None and json_only and declared != "application/json":
        why = f"Content-Type: {(kind or '')[:60]}"
    if why is not None:
        log.warning("web chat: cross-site request refused (%s)", why)
        raise HTTPException(403, "cross-site requests are not allowed")


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, visitor: ChatCookie = None) -> HTMLResponse:
    response = HTMLResponse(PAGE, headers=PAGE_HEADERS)
    if not visitor:
        _remember(response, secrets.token_urlsafe(18), request)
    return response


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    """The page's script and style sheet (an allow-list: nothing else is served here)."""
    if name not in FILES:
        raise HTTPException(404, "no such file")
    return Response(
        FILES[name], media_type=MEDIA[name], headers={"Cache-Control": "public, max-age=3600"}
    )


@router.post("/api/send")
async def send(request: Request, response: Response, visitor: ChatCookie = None) -> dict[str, Any]:
    """Apply one input from the page; answer with the replies it produced."""
    refuse_cross_site(request, json_only=True)
    with counted(web.CHANNEL) as tally:
        return await _apply(request, response, visitor, tally)


async def _apply(
    request: Request, response: Response, visitor: str | None, tally: Tally
) -> dict[str, Any]:
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
    with tally.timing():
        result = await runtime.tutor.handle(inbound, collector)
    tally.outcome("duplicate" if result.duplicate else "turn")
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
    refuse_cross_site(request)  # fetching marks replies delivered: only the page may
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
