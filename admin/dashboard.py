"""The admin dashboard: server-rendered pages at /admin on the same queries as the API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/admin", include_in_schema=False)
