"""Broadcast: 100,000 learners through `camtay worker` at the real rates, with learners active.

On 127.0.0.1 only, as subprocesses (like bench/soak.py and bench/bench_load.py):

- a scratch PostgreSQL database (`camtay_bench_broadcast`, created, migrated with
  `camtay db upgrade`, dropped) seeded by COPY with `--learners` reachable Telegram accounts;
- Redis db 13 (emptied first);
- a fake Telegram Bot API (tests/fakes/telegram.py) recording the time it received each call;
- one `camtay serve` (CAMTAY_ENVIRONMENT=production, no embedded worker) and one
  `camtay worker` with the REAL default rates: 30 messages/s per bot, 1/s per chat (burst 3).

An admin token is made with `camtay admin create-token`; the broadcast is made and sent through
the admin API (`POST /admin/api/v1/broadcasts`, `…/{id}/send`), so queueing is the real code
path (admin/broadcasts.py, 1,000 people per batch). While the worker sends it, `--active`
learners post Telegram updates (/start, /menu, /lang, …) to the web process every
`--active-interval` s on average. They are recipients too, as in life: each sends /start before
the broadcast is made, so its message is queued ahead of their replies (`--active-outside`:
they start later, and none is a recipient). From the fake's received-times: mean sends/s
over the run, the most sends in any 1-second window (the limit is 30), each chat's most in any
second, and each active learner's wait from posting an update to receiving the first and the
last reply of that turn (goal: ≤ 2 s).

    .venv/bin/python bench/bench_broadcast.py --learners 6000     # about 4 minutes
    .venv/bin/python bench/bench_broadcast.py                     # 100,000: about 56 minutes

Prints a markdown table and writes bench/results/broadcast.json.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import gc
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

THIS = Path(__file__).resolve()
ROOT = THIS.parent.parent
for folder in (ROOT, THIS.parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # tests.fakes is not installed with the package

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from bench_load import (  # noqa: E402
    cpu_seconds,
    free_port,
    fresh_database_and_redis,
    load_avg,
    percentile,
    production_env,
    rss_mb,
    run_in_home,
    server_arguments,
    stop_fake,
)

from bot.store.scratch import asyncpg_dsn, execute  # noqa: E402

PYTHON = sys.executable
TOKEN = "123456:BROADCAST-bench-token"  # noqa: S105 -- the fake Bot API's, nothing real
SECRET = "broadcast_bench_secret-0123456789"  # noqa: S105 -- only these processes check it
HOOK_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
API = "/admin/api/v1"
SEND_METHODS = frozenset({"sendmessage", "sendphoto"})
FIRST_RECIPIENT = 700_000_000
FIRST_ACTIVE = 900_000_000
ACTIVE_SCRIPT = ("/start", "/menu", "/lang", "/menu", "/start", "/lang")
RESULTS = ROOT / "bench" / "results"


def parse_args() -> argparse.Namespace:
    parser = server_arguments(__doc__.split("\n", 1)[0], "camtay_bench_broadcast")
    parser.add_argument("--learners", type=int, default=100_000, help="recipients to seed")
    parser.add_argument("--active", type=int, default=50, help="learners chatting meanwhile")
    parser.add_argument(
        "--active-interval", type=float, default=10.0, help="mean s between an active's updates"
    )
    parser.add_argument(
        "--active-outside",
        action="store_true",
        help="the active learners start after the broadcast is queued, so none is a recipient",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "broadcast.json")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    parser.add_argument(
        "--calls", type=Path, help="also write each send's (received time, chat) to this file"
    )
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def serve_fake() -> None:
    """The fake Bot API with GET /bench/calls (method, chat, received time, ok) for the bench."""
    from aiohttp import web

    from tests.fakes.telegram import FakeTelegram

    class Recording(FakeTelegram):
        def routes(self, app: web.Application) -> None:
            app.router.add_get("/bench/calls", self._calls)
            super().routes(app)

        async def _calls(self, request: web.Request) -> web.Response:
            since = int(request.query.get("since", "0"))
            rows = [
                [call.method.lower(), call.chat_id, call.at, call.ok] for call in self.calls[since:]
            ]
            return web.json_response({"calls": rows, "total": len(self.calls)})

    async def keep_out_of_gc() -> None:
        # The recorded calls only grow (130,000 at the end of a 100,000 run), and a full
        # collection walked them all: about 0.2 s in which no request was read, after which
        # the waiting ones were all recorded at once: up to 41 "arrivals" in one second from a
        # worker that sent at most 29. Frozen, they are left out of every collection.
        while True:
            await asyncio.sleep(2)
            gc.freeze()

    async def main() -> None:
        async with Recording(TOKEN) as fake:
            print(fake.base_url, flush=True)
            freezing = asyncio.create_task(keep_out_of_gc())
            await asyncio.to_thread(sys.stdin.read)
            freezing.cancel()

    asyncio.run(main())


def start_fake() -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 -- this very script
        [PYTHON, str(THIS), "--serve-fake"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def camtay(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 -- camtay itself
        [PYTHON, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def camtay_output(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 -- camtay itself
        [PYTHON, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def seed(dsn: str, learners: int) -> float:
    """`learners` reachable Telegram accounts, one person each, by COPY; seconds taken."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    connection = await asyncpg.connect(dsn)
    try:
        records = (
            (
                "telegram",
                str(FIRST_RECIPIENT + index),
                "en" if index % 10 == 0 else "vi",
                now - timedelta(days=30),
                now - timedelta(days=index % 30),
            )
            for index in range(learners)
        )
        await connection.copy_records_to_table(
            "learners",
            records=records,
            columns=["channel", "external_id", "locale", "created_at", "last_active_at"],
        )
        await connection.execute("ANALYZE learners")
    finally:
        await connection.close()
    return time.perf_counter() - started


@dataclass
class Post:
    chat: int
    at: float
    """time.monotonic() when the update was posted (the fake's clock is the same)."""
    status: int = 0


@dataclass
class Active:
    """Learners chatting with the bot while the broadcast goes out."""

    url: str
    count: int
    interval: float
    rng: random.Random
    posts: list[Post] = field(default_factory=list)
    next_update: int = 5_000_000

    async def start_all(self, http: httpx.AsyncClient) -> None:
        """Each learner's first /start, before the broadcast: they are in its segment."""
        from tests.fakes import updates

        for index in range(self.count):
            self.next_update += 1
            body = updates.text_message(self.next_update, FIRST_ACTIVE + index, "/start")
            response = await http.post(self.url, json=body, headers=HOOK_HEADERS)
            assert response.status_code == 200, response.text

    async def learner(self, http: httpx.AsyncClient, index: int, stop: asyncio.Event) -> None:
        from tests.fakes import updates

        chat = FIRST_ACTIVE + index
        # Spread the learners' first updates over one interval.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.rng.uniform(0, self.interval))
        step = 0
        while not stop.is_set():
            self.next_update += 1
            body = updates.text_message(
                self.next_update, chat, ACTIVE_SCRIPT[step % len(ACTIVE_SCRIPT)]
            )
            post = Post(chat, time.monotonic())
            try:
                response = await http.post(self.url, json=body, headers=HOOK_HEADERS)
                post.status = response.status_code
            except httpx.HTTPError:
                post.status = -1
            self.posts.append(post)
            step += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(0.5, 1.5) * self.interval)


def most_in_window(times: list[float], seconds: float = 1.0) -> int:
    best = 0
    for index, start in enumerate(times):
        best = max(best, bisect.bisect_left(times, start + seconds, lo=index) - index)
    return best


def reply_delays(posts: list[Post], sends: dict[int, list[float]]) -> tuple[list[float], ...]:
    """For each post: the delay to the first and to the last send to its chat before the
    chat's next post (the turn's replies); and the posts whose replies never came."""
    by_chat: dict[int, list[Post]] = {}
    for post in posts:
        by_chat.setdefault(post.chat, []).append(post)
    first, last, missing = [], [], []
    for chat, chat_posts in by_chat.items():
        times = sends.get(chat, [])
        for number, post in enumerate(chat_posts):
            until = chat_posts[number + 1].at if number + 1 < len(chat_posts) else float("inf")
            mine = [t for t in times if post.at <= t < until]
            if not mine:
                missing.append(post.at)
                continue
            first.append(mine[0] - post.at)
            last.append(mine[-1] - post.at)
    return sorted(first), sorted(last), missing


async def count_pending(dsn: str, broadcast_id: int) -> tuple[int, int, str]:
    connection = await asyncpg.connect(dsn)
    try:
        pending = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE status = 'pending' AND broadcast_id = $1",
            broadcast_id,
        )
        sent = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE status = 'sent' AND broadcast_id = $1",
            broadcast_id,
        )
        status = await connection.fetchval(
            "SELECT status FROM broadcasts WHERE id = $1", broadcast_id
        )
        return int(pending), int(sent), str(status)
    finally:
        await connection.close()


async def bench(args: argparse.Namespace, home: Path) -> int:
    server_url = args.postgres
    url = await fresh_database_and_redis(server_url, args.database, args.redis)
    dsn = asyncpg_dsn(url)
    fake = start_fake()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        assert fake.stdout is not None
        fake_url = fake.stdout.readline().strip()
        _, env = production_env(
            url, args.redis, fake_url, "WARNING", "broadcast", token=TOKEN, secret=SECRET
        )
        env |= {
            # The real default rates, stated so that no .env can change them.
            "CAMTAY_TELEGRAM_PER_BOT_RATE": "30",
            "CAMTAY_TELEGRAM_PER_CHAT_RATE": "1",
            "CAMTAY_TELEGRAM_PER_CHAT_BURST": "3",
        }
        camtay_output(["db", "upgrade"], env)
        seeded = await seed(dsn, args.learners)
        print(f"seeded {args.learners:,} learners in {seeded:.1f} s", flush=True)
        token = camtay_output(["admin", "create-token", "--role", "admin", "--name", "bench"], env)
        token = token.strip().splitlines()[0]
        port = free_port()
        web = camtay(["serve", "--host", "127.0.0.1", "--port", str(port)], env, home / "web.log")
        processes.append(web)
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                assert web.poll() is None, (home / "web.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "camtay serve did not come up"
                await asyncio.sleep(0.3)
            active = Active(
                f"{base}/webhook/telegram", args.active, args.active_interval, random.Random(7)
            )
            if not args.active_outside:  # as in life, they are recipients too
                await active.start_all(http)
            preview = await http.post(f"{API}/broadcasts/preview", json={}, headers=auth)
            assert preview.status_code == 200, preview.text
            recipients = preview.json()["recipients"]
            expected = args.learners + (0 if args.active_outside else args.active)
            assert recipients == expected, preview.text
            created = await http.post(
                f"{API}/broadcasts",
                json={"text_vi": "Bài học mới đã có!", "text_en": "A new lesson is out!"},
                headers=auth,
            )
            assert created.status_code == 201, created.text
            broadcast_id = created.json()["id"]

            worker = camtay(["worker"], env, home / "worker.log")
            processes.append(worker)
            await asyncio.sleep(8)  # the worker's imports; it then polls the outbox
            assert worker.poll() is None, (home / "worker.log").read_text()[-2000:]

            load_start = load_avg()
            cpu_start = {p.pid: cpu_seconds(p.pid) for p in processes}
            sent_at = time.monotonic()
            queued = await http.post(f"{API}/broadcasts/{broadcast_id}/send", headers=auth)
            assert queued.status_code == 200, queued.text
            queue_answer = time.monotonic() - sent_at

            quiet = asyncio.Event()
            chatting = [
                asyncio.create_task(active.learner(http, index, quiet))
                for index in range(args.active)
            ]
            loads: list[list[float]] = []
            rss: dict[str, list[float]] = {"web": [], "worker": []}
            queued_all_at: float | None = None
            while True:
                await asyncio.sleep(15)
                pending, sent, status = await count_pending(dsn, broadcast_id)
                loads.append(load_avg())
                rss["web"].append(rss_mb(web.pid).get("VmRSS", 0.0))
                rss["worker"].append(rss_mb(worker.pid).get("VmRSS", 0.0))
                if status == "queued" and queued_all_at is None:
                    queued_all_at = time.monotonic() - sent_at
                elapsed = time.monotonic() - sent_at
                print(
                    f"  … {elapsed:5.0f} s: {sent:,} sent ({sent / elapsed:.1f}/s), {pending:,} "
                    f"pending, broadcast {status}, {len(active.posts)} active updates, "
                    f"load {loads[-1]}",
                    flush=True,
                )
                # The active learners stop when about 20 s of the broadcast is left.
                if status == "queued" and pending < 600 and not quiet.is_set():
                    quiet.set()
                if status == "queued" and pending == 0:
                    break
                assert worker.poll() is None, (home / "worker.log").read_text()[-2000:]
            quiet.set()
            await asyncio.gather(*chatting)
            await asyncio.sleep(5)  # the last active learners' replies
            finished = time.monotonic()
            cpu = {p.pid: cpu_seconds(p.pid) - cpu_start[p.pid] for p in processes}
            calls: list[list[Any]] = (await http.get(f"{fake_url}/bench/calls")).json()["calls"]

        sends = sorted(
            (at, chat) for method, chat, at, ok in calls if ok and method in SEND_METHODS
        )
        times = [at for at, _chat in sends if at >= sent_at]
        by_chat: dict[int, list[float]] = {}
        for at, chat in sends:
            by_chat.setdefault(chat, []).append(at)
        broadcast_times = [
            at for at, chat in sends if FIRST_RECIPIENT <= chat < FIRST_RECIPIENT + args.learners
        ]
        span = broadcast_times[-1] - broadcast_times[0]
        in_span = [t for t in times if broadcast_times[0] <= t <= broadcast_times[-1]]
        first, last, missing = reply_delays(active.posts, by_chat)
        per_chat_max = max(
            (most_in_window(chat_times) for chat_times in by_chat.values()), default=0
        )
        failed_posts = sum(1 for post in active.posts if post.status != 200)
        summary: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "learners": args.learners,
            "active_learners": args.active,
            "active_interval_s": args.active_interval,
            "rates": {"per_bot": 30, "per_chat": 1, "burst": 3},
            "seed_s": round(seeded, 1),
            "send_request_s": round(queue_answer, 2),
            "queued_all_after_s": round(queued_all_at, 1) if queued_all_at else None,
            "broadcast_sends": len(broadcast_times),
            "reply_sends": len(times) - len(broadcast_times),
            "span_s": round(span, 1),
            "mean_sends_per_s": round(len(in_span) / span, 2) if span else None,
            "max_sends_in_1s": most_in_window(times),
            "max_sends_in_1s_one_chat": per_chat_max,
            "active_updates": len(active.posts),
            "active_failed_posts": failed_posts,
            "reply_first_s": {
                "p50": round(percentile(first, 0.5), 3),
                "p99": round(percentile(first, 0.99), 3),
                "max": round(first[-1], 3) if first else None,
            },
            "reply_last_s": {
                "p50": round(percentile(last, 0.5), 3),
                "p99": round(percentile(last, 0.99), 3),
                "max": round(last[-1], 3) if last else None,
            },
            "updates_without_reply": len(missing),
            "loadavg": {"start": load_start, "during": loads, "end": load_avg()},
            "cpu_s": {"web": round(cpu[web.pid], 1), "worker": round(cpu[worker.pid], 1)},
            "rss_mb": {name: [round(v) for v in values] for name, values in rss.items()},
            "wall_s": round(finished - sent_at, 1),
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(summary, indent=2) + "\n")
        if args.calls:
            rows = [[round(at - sent_at, 4), chat] for at, chat in sends if at >= sent_at]
            args.calls.write_text(json.dumps({"sends": rows}) + "\n")
        during = [row[0] for row in loads]
        print()
        print(f"## bench_broadcast: {args.learners:,} learners, {args.active} active")
        print()
        print("| measure | figure | goal |")
        print("|---|---:|---|")
        print(f"| broadcast messages sent | {len(broadcast_times):,} in {span:.0f} s | |")
        print(f"| mean sends/s (broadcast + replies) | {summary['mean_sends_per_s']} | ≥ 28.5 |")
        print(f"| most sends in any 1 s window | {summary['max_sends_in_1s']} | ≤ 30 |")
        print(f"| most sends to one chat in any 1 s | {per_chat_max} | burst 3, then 1/s |")
        print(
            f"| active learners' updates (failed) | {len(active.posts)} ({failed_posts}), "
            f"{summary['reply_sends']} replies sent | |"
        )
        reply = summary["reply_first_s"]
        print(
            f"| update → first reply, p50 / p99 / max s | {reply['p50']} / {reply['p99']} / "
            f"{reply['max']} | ≤ 2 |"
        )
        reply = summary["reply_last_s"]
        print(
            f"| update → last reply of the turn, p50 / p99 / max s | {reply['p50']} / "
            f"{reply['p99']} / {reply['max']} | |"
        )
        print(f"| updates with no reply | {len(missing)} | 0 |")
        print(
            f"| queueing: send request answered / all queued after | {queue_answer:.2f} s / "
            f"{summary['queued_all_after_s']} s | |"
        )
        print(
            f"| CPU s: web / worker | {summary['cpu_s']['web']} / {summary['cpu_s']['worker']} | |"
        )
        print(f"| RSS MB, web / worker (max) | {max(rss['web'])} / {max(rss['worker'])} | |")
        print(f"| load average (1 min) during: min / max | {min(during)} / {max(during)} | |")
        print()
        print(f"wrote {args.output}")
        ok = (
            summary["mean_sends_per_s"] is not None
            and summary["max_sends_in_1s"] <= 30
            and not missing
            and not failed_posts
        )
        return 0 if ok else 1
    finally:
        for process in reversed(processes):
            stop(process)
        stop_fake(fake)
        await execute(server_url, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


def main() -> int:
    args = parse_args()
    if args.serve_fake:
        serve_fake()
        return 0
    return run_in_home(bench, args, "camtay-broadcast-")


if __name__ == "__main__":
    sys.exit(main())
