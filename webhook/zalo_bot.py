"""POST /webhook/zalo-bot: verify the secret, parse, apply, and answer only after commit."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request

from bot.channels.zalo_bot import CHANNEL, ZaloBot, parse_event
from bot.observability import counted
from bot.wiring import Runtime
from webhook.bodies import WEBHOOK_LIMIT, read_body

log = logging.getLogger(__name__)

router = APIRouter(tags=["zalo bot"])


@router.post("/webhook/zalo-bot")
async def zalo_bot_webhook(
    request: Request,
    secret: Annotated[str | None, Header(alias="X-Bot-Api-Secret-Token")] = None,
) -> dict[str, Any]:
    with counted(CHANNEL) as tally:
        runtime: Runtime = request.app.state.runtime
        zalo = runtime.channels.get(CHANNEL)
        if not isinstance(zalo, ZaloBot):
            raise HTTPException(404, "Zalo Bot is not configured")
        expected = runtime.settings.zalo_bot_webhook_secret
        if (
            expected is None
            or secret is None
            or not secrets.compare_digest(secret.encode(), expected.get_secret_value().encode())
        ):
            raise HTTPException(401, "wrong or missing secret token")
        body = await read_body(request, WEBHOOK_LIMIT, "event too large")
        try:
            event = parse_event(json.loads(body))
        except ValueError as error:  # JSON, UTF-8 and pydantic's errors are all ValueErrors
            # A 4xx, not a 5xx: a 5xx could make Zalo redeliver the same garbage again and again.
            log.warning("malformed zalo bot event: %s", str(error)[:200])
            raise HTTPException(400, "malformed event") from None
        with tally.timing():
            outcome = await zalo.channel.handle(event)
        tally.outcome(outcome)
        return {"ok": True, "outcome": outcome}
