"""The admin API, mounted at /admin/api/v1 with its own OpenAPI schema."""

from __future__ import annotations

from fastapi import FastAPI

from admin import broadcasts, certificates, content, learners, reports, webhooks
from bot.settings import Settings
from bot.wiring import Runtime

PREFIX = "/admin/api/v1"


def create_admin_api(settings: Settings) -> FastAPI:
    """The API as its own app: `runtime` is set on its state by the main app's lifespan."""
    production = settings.environment == "production"
    api = FastAPI(
        title="camtay admin API",
        version="1",
        description=(
            "Reports, exports and broadcasts for admins of schools, associations and provinces. "
            "Every request needs `Authorization: Bearer <token>` (made with `camtay admin "
            "create-token`). Roles: admin (everything), analyst (reports and exports without "
            "names), viewer (one province or school)."
        ),
        openapi_url="/openapi.json",
        docs_url=None if production else "/docs",
        redoc_url=None,
    )
    api.include_router(reports.router)
    api.include_router(learners.router)
    api.include_router(broadcasts.router)
    api.include_router(content.router)
    api.include_router(certificates.router)
    api.include_router(webhooks.router)
    return api


def attach(api: FastAPI, runtime: Runtime) -> None:
    api.state.runtime = runtime
