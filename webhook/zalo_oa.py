"""POST /webhook/zalo-oa: verify Zalo's event signature, parse, apply, answer after commit."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request

from bot.channels.zalo_oa import CHANNEL, Malformed, ZaloOA
from bot.observability import Tally, counted
from bot.wiring import Runtime
from webhook.bodies import WEBHOOK_LIMIT, read_body

log = logging.getLogger(__name__)

router = APIRouter(tags=["zalo_oa"])

MAX_AGE_MS = 10 * 60 * 1000
"""An event signed longer ago than this (or as far in the future) is refused as a replay."""


def signature(app_id: str, body: bytes, timestamp: str, secret_key: str) -> str:
    """Zalo's mac: plain SHA-256 over app_id + raw body + timestamp + OA secret key (no HMAC)."""
    return hashlib.sha256(
        app_id.encode() + body + timestamp.encode() + secret_key.encode()
    ).hexdigest()


def _field(event: dict[str, Any], name: str) -> str:
    value = event.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise HTTPException(400, f"event without {name}")
    return str(value)


@router.post("/webhook/zalo-oa")
async def zalo_oa_webhook(
    request: Request,
    mac: Annotated[str | None, Header(alias="X-ZEvent-Signature")] = None,
) -> dict[str, Any]:
    with counted(CHANNEL) as tally:
        return await _apply(request, mac, tally)


async def _apply(request: Request, mac: str | None, tally: Tally) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    oa = runtime.channels.get(CHANNEL)
    if not isinstance(oa, ZaloOA) or settings.zalo_oa_app_id is None:
        raise HTTPException(404, "Zalo OA is not configured")
    secret_key = settings.zalo_oa_secret_key
    if secret_key is None or not mac:
        raise HTTPException(401, "wrong or missing signature")
    body = await read_body(request, WEBHOOK_LIMIT, "event too large")
    try:
        event = json.loads(body)
    except ValueError:
        # A 4xx, not a 5xx: a 5xx could make Zalo redeliver the same garbage again and again.
        log.warning("malformed zalo_oa event: not JSON")
        raise HTTPException(400, "malformed event") from None
    if not isinstance(event, dict):
        raise HTTPException(400, "malformed event")
    app_id, timestamp = _field(event, "app_id"), _field(event, "timestamp")
    expected = signature(app_id, body, timestamp, secret_key.get_secret_value())
    given = mac.strip().removeprefix("mac=").strip().lower()
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "wrong or missing signature")
    if app_id != settings.zalo_oa_app_id:
        raise HTTPException(401, "event for another app")
    if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > MAX_AGE_MS:
        raise HTTPException(401, "stale or bad timestamp")
    try:
        with tally.timing():
            outcome = await oa.channel.handle(event)
    except Malformed as error:
        log.warning("malformed zalo_oa event: %s", error)
        raise HTTPException(400, "malformed event") from None
    tally.outcome(outcome)
    return {"ok": True, "outcome": outcome}
