"""POST /webhook/telegram: verify the secret, parse, apply, and answer only after commit."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Annotated, Any

from aiogram.types import Update
from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from bot.channels.telegram import CHANNEL, pressed_only, webhook_answer
from bot.observability import counted
from bot.wiring import Runtime
from webhook.bodies import WEBHOOK_LIMIT, read_body

log = logging.getLogger(__name__)

router = APIRouter(tags=["telegram"])

OUTCOME_HEADER = "X-Camtay-Outcome"
"""What became of the update (turn, duplicate, ignored, …), for logs, tests and benchmarks: the
body of an answer to a button press is the Bot API call Telegram makes for us."""


@router.post("/webhook/telegram")
async def telegram_webhook(
    request: Request,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> JSONResponse:
    with counted(CHANNEL) as tally:
        runtime: Runtime = request.app.state.runtime
        settings = runtime.settings
        if runtime.telegram is None:
            raise HTTPException(404, "Telegram is not configured")
        expected = settings.telegram_webhook_secret
        if (
            expected is None
            or secret is None
            or not secrets.compare_digest(secret.encode(), expected.get_secret_value().encode())
        ):
            raise HTTPException(401, "wrong or missing secret token")
        body = await read_body(request, WEBHOOK_LIMIT, "update too large")
        try:
            data = json.loads(body)
            update = Update.model_validate(
                pressed_only(data), context={"bot": runtime.telegram.channel.bot}
            )
        except (ValueError, ValidationError) as error:
            # A 4xx, not a 5xx: a 5xx would make Telegram redeliver the same garbage forever.
            log.warning("malformed telegram update: %s", str(error)[:200])
            raise HTTPException(400, "malformed update") from None
        answer = webhook_answer(update)
        with tally.timing():
            outcome = await runtime.telegram.channel.handle(update, answered=answer is not None)
        tally.outcome(outcome)
        content: dict[str, Any] = answer or {"ok": True, "outcome": outcome}
        return JSONResponse(content, headers={OUTCOME_HEADER: outcome})
