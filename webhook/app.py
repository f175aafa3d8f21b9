"""The FastAPI application: web chat, the platform webhooks, health checks and metrics.

`/healthz` says the process is alive; `/readyz` that it can work (the database and, when
configured, Redis answer); `/metrics` is Prometheus's. None asks for a login: route only the
chat, the webhooks, `/verify` and the admin paths through the public reverse proxy, never
`/metrics` (or scrape it on the private network).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from sqlalchemy import text
from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin import dashboard
from admin.api import PREFIX, attach, create_admin_api
from admin.background import keep_current
from bot.locks import LockTimeout, RedisLocks
from bot.observability import PLACE_WAIT_SECONDS, UPDATES, RequestIdMiddleware
from bot.outages import say_out_of_reach, unreachable
from bot.settings import Settings
from bot.wiring import Runtime, build
from webhook import chat, privacy, telegram, verify, zalo_bot, zalo_oa
from webhook.bodies import WEBHOOK_LIMIT

log = logging.getLogger(__name__)

READY_TIMEOUT = 2.0
"""Seconds each readiness check may take: the probe answers, it never hangs."""


async def _database_answers(runtime: Runtime) -> None:
    async with runtime.database.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _redis_answers(runtime: Runtime) -> None:
    if isinstance(runtime.locks, RedisLocks):
        await runtime.locks.redis.ping()
        return
    assert runtime.settings.redis_url is not None  # noqa: S101 -- the caller checked
    client = Redis.from_url(runtime.settings.redis_url)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def readiness(runtime: Runtime) -> dict[str, str]:
    """Each dependency's state, "ok" or why not; the checks run together, each time-limited."""
    checks = {"database": _database_answers(runtime)}
    if runtime.settings.redis_url:
        checks["redis"] = _redis_answers(runtime)

    async def state(name: str, check: Awaitable[None]) -> str:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await check
        except TimeoutError:
            log.warning("readiness: %s did not answer within %s s", name, READY_TIMEOUT)
            return "timeout"
        except Exception as error:  # whatever the failure, the probe reports it
            log.warning("readiness: %s failed: %s", name, str(error)[:200])
            return f"error: {type(error).__name__}"
        return "ok"

    states = await asyncio.gather(*(state(name, check) for name, check in checks.items()))
    return dict(zip(checks, states, strict=True))


# --- hardening middleware --------------------------------------------------------------------

BODY_LIMITS: tuple[tuple[str, int, str], ...] = (
    ("/webhook/", WEBHOOK_LIMIT, "update too large"),
    ("/chat/api/send", chat.MAX_BODY, chat.TOO_LONG),
    ("/admin/login", dashboard.MAX_FORM, "form too large"),
    ("/admin/api/", 64 * 1024, "body too large"),
)
"""(path prefix, bytes, why): the first that matches; the routes' own limits stay as they are."""
DEFAULT_BODY_LIMIT = 16 * 1024
"""Every other path: pages, checks and downloads take no body worth the name."""


def body_limit(path: str) -> tuple[int, str]:
    for prefix, limit, detail in BODY_LIMITS:
        if path.startswith(prefix):
            return limit, detail
    return DEFAULT_BODY_LIMIT, "body too large"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the streamed body passes its limit; FastAPI answers 413."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


async def _answer(send: Send, status: int, body: dict[str, str], *extra: tuple[str, str]) -> None:
    content = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((name.encode(), value.encode()) for name, value in extra),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


class Watched:
    """`send`, noting whether the response has started: after that, a failure can no longer
    be answered with a response of its own."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self.send(message)


class BodyLimit:
    """413 for a body over its path's limit, before any handler reads it: at once from
    Content-Length, else as soon as the streamed chunks add up to more."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, detail = body_limit(scope["path"])
        length = MutableHeaders(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _answer(send, 413, {"detail": detail}, ("connection", "close"))
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(detail)
            return message

        watched = Watched(send)
        try:
            await self.app(scope, limited, watched)
        except BodyTooLarge:
            if watched.started:
                raise
            await _answer(send, 413, {"detail": detail}, ("connection", "close"))


UNAVAILABLE = (
    "Hệ thống tạm gián đoạn, bạn thử lại sau ít giây nhé. / "
    "The service is briefly unavailable, please try again in a few seconds."
)


class Outages:
    """503 with Retry-After, not 500, when PostgreSQL or Redis is out of reach
    (`bot.outages.unreachable`): nothing of the request was committed, and Telegram delivers the
    update again, the web chat tries again. A warning line now and then (`say_out_of_reach`)
    instead of a traceback per request; any other failure goes on to the 500 and its traceback
    as before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watched = Watched(send)
        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            if watched.started or not unreachable(error):
                raise
            say_out_of_reach(log, "answering 503 until it is back", error)
            await _answer(send, 503, {"detail": UNAVAILABLE}, ("retry-after", "1"))


PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), "
    "bluetooth=(), display-capture=()"
)
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""For HTML that sets no policy of its own (error pages): nothing runs, nothing loads."""
HSTS = "max-age=31536000"


class SecurityHeaders:
    """The browser-facing headers on every response, unless a route set its own: no sniffing,
    no framing, no referrer, no powerful features, HSTS over https, and a strict default CSP
    on HTML (the chat, the verify pages and the dashboard each send a fitting one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
            await send(message)

        await self.app(scope, receive, with_headers)


TOO_MANY = "Quá nhiều yêu cầu, bạn thử lại sau ít phút. / Too many requests, try again shortly."


class AdminRateLimit:
    """429 with Retry-After when one client address makes too many /admin requests (the
    dashboard's sign-in has a tighter limit of its own); the limits live in `runtime.admin_limits`.

    The address is the ASGI client's: behind a reverse proxy, run uvicorn with
    --proxy-headers and --forwarded-allow-ips=<the proxy> so it is the visitor's, not the proxy's.
    """

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        runtime: Runtime | None = getattr(self.owner.state, "runtime", None)
        limits = runtime.admin_limits if runtime is not None else None
        if limits is None or not (path == "/admin" or path.startswith("/admin/")):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        login = path == "/admin/login" and scope.get("method") == "POST"
        refusal = await limits.check(address, login=login)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await _answer(send, 429, {"detail": TOO_MANY}, ("retry-after", str(refusal.retry_after)))


BUSY = "busy, try again"
SHED_PATHS = frozenset({"/webhook/telegram"})
"""Where an update turned away comes again: Telegram repeats a delivery until it gets a 2xx.
(Zalo's redelivery is not documented, so its updates are never turned away.)"""


class Shedding:
    """A bound on the Telegram updates a process works on at once
    (`effective_telegram_turns_in_progress`). One more waits for a place, first come first
    served, for at most `telegram_wait_for_place_ms`; then it is answered 503 with Retry-After,
    before its body is read.

    Past what the process can do, every update taken in makes every other one slower, and the
    learner's next update waits on their lock behind the backlog: latency grows without bound
    and work is wasted on answers that come too late. Turned away, an update costs Telegram a
    redelivery a little later (a second or more, and Telegram slows a bot's deliveries after
    errors), so a moment's slowdown of the host is waited out instead: only an overload that
    outlasts the wait turns updates away, and the turns taken in stay quick.
    """

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self._places: asyncio.Semaphore | None = None
        self._warned = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        shed = scope["type"] == "http" and scope["path"] in SHED_PATHS and scope["method"] == "POST"
        runtime: Runtime | None = getattr(self.owner.state, "runtime", None) if shed else None
        bound = runtime.settings.effective_telegram_turns_in_progress if runtime else 0
        if runtime is None or not bound:
            await self.app(scope, receive, send)
            return
        if self._places is None:  # the runtime, and with it the bound, comes with the lifespan
            self._places = asyncio.Semaphore(bound)
        places = self._places
        if places.locked():
            started = time.perf_counter()
            try:
                async with asyncio.timeout(runtime.settings.telegram_wait_for_place_ms / 1000):
                    await places.acquire()
            except TimeoutError:
                await self._turn_away(send, bound)
                return
            finally:
                PLACE_WAIT_SECONDS.observe(time.perf_counter() - started)
        else:
            await places.acquire()  # a place is free: no wait
        try:
            await self.app(scope, receive, send)
        finally:
            places.release()

    async def _turn_away(self, send: Send, bound: int) -> None:
        UPDATES.labels("telegram", "shed").inc()
        now = time.monotonic()
        if now - self._warned > 10:  # one line per 10 s, not one per update turned away
            self._warned = now
            log.warning("overloaded: %d turns in progress; Telegram updates get 503", bound)
        await _answer(send, 503, {"detail": BUSY}, ("retry-after", "1"))


class AnyPathMount(Mount):
    """A Mount whose rest of the path may hold any character: Starlette's matches it with
    `.*`, which stops at a newline, so `/admin/api/v1/certificates/%0A/revoke` would be a 404
    before the admin API could ask for a login (a 401, as for every other path under it)."""

    def __init__(self, path: str, app: ASGIApp) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The app; pass a prepared `runtime` (tests, benchmarks) or let it build one from settings."""
    settings = runtime.settings if runtime is not None else settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runtime is None
        current: Runtime = runtime if runtime is not None else build(settings)
        app.state.runtime = current
        attach(admin_api, current)
        # What exists by now (the imports, the catalog: about 300,000 objects) lives as long as
        # the process: leave it out of every later full collection. Each took about 200 ms and
        # put the admin reports' p95 over 200 ms (bench/README.md, "Admin reports at scale").
        gc.freeze()
        stop = asyncio.Event()
        worker = None
        if current.settings.embedded_worker and current.channels:
            worker = asyncio.create_task(current.worker.run(stop), name="outbox-worker")
        thinking = None
        if current.model_jobs is not None and current.settings.embedded_worker:
            thinking = asyncio.create_task(current.model_jobs.run(stop), name="model-jobs")
        upkeep = None
        if current.settings.report_refresh_seconds > 0:
            upkeep = asyncio.create_task(keep_current(current, stop), name="admin-upkeep")
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                await worker
            if upkeep is not None:
                await upkeep
            if thinking is not None:
                await thinking
            if own:
                await current.close()

    production = settings.environment == "production"
    app = FastAPI(
        title="camtay",
        lifespan=lifespan,
        docs_url=None if production else "/docs",
        redoc_url=None,
        openapi_url=None if production else "/openapi.json",
    )

    @app.exception_handler(LockTimeout)
    async def _busy(_: Request, error: LockTimeout) -> JSONResponse:
        log.warning("learner lock busy: %s", error)
        return JSONResponse({"detail": BUSY}, status_code=503, headers={"Retry-After": "1"})

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        checks = await readiness(request.app.state.runtime)
        if all(state == "ok" for state in checks.values()):
            return JSONResponse({"status": "ready"})
        failed = sorted(name for name, state in checks.items() if state != "ok")
        return JSONResponse(
            {"status": "not ready", "failed": failed, "checks": checks}, status_code=503
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus's text format; not for the public network (no login)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # The platforms' webhooks first: routes are tried in order, and these take most requests.
    app.include_router(telegram.router)
    app.include_router(zalo_bot.router)
    app.include_router(zalo_oa.router)
    app.include_router(chat.router)
    app.include_router(dashboard.router)
    app.include_router(verify.router)
    app.include_router(privacy.router)
    admin_api = create_admin_api(settings)
    admin_api.add_middleware(Outages)  # a mounted app answers its own errors
    app.router.routes.append(AnyPathMount(PREFIX, admin_api))
    # The last added runs first: request id, then headers, then shedding, then the admin limit,
    # then bodies, then outages.
    app.add_middleware(Outages)
    app.add_middleware(BodyLimit)
    app.add_middleware(AdminRateLimit, owner=app)
    app.add_middleware(Shedding, owner=app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestIdMiddleware)
    return app
