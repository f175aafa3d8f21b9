"""Benchmark the admin reports and CSV exports on a database seeded by bench/seed_admin.py.

    .venv/bin/python -m bench.seed_admin --learners 1000000 --volunteers 100000 --events 20000000
    .venv/bin/python -m bench.bench_reports            # then drops the database (unless --keep)

1. `admin.rollups.refresh_rollups` over the whole database, timed (a full refresh, then an
   incremental one, which is what the app's worker does every few minutes).
2. The real app (`webhook.app.create_app`, `report_refresh_seconds=0`) under uvicorn in a
   child process on 127.0.0.1. With httpx, one request at a time: `GET /healthz` (the floor of
   an HTTP round trip, the baseline) and every report endpoint, for an admin, a viewer of the
   largest province and a viewer of the largest school: 3 warm-up requests, then N timed.
   Verdict: p95 at most 200 ms.
3. `GET /exports/learners.csv` and `/exports/progress.csv` as the admin, each from a fresh
   server: the whole CSV is read as a stream and its rows counted. The server's peak RSS (VmHWM
   of the child process, reset through /proc/<pid>/clear_refs when allowed, and sampled every
   250 ms) must stay under 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import importlib.util
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

import admin
from admin.auth import create_token
from bot.content import DEFAULT_LESSONS_DIR, load_catalog
from bot.store.db import Database
from bot.store.scratch import asyncpg_dsn, execute

ROOT = Path(__file__).resolve().parent.parent

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
NAME = "camtay_bench_admin"
API = "/admin/api/v1"
TARGET_MS = 200.0
RSS_LIMIT_MB = 300.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default=SERVER, help="a database URL on the server to use")
    parser.add_argument("--name", default=NAME, help="the seeded database (seed_admin --name)")
    parser.add_argument("--url", help=argparse.SUPPRESS)  # the server's child: the database
    parser.add_argument("-n", "--requests", type=int, default=50, help="timed requests each")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--lessons", type=Path, default=DEFAULT_LESSONS_DIR)
    parser.add_argument("--skip-refresh", action="store_true", help="use the rollups as they are")
    parser.add_argument("--skip-reports", action="store_true")
    parser.add_argument("--skip-exports", action="store_true")
    parser.add_argument(
        "--export-timeout", type=float, default=1800, help="seconds allowed for each export"
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--proposed",
        type=Path,
        metavar="DIR",
        help="use DIR/rollups.py, reports.py and learners.py (those present) in place of the "
        "app's admin modules, in the refresh and the server: a change measured before it is made",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="the server calls gc.freeze() before serving (what the app would gain from it)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.url is None:
        database = make_url(args.server).set(database=args.name)
        args.url = database.render_as_string(hide_password=False)
    return args


# --- the server, in a child process ---------------------------------------------------------


def use_proposed(directory: Path | None) -> list[str]:
    """Put DIR/{rollups,reports,learners}.py (those present) in place of the app's modules."""
    used = []
    for name in ("rollups", "reports", "learners"):  # reports imports rollups
        path = None if directory is None else directory / f"{name}.py"
        if path is None or not path.exists():
            continue
        spec = importlib.util.spec_from_file_location(f"admin.{name}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"admin.{name}"] = module
        spec.loader.exec_module(module)
        setattr(admin, name, module)
        used.append(str(path))
    return used


def serve(url: str, port: int, proposed: Path | None, freeze: bool) -> None:
    """Run the real app on 127.0.0.1:port (the child process)."""
    import uvicorn

    use_proposed(proposed)

    from bot.settings import Settings
    from webhook.app import create_app

    settings = Settings(
        database_url=url,
        report_refresh_seconds=0,
        embedded_worker=False,
        host="127.0.0.1",
        port=port,
    )
    app = create_app(settings)
    if freeze:
        # Everything imported so far (aiogram, pydantic, FastAPI: 300,000 objects) is left out of
        # every later collection; a full collection of it takes about 180 ms.
        gc.collect()
        gc.freeze()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = args.port or free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", "--url", args.url]
    command += ["--port", str(port)]
    if args.proposed is not None:
        command += ["--proposed", str(args.proposed.resolve())]
    if args.gc_freeze:
        command.append("--gc-freeze")
    child = subprocess.Popen(command, cwd=ROOT)  # noqa: S603 -- this script, by its own path
    try:
        deadline = time.monotonic() + 60
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"the server exited with {child.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield child, port
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- figures ------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain, aligned text table: first column left, the others right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for number, row in enumerate([header, *rows]):
        cells = [
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


@dataclass
class Timing:
    name: str
    who: str
    latencies_ms: list[float] = field(default_factory=list)
    size: int = 0
    rows: int = 0
    errors: int = 0

    @property
    def p95(self) -> float:
        return percentile(sorted(self.latencies_ms), 0.95)

    def row(self, floor: float | None) -> list[str]:
        ordered = sorted(self.latencies_ms)
        p50, p95 = percentile(ordered, 0.5), percentile(ordered, 0.95)
        verdict = "ok" if p95 <= TARGET_MS and not self.errors else "MISS"
        return [
            f"{self.who}: {self.name}",
            f"{self.rows:,}",
            f"{self.size / 1024:,.0f}",
            f"{p50:.1f}",
            f"{p95:.1f}",
            f"{ordered[-1]:.1f}" if ordered else "-",
            f"{p95 / floor:,.0f}x" if floor else "",
            "" if floor is None else verdict,
        ]


def count_rows(body: Any) -> int:
    """Rows in a report's answer: the length of its main list."""
    if not isinstance(body, dict):
        return 0
    for key in ("rows", "lessons", "modules"):
        if isinstance(body.get(key), list):
            return len(body[key])
    return 0


def measure(client: httpx.Client, timing: Timing, path: str, token: str | None, n: int) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    for number in range(n):
        began = time.perf_counter()
        response = client.get(path, headers=headers)
        content = response.content
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            timing.errors += 1
            print(f"  {path}: {response.status_code} {content[:200]!r}", flush=True)
            continue
        if number == 0:
            timing.size = len(content)
            timing.rows = count_rows(response.json()) if token is not None else 0
        timing.latencies_ms.append(elapsed)


def reports() -> list[tuple[str, str]]:
    """(name, path) of every report combination."""
    paths = []
    for group_by in ("province", "school", "channel"):
        for period in ("month", "quarter"):
            paths.append(
                (
                    f"progress {group_by}/{period}",
                    f"{API}/reports/progress?group_by={group_by}&period={period}",
                )
            )
    paths.append(
        (
            "progress province/month, from-to",
            f"{API}/reports/progress?group_by=province&period=month&from=2026-01-01&to=2026-06-30",
        )
    )
    paths.append(("lessons", f"{API}/reports/lessons"))
    paths.append(("learning-gain", f"{API}/reports/learning-gain"))
    for by in ("volunteer", "class", "school", "province"):
        paths.append((f"volunteers by {by}", f"{API}/volunteers?by={by}"))
    return paths


# --- the database side -----------------------------------------------------------------------


@dataclass
class Seeded:
    persons: int
    accounts: int
    volunteers: int
    schools: int
    events: int
    progress: int
    province: str
    province_persons: int
    school: str
    school_key: str
    school_province: str
    school_persons: int


async def describe(url: str) -> Seeded:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        persons = await connection.fetchval("SELECT count(*) FROM learners WHERE person_id IS NULL")
        accounts = await connection.fetchval("SELECT count(*) FROM learners")
        volunteers = await connection.fetchval("SELECT count(*) FROM volunteers")
        schools = await connection.fetchval("SELECT count(DISTINCT school_key) FROM volunteers")
        events = await connection.fetchval("SELECT max(id) FROM events") or 0
        progress = await connection.fetchval("SELECT count(*) FROM lesson_progress")
        province = await connection.fetchrow(
            "SELECT province, count(*) AS n FROM learners WHERE person_id IS NULL "
            "AND province IS NOT NULL GROUP BY province ORDER BY n DESC LIMIT 1"
        )
        school = await connection.fetchrow(
            "SELECT l.province, l.school_key, count(*) AS n, "
            "(SELECT min(school) FROM volunteers v WHERE v.school_key = l.school_key) AS name "
            "FROM learners l WHERE person_id IS NULL AND school_key IS NOT NULL "
            "GROUP BY l.province, l.school_key ORDER BY n DESC LIMIT 1"
        )
    finally:
        await connection.close()
    return Seeded(
        persons=persons,
        accounts=accounts,
        volunteers=volunteers,
        schools=schools,
        events=events,
        progress=progress,
        province=province["province"],
        province_persons=province["n"],
        school=school["name"],
        school_key=school["school_key"],
        school_province=school["province"],
        school_persons=school["n"],
    )


async def refresh(url: str, lessons: Path) -> tuple[float, float]:
    """A full refresh, then an incremental one; seconds each."""
    refresh_rollups = importlib.import_module("admin.rollups").refresh_rollups  # or --proposed
    database = Database(url)
    catalog = load_catalog(lessons)
    try:
        began = time.perf_counter()
        assert await refresh_rollups(database, catalog, datetime.now(UTC), full=True)
        full = time.perf_counter() - began
        began = time.perf_counter()
        assert await refresh_rollups(database, catalog, datetime.now(UTC))
        again = time.perf_counter() - began
    finally:
        await database.dispose()
    return full, again


async def tokens(url: str, seeded: Seeded) -> dict[str, str]:
    database = Database(url)
    now = datetime.now(UTC)
    made = {}
    try:
        async with database.unit_of_work() as uow:
            _, made["admin"] = await create_token(uow, role="admin", name="bench admin", now=now)
            _, made[f"viewer {seeded.province}"] = await create_token(
                uow, role="viewer", name="bench viewer", now=now, province=seeded.province
            )
            _, made["viewer school"] = await create_token(
                uow,
                role="viewer",
                name="bench school",
                now=now,
                province=seeded.school_province,
                school=seeded.school,
            )
            await uow.commit()
    finally:
        await database.dispose()
    return made


# --- exports --------------------------------------------------------------------------------


@dataclass
class Export:
    name: str
    rows: int = 0
    size: int = 0
    seconds: float = 0.0
    first_byte: float = 0.0
    rss_before: float = 0.0
    peak: float = 0.0
    sampled_peak: float = 0.0
    complete: bool = False
    status: int = 0


def export(client: httpx.Client, path: str, token: str, pid: int, limit: float) -> Export:
    """Stream one CSV export to the end, counting rows, while watching the server's memory."""
    result = Export(path.rsplit("/", 1)[-1])
    reset = reset_peak(pid)
    result.rss_before = memory(pid)["VmRSS"]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            with contextlib.suppress(OSError, KeyError):
                result.sampled_peak = max(result.sampled_peak, memory(pid)["VmRSS"])

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    began = time.perf_counter()
    newlines = 0
    try:
        with client.stream(
            "GET", path, headers={"Authorization": f"Bearer {token}"}, timeout=300
        ) as response:
            result.status = response.status_code
            for data in response.iter_bytes():
                if not result.first_byte:
                    result.first_byte = time.perf_counter() - began
                newlines += data.count(b"\n")
                result.size += len(data)
                if time.perf_counter() - began > limit:
                    break
            else:
                result.complete = response.status_code == 200
    finally:
        result.seconds = time.perf_counter() - began
        stop.set()
        watcher.join()
    result.rows = max(0, newlines - 1)  # the header line
    status = memory(pid)
    result.peak = status["VmHWM"] if reset else max(result.sampled_peak, status["VmHWM"])
    return result


# --- the run --------------------------------------------------------------------------------


def run_reports(args: argparse.Namespace, made: dict[str, str]) -> int:
    """Every report for every caller against the /healthz floor; returns failed requests."""
    with (
        server(args) as (child, port),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client,
    ):
        started = memory(child.pid)
        print(f"\nserver pid {child.pid} on 127.0.0.1:{port}, RSS {started['VmRSS']:.0f} MB")
        baseline = Timing("GET /healthz", "baseline")
        measure(client, baseline, "/healthz", None, args.warmup)
        baseline.latencies_ms.clear()
        measure(client, baseline, "/healthz", None, max(args.requests, 200))
        floor = percentile(sorted(baseline.latencies_ms), 0.95)
        timings = []
        for who, token in made.items():
            for name, path in reports():
                timing = Timing(name, who)
                measure(client, timing, path, token, args.warmup)
                timing.latencies_ms.clear()
                measure(client, timing, path, token, args.requests)
                timings.append(timing)
                if timing.latencies_ms:
                    print(
                        f"  {who}: {name}: p50 {statistics.median(timing.latencies_ms):.1f} ms, "
                        f"p95 {timing.p95:.1f} ms",
                        flush=True,
                    )
        after = memory(child.pid)
    header = ["report", "rows", "kB", "p50 ms", "p95 ms", "max ms", "p95/floor", "≤200"]
    print(f"\nN = {args.requests} sequential requests each after {args.warmup} warm-up")
    print(table(header, [baseline.row(None)] + [t.row(floor) for t in timings]))
    missed = [t for t in timings if t.p95 > TARGET_MS or t.errors]
    print(
        ("PASS" if not missed else "FAIL")
        + f"  every report p95 ≤ {TARGET_MS:.0f} ms ({len(timings) - len(missed)} of "
        f"{len(timings)}; baseline /healthz p95 {floor:.2f} ms)"
    )
    for timing in missed:
        print(f"      missed: {timing.who}: {timing.name} (p95 {timing.p95:.1f} ms)")
    print(
        f"server RSS {started['VmRSS']:.0f} MB at start, {after['VmRSS']:.0f} MB after the "
        f"reports (peak {after['VmHWM']:.0f} MB)"
    )
    return sum(timing.errors for timing in timings)


def run_exports(args: argparse.Namespace, token: str) -> int:
    """Each export streamed to the end from a fresh server; returns failed exports."""
    results = []
    for path in ("/exports/learners.csv", "/exports/progress.csv"):
        with (
            server(args) as (child, port),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client,
        ):
            print(f"\nexporting {path} (a fresh server, pid {child.pid}) …", flush=True)
            result = export(client, API + path, token, child.pid, args.export_timeout)
        results.append(result)
        print(
            f"  {result.rows:,} rows in {result.seconds:.1f} s"
            + ("" if result.complete else " (INCOMPLETE: stopped at the time limit)"),
            flush=True,
        )
    header = ["export (admin)", "rows", "MB", "seconds", "rows/s", "first byte", "RSS before"]
    print(
        table(
            [*header, "peak RSS"],
            [
                [
                    r.name + ("" if r.complete else " (cut)"),
                    f"{r.rows:,}",
                    f"{r.size / 2**20:,.0f}",
                    f"{r.seconds:,.1f}",
                    f"{r.rows / max(r.seconds, 1e-9):,.0f}",
                    f"{r.first_byte * 1000:,.0f} ms",
                    f"{r.rss_before:,.0f} MB",
                    f"{r.peak:,.0f} MB",
                ]
                for r in results
            ],
        )
    )
    over = [r for r in results if r.peak >= RSS_LIMIT_MB or not r.complete]
    print(
        ("PASS" if not over else "FAIL")
        + f"  exports complete, server peak RSS < {RSS_LIMIT_MB:.0f} MB (max "
        f"{max(r.peak for r in results):.0f} MB)"
    )
    return sum(r.status != 200 for r in results)


def run(args: argparse.Namespace) -> int:
    seeded = asyncio.run(describe(args.url))
    print(
        f"database {make_url(args.url).database}: {seeded.persons:,} persons "
        f"({seeded.accounts:,} accounts), {seeded.volunteers:,} volunteers in "
        f"{seeded.schools:,} schools, {seeded.events:,} events, {seeded.progress:,} "
        f"lesson_progress rows\nlargest province {seeded.province} "
        f"({seeded.province_persons:,} persons); largest school {seeded.school!r} "
        f"({seeded.school_persons:,} persons)"
    )
    used = use_proposed(args.proposed)
    if used or args.gc_freeze:
        print(
            f"variant: {', '.join(used) or 'the app as it is'}; "
            f"gc.freeze() in the server {'on' if args.gc_freeze else 'off'}"
        )
    if not args.skip_refresh:
        print("\nrefreshing the report rollups …", flush=True)
        full, again = asyncio.run(refresh(args.url, args.lessons))
        print(f"refresh_rollups(full=True): {full:.1f} s; the next, incremental: {again:.1f} s")
    made = asyncio.run(tokens(args.url, seeded))
    errors = 0 if args.skip_reports else run_reports(args, made)
    if not args.skip_exports:
        errors += run_exports(args, made["admin"])
    return 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.url, args.port, args.proposed, args.gc_freeze)
        return 0
    try:
        return run(args)
    finally:
        if not args.keep:
            name = make_url(args.url).database
            asyncio.run(execute(args.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            print(f"dropped {name} (pass --keep to keep it)")


if __name__ == "__main__":
    sys.exit(main())
