"""Benchmark a full turn through Tutor.handle on SQLite (and PostgreSQL), against a bare commit."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis
from simulate import Learner, percentile, table

from bot.content import DEFAULT_LESSONS_DIR, load_catalog
from bot.engine import Catalog, Engine
from bot.locks import LearnerLocks, MemoryLocks, RedisLocks
from bot.service import Collector, Inbound, Tutor
from bot.store import Database
from bot.store.migrate import upgrade
from bot.store.scratch import create_scratch, drop_scratch

CHANNEL = "bench"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=50, help="learners per phase")
    parser.add_argument("--turns", type=int, default=10, help="turns per learner per phase")
    parser.add_argument("--lessons", type=Path, default=DEFAULT_LESSONS_DIR, help="lessons folder")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also run on PostgreSQL: a database camtay_bench_<random> is created on this "
        "server (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test) and dropped after",
    )
    parser.add_argument(
        "--redis", metavar="URL", help="hold learner locks in Redis instead of in memory"
    )
    return parser.parse_args()


@dataclass
class Phase:
    """One measured phase: each operation's latency and the wall time of the whole phase."""

    name: str
    partial: bool = False
    """Part of each operation is untimed: throughput comes from the timed part alone."""
    latencies_ns: list[int] = field(default_factory=list)
    wall_ns: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def row(self, backend: str) -> list[str]:
        ordered = sorted(self.latencies_ns)
        count = len(ordered)
        busy_ns = sum(ordered) if self.partial else self.wall_ns

        def ms(fraction: float) -> str:
            return f"{percentile(ordered, fraction) / 1e6:.2f}"

        return [
            f"{backend}: {self.name}",
            f"{count:,}",
            f"{count / (busy_ns / 1e9):,.0f}",
            ms(0.50),
            ms(0.95),
            ms(0.99),
            f"{sum(self.errors.values())}",
        ]


Operation = Callable[[], Awaitable[int | None]]
"""One timed operation; it may return its own latency (ns) when part of it is not to be timed."""


async def timed(phase: Phase, operation: Operation) -> None:
    started = time.perf_counter_ns()
    try:
        own = await operation()
    except Exception as error:  # a benchmark counts failures and reports them
        phase.errors[f"{type(error).__name__}: {str(error)[:120]}"] += 1
    else:
        phase.latencies_ns.append(own if own is not None else time.perf_counter_ns() - started)


async def run_phase(
    phase: Phase,
    learners: int,
    turns: int,
    concurrent: bool,
    operation: Callable[[int, int], Operation],
) -> Phase:
    """Run `operation(learner, turn)` for every learner and turn: one at a time (learner after
    learner, turn after turn) or with every learner's turns in its own task, all at once."""
    started = time.perf_counter_ns()
    if concurrent:

        async def one_learner(learner: int) -> None:
            for turn in range(turns):
                await timed(phase, operation(learner, turn))

        await asyncio.gather(*(one_learner(learner) for learner in range(learners)))
    else:
        for turn in range(turns):
            for learner in range(learners):
                await timed(phase, operation(learner, turn))
    phase.wall_ns = time.perf_counter_ns() - started
    return phase


class Bench:
    """The phases for one database: a bare dedup commit, then full turns."""

    def __init__(self, catalog: Catalog, url: str, locks: LearnerLocks) -> None:
        self.database = Database(url)
        self.tutor = Tutor(engine=Engine(catalog), database=self.database, locks=locks)
        self.run = uuid.uuid4().hex[:8]
        self.misfires = 0

    def floor(self, tag: str) -> Callable[[int, int], Operation]:
        """The storage floor: one INSERT into processed_updates and a commit, nothing else."""

        def operation(learner: int, turn: int) -> Operation:
            async def claim() -> None:
                async with self.database.unit_of_work() as uow:
                    now = datetime.now(UTC)
                    claimed = await uow.dedup.claim(
                        CHANNEL, f"floor-{self.run}-{tag}-{learner}-{turn}", now
                    )
                    assert claimed
                    await uow.commit()

            return claim

        return operation

    def turn(
        self, tag: str, learners: int, deliver: bool = True
    ) -> Callable[[int, int], Operation]:
        """A full turn for distinct learners of this phase, each update with its own id."""
        crowd = [Learner(index) for index in range(learners)]

        def operation(learner: int, turn: int) -> Operation:
            async def handle() -> int:
                simulated = crowd[learner]
                inbound = Inbound(
                    channel=CHANNEL,
                    external_id=f"{self.run}-{tag}-{learner}",
                    input=simulated.next_input(),
                    update_id=f"{self.run}-{tag}-{learner}-{turn}",
                )
                collector = Collector()
                started = time.perf_counter_ns()
                result = await self.tutor.handle(inbound, collector if deliver else None)
                latency = time.perf_counter_ns() - started
                assert not result.duplicate
                if not deliver:  # untimed: the learner still needs to see the buttons
                    key = inbound.external_id
                    await self.tutor.deliver(result.learner_id, CHANNEL, key, collector)
                assert len(collector.messages) == len(result.outbox_ids)
                simulated.observe([message.reply for message in collector.messages])
                self.misfires += simulated.misfires
                simulated.misfires = 0
                return latency

            return handle

        return operation

    async def check_dedup(self) -> None:
        """A redelivered update is ignored: the benchmark's dedup really ran."""
        inbound = Inbound(CHANNEL, f"{self.run}-dedup", Learner(0).next_input(), f"{self.run}-d")
        first = await self.tutor.handle(inbound, Collector())
        again = await self.tutor.handle(inbound, Collector())
        assert not first.duplicate
        assert again.duplicate

    async def phases(self, learners: int, turns: int) -> list[Phase]:
        warm = Phase("warm-up")
        await run_phase(warm, 5, 5, False, self.turn("warm", 5))
        await run_phase(warm, 5, 5, False, self.floor("warm"))
        assert not warm.errors, warm.errors
        await self.check_dedup()
        plan = [
            (Phase("bare commit, sequential"), False, self.floor("s")),
            (Phase("bare commit, concurrent"), True, self.floor("c")),
            (Phase("turn, sequential"), False, self.turn("s", learners)),
            (Phase("turn, concurrent"), True, self.turn("c", learners)),
            # The same turn without a sender: the reply is read back untimed, after the turn.
            (Phase("turn, no sender, seq.", partial=True), False, self.turn("n", learners, False)),
        ]
        results = [
            await run_phase(phase, learners, turns, concurrent, operation)
            for phase, concurrent, operation in plan
        ]
        return results

    async def close(self) -> None:
        await self.database.dispose()


async def bench(catalog: Catalog, url: str, args: argparse.Namespace) -> tuple[list[Phase], int]:
    locks: LearnerLocks = MemoryLocks()
    if args.redis:
        locks = RedisLocks(Redis.from_url(args.redis))
    runner = Bench(catalog, url, locks)
    try:
        return await runner.phases(args.learners, args.turns), runner.misfires
    finally:
        await runner.close()
        await locks.close()


def main() -> int:
    args = parse_args()
    catalog = load_catalog(args.lessons)
    rows: list[list[str]] = []
    errors: Counter[str] = Counter()
    misfires = 0
    began = time.perf_counter_ns()

    with tempfile.TemporaryDirectory(prefix="camtay-bench-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        upgrade(url)
        phases, missed = asyncio.run(bench(catalog, url, args))
        misfires += missed
        for phase in phases:
            rows.append(phase.row("sqlite"))
            errors.update(phase.errors)

    if args.postgres:
        url = asyncio.run(create_scratch(args.postgres, "camtay_bench"))
        try:
            upgrade(url)
            phases, missed = asyncio.run(bench(catalog, url, args))
            misfires += missed
            for phase in phases:
                rows.append(phase.row("postgres"))
                errors.update(phase.errors)
        finally:
            asyncio.run(drop_scratch(args.postgres, url))

    elapsed = (time.perf_counter_ns() - began) / 1e9
    locks = "Redis" if args.redis else "memory"
    print(
        f"camtay turn benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{args.learners} learners x {args.turns} turns per phase, {locks} locks, "
        f"Collector sender, {elapsed:.1f} s"
    )
    print()
    print(table(["phase", "ops", "ops/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows))
    for message, count in errors.most_common():
        print(f"error x{count}: {message}")
    assert misfires == 0, f"{misfires} inputs were not understood by the engine"
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
