"""Benchmark the lesson engine alone on one core, against the cost of a state JSON round trip."""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from simulate import Learner, percentile, table

from bot.content import DEFAULT_LESSONS_DIR, load_catalog
from bot.engine import Engine, Input, State
from bot.engine.types import fresh_copy

TARGET = 20_000
"""Engine steps per second on one core that the engine should reach."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100_000, help="engine steps per round")
    parser.add_argument("--learners", type=int, default=500, help="learners, driven round-robin")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each with new learners")
    parser.add_argument(
        "--every",
        type=int,
        default=8,
        metavar="N",
        help="measure the baselines on the state and input of every N-th step",
    )
    parser.add_argument("--warmup", type=int, default=5_000, help="untimed steps before round 1")
    parser.add_argument("--lessons", type=Path, default=DEFAULT_LESSONS_DIR, help="lessons folder")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after the rounds, profile one more round and print the top N functions",
    )
    return parser.parse_args()


@dataclass
class Round:
    """Nanoseconds per operation, for each measure, in one round."""

    step: list[int] = field(default_factory=list)
    copy: list[int] = field(default_factory=list)
    trip: list[int] = field(default_factory=list)
    service: list[int] = field(default_factory=list)
    state_bytes: list[int] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    misfires: int = 0


def side_measures(engine: Engine, state: State, event: Input, result: Round) -> None:
    """On the same state and input as a real step: the baselines and the service's CPU path."""
    clock = time.perf_counter_ns
    started = clock()
    fresh_copy(state)
    result.copy.append(clock() - started)

    started = clock()
    again = State.model_validate(state.model_dump(mode="json"))
    result.trip.append(clock() - started)
    assert again == state

    raw = state.model_dump(mode="json")
    result.state_bytes.append(len(json.dumps(raw, ensure_ascii=False).encode()))
    # What Tutor._turn does around the engine, SQL aside: load, step, dump the state and replies.
    started = clock()
    outcome = engine.step(State.model_validate(raw), event)
    outcome.state.model_dump(mode="json")
    [reply.model_dump() for reply in outcome.replies]
    result.service.append(clock() - started)


def drive(engine: Engine, learners: int, steps: int, every: int = 0) -> Round:
    """Run `steps` engine steps, round-robin over `learners` new learners, timing each step."""
    crowd = [Learner(index) for index in range(learners)]
    result = Round()
    clock = time.perf_counter_ns
    step = engine.step
    times = result.step
    for number in range(steps):
        learner = crowd[number % learners]
        event = learner.next_input()
        state = learner.state
        if every and state is not None and number % every == 0:
            side_measures(engine, state, event, result)
        started = clock()
        outcome = step(state, event)
        times.append(clock() - started)
        learner.state = outcome.state
        learner.observe(outcome.replies, outcome.events)
    for learner in crowd:
        result.events.update(learner.events)
        result.misfires += learner.misfires
    return result


def main() -> int:
    args = parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    catalog = load_catalog(args.lessons)
    engine = Engine(catalog)
    drive(engine, min(args.learners, args.warmup), args.warmup, args.every)

    began = time.perf_counter_ns()
    rounds = [drive(engine, args.learners, args.steps, args.every) for _ in range(args.rounds)]
    elapsed = (time.perf_counter_ns() - began) / 1e9

    events = sum((result.events for result in rounds), Counter[str]())
    misfires = sum(result.misfires for result in rounds)
    assert events["lesson.completed"] > 0, "the simulated learners never finished a lesson"
    assert misfires == 0, f"{misfires} inputs were not understood by the engine"

    def row(name: str, pick: str) -> list[str]:
        means = [statistics.fmean(getattr(result, pick)) / 1e3 for result in rounds]
        rates = [1e6 / mean for mean in means]
        ordered = sorted(getattr(rounds[-1], pick))
        cells = [f"{statistics.median(rates):,.0f}", f"{min(rates):,.0f}-{max(rates):,.0f}"]
        cells += [f"{statistics.median(means):.1f}"]
        cells += [f"{percentile(ordered, q) / 1e3:.1f}" for q in (0.5, 0.99)]
        return [name, *cells]

    # Engine.step starts by copying the containers of the state it is given.
    copies = "fresh_copy(" in inspect.getsource(Engine.step)
    copy_label = f"{'  of which' if copies else 'not in step:'} fresh_copy(state)"
    sizes = sorted(size for result in rounds for size in result.state_bytes)
    print(
        f"camtay engine benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{len(catalog.modules)} modules, {len(catalog.lessons)} lessons; {args.rounds} rounds "
        f"of {args.steps:,} steps over {args.learners} new learners "
        f"({args.steps // args.learners} steps each); {elapsed:.1f} s"
    )
    print()
    print(
        table(
            ["measure", "ops/s", "min-max", "mean us", "p50 us", "p99 us"],
            [
                row("engine.step", "step"),
                row(copy_label, "copy"),
                row("baseline: State JSON round trip", "trip"),
                row("service CPU: load+step+dump", "service"),
            ],
        )
    )
    print()
    rates = [len(result.step) / (sum(result.step) / 1e9) for result in rounds]
    best, median = max(rates), statistics.median(rates)
    verdict = "met" if median >= TARGET else "best round only" if best >= TARGET else "NOT met"
    means = [
        statistics.fmean(getattr(result, pick)) for pick in ("step", "trip") for result in rounds
    ]
    ratio = statistics.median(means[: len(rounds)]) / statistics.median(means[len(rounds) :])
    print(
        f"target >= {TARGET:,} engine steps/s on one core: {verdict} (best round {best:,.0f}, "
        f"median {median:,.0f}); a step costs {ratio:.1f} state JSON round trips"
    )
    print(
        f"state JSON size: p50 {percentile(sizes, 0.5):,} B, max {sizes[-1]:,} B; baselines "
        f"taken on every {args.every}th step's state and input; p50/p99 from the last round"
    )
    print(
        "events per round: "
        + ", ".join(f"{name} {count // args.rounds:,}" for name, count in sorted(events.items()))
    )

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        drive(engine, args.learners, args.steps)
        profiler.disable()
        print()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
