"""POST /webhook/telegram: verify the secret, parse, apply, and answer only after commit."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from aiogram.types import Update
from fastapi import APIRouter, HTTPException, Request
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


SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 -- a header's name


async def telegram_webhook(request: Request) -> JSONResponse:
    """A plain Starlette endpoint, not a FastAPI one: it reads its one header itself, and
    FastAPI's parameter handling cost every update about 0.06 ms (bench/README.md)."""
    secret = request.headers.get(SECRET_HEADER)
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


router.add_route("/webhook/telegram", telegram_webhook, methods=["POST"], include_in_schema=False)
