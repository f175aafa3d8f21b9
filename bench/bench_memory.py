"""Memory: RSS of one `camtay serve` in production mode, from start through sustained load.

The same setup as bench/bench_load.py (fake Telegram Bot API, scratch PostgreSQL database
`camtay_bench_memory`, Redis db 11 emptied first, CAMTAY_EMBEDDED_WORKER=false, every channel
module loaded), one web process and no baseline. VmRSS (/proc/PID/status) is read:

- after start (the first /healthz answer), and after a /readyz and a /metrics;
- after the probe (one learner's whole script) and `--turns` Telegram updates (closed loop);
- after every `--rounds` round of `--duration` s of closed-loop load, and every `--open-rounds`
  round of open-loop load at `--rate` updates/s (beyond what one process sustains, as in
  bench_load: the overload's refusals are counted apart, not as errors), so growth shows as a
  series; then again after `--idle` s without requests.

    .venv/bin/python bench/bench_memory.py                          # about 3 minutes
    .venv/bin/python bench/bench_memory.py --env MALLOC_ARENA_MAX=2 # compare a setting

Prints the series and writes bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

THIS = Path(__file__).resolve()
ROOT = THIS.parent.parent
for folder in (ROOT, THIS.parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # tests.fakes is not installed with the package

import aiohttp  # noqa: E402
import httpx  # noqa: E402
from bench_load import (  # noqa: E402
    Phase,
    Updates,
    closed_loop,
    fresh_database_and_redis,
    migrate,
    open_loop,
    post,
    probe,
    production_env,
    rss_mb,
    run_in_home,
    server_arguments,
    start_fake,
    start_server,
    stop_fake,
    wait_up,
)

from bot.store.scratch import asyncpg_dsn, execute  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def parse_args() -> argparse.Namespace:
    parser = server_arguments(__doc__.split("\n", 1)[0], "camtay_bench_memory")
    parser.set_defaults(redis="redis://127.0.0.1:6379/11")
    parser.add_argument("--turns", type=int, default=300, help="updates after the probe")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of sustained load")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per round")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients")
    parser.add_argument(
        "--rate", type=float, default=300.0, help="open-loop updates/s (overload, as bench_load)"
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=100, help="open loop: most requests in flight"
    )
    parser.add_argument("--open-rounds", type=int, default=2, help="rounds of open-loop load")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle at the end")
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the server (repeatable)"
    )
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--output", type=Path, default=RESULTS / "memory.json")
    parser.add_argument("--logs", type=Path, help="keep the server's log in this folder")
    return parser.parse_args()


async def bench(args: argparse.Namespace, home: Path) -> int:
    server_url = args.postgres
    url = await fresh_database_and_redis(server_url, args.database, args.redis)
    dsn = asyncpg_dsn(url)
    fake = start_fake()
    series: list[dict[str, Any]] = []
    server = None
    try:
        assert fake.stdout is not None
        fake_url = fake.stdout.readline().strip()
        _, env = production_env(url, args.redis, fake_url, args.log_level, "memory")
        migrate(env)
        for setting in args.env:
            name, _, value = setting.partition("=")
            env[name] = value
        server = start_server("camtay", 1, env, dsn, args.log_level, home)
        pid = server.processes[0].pid
        started = time.monotonic()

        def mark(what: str, turns: int = 0) -> None:
            sizes = rss_mb(pid)
            row = {
                "at_s": round(time.monotonic() - started, 1),
                "what": what,
                "turns": turns,
                "rss_mb": round(sizes.get("VmRSS", 0.0), 1),
                "peak_mb": round(sizes.get("VmHWM", 0.0), 1),
            }
            series.append(row)
            print(
                f"{row['at_s']:7.1f} s  {what:34s} {turns:7d} turns  "
                f"RSS {row['rss_mb']:6.1f} MB  (peak {row['peak_mb']:6.1f})",
                flush=True,
            )

        await wait_up(server)
        mark("started")
        base = server.urls[0]
        async with httpx.AsyncClient(timeout=10) as checks:
            (await checks.get(f"{base}/readyz")).raise_for_status()
            (await checks.get(f"{base}/metrics")).raise_for_status()
        mark("after /readyz and /metrics")
        steps = await probe(base, url)
        mark("after the probe (one learner)", len(steps))
        updates = Updates(steps, first_update=2_000_000)
        connector = aiohttp.TCPConnector(limit=500, keepalive_timeout=3)
        total = len(steps)
        errors = 0
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as http:
            # `--turns` updates: chats of the whole script, 8 at a time.
            chats = updates.new_chats(-(-args.turns // len(steps)))
            for first in range(0, len(chats), 8):
                batch = chats[first : first + 8]
                phase = Phase("camtay", "turns")
                for step in steps:
                    bodies = [updates.body(chat, step) for chat in batch]
                    await asyncio.gather(*(post(http, base, body, phase) for body in bodies))
                    total += len(bodies)
                errors += sum(phase.errors.values())
            mark(f"after {args.turns} turns", total)
            for number in range(1, args.rounds + 1):
                phase = Phase("camtay", f"round {number}")
                await closed_loop(http, server, updates, phase, args.concurrency, args.duration)
                total += len(phase.latencies_ms)
                errors += sum(phase.errors.values())
                mark(f"after closed loop {number} ({args.duration:g} s)", total)
            for number in range(1, args.open_rounds + 1):
                phase = Phase("camtay", f"open {number}", offered_rate=args.rate)
                await open_loop(
                    http, server, updates, phase, args.rate, args.duration, args.max_in_flight
                )
                total += len(phase.latencies_ms)
                refused = sum(phase.errors.values())  # overload: 503s and timeouts are expected
                mark(f"after open loop {number} ({args.rate:g}/s, {refused} refused)", total)
                await asyncio.sleep(3)  # let the backlog drain
        await asyncio.sleep(args.idle)
        mark(f"after {args.idle:g} s idle", total)
        results = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "extra_env": args.env,
            "errors": errors,
            "series": series,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        print(f"errors: {errors}; wrote {args.output}")
        return 1 if errors else 0
    finally:
        if server is not None:
            server.stop()
        stop_fake(fake)
        await execute(server_url, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


def main() -> int:
    return run_in_home(bench, parse_args(), "camtay-memory-")


if __name__ == "__main__":
    sys.exit(main())
