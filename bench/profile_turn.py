"""Profile turns in-process on PostgreSQL with pyinstrument: Tutor.handle, or the whole webhook.

    .venv/bin/python bench/profile_turn.py                    # 400 turns through Tutor.handle
    .venv/bin/python bench/profile_turn.py --through webhook  # the Telegram webhook, over ASGI
    .venv/bin/python bench/profile_turn.py --redis redis://127.0.0.1:6379/13   # RedisLocks

`tutor`: the simulated learners of bench/simulate.py call `Tutor.handle(Inbound(...))` without a
sender (the ingress turn of a webhook: lock, dedup, load, engine, save, outbox, commit).
`webhook`: `POST /webhook/telegram` through the real app (httpx.ASGITransport, no sockets), with
the Telegram script of bench_telegram.py: secret check, body, aiogram's Update, the channel, the
turn, and a button press's keyboard edit, sent to bench_telegram.py's fake Bot API in a child
process. The turns run `--concurrency` at a time for distinct learners (1: one after another).
A scratch database camtay_profile_<random> is created on the server, migrated and dropped.
Prints turns/s and CPU ms per turn without the profiler, then pyinstrument's tree of a second,
profiled run (`--html FILE` also writes the interactive page).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from pyinstrument import Profiler  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from simulate import Learner  # noqa: E402

from bot.content import DEFAULT_LESSONS_DIR, load_catalog  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.locks import LearnerLocks, MemoryLocks, RedisLocks  # noqa: E402
from bot.service import Collector, Inbound, Tutor  # noqa: E402
from bot.store import Database  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.scratch import create_scratch, drop_scratch  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--turns", type=int, default=400, help="turns per run")
    parser.add_argument("--concurrency", type=int, default=8, help="learners at once")
    parser.add_argument("--through", choices=("tutor", "webhook"), default="tutor")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CAMTAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--redis", help="RedisLocks on this URL, emptied first (default: MemoryLocks)"
    )
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML here")
    parser.add_argument(
        "--async-mode",
        choices=("enabled", "disabled", "strict"),
        default="disabled",
        help="pyinstrument's: disabled shows the real stacks (SQLAlchemy's greenlets included)",
    )
    parser.add_argument("--depth", type=int, default=0, help="hide frames below this (0: all)")
    parser.add_argument(
        "--statements", action="store_true", help="also count the SQL statements a turn runs"
    )
    parser.add_argument(
        "--calls",
        action="store_true",
        help="also count the Python function calls a turn makes, by package (cProfile)",
    )
    return parser.parse_args()


class TutorTurns:
    """`Tutor.handle` for simulated learners, `concurrency` learners at a time."""

    def __init__(self, url: str, locks: LearnerLocks) -> None:
        self.database = Database(url)
        self.tutor = Tutor(engine=Engine(load_catalog()), database=self.database, locks=locks)
        self.run = uuid.uuid4().hex[:8]
        self.rounds = 0

    async def turns(self, count: int, concurrency: int) -> None:
        self.rounds += 1
        per = max(1, count // concurrency)

        async def learner(index: int) -> None:
            simulated = Learner(index)
            key = f"{self.run}-{self.rounds}-{index}"
            for turn in range(per):
                inbound = Inbound("bench", key, simulated.next_input(), f"{key}-{turn}")
                result = await self.tutor.handle(inbound)
                collector = Collector()  # untimed in spirit: the learner must see the buttons
                await self.tutor.deliver(result.learner_id, "bench", key, collector)
                simulated.observe([message.reply for message in collector.messages])

        await asyncio.gather(*(learner(index) for index in range(concurrency)))

    async def close(self) -> None:
        await self.database.dispose()


class WebhookTurns:
    """`POST /webhook/telegram` through the app, bench_telegram's script per chat."""

    def __init__(self, url: str, redis: str | None, api_url: str) -> None:
        import httpx
        from bench_telegram import WebhookBench, bench_settings

        from bot.wiring import build
        from webhook.app import create_app

        self.runtime = build(bench_settings(url, api_url, DEFAULT_LESSONS_DIR, redis))
        self.app = create_app(runtime=self.runtime)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://camtay.profile"
        )
        self.bench = WebhookBench(self.runtime, self.http, first_chat=1)
        self.started = False
        self.stack = contextlib.AsyncExitStack()

    async def turns(self, count: int, concurrency: int) -> None:
        from bench_telegram import Phase, run_phase

        if not self.started:
            await self.stack.enter_async_context(self.app.router.lifespan_context(self.app))
            await self.bench.probe()
            self.started = True
        chats = self.bench.chats(max(1, count // len(self.bench.steps)))
        phase = Phase("profile", concurrency)
        await run_phase(phase, chats, self.bench.webhook_chat)
        assert not phase.errors, phase.errors

    async def close(self) -> None:
        await self.http.aclose()
        await self.stack.aclose()
        await self.runtime.close()


async def count_statements(runner: TutorTurns | WebhookTurns, args: argparse.Namespace) -> None:
    """Run the turns again, counting each SQL statement by its first words."""
    from collections import Counter

    from bot.store.driver import statements

    engine = (
        runner.database if isinstance(runner, TutorTurns) else runner.runtime.database
    ).engine.sync_engine
    with statements(engine) as run:
        await runner.turns(args.turns, args.concurrency)
    counts = Counter(" ".join(statement.split())[:90] for statement in run)
    total = sum(counts.values())
    print(f"SQL statements: {total / args.turns:.2f} a turn ({total} in {args.turns} turns)")
    for statement, number in counts.most_common(25):
        print(f"  {number / args.turns:6.2f}  {statement}")


def package(filename: str) -> str:
    """Where a function comes from: the installed package, camtay's top folder, or Python's own
    library ("~" for built-in functions)."""
    if filename == "~":
        return "builtins"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if filename.startswith(str(ROOT)):
        return "camtay " + Path(filename).relative_to(ROOT).parts[0]
    return "python"


async def count_calls(runner: TutorTurns | WebhookTurns, args: argparse.Namespace) -> None:
    """Run the turns again under cProfile: the function calls a turn makes, by package.

    Unlike time, a count hardly moves between runs on a noisy host (only the event loop's
    wake-ups depend on timing), so a change's effect on the work done shows in one A/B."""
    import cProfile
    import pstats
    from collections import Counter

    profiler = cProfile.Profile()
    profiler.enable()
    await runner.turns(args.turns, args.concurrency)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    for (filename, line, name), (_primitive, calls, *_times) in stats.items():
        origin = package(filename)
        by_package[origin] += calls
        where = "" if filename == "~" else f" ({Path(filename).name}:{line})"
        by_function[f"{origin}: {name}{where}"] += calls
    total = sum(by_package.values())
    print(f"Python function calls: {total / args.turns:,.0f} a turn ({total:,} in {args.turns})")
    for name, calls in by_package.most_common(20):
        print(f"  {calls / args.turns:8,.0f}  {name}")
    print("the most called functions, a turn:")
    for name, calls in by_function.most_common(30):
        print(f"  {calls / args.turns:8,.1f}  {name}")


async def profile(url: str, args: argparse.Namespace) -> None:
    locks: LearnerLocks = MemoryLocks()
    if args.redis:
        locks = RedisLocks(Redis.from_url(args.redis))
        await locks.redis.flushdb()  # update ids remembered by an earlier run would be duplicates
    fake: subprocess.Popen[str] | None = None
    if args.through == "tutor":
        runner: TutorTurns | WebhookTurns = TutorTurns(url, locks)
    else:
        # The Bot API that button presses call (editMessageReplyMarkup), in a child process so
        # that its work stays out of the profile.
        from bench_telegram import start_fake

        fake, api_url = start_fake()
        runner = WebhookTurns(url, args.redis, api_url)
    try:
        await runner.turns(min(100, args.turns), args.concurrency)  # warm-up
        cpu, wall = time.process_time(), time.perf_counter()
        await runner.turns(args.turns, args.concurrency)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{args.through}: {args.turns} turns, {args.concurrency} at once, no profiler: "
            f"{args.turns / wall:.0f} turns/s, {cpu / args.turns * 1000:.2f} ms CPU per turn "
            f"(this process), load average {[round(x, 2) for x in os.getloadavg()]}"
        )
        if args.statements:
            await count_statements(runner, args)
        if args.calls:
            await count_calls(runner, args)
        profiler = Profiler(async_mode=args.async_mode)
        profiler.start()
        await runner.turns(args.turns, args.concurrency)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.html:
            args.html.write_text(profiler.output_html())
    finally:
        await runner.close()
        await locks.close()
        if fake is not None:
            assert fake.stdin is not None
            fake.stdin.close()  # the fake serves until its input ends
            fake.wait(10)


def main() -> int:
    args = parse_args()
    url = asyncio.run(create_scratch(args.postgres, "camtay_profile"))
    try:
        upgrade(url)
        asyncio.run(profile(url, args))
    finally:
        asyncio.run(drop_scratch(args.postgres, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
