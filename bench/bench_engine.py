"""Benchmark the lesson engine alone on one core, against the cost of a state JSON round trip."""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

from simulate import Learner, percentile, spread, table

from bot.content import DEFAULT_LESSONS_DIR, load_catalog
from bot.engine import Engine, State

SAMPLE_EVERY = 50
"""Keep every n-th state for the JSON round-trip baseline."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200_000, help="engine steps per round")
    parser.add_argument("--baseline-steps", type=int, default=40_000,
                        help="operations per round for the two baselines")  # fmt: skip
    parser.add_argument("--learners", type=int, default=1_000, help="learners driven round-robin")
    parser.add_argument("--rounds", type=int, default=3, help="repeat everything this many times")
    parser.add_argument("--warmup", type=int, default=5_000, help="untimed steps before round 1")
    parser.add_argument("--lessons", type=Path, default=DEFAULT_LESSONS_DIR, help="lessons folder")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after the rounds, profile the engine and print the top N functions")  # fmt: skip
    return parser.parse_args()


def drive(engine: Engine, lesson_ids: list[str], learners: int, steps: int,
          samples: list[State] | None = None) -> tuple[array[int], list[Learner]]:  # fmt: skip
    """Run `steps` engine steps over `learners` fresh learners; return each step's time (ns)."""
    crowd = [Learner(index, lesson_ids) for index in range(learners)]
    times = array("q", bytes(8 * steps))
    clock = time.perf_counter_ns
    step = engine.step
    for number in range(steps):
        learner = crowd[number % learners]
        event = learner.next_input()
        state = learner.state
        started = clock()
        outcome = step(state, event)
        times[number] = clock() - started
        learner.state = outcome.state
        learner.observe(outcome.replies, outcome.events)
        if samples is not None and number % SAMPLE_EVERY == 0:
            samples.append(outcome.state)
    return times, crowd


def round_trip(samples: list[State], count: int) -> int:
    """Time `count` JSON round trips of the sampled states, as the service does every turn."""
    clock = time.perf_counter_ns
    validate = State.model_validate
    total = 0
    size = len(samples)
    for number in range(count):
        state = samples[number % size]
        started = clock()
        again = validate(state.model_dump(mode="json"))
        total += clock() - started
        assert again.prompt == state.prompt
    return total


def service_cpu(engine: Engine, lesson_ids: list[str], learners: int, steps: int) -> int:
    """Time what the service does per turn outside SQL: load state, step, dump state and replies."""
    crowd = [Learner(index, lesson_ids) for index in range(learners)]
    raw: list[dict[str, Any] | None] = [None] * learners
    clock = time.perf_counter_ns
    total = 0
    for number in range(steps):
        slot = number % learners
        learner = crowd[slot]
        event = learner.next_input()
        stored = raw[slot]
        started = clock()
        state = State.model_validate(stored) if stored is not None else None
        outcome = engine.step(state, event)
        raw[slot] = outcome.state.model_dump(mode="json")
        payloads = [reply.model_dump() for reply in outcome.replies]
        total += clock() - started
        assert len(payloads) == len(outcome.replies)
        learner.observe(outcome.replies, outcome.events)
    return total


def main() -> int:
    args = parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    catalog = load_catalog(args.lessons)
    engine = Engine(catalog)
    lesson_ids = [lesson.id for lesson in catalog.ordered()]
    drive(engine, lesson_ids, min(args.learners, args.warmup), args.warmup)

    engine_rates: list[float] = []
    engine_us: list[float] = []
    p50s: list[float] = []
    p99s: list[float] = []
    trip_us: list[float] = []
    cpu_us: list[float] = []
    events: Counter[str] = Counter()
    misfires = 0
    began = time.perf_counter_ns()
    for _ in range(args.rounds):
        samples: list[State] = []
        times, crowd = drive(engine, lesson_ids, args.learners, args.steps, samples)
        total = sum(times)
        engine_rates.append(args.steps / (total / 1e9))
        engine_us.append(total / args.steps / 1e3)
        ordered = sorted(times)
        p50s.append(percentile(ordered, 0.50) / 1e3)
        p99s.append(percentile(ordered, 0.99) / 1e3)
        for learner in crowd:
            events.update(learner.events)
            misfires += learner.misfires
        count = args.baseline_steps
        trip_us.append(round_trip(samples, count) / count / 1e3)
        cpu_us.append(service_cpu(engine, lesson_ids, args.learners, count) / count / 1e3)
    elapsed = (time.perf_counter_ns() - began) / 1e9

    assert events["lesson.completed"] > 0, "the simulated learners never finished a lesson"
    assert misfires == 0, f"{misfires} inputs were not understood by the engine"

    def us(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.2f}"
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    def rate(values: list[float]) -> list[float]:
        return [1e6 / value for value in values]

    print(f"camtay engine benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{len(lesson_ids)} lessons, {args.learners} learners, {args.steps:,} steps x "
          f"{args.rounds} rounds (median, min-max), {elapsed:.1f} s")  # fmt: skip
    print()
    print(table(
        ["measure", "ops/s", "us/op"],
        [
            ["engine.step", spread(engine_rates), us(engine_us)],
            ["  step p50 / p99 (us)", "", f"{statistics.median(p50s):.1f} / "
                                          f"{statistics.median(p99s):.1f}"],
            ["baseline: State JSON round trip", spread(rate(trip_us)), us(trip_us)],
            ["load + step + dump state, replies", spread(rate(cpu_us)), us(cpu_us)],
        ],
    ))  # fmt: skip
    print()
    engine_median = statistics.median(engine_rates)
    print(f"engine.step costs {statistics.median(engine_us) / statistics.median(trip_us):.1f}x "
          f"a state JSON round trip; target >= 20,000 steps/s: "
          f"{'met' if engine_median >= 20_000 else 'NOT met'}")  # fmt: skip
    print("events per round: " + ", ".join(
        f"{name} {count // args.rounds:,}" for name, count in sorted(events.items())
    ))  # fmt: skip

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        drive(engine, lesson_ids, args.learners, args.steps)
        profiler.disable()
        print()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
