"""Load: Telegram updates over HTTP to `camtay serve` in production mode, beside a baseline.

On 127.0.0.1 only, as subprocesses (like bench/soak.py):

- a fake Telegram Bot API (tests/fakes/telegram.py), which the web processes call for button
  presses (editMessageReplyMarkup; the press is answered in the webhook's response);
- N × `camtay serve` with CAMTAY_ENVIRONMENT=production on a scratch PostgreSQL database
  (`camtay_bench_load`, created, migrated with `camtay db upgrade`, dropped) and Redis db 13
  (emptied first), CAMTAY_EMBEDDED_WORKER=false: a request is the ingress turn (secret check,
  parse, flood check, learner lock, dedup, engine, one transaction), the outbox is not drained;
- N × bench/baseline_app.py on the same database, served by uvicorn the same way: the same
  three writes (dedup, state, outbox) through asyncpg in one transaction, nothing else.

A load generator in this process (aiohttp's client on uvloop: a few times cheaper per request
than httpx, so the servers get the machine) posts real Telegram update JSON
(tests/fakes/updates.py): /start, presses on the newest keyboard (callback queries), a typed
answer (the first button's label), /menu, /lang. Each update has its own update_id; chats are
distinct, so learner locks never serialize requests. Phases, interleaved so that both servers
see the same machine: warm-up; closed loop (`--concurrency` clients, each playing a chat's
script, then the next chat) for `--duration` s, which gives the maximum turns/s; open loop at a
fixed `--rate` (arrivals on a fixed schedule; latency counted from the scheduled time, so a
server that falls behind is charged for it; an update turned away with a 503 and Retry-After,
when camtay sheds load, is delivered again after the pause, as Telegram does, and its latency
still runs from the first schedule). When camtay cannot sustain the rate (completed
< 95 % of offered, or p99 > 1 s), lower rates are tried and the highest sustained one is
reported too. RSS of every web process (VmRSS, /proc) after warm-up and at the end. When
PostgreSQL and Redis run on this machine, the CPU of the PostgreSQL backends serving each
server's connections (found through /proc by the connections' ports) and of the Redis server
(camtay's phases only; the whole server, so nothing else should use it meanwhile) per turn;
and of the fake Bot API, which camtay calls on button presses, per turn.

    .venv/bin/python bench/bench_load.py                      # about 3 minutes
    .venv/bin/python bench/bench_load.py --web-processes 2

Prints a markdown table and writes bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

THIS = Path(__file__).resolve()
ROOT = THIS.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.fakes is not installed with the package

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.store.scratch import asyncpg_dsn, execute  # noqa: E402

PYTHON = sys.executable
TOKEN = "123456:LOAD-bench-token"  # noqa: S105 -- the fake Bot API's, nothing real
SECRET = "load_bench_secret-0123456789"  # noqa: S105 -- only these processes check it
WEBHOOK = "/webhook/telegram"
HOOK_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
OUTCOME_HEADER = "X-Camtay-Outcome"  # webhook/telegram.py's: the generator imports no app code
RESULTS = ROOT / "bench" / "results"
# One learner's updates: text, "press" (first button of the newest keyboard) or "type" (its
# label typed as an answer).
SCRIPT: tuple[str, ...] = (
    "/start",
    "press",
    "press",
    "type",
    "press",
    "/menu",
    "press",
    "press",
    "press",
    "/lang",
)
LESSON: tuple[str, ...] = ("press",) * 12
"""`--lesson`: after SCRIPT, twelve more first buttons. With the lessons shipped, they finish
the module's quick check, go through its first lesson (its steps, a quiz, the completion) and
begin the next: the turns that write progress, events and reviews, most of a learner's."""


def server_arguments(description: str, database: str) -> argparse.ArgumentParser:
    """The options every production benchmark shares: where PostgreSQL and Redis are."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CAMTAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="a URL on the PostgreSQL server to use (the scratch database is made beside it)",
    )
    parser.add_argument("--database", default=database)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="emptied first")
    return parser


def parse_args() -> argparse.Namespace:
    parser = server_arguments(__doc__.split("\n", 1)[0], "camtay_bench_load")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=6.0, help="seconds of warm-up each")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients")
    parser.add_argument("--rate", type=float, default=300.0, help="open-loop updates/s")
    parser.add_argument(
        "--open-rates",
        type=lambda text: [float(rate) for rate in text.split(",")],
        help="open loop at these rates (comma-separated, each once, in order) instead of the "
        "search down from --rate",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        help="after warm-up, measure each server's CPU while idle for this many seconds",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=100,
        help="open loop: requests in flight at most, beyond which arrivals are dropped (100, the "
        "most connections Telegram opens to one bot's webhook)",
    )
    parser.add_argument("--web-processes", type=int, default=1)
    parser.add_argument(
        "--turns-in-progress",
        type=int,
        help="camtay's CAMTAY_TELEGRAM_TURNS_IN_PROGRESS (0: no load shedding); unset: the "
        "production default",
    )
    parser.add_argument(
        "--lesson",
        action="store_true",
        help="each learner also goes through a lesson after the first chat's script",
    )
    parser.add_argument("--log-level", default="WARNING", help="both servers' log level")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--py-spy",
        type=Path,
        help="profile camtay's (first) web process with py-spy during its closed loop, "
        "collapsed stacks to this file (and each open-loop phase to FILE-<rate>)",
    )
    parser.add_argument(
        "--closed-only", action="store_true", help="skip the open-loop search (a quick CPU check)"
    )
    parser.add_argument(
        "--per-step",
        type=int,
        metavar="CHATS",
        help="after warm-up, camtay's CPU a turn at each step of the script, played one step at "
        "a time for this many new chats",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "load.json")
    parser.add_argument("--logs", type=Path, help="keep the servers' logs in this folder")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def py_spy(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Sample the web process with py-spy while it works (200 Hz, its own stacks only): the
    collapsed stacks go to `output`, one `frame;frame;… count` a line (flamegraph tools)."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(  # noqa: S603 -- the virtualenv's py-spy
        [str(spy), "record", "--pid", str(pid), "--duration", str(max(1, int(seconds - 1))),
         "--rate", "200", "--format", "raw", "--output", str(output), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_fake() -> None:
    """The fake Bot API in this process: prints its URL, serves until stdin closes."""
    from tests.fakes.telegram import FakeTelegram

    async def main() -> None:
        async with FakeTelegram(TOKEN) as fake:
            print(fake.base_url, flush=True)
            await asyncio.to_thread(sys.stdin.read)

    asyncio.run(main())


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    found: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _socket_inodes(pids: Sequence[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for name in names:
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{name}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    return inodes


def _processes(comm: str) -> Iterator[tuple[int, str]]:
    """(pid, command line) of this machine's processes named `comm`."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(f"/proc/{entry}/comm").read_text().strip() == comm:
                yield (
                    int(entry),
                    Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace"),
                )


BACKEND_CLIENT = re.compile(r"\((\d+)\)")
"""The client's port in a PostgreSQL backend's title: "postgres: user db 127.0.0.1(54321) idle"."""


@dataclass
class Services:
    """PostgreSQL's and Redis's processes on this machine (the CPU they spend on a server's
    turns), found by the ports in the benchmark's URLs; nothing when they run elsewhere."""

    postgres_port: int
    redis_port: int

    def backends(self, clients: Sequence[int]) -> list[int]:
        """The PostgreSQL server processes serving the TCP connections of these processes."""
        inodes = _socket_inodes(clients)
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    fields = line.split()
                    local, remote, inode = fields[1], fields[2], fields[9]
                    if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == self.postgres_port:
                        ports.add(int(local.rsplit(":", 1)[1], 16))
        return [
            pid
            for pid, line in _processes("postgres")
            if (found := BACKEND_CLIENT.search(line)) and int(found.group(1)) in ports
        ]

    def redis(self) -> list[int]:
        return [pid for pid, line in _processes("redis-server") if f":{self.redis_port}" in line]


def server_cpu(server: Server) -> float:
    """CPU seconds used so far by all of a server's processes."""
    return sum(cpu_seconds(process.pid) for process in server.processes)


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


SPELL_S = 0.5
SLOW_MS = 100.0
"""An open loop's slow spells: half-seconds of its schedule whose median latency is over this."""


def percentile(ordered: Sequence[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def start_fake() -> subprocess.Popen[str]:
    """The fake Bot API in a child process; its first line on stdout is its URL."""
    return subprocess.Popen(  # noqa: S603 -- this very script
        [PYTHON, str(THIS), "--serve-fake"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def migrate(env: dict[str, str]) -> None:
    """`camtay db upgrade` on the scratch database."""
    done = subprocess.run(  # noqa: S603 -- camtay itself
        [PYTHON, "-m", "bot.cli", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    kind: str  # camtay | baseline
    urls: list[str]
    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]
    services: Services | None = None
    fake_pid: int | None = None
    """The fake Bot API's process, which camtay calls on button presses (its CPU is counted)."""

    def rss(self) -> list[dict[str, float]]:
        return [rss_mb(process.pid) for process in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_server(
    kind: str, count: int, env: dict[str, str], dsn: str, log_level: str, home: Path
) -> Server:
    urls, processes, logs = [], [], []
    for number in range(count):
        port = free_port()
        if kind == "camtay":
            command = [PYTHON, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        else:
            command = [PYTHON, str(ROOT / "bench" / "baseline_app.py"), "--dsn", dsn]
            command += ["--port", str(port), "--log-level", log_level]
        log = home / f"{kind}{number}.log"
        processes.append(
            subprocess.Popen(  # noqa: S603 -- fixed commands
                command,
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
        logs.append(log)
    return Server(kind, kind, urls, processes, logs)


async def wait_up(server: Server, within: float = 120) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as http:
        for url, process, log in zip(server.urls, server.processes, server.logs, strict=True):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{server.name} exited: {log.read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server.name} did not come up")
                await asyncio.sleep(0.2)


# --- the workload -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    text: str | None = None
    data: str = ""
    buttons: tuple[tuple[str, str], ...] = ()
    message_text: str = ""


class Updates:
    """Telegram update bodies: unique update ids, one script per chat."""

    def __init__(self, steps: list[Step], first_update: int = 1_000_000) -> None:
        self.steps = steps
        self.next_update = first_update
        self.next_chat = first_update * 50

    def new_chats(self, count: int) -> list[int]:
        first, self.next_chat = self.next_chat, self.next_chat + count
        return list(range(first, first + count))

    def body(self, chat: int, step: Step) -> bytes:
        from tests.fakes import updates

        self.next_update += 1
        if step.text is not None:
            update = updates.text_message(self.next_update, chat, step.text)
        else:
            update = updates.callback_query(
                self.next_update,
                chat,
                step.data,
                message_id=self.next_update,
                message_text=step.message_text,
                buttons=step.buttons,
            )
        return json.dumps(update).encode()


async def probe(url: str, database_url: str, script: Sequence[str] = SCRIPT) -> list[Step]:
    """Play the script once on camtay, reading each keyboard back from the outbox, so that the load
    replays it blind with buttons the engine really offered."""
    from bot.engine import ChoicesReply
    from bot.service import Outgoing
    from bot.store import Database

    database = Database(database_url)
    updates = Updates([])
    (chat,) = updates.new_chats(1)
    steps: list[Step] = []
    keyboard: ChoicesReply | None = None
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for kind in script:
                if kind in ("press", "type"):
                    assert keyboard is not None, "a press before any keyboard"
                    first = keyboard.options[0]
                    step = (
                        Step(text=first.label)
                        if kind == "type"
                        else Step(
                            data=first.key,
                            buttons=tuple((o.label, o.key) for o in keyboard.options),
                            message_text=keyboard.text,
                        )
                    )
                else:
                    step = Step(text=kind)
                response = await http.post(
                    WEBHOOK, content=updates.body(chat, step), headers=HOOK_HEADERS
                )
                assert response.headers[OUTCOME_HEADER] == "turn", response.text
                steps.append(step)
                async with database.unit_of_work() as uow:
                    learner = await uow.learners.get("telegram", str(chat))
                    assert learner is not None
                    rows = await uow.outbox.history(learner.id, 0, limit=10_000)
                    replies = [Outgoing.from_row(row).reply for row in rows]
                keyboard = [r for r in replies if isinstance(r, ChoicesReply)][-1]
    finally:
        await database.dispose()
    return steps


@dataclass
class Phase:
    server: str
    name: str
    offered_rate: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    cpu_busy: float = 0.0
    server_cpu: float = 0.0
    database_cpu: float | None = None
    redis_cpu: float | None = None
    generator_cpu: float = 0.0
    fake_cpu: float | None = None
    dropped: int = 0
    redelivered: int = 0
    arrivals: list[tuple[float, float]] = field(default_factory=list)
    """Open loop: (scheduled time from the phase's start, s; latency, ms) of each answer."""

    def slow_spells(self) -> list[tuple[float, float]]:
        """Open loop: the stretches of the schedule (s from the start) whose updates took a
        median of more than SLOW_MS, by half-seconds: where a p99 comes from."""
        windows: dict[int, list[float]] = {}
        for due, latency in self.arrivals:
            windows.setdefault(int(due / SPELL_S), []).append(latency)
        spells: list[tuple[float, float]] = []
        for window in sorted(windows):
            latencies = sorted(windows[window])
            if percentile(latencies, 0.5) <= SLOW_MS:
                continue
            start, end = window * SPELL_S, (window + 1) * SPELL_S
            if spells and spells[-1][1] == start:
                start = spells.pop()[0]
            spells.append((start, end))
        return spells

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        done = len(ordered)
        return {
            "server": self.server,
            "phase": self.name,
            "offered_rate": self.offered_rate,
            "requests": done,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors.most_common(5)),
            "dropped": self.dropped,
            "redelivered": self.redelivered,
            "wall_s": round(self.wall, 2),
            "turns_per_s": round(done / self.wall, 1) if self.wall else 0.0,
            "p50_ms": round(percentile(ordered, 0.50), 2),
            "p95_ms": round(percentile(ordered, 0.95), 2),
            "p99_ms": round(percentile(ordered, 0.99), 2),
            "max_ms": round(ordered[-1], 2) if ordered else None,
            "slow_spells_s": [[start, end] for start, end in self.slow_spells()],
            "loadavg_before": self.load_before,
            "loadavg_after": self.load_after,
            "machine_cpu_busy": round(self.cpu_busy, 3),
            "server_cpu_s": round(self.server_cpu, 2),
            "server_cpu_ms_per_turn": _per_turn(self.server_cpu, done),
            "database_cpu_ms_per_turn": _per_turn(self.database_cpu, done),
            "redis_cpu_ms_per_turn": _per_turn(self.redis_cpu, done),
            "generator_cpu_ms_per_request": _per_turn(self.generator_cpu, done),
            "fake_bot_api_cpu_ms_per_turn": _per_turn(self.fake_cpu, done),
        }

    def sustained(self) -> bool:
        info = self.summary()
        return (
            self.offered_rate is not None
            and info["turns_per_s"] >= 0.95 * self.offered_rate
            and info["p99_ms"] <= 1000
            and not info["errors"]
            and not self.dropped
        )


def _per_turn(seconds: float | None, turns: int) -> float | None:
    """Milliseconds a turn (or a request), to two places; None without a figure or a turn."""
    return None if seconds is None or not turns else round(seconds / turns * 1000, 2)


REDELIVERIES = 10
"""How often an update turned away with a 503 and Retry-After is delivered again, as Telegram
does, before the generator counts it as an error."""


async def post(http: aiohttp.ClientSession, url: str, body: bytes, phase: Phase) -> bool:
    for _ in range(REDELIVERIES + 1):
        try:
            async with http.post(url + WEBHOOK, data=body, headers=HOOK_HEADERS) as response:
                status, answer = response.status, await response.read()
                retry_after = response.headers.get("Retry-After")
                outcome = response.headers.get(OUTCOME_HEADER)
        except Exception as error:  # a benchmark counts failures and reports them
            phase.errors[f"{type(error).__name__}: {str(error)[:80]}"] += 1
            return False
        if status != 503 or retry_after is None:
            break
        phase.redelivered += 1  # shed, or the lock was busy: Telegram delivers it again
        await asyncio.sleep(float(retry_after))
    if status != 200:
        phase.errors[f"HTTP {status}: {answer[:80].decode(errors='replace')}"] += 1
        return False
    if outcome is None:  # the baseline says it in its body, as camtay did before the header
        outcome = json.loads(answer).get("outcome")
    if outcome != "turn":
        phase.errors[f"outcome {outcome}"] += 1
    return True


class Measure:
    """Wall time, load average, machine CPU and the server's own CPU around a phase; and the
    CPU of the PostgreSQL backends serving the server (and of Redis, for camtay), when they
    run on this machine."""

    def __init__(self, phase: Phase, server: Server) -> None:
        self.phase = phase
        self.pids = [process.pid for process in server.processes]
        self.services = server.services
        self.uses_redis = server.kind == "camtay"
        self.fake_pid = server.fake_pid

    def server_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def _helpers(self) -> tuple[dict[int, float], dict[int, float]]:
        if self.services is None:
            return {}, {}
        backends = {pid: cpu_seconds(pid) for pid in self.services.backends(self.pids)}
        redis = {pid: cpu_seconds(pid) for pid in self.services.redis()} if self.uses_redis else {}
        return backends, redis

    def __enter__(self) -> Measure:
        self.phase.load_before = load_avg()
        self.helpers = self._helpers()
        self.own = self.server_cpu()
        self.generator = time.process_time()
        self.fake = cpu_seconds(self.fake_pid) if self.fake_pid else 0.0
        self.cpu = cpu_times()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.phase.wall = time.perf_counter() - self.started
        busy, total = cpu_times()
        self.phase.cpu_busy = (busy - self.cpu[0]) / max(1.0, total - self.cpu[1])
        self.phase.server_cpu = self.server_cpu() - self.own
        after = self._helpers()
        # A backend that appeared during the phase spent all its CPU in it; one that ended is
        # not counted past the phase's start (pools keep theirs, so that is rare).
        spent = [
            sum(now - before.get(pid, 0.0) for pid, now in later.items()) if later else None
            for before, later in zip(self.helpers, after, strict=True)
        ]
        self.phase.database_cpu, self.phase.redis_cpu = spent
        self.phase.generator_cpu = time.process_time() - self.generator
        if self.fake_pid:
            self.phase.fake_cpu = cpu_seconds(self.fake_pid) - self.fake
        self.phase.load_after = load_avg()


async def closed_loop(
    http: aiohttp.ClientSession,
    server: Server,
    updates: Updates,
    phase: Phase,
    clients: int,
    duration: float,
) -> Phase:
    """`clients` tasks, each playing a fresh chat's whole script, then the next, until the
    time is up (a script in progress is finished, untimed for the throughput)."""
    deadline = time.perf_counter() + duration
    count = len(server.urls)

    async def client() -> None:
        while time.perf_counter() < deadline:
            (chat,) = updates.new_chats(1)
            url = server.urls[chat % count]
            for step in updates.steps:
                if time.perf_counter() >= deadline:
                    return
                body = updates.body(chat, step)
                started = time.perf_counter()
                if await post(http, url, body, phase):
                    phase.latencies_ms.append((time.perf_counter() - started) * 1000)

    with Measure(phase, server):
        await asyncio.gather(*(client() for _ in range(clients)))
    return phase


async def open_loop(
    http: aiohttp.ClientSession,
    server: Server,
    updates: Updates,
    phase: Phase,
    rate: float,
    duration: float,
    max_in_flight: int | None = None,
) -> Phase:
    """Arrivals every 1/rate s, step-major over enough chats that a chat's next update comes
    duration/len(script) s after its last (so its updates stay in order). Latency runs from the
    scheduled time: a server that falls behind is charged for the wait. Arrivals beyond
    `max_in_flight` (default: one second's worth) are dropped and counted, so an overloaded
    server fails the rate quickly instead of queueing minutes of work."""
    max_in_flight = max_in_flight or max(50, int(rate))
    total = int(rate * duration)
    steps = updates.steps
    chats = updates.new_chats(max(1, -(-total // len(steps))))
    count = len(server.urls)
    tasks: set[asyncio.Task[None]] = set()

    async def one(url: str, body: bytes, due: float) -> None:
        if await post(http, url, body, phase):
            latency = (time.perf_counter() - due) * 1000
            phase.latencies_ms.append(latency)
            phase.arrivals.append((due - start, latency))

    with Measure(phase, server):
        start = time.perf_counter()
        for index in range(total):
            step, chat = steps[index // len(chats)], chats[index % len(chats)]
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(tasks) >= max_in_flight:
                phase.dropped += 1
                continue
            body = updates.body(chat, step)
            task = asyncio.create_task(one(server.urls[chat % count], body, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    return phase


async def per_step(
    http: aiohttp.ClientSession, server: Server, updates: Updates, chats: int, clients: int
) -> list[dict[str, Any]]:
    """The script one step at a time for `chats` new chats (all of them at its first update,
    then all at its second, …), `clients` requests at once: the web processes' CPU a turn at
    each step. An open loop plays the script step by step too, so a step that costs more than
    the others is where its slow spells come from."""
    fresh = updates.new_chats(chats)
    places = asyncio.Semaphore(clients)
    count = len(server.urls)

    async def one(chat: int, step: Step, phase: Phase) -> None:
        async with places:
            await post(http, server.urls[chat % count], updates.body(chat, step), phase)

    rows: list[dict[str, Any]] = []
    for number, step in enumerate(updates.steps, 1):
        phase = Phase(server.name, f"step {number}")
        before, started = server_cpu(server), time.perf_counter()
        await asyncio.gather(*(one(chat, step, phase) for chat in fresh))
        spent, wall = server_cpu(server) - before, time.perf_counter() - started
        rows.append(
            {
                "step": number,
                "update": step.text if step.text is not None else f"press {step.data}",
                "turns_per_s": round(chats / wall),
                "server_cpu_ms_per_turn": _per_turn(spent, chats),
                "errors": sum(phase.errors.values()),
            }
        )
    return rows


# --- main -------------------------------------------------------------------------------------


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| server | phase | turns/s | p50 ms | p99 ms | max ms | errors (dropped) | 503s "
        "delivered again | server CPU "
        "ms/turn | PostgreSQL CPU ms/turn | Redis CPU ms/turn | generator CPU ms/request | "
        "fake Bot API CPU ms/turn | load avg (1 min) before → after | machine CPU busy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['server']} | {row['phase']} | {row['turns_per_s']:,.0f} | {row['p50_ms']} "
            f"| {row['p99_ms']} | {row['max_ms']} | {row['errors']} ({row['dropped']}) | "
            f"{row['redelivered']} | {row['server_cpu_ms_per_turn']} | "
            f"{_or_dash(row['database_cpu_ms_per_turn'])} | "
            f"{_or_dash(row['redis_cpu_ms_per_turn'])} | "
            f"{row['generator_cpu_ms_per_request']} | "
            f"{_or_dash(row['fake_bot_api_cpu_ms_per_turn'])} | "
            f"{row['loadavg_before'][0]} → {row['loadavg_after'][0]} "
            f"| {row['machine_cpu_busy']:.0%} |"
        )
    return "\n".join(lines)


def _or_dash(value: float | None) -> str:
    return "–" if value is None else str(value)


async def fresh_database_and_redis(server_url: str, database: str, redis_url: str) -> str:
    """Create the scratch database `database` anew on the server and empty the Redis db; the
    scratch database's URL."""
    from redis.asyncio import Redis

    url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
    await execute(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    await execute(server_url, f'CREATE DATABASE "{database}"')
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    return url


def production_env(
    url: str,
    redis_url: str,
    fake_url: str,
    log_level: str,
    name: str,
    *,
    token: str = TOKEN,
    secret: str = SECRET,
) -> tuple[dict[str, str], dict[str, str]]:
    """This process's environment without any CAMTAY_ setting, and camtay's production settings
    on top of it: the scratch database, Redis, the fake Bot API, no embedded worker."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CAMTAY_")}
    return base_env, base_env | {
        "CAMTAY_ENVIRONMENT": "production",
        "CAMTAY_DATABASE_URL": url,
        "CAMTAY_REDIS_URL": redis_url,
        "CAMTAY_PUBLIC_URL": "https://camtay.bench.vn",
        "CAMTAY_SECRET_KEY": f"{name}-bench-" + "k7Q2" * 8,
        "CAMTAY_TELEGRAM_TOKEN": token,
        "CAMTAY_TELEGRAM_WEBHOOK_SECRET": secret,
        "CAMTAY_TELEGRAM_API_URL": fake_url,
        "CAMTAY_EMBEDDED_WORKER": "false",
        "CAMTAY_REPORT_REFRESH_SECONDS": "0",
        "CAMTAY_LOG_FORMAT": "json",
        "CAMTAY_LOG_LEVEL": log_level.upper(),
    }


async def bench(args: argparse.Namespace, home: Path) -> int:
    server_url = args.postgres
    url = await fresh_database_and_redis(server_url, args.database, args.redis)
    dsn = asyncpg_dsn(url)
    fake = start_fake()
    servers: list[Server] = []
    results: dict[str, Any] = {}
    try:
        assert fake.stdout is not None
        fake_url = fake.stdout.readline().strip()
        base_env, env = production_env(url, args.redis, fake_url, args.log_level, "load")
        if args.turns_in_progress is not None:
            env["CAMTAY_TELEGRAM_TURNS_IN_PROGRESS"] = str(args.turns_in_progress)
        migrate(env)
        camtay = start_server("camtay", args.web_processes, env, dsn, args.log_level, home)
        camtay.fake_pid = fake.pid
        servers.append(camtay)
        baseline: Server | None = None
        if not args.skip_baseline:
            baseline = start_server(
                "baseline", args.web_processes, base_env, dsn, args.log_level, home
            )
            servers.append(baseline)
        services = Services(make_url(url).port or 5432, urlsplit(args.redis).port or 6379)
        for server in servers:
            server.services = services
        for server in servers:
            await wait_up(server)
        script = SCRIPT + LESSON if args.lesson else SCRIPT
        steps = await probe(camtay.urls[0], url, script)
        updates = Updates(steps, first_update=2_000_000)
        print(f"probe: {len(steps)} updates per learner; load average {load_avg()}", flush=True)

        # uvicorn closes idle keep-alive connections after 5 s: expire ours first.
        connector = aiohttp.TCPConnector(limit=2000, keepalive_timeout=3)
        phases: list[Phase] = []
        rss: dict[str, Any] = {}
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as http:
            for server in servers:  # warm-up: imports, pools, caches, JIT-less but warm
                warm = Phase(server.name, "warm-up")
                await closed_loop(http, server, updates, warm, 16, args.warmup)
                if warm.errors:
                    print(f"warm-up errors on {server.name}: {dict(warm.errors)}", flush=True)
                rss[server.name] = {"after_warmup": server.rss()}
            idle: dict[str, float] = {}
            if args.idle > 0:  # all of them at once: none of them is sent anything meanwhile
                before = {server.name: server_cpu(server) for server in servers}
                started = time.perf_counter()
                await asyncio.sleep(args.idle)
                spent = time.perf_counter() - started
                for server in servers:
                    used = server_cpu(server) - before[server.name]
                    idle[server.name] = round(used / spent / len(server.processes) * 100, 2)

            steps_cost: list[dict[str, Any]] = []
            if args.per_step:
                steps_cost = await per_step(http, camtay, updates, args.per_step, args.concurrency)
                print(json.dumps({"per_step": steps_cost}), flush=True)

            def spy_on(server: Server, output: Path | None) -> subprocess.Popen[bytes] | None:
                """py-spy on camtay's first web process for one phase, when asked for."""
                if output is None or server.kind != "camtay":
                    return None
                return py_spy(server.processes[0].pid, args.duration, output)

            for server in servers:
                phase = Phase(server.name, f"closed loop, {args.concurrency} clients")
                spy = spy_on(server, args.py_spy)
                await closed_loop(http, server, updates, phase, args.concurrency, args.duration)
                if spy is not None:
                    spy.wait(30)
                    print(f"py-spy: wrote {args.py_spy}", flush=True)
                phases.append(phase)
                print(json.dumps(phase.summary()), flush=True)
            sustained: dict[str, float | None] = {}
            closed_rate = {phase.server: phase.summary()["turns_per_s"] for phase in phases}

            async def open_phase(server: Server, rate: float) -> bool:
                """One open-loop phase at `rate`; whether the server sustained it. The backlog
                drains for 3 s after a phase that was not sustained."""
                phase = Phase(server.name, f"open loop, {rate:g}/s", offered_rate=rate)
                output = args.py_spy
                spy = spy_on(
                    server, output and output.with_name(f"{output.stem}-{rate:g}{output.suffix}")
                )
                await open_loop(
                    http, server, updates, phase, rate, args.duration, args.max_in_flight
                )
                if spy is not None:
                    spy.wait(30)
                phases.append(phase)
                print(json.dumps(phase.summary()), flush=True)
                if phase.sustained():
                    sustained[server.name] = max(rate, sustained[server.name] or 0)
                    return True
                await asyncio.sleep(3)
                return False

            for server in [] if args.closed_only else servers:
                sustained[server.name] = None
                if args.open_rates:  # each given rate once
                    for rate in args.open_rates:
                        await open_phase(server, rate)
                    continue
                rate = args.rate
                for _attempt in range(5):  # down from --rate until one is sustained
                    if await open_phase(server, rate):
                        break
                    # Next: 80 % of the lower of this rate and the closed-loop maximum.
                    lower = min(rate, closed_rate.get(server.name) or rate) * 0.8
                    rate = float(int(lower / 5) * 5) if lower >= 10 else round(lower, 1)
            for server in servers:
                rss[server.name]["end"] = server.rss()

        rows = [phase.summary() for phase in phases]
        results = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "loadavg_end": load_avg(),
            },
            "options": {
                key: str(value) if isinstance(value, Path) else value
                for key, value in vars(args).items()
                if key != "serve_fake"
            },
            "script": list(script),
            "phases": rows,
            "rss_mb": rss,
            "sustained_rate": sustained,
            "idle_cpu_percent": idle,
            "per_step": steps_cost,
        }
        closed = {row["server"]: row for row in rows if row["phase"].startswith("closed")}
        if "baseline" in closed and closed["baseline"]["turns_per_s"]:
            results["camtay_share_of_baseline"] = round(
                closed["camtay"]["turns_per_s"] / closed["baseline"]["turns_per_s"], 3
            )
        async with contextlib.AsyncExitStack():
            connection = await asyncpg.connect(dsn)
            try:
                results["rows"] = {
                    "processed_updates": await connection.fetchval(
                        "SELECT count(*) FROM processed_updates"
                    ),
                    "outbox": await connection.fetchval("SELECT count(*) FROM outbox"),
                    "baseline_dedup": await connection.fetchval(
                        "SELECT count(*) FROM baseline_dedup"
                    )
                    if baseline is not None
                    else 0,
                }
            finally:
                await connection.close()
        print()
        print(
            f"## bench_load: {args.web_processes} web process(es), {os.cpu_count()} CPUs, "
            f"closed loop {args.concurrency} clients × {args.duration:g} s, open loop "
            f"{args.duration:g} s"
        )
        print()
        print(markdown(rows))
        print()
        for row in rows:
            if spells := row["slow_spells_s"]:
                shown = ", ".join(f"{start:g}–{end:g} s" for start, end in spells)
                print(
                    f"{row['server']}, {row['phase']}: median over {SLOW_MS:g} ms in "
                    f"{sum(end - start for start, end in spells):g} s of "
                    f"{row['wall_s']:g} ({shown})"
                )
        if steps_cost:
            print(f"camtay, the script one step at a time for {args.per_step} chats:")
            print()
            print("| step | update | turns/s | web CPU ms a turn | errors |")
            print("|---:|---|---:|---:|---:|")
            for row in steps_cost:
                print(
                    f"| {row['step']} | {row['update'][:40]} | {row['turns_per_s']} | "
                    f"{row['server_cpu_ms_per_turn']} | {row['errors']} |"
                )
            print()
        for name, sizes in rss.items():
            warm_rss = ", ".join(f"{r.get('VmRSS', 0):.0f}" for r in sizes["after_warmup"])
            end_rss = ", ".join(
                f"{r.get('VmRSS', 0):.0f} (peak {r.get('VmHWM', 0):.0f})" for r in sizes["end"]
            )
            print(f"RSS MB, {name}: after warm-up {warm_rss}; at the end {end_rss}")
        if "camtay_share_of_baseline" in results:
            share = results["camtay_share_of_baseline"]
            print(f"camtay closed-loop throughput / baseline: {share:.0%}")
        print(f"highest sustained open-loop rate tried: {sustained}")
        if idle:
            print(f"CPU while idle, % of a core per process: {idle}")
        print(f"load average at the end: {load_avg()}")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.output}")
        failed = sum(row["errors"] for row in rows + steps_cost)
        return 1 if failed else 0
    finally:
        for server in servers:
            server.stop()
        stop_fake(fake)
        await execute(server_url, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


def stop_fake(fake: subprocess.Popen[str]) -> None:
    """Stop the fake Bot API server: end its input, then wait, then kill."""
    if fake.stdin is not None:
        fake.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        fake.wait(10)
    if fake.poll() is None:
        fake.kill()


def run_in_home(
    run: Callable[[argparse.Namespace, Path], Coroutine[Any, Any, int]],
    args: argparse.Namespace,
    prefix: str,
) -> int:
    """Run a benchmark in a scratch folder (or `--logs`), showing its logs' ends if it fails."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        home = Path(tmp)
        if args.logs is not None:
            home = args.logs
            home.mkdir(parents=True, exist_ok=True)
        try:
            import uvloop  # the generator's loop: cheaper per request, more CPU for the servers

            return uvloop.run(run(args, home))
        except BaseException:
            for log in sorted(home.glob("*.log")):
                print(f"--- {log.name} (last lines)", file=sys.stderr)
                print(
                    "\n".join(log.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr
                )
            raise


def main() -> int:
    args = parse_args()
    if args.serve_fake:
        serve_fake()
        return 0
    return run_in_home(bench, args, "camtay-load-")


if __name__ == "__main__":
    sys.exit(main())
