"""The floor for bench_load.py: a minimal FastAPI webhook doing a turn's three writes via asyncpg.

For each posted Telegram update, in one transaction on one pooled connection:

1. INSERT the update id into a dedup table, ON CONFLICT DO NOTHING (a redelivery stops here);
2. UPSERT a state JSON row for the chat (about the size of a learner's state);
3. INSERT one outbox row (a reply's JSON).

No engine, no ORM, no locks, no Redis. It is served by uvicorn exactly as `camtay serve` serves
camtay (`uvicorn.run(app, log_config=None, log_level=…)`, the same event loop and HTTP parser),
so the gap between the two is what camtay's turn costs above three writes through asyncpg.

    python bench/baseline_app.py --dsn postgresql://postgres@127.0.0.1:5432/camtay_bench_load \
        --port 8801
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException, Request

SCHEMA = """
CREATE TABLE IF NOT EXISTS baseline_dedup (
    channel text NOT NULL, update_id text NOT NULL, processed_at timestamptz NOT NULL,
    PRIMARY KEY (channel, update_id));
CREATE TABLE IF NOT EXISTS baseline_state (
    chat_id bigint PRIMARY KEY, state jsonb NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS baseline_outbox (
    id bigserial PRIMARY KEY, chat_id bigint NOT NULL, payload jsonb NOT NULL,
    status text NOT NULL, created_at timestamptz NOT NULL);
"""
DEDUP = (
    "INSERT INTO baseline_dedup (channel, update_id, processed_at) VALUES ('telegram', $1, now()) "
    "ON CONFLICT DO NOTHING"
)
STATE = (
    "INSERT INTO baseline_state (chat_id, state, updated_at) VALUES ($1, $2::jsonb, now()) "
    "ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
)
OUTBOX = (
    "INSERT INTO baseline_outbox (chat_id, payload, status, created_at) "
    "VALUES ($1, $2::jsonb, 'pending', now())"
)
POOL_SIZE = 20
"""As many connections as camtay keeps on PostgreSQL (bot/store/db.py: POOL_SIZE)."""


def chat_of(update: dict[str, Any]) -> tuple[int, str]:
    """The chat id and what the learner sent (text or button data)."""
    if "callback_query" in update:
        query = update["callback_query"]
        return int(query["message"]["chat"]["id"]), str(query.get("data", ""))
    message = update.get("message") or {}
    return int(message["chat"]["id"]), str(message.get("text", ""))


def create_app(dsn: str) -> FastAPI:
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=POOL_SIZE)
        assert pool is not None
        async with pool.acquire() as connection, connection.transaction():
            # Several baseline processes start at once: one creates the tables at a time.
            await connection.execute("SELECT pg_advisory_xact_lock(4242)")
            await connection.execute(SCHEMA)
        pools.append(pool)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhook/telegram")
    async def webhook(request: Request) -> dict[str, Any]:
        try:
            update = json.loads(await request.body())
            update_id = str(update["update_id"])
            chat_id, said = chat_of(update)
        except (ValueError, KeyError, TypeError):
            raise HTTPException(400, "malformed update") from None
        # A state and a reply of about the sizes camtay writes (818 bytes median state).
        state = json.dumps({"chat": chat_id, "last": said, "history": [said] * 8, "pad": "x" * 600})
        reply = json.dumps({"kind": "text", "text": f"Bạn đã gửi: {said}"}, ensure_ascii=False)
        async with pools[0].acquire() as connection, connection.transaction():
            claimed = await connection.execute(DEDUP, update_id)
            if claimed.endswith(" 0"):
                return {"ok": True, "outcome": "duplicate"}
            await connection.execute(STATE, chat_id, state)
            await connection.execute(OUTBOX, chat_id, reply)
        return {"ok": True, "outcome": "turn"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dsn", required=True, help="postgresql://… (asyncpg's form)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper())
    uvicorn.run(
        create_app(args.dsn),
        host=args.host,
        port=args.port,
        log_config=None,
        log_level=args.log_level.lower(),
    )


if __name__ == "__main__":
    main()
