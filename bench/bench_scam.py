"""Benchmark the scam checker: accuracy on the labelled messages, and messages checked per second
against a baseline of fold() alone over the same messages."""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests.scam holds the labelled messages and is not installed with the package.
    sys.path.insert(0, str(ROOT))

from simulate import percentile, table  # noqa: E402

from bot.content import load_catalog  # noqa: E402
from bot.engine.lesson import DrillStep  # noqa: E402
from bot.engine.matching import fold  # noqa: E402
from bot.scam import FLAGS, MAX_CHARS, VERDICTS, Verdict, check  # noqa: E402
from tests.scam.dataset import Message, Metrics, load_messages, metrics  # noqa: E402

RECALL_FLOOR = 0.9
FALSE_LIKELY_CEILING = 0.1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds over the messages")
    parser.add_argument("--repeat", type=int, default=20, help="passes over the set per round")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after the rounds, profile one more round and print the top N functions",
    )
    parser.add_argument("--misses", action="store_true", help="list every wrong verdict")
    return parser.parse_args()


def pct(value: float) -> str:
    return "n/a" if value != value else f"{value:.1%}"  # NaN when there is nothing to count


def figures_row(name: str, figures: Metrics) -> list[str]:
    return [
        name,
        f"{figures.scams}/{figures.legit}",
        pct(figures.precision),
        pct(figures.recall),
        pct(figures.recall_likely),
        pct(figures.false_likely_rate),
        pct(figures.false_flag_rate),
    ]


def subset(
    results: Sequence[tuple[Message, Verdict]], lang: str | None = None, batch: str | None = None
) -> Metrics:
    return metrics(
        (message.label, verdict.verdict)
        for message, verdict in results
        if lang in (None, message.lang) and batch in (None, message.batch)
    )


def timed(function: Callable[[str], object], texts: Sequence[str], repeat: int) -> list[int]:
    """Nanoseconds per call, for each text, `repeat` times over."""
    clock = time.perf_counter_ns
    times: list[int] = []
    for _ in range(repeat):
        for text in texts:
            started = clock()
            function(text)
            times.append(clock() - started)
    return times


def speed_rows(name: str, rounds: list[list[int]]) -> list[str]:
    rates = [len(times) / (sum(times) / 1e9) for times in rounds]
    last = sorted(rounds[-1])
    mean = statistics.fmean(t for times in rounds for t in times) / 1e3
    return [
        name,
        f"{statistics.median(rates):,.0f}",
        f"{min(rates):,.0f}-{max(rates):,.0f}",
        f"{mean:.1f}",
        f"{percentile(last, 0.5) / 1e3:.1f}",
        f"{percentile(last, 0.99) / 1e3:.1f}",
    ]


def main() -> int:
    args = parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    messages = load_messages()
    texts = [message.text for message in messages]
    results = [(message, check(message.text)) for message in messages]
    everything = subset(results)
    langs = Counter(message.lang for message in messages)

    print(
        f"camtay scam-checker benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
        f"{len(messages)} labelled messages ({everything.scams} scam, {everything.legit} legit; "
        f"{langs['vi']} vi, {langs['en']} en)"
    )
    print()
    print("Confusion (rows: label, columns: verdict)")
    print(
        table(
            ["label", *VERDICTS, "total"],
            [
                [
                    label,
                    *(str(everything.count(label, verdict)) for verdict in VERDICTS),
                    str(everything.count(label)),
                ]
                for label in ("scam", "legit")
            ],
        )
    )
    print()
    print(
        "precision = scams among likely_scam; recall = scams flagged (likely_scam or be_careful);"
        "\nrecall likely = scams called likely_scam; false likely / false flag = legit messages"
        "\ncalled likely_scam / flagged at all"
    )
    batches = sorted({message.batch for message in messages})
    rows = [figures_row("all", everything)]
    rows += [figures_row(lang, subset(results, lang=lang)) for lang in ("vi", "en")]
    rows += [figures_row(f"batch {batch}", subset(results, batch=batch)) for batch in batches]
    print(
        table(
            [
                "set",
                "scam/legit",
                "precision",
                "recall",
                "recall likely",
                "false likely",
                "false flag",
            ],
            rows,
        )
    )

    catalog = load_catalog()
    drills = [
        (step.verdict, check(step.message(locale)).verdict)
        for lesson in catalog.ordered()
        for step in lesson.steps
        if isinstance(step, DrillStep)
        for locale in ("vi", "en")
    ]
    scam_drills = [verdict for label, verdict in drills if label == "scam"]
    safe_drills = [verdict for label, verdict in drills if label == "safe"]
    print()
    print(
        f"lesson drills (vi and en): {sum(v != 'no_red_flags' for v in scam_drills)}/"
        f"{len(scam_drills)} scam drills flagged, {sum(v == 'likely_scam' for v in safe_drills)}/"
        f"{len(safe_drills)} safe drills called likely_scam"
    )

    fired: dict[str, Counter[str]] = {code: Counter() for code in FLAGS}
    for message, verdict in results:
        for code in verdict.codes:
            fired[code][message.label] += 1
    print()
    print("Red flags raised (messages)")
    print(
        table(
            ["flag", "weight", "on scams", "on legit"],
            [
                [code, str(FLAGS[code].weight), str(counts["scam"]), str(counts["legit"])]
                for code, counts in sorted(fired.items(), key=lambda item: -sum(item[1].values()))
            ],
        )
    )

    wrong = [
        (message, verdict)
        for message, verdict in results
        if (message.label == "scam") != (verdict.verdict == "likely_scam")
    ]
    if args.misses or wrong:
        print()
        print("Not called as labelled (scam not likely_scam, or legit flagged likely_scam):")
        for message, verdict in wrong:
            print(f"  {message.id:9} {message.label:5} {verdict.verdict:12} {verdict.codes}")

    # --- Speed -----------------------------------------------------------------------------
    long_text = " ".join(texts)[:MAX_CHARS]
    timed(check, texts, 1)  # warm up: compiled patterns, the suffix list
    began = time.perf_counter()
    check_rounds = [timed(check, texts, args.repeat) for _ in range(args.rounds)]
    fold_rounds = [timed(fold, texts, args.repeat) for _ in range(args.rounds)]
    long_check = [timed(check, [long_text], 50) for _ in range(args.rounds)]
    long_fold = [timed(fold, [long_text], 50) for _ in range(args.rounds)]
    elapsed = time.perf_counter() - began
    print()
    print(
        f"Speed: {args.rounds} rounds of {args.repeat} passes over the {len(texts)} messages "
        f"(mean {statistics.fmean(len(t) for t in texts):.0f} characters); {elapsed:.1f} s"
    )
    print(
        table(
            ["measure", "msgs/s", "min-max", "mean us", "p50 us", "p99 us"],
            [
                speed_rows("check(message)", check_rounds),
                speed_rows("baseline: fold(message)", fold_rounds),
                speed_rows(f"check, {len(long_text):,}-char text", long_check),
                speed_rows(f"baseline: fold, {len(long_text):,}-char text", long_fold),
            ],
        )
    )
    check_mean = statistics.fmean(t for times in check_rounds for t in times)
    fold_mean = statistics.fmean(t for times in fold_rounds for t in times)
    print(f"a check costs {check_mean / fold_mean:.0f} fold() calls on the same message")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        timed(check, texts, args.repeat)
        profiler.disable()
        print()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(args.profile)

    print()
    floors = [
        (
            everything.recall >= RECALL_FLOOR,
            f"recall on scams >= {RECALL_FLOOR:.0%}",
            everything.recall,
        ),
        (
            everything.false_likely_rate <= FALSE_LIKELY_CEILING,
            f"legit called likely_scam <= {FALSE_LIKELY_CEILING:.0%}",
            everything.false_likely_rate,
        ),
    ]
    for ok, name, value in floors:
        print(f"{'PASS' if ok else 'FAIL'}  {name} ({pct(value)})")
    return 0 if all(ok for ok, _, _ in floors) else 1


if __name__ == "__main__":
    sys.exit(main())
