"""The FastAPI application: web chat, health checks (and, later, the platform webhooks)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from admin import dashboard
from admin.api import PREFIX, attach, create_admin_api
from admin.background import keep_current
from bot.locks import LockTimeout
from bot.settings import Settings
from bot.wiring import Runtime, build
from webhook import chat, telegram, verify, zalo_bot, zalo_oa

log = logging.getLogger(__name__)


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
        return JSONResponse(
            {"detail": "busy, try again"}, status_code=503, headers={"Retry-After": "1"}
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(chat.router)
    app.include_router(telegram.router)
    app.include_router(zalo_bot.router)
    app.include_router(zalo_oa.router)
    app.include_router(dashboard.router)
    app.include_router(verify.router)
    admin_api = create_admin_api(settings)
    app.mount(PREFIX, admin_api)
    return app
