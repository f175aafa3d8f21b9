"""The CPU a Telegram turn cannot avoid beyond bench_load.py's baseline, piece by piece.

The baseline (bench/baseline_app.py) parses the update with `json.loads` and does three writes.
A camtay turn must also: build aiogram's `Update` from the body, hold the learner's Redis lock
(acquire and release), run the engine on the stored state and store the new one, and change
the pressed keyboard with one Bot API call (`editMessageReplyMarkup`; the press itself is
answered in the webhook's response). Each piece is timed here alone, in this process's CPU
time, with the fake Bot API in a child process; the sum is a floor that no implementation of
the turn can go under, whatever it does about SQL or the web framework.

    python bench/floor_turn.py --redis redis://127.0.0.1:6379/12
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.fakes is not installed with the package

from aiogram.types import Update  # noqa: E402
from bench_load import TOKEN, start_fake  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from bot.channels.telegram import make_bot  # noqa: E402
from bot.content import load_catalog  # noqa: E402
from bot.engine import Engine, Start, State  # noqa: E402
from bot.locks import RedisLocks, RedisRecentUpdates  # noqa: E402
from tests.fakes import updates  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--times", type=int, default=3000, help="repetitions of each piece")
    return parser.parse_args()


async def cpu_us(times: int, piece: Callable[[int], Awaitable[object]]) -> float:
    """Mean CPU microseconds of `piece(i)`, after a tenth as many untimed calls."""
    for i in range(times // 10):
        await piece(i)
    started = time.process_time()
    for i in range(times):
        await piece(i)
    return (time.process_time() - started) / times * 1e6


async def main(args: argparse.Namespace) -> int:
    fake = start_fake()
    assert fake.stdout is not None
    assert fake.stdin is not None
    bot = make_bot(TOKEN, fake.stdout.readline().strip())
    redis = Redis.from_url(args.redis)
    engine = Engine(load_catalog())
    state = engine.step(State(), Start()).state.model_dump(mode="json")
    buttons = [(f"📘 Bài {i} · 0/2", f"lesson:{i}") for i in range(5)]
    body = json.dumps(
        updates.callback_query(
            5, 777, "lesson:1", message_text="Chọn một bài học:", buttons=buttons
        )
    ).encode()

    async def parse(_: int) -> object:
        return Update.model_validate(json.loads(body), context={"bot": bot})

    locks = RedisLocks(redis, recent=RedisRecentUpdates(redis))

    async def lock(i: int) -> object:
        # As a turn takes it: the update's dedup entry read with the lock, remembered with
        # its release.
        async with locks.hold(f"floor:{i}", update=("floor", str(i))) as held:
            held.applied = i
        return held

    async def step(_: int) -> object:
        outcome = engine.step(State.model_validate(state), Start())
        return outcome.state.model_dump(mode="json")

    async def edit(i: int) -> object:
        return await bot.edit_message_reply_markup(chat_id=777, message_id=i + 1)

    try:
        pieces = {
            "Update.model_validate (a button press)": await cpu_us(args.times, parse),
            "Redis lock and dedup entry, taken and freed": await cpu_us(args.times, lock),
            "engine step, state read and dumped": await cpu_us(args.times, step),
            "editMessageReplyMarkup over HTTP (7 in 11 updates)": await cpu_us(
                args.times // 3, edit
            )
            * 7
            / 11,
        }
    finally:
        await bot.session.close()
        await redis.aclose()
        fake.stdin.close()
        fake.wait()
    print("| piece | CPU µs a turn |\n|---|---:|")
    for name, micros in pieces.items():
        print(f"| {name} | {micros:.0f} |")
    print(
        f"| **sum: the least a turn costs beyond the baseline** | **{sum(pieces.values()):.0f}** |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
