"""Soak: 2 web processes and 2 workers on PostgreSQL and Redis, killed at random, one Redis restart.

`make soak` runs it (CI runs it after `make test`). On 127.0.0.1 only:

- a PostgreSQL database `camtay_soak` on the test server, created and dropped;
- a Redis of its own (`redis-server` on a free port, no persistence), restarted once mid-run;
- a fake Telegram Bot API (tests/fakes/telegram.py) in a child process, counting every send;
- 2 × `camtay serve` (CAMTAY_EMBEDDED_WORKER=false) and 2 × `camtay worker`, forked from one
  parent that imported camtay and parsed the lessons once (importing aiogram alone costs some
  8 s of CPU: a restart every few seconds would otherwise spend the machine on imports), and
  SIGKILLed, one at a time, every few seconds;
- a load generator posting 20,000 webhook updates from 2,000 learners (10 each, the script of
  bench_telegram.py), each learner's in order; an update whose request fails (its process was
  killed, Redis is restarting, the learner's lock is busy) is posted again, as Telegram would;
  about half of the updates are delivered once or twice more: at the same time, right after,
  or after later updates of the same learner (out of order).

Afterwards, from the database and the fake server's counts: every update applied exactly once
(its dedup row, and every learner's replies, events and state equal to a reference learner
played alone), no outbox row left unsent, every reply sent, every learner's state valid, and
no request answered 500 (while Redis restarts, updates get 503 and come again: bot/outages.py).
A reply can go out twice only when a worker dies between Telegram accepting it and the commit
that marks it sent (Telegram's sendMessage has no idempotency key): those are counted and
explained, never hidden, and allowed only up to the number of sends in flight at the kills.
Exit status 0 when every check passes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.fakes is not installed with the package

from tests.served import OwnRedis  # noqa: E402

PYTHON = sys.executable
TOKEN = "123456:SOAK-token"  # noqa: S105 -- the fake Bot API's, nothing real
SECRET = "soak_secret-0123456789"  # noqa: S105 -- only the soak's processes check it
WEBHOOK = "/webhook/telegram"
HOOK_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
OUTCOME_HEADER = "X-Camtay-Outcome"  # webhook/telegram.py's, without importing the app here
SEND_METHODS = ("sendmessage", "sendphoto")
FIRST_CHAT = 1_000_000
STABLE_STATE = (
    "locale",
    "locale_chosen",
    "screen",
    "prompt",
    "position",
    "module_id",
    "last_finished",
    "completed",
    "bookmarks",
    "checks",
    "recommended",
    "together",
)
"""The state's fields that depend only on the inputs (not on the clock) and so must equal the
reference learner's."""
HERE = str(Path(__file__).resolve().parent)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CAMTAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="a database URL on the PostgreSQL server to use (camtay_soak is made beside it)",
    )
    parser.add_argument("--database", default="camtay_soak", help="the database to create")
    parser.add_argument("--redis-port", type=int, default=6390, help="the soak's own Redis")
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=96, help="learners posting at once")
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between kills")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--zygote", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def free_port(preferred: int = 0) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise RuntimeError("no free port")


# --- child processes: the fake Bot API, and the parent camtay processes are forked from -----


def serve_fake() -> None:
    """The fake Bot API in this process; prints its URL, then serves until stdin closes."""
    from aiohttp import web

    from tests.fakes.telegram import FakeTelegram

    class CountingFake(FakeTelegram):
        def routes(self, app: web.Application) -> None:
            app.router.add_get("/soak/sends", self._sends)
            super().routes(app)

        async def _sends(self, request: web.Request) -> web.Response:
            sends = [
                [
                    call.chat_id,
                    call.method.lower(),
                    call.params.get("text") or call.params.get("caption") or "",
                ]
                for call in self.calls
                if call.ok and call.method.lower() in SEND_METHODS
            ]
            methods = Counter(call.method.lower() for call in self.calls)
            return web.json_response({"sends": sends, "methods": methods})

    async def main() -> None:
        async with CountingFake(TOKEN) as fake:
            print(fake.base_url, flush=True)
            await asyncio.to_thread(sys.stdin.read)  # until the parent closes the pipe

    asyncio.run(main())


def zygote() -> None:
    """Import camtay once, then fork a `camtay serve` or `camtay worker` per line on stdin."""
    import uvicorn

    import admin.background
    import bot.channels.telegram
    import bot.cli
    import bot.wiring
    import bot.worker
    import webhook.app
    from bot.content import load_catalog

    preloaded = (admin.background, bot.channels.telegram, bot.worker, uvicorn, webhook.app)
    assert all(preloaded)
    # The lesson library is parsed once here too (some 2 s of CPU a start otherwise): what a
    # restart then costs is the process's own start-up (database, Redis, the app), not parsing.
    catalog = load_catalog()
    bot.wiring.load_catalog = lambda *_args, **_kwargs: catalog  # type: ignore[attr-defined]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they end
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code: Any = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.chdir(request["home"])
                os.environ.clear()
                os.environ.update(request["env"])
                bot.cli.app(request["args"], prog_name="camtay")
                code = 0
            except SystemExit as end:
                code = end.code
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code if isinstance(code, int) else 1)
        print(json.dumps({"pid": pid}), flush=True)


def start_fake() -> subprocess.Popen[str]:
    """The fake Bot API in a child process; its first line on stdout is its URL."""
    return subprocess.Popen(  # noqa: S603 -- this very script
        [PYTHON, "-m", "bench.soak", "--serve-fake"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


class Zygote:
    def __init__(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 -- this very script
            [PYTHON, "-m", "bench.soak", "--zygote"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def spawn(self, args: list[str], env: dict[str, str], home: Path, log: Path) -> int:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        request = {"args": args, "env": env, "home": str(home), "log": str(log)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        pid: int = json.loads(self.process.stdout.readline())["pid"]
        return pid

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Camtay:
    """One camtay process (web or worker), restarted as often as it is killed."""

    name: str
    args: list[str]
    zygote: Zygote
    env: dict[str, str]
    home: Path
    pid: int = 0
    kills: int = 0

    def start(self) -> None:
        self.pid = self.zygote.spawn(self.args, self.env, self.home, self.home / f"{self.name}.log")

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.kills += 1
        while alive(self.pid):
            time.sleep(0.01)

    def stop(self) -> None:
        if alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)


# --- the reference learner ----------------------------------------------------------------


@dataclass
class Reference:
    """The script (each update's text or button) and what it gives a learner played alone."""

    steps: list[Any]
    replies: list[Any]
    events: list[tuple[str, str | None, str | None]]
    state: dict[str, Any]


async def reference(home: Path, fake_url: str) -> Reference:
    """Play bench_telegram's script once on a SQLite database in this process (no worker)."""
    import httpx

    sys.path.insert(0, HERE)  # a sibling script, not a package
    from bench_telegram import WebhookBench, bench_settings

    from bot.content import DEFAULT_LESSONS_DIR
    from bot.store.migrate import upgrade
    from bot.wiring import build
    from webhook.app import create_app

    database = home / "reference.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{database}")
    settings = bench_settings(database, fake_url, DEFAULT_LESSONS_DIR, None)
    runtime = build(settings)
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://soak.reference") as http,
        ):
            bench = WebhookBench(runtime, http, first_chat=1)
            await bench.probe()
            async with runtime.database.unit_of_work() as uow:
                learner = await uow.learners.get("telegram", "1")
                assert learner is not None
                events = [
                    (row.type, row.lesson_id, row.step_id)
                    for row in await uow.events.for_learner(learner.id)
                ]
                state = await uow.states.load(learner.id)
                assert state is not None
            return Reference(bench.steps, bench.expected, events, state)
    finally:
        await runtime.close()


def expected_calls(reply: Any) -> list[tuple[str, str]]:
    """The Bot API calls TelegramSender makes for one reply: (method, text or caption)."""
    from bot.channels.telegram import MAX_TEXT, caption_fits, qr_caption
    from bot.channels.text import split_text
    from bot.engine import PictureReply, QRReply

    def texts(text: str) -> list[tuple[str, str]]:
        return [("sendmessage", part) for part in split_text(text, MAX_TEXT)]

    if isinstance(reply, PictureReply):
        fits = caption_fits(reply.caption)
        calls = [("sendphoto", (reply.caption or "") if fits else "")]
        return calls + (texts(reply.caption) if reply.caption and not fits else [])
    if isinstance(reply, QRReply):
        caption = qr_caption(reply)
        long = not caption_fits(caption)
        calls = [("sendphoto", reply.data if long else caption)]
        return calls + (texts(reply.caption) if long and reply.caption else [])
    return texts(reply.text)


# --- the load -----------------------------------------------------------------------------


@dataclass
class Load:
    """Posts every learner's updates through the web processes, retrying failed requests."""

    urls: list[str]
    reference: Reference
    rng: random.Random
    http: Any
    delivered: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    turns: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    done: int = 0
    _next: int = 0

    def body(self, chat: int, update_id: int, step: Any) -> bytes:
        from tests.fakes import updates

        if step.text is not None:
            update = updates.text_message(update_id, chat, step.text)
        else:
            update = updates.callback_query(
                update_id,
                chat,
                step.data,
                message_id=update_id,
                message_text=step.message_text,
                buttons=step.buttons,
            )
        return json.dumps(update).encode()

    async def post(self, update_id: int, body: bytes) -> None:
        """Deliver one update until a web process acknowledges it (HTTP 200)."""
        import httpx

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            self._next += 1
            url = self.urls[self._next % len(self.urls)]
            try:
                response = await self.http.post(url + WEBHOOK, content=body, headers=HOOK_HEADERS)
            except httpx.TransportError as error:
                self.retries[type(error).__name__] += 1
                await asyncio.sleep(0.2)
                continue
            if response.status_code == 200:
                outcome = response.headers[OUTCOME_HEADER]
                self.outcomes[outcome] += 1
                if outcome == "turn":
                    self.turns[update_id] += 1
                return
            if response.status_code >= 500:
                self.retries[f"HTTP {response.status_code}"] += 1
                await asyncio.sleep(1.0 if response.status_code == 503 else 0.3)
                continue
            self.errors.append(f"update {update_id}: HTTP {response.status_code} {response.text}")
            return
        self.errors.append(f"update {update_id}: never acknowledged")

    async def learner(self, index: int) -> None:
        chat = FIRST_CHAT + index
        steps = self.reference.steps
        later: list[tuple[int, int, bytes]] = []  # (after which step, update id, body)

        async def flush(upto: int) -> None:
            for item in sorted(item for item in later if item[0] <= upto):
                later.remove(item)
                self.delivered["again, after later updates (out of order)"] += 1
                await self.post(item[1], item[2])

        for number, step in enumerate(steps):
            update_id = index * 100 + number + 1
            body = self.body(chat, update_id, step)
            extra = self.rng.choices((0, 1, 2), weights=(50, 32, 18))[0]
            kinds = [self.rng.choice(("together", "right after", "later")) for _ in range(extra)]
            together = kinds.count("together")
            self.delivered["first"] += 1
            self.delivered["again, at the same time"] += together
            await asyncio.gather(*(self.post(update_id, body) for _ in range(1 + together)))
            for kind in kinds:
                if kind == "right after":
                    self.delivered["again, right after"] += 1
                    await self.post(update_id, body)
                elif kind == "later":
                    later.append((number + self.rng.randint(1, 4), update_id, body))
            await flush(number)
        await flush(len(steps) + 10)
        self.done += 1


# --- the checks ---------------------------------------------------------------------------


@dataclass
class Verdicts:
    lines: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> None:
        self.lines.append((ok, text))

    @property
    def passed(self) -> bool:
        return all(ok for ok, _ in self.lines)


def align(expected: Sequence[tuple[str, str]], received: Sequence[tuple[str, str]]) -> Counter[str]:
    """Match one chat's received sends to its sent rows' calls, in order: what is extra and
    repeats a call just before it is a resend; anything else extra is unexplained."""
    counts: Counter[str] = Counter()
    position = 0
    for call in received:
        if position < len(expected) and call == expected[position]:
            position += 1
            counts["matched"] += 1
        elif call in expected[max(0, position - 8) : position]:
            counts["resent"] += 1
        else:
            counts["unexplained"] += 1
    counts["missing"] = len(expected) - position
    return counts


async def check(
    url: str, ref: Reference, learners: int, load: Load, sends: list[list[Any]], kills: int
) -> tuple[Verdicts, dict[str, Any]]:
    from sqlalchemy import func, select

    from bot.engine import State
    from bot.service import Outgoing
    from bot.store import Database
    from bot.store.models import (
        ConversationState,
        EventRecord,
        Learner,
        OutboxMessage,
        ProcessedUpdate,
    )

    verdicts = Verdicts()
    figures: dict[str, Any] = {}
    updates = {
        index * 100 + number + 1 for index in range(learners) for number in range(len(ref.steps))
    }
    database = Database(url)
    try:
        async with database.unit_of_work() as uow:
            session = uow.session
            claimed = [
                int(update_id)
                for update_id in await session.scalars(
                    select(ProcessedUpdate.update_id).where(ProcessedUpdate.channel == "telegram")
                )
            ]
            people = {
                row.id: int(row.external_id)
                for row in await session.scalars(
                    select(Learner).where(Learner.channel == "telegram")
                )
            }
            rows: dict[int, list[OutboxMessage]] = defaultdict(list)
            for row in await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
                rows[row.learner_id].append(row)
            events: dict[int, list[tuple[str, str | None, str | None]]] = defaultdict(list)
            for event in await session.scalars(select(EventRecord).order_by(EventRecord.id)):
                if event.learner_id is not None:
                    events[event.learner_id].append((event.type, event.lesson_id, event.step_id))
            states = {
                row.learner_id: row.state
                for row in await session.scalars(select(ConversationState))
            }
            grouped = await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            statuses: Counter[str] = Counter({status: int(n) for status, n in grouped.all()})
    finally:
        await database.dispose()

    figures["dedup rows"] = len(claimed)
    verdicts.check(
        sorted(claimed) == sorted(updates),
        f"every update applied, none twice: {len(claimed):,} dedup rows for {len(updates):,} "
        f"updates ({len(set(updates) - set(claimed))} missing, "
        f"{len(set(claimed) - set(updates))} unknown)",
    )
    twice = [update for update, count in load.turns.items() if count > 1]
    verdicts.check(
        not twice,
        f"no update answered as a new turn twice over HTTP ({len(twice)} were)",
    )
    failed = load.retries["HTTP 500"]
    verdicts.check(
        failed == 0,
        f"no update answered 500 ({failed} were): Redis's restart is answered 503 "
        f"({load.retries['HTTP 503']} were, with the learners' locks busy), a killed web "
        f"process drops its connections",
    )
    verdicts.check(
        sorted(people.values()) == [FIRST_CHAT + n for n in range(learners)],
        f"{len(people):,} learners, one per chat",
    )
    off_replies = [
        person
        for person in people
        if [Outgoing.from_row(row).reply for row in rows[person]] != ref.replies
    ]
    verdicts.check(
        not off_replies,
        f"every learner's replies equal the reference learner's ({len(ref.replies)} each; "
        f"{len(off_replies)} learners differ)",
    )
    off_events = [p for p in people if events[p] != ref.events]
    verdicts.check(
        not off_events,
        f"every learner's events equal the reference learner's ({len(ref.events)} each; "
        f"{len(off_events)} learners differ)",
    )
    invalid, off_state = 0, 0
    for person in people:
        try:
            state = State.model_validate(states[person])
        except Exception:  # any failure is what is being counted
            invalid += 1
            continue
        dumped = state.model_dump(mode="json")
        if any(dumped.get(key) != ref.state.get(key) for key in STABLE_STATE):
            off_state += 1
    verdicts.check(invalid == 0, f"every learner's state is valid ({invalid} invalid)")
    verdicts.check(
        off_state == 0, f"every learner's state equals the reference's ({off_state} differ)"
    )
    figures["outbox"] = dict(statuses)
    unsent = sum(count for status, count in statuses.items() if status != "sent")
    verdicts.check(unsent == 0, f"no outbox row left unsent ({dict(statuses)})")

    received: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for chat, method, text in sends:
        received[chat].append((method, text))
    totals: Counter[str] = Counter()
    for person, chat in people.items():
        calls = [
            call
            for row in rows[person]
            if row.status == "sent"
            for call in expected_calls(Outgoing.from_row(row).reply)
        ]
        totals["expected"] += len(calls)
        totals += align(calls, received.pop(chat, []))
    totals["to unknown chats"] = sum(len(calls) for calls in received.values())
    figures["sends"] = dict(totals)
    verdicts.check(
        totals["missing"] == 0,
        f"every reply sent: {totals['expected']:,} expected, {totals['matched']:,} received in "
        f"order, {totals['missing']} missing",
    )
    verdicts.check(
        totals["unexplained"] == 0 and totals["to unknown chats"] == 0,
        f"nothing sent that was not a reply ({totals['unexplained']} unexplained, "
        f"{totals['to unknown chats']} to unknown chats)",
    )
    from bot.store.db import POOL_SIZE
    from bot.worker import claims_at_once

    # A worker's claims in flight on PostgreSQL: the most a killed worker can leave half-sent.
    in_flight = claims_at_once(POOL_SIZE)
    bound = kills * in_flight
    verdicts.check(
        totals["resent"] <= bound,
        f"replies sent twice: {totals['resent']} (allowed: a worker killed between Telegram's "
        f"answer and its commit resends the one message it had in flight: at most "
        f"{in_flight} per worker kill, {bound} for {kills} kills)",
    )
    return verdicts, figures


# --- the run ------------------------------------------------------------------------------


async def fetch_sends(fake_url: str) -> tuple[list[list[Any]], dict[str, int]]:
    import httpx

    async with httpx.AsyncClient(timeout=60) as http:
        data = (await http.get(f"{fake_url}/soak/sends")).json()
    return data["sends"], data["methods"]


async def pending(url: str) -> int:
    from sqlalchemy import func, select

    from bot.store import Database
    from bot.store.models import OutboxMessage

    database = Database(url)
    try:
        async with database.unit_of_work() as uow:
            query = select(func.count()).where(OutboxMessage.status == "pending")
            return int(await uow.session.scalar(query) or 0)
    finally:
        await database.dispose()


async def soak(args: argparse.Namespace, home: Path) -> bool:
    import httpx
    from sqlalchemy.engine import make_url

    from bot.store.migrate import upgrade
    from bot.store.scratch import execute

    clock = time.monotonic()
    started = clock
    phases: dict[str, float] = {}
    rng = random.Random(args.seed)
    server = args.postgres
    url = make_url(server).set(database=args.database).render_as_string(hide_password=False)
    await execute(server, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    await execute(server, f'CREATE DATABASE "{args.database}"')
    redis = OwnRedis(free_port(args.redis_port), home, db=3)
    fake = start_fake()
    zygote: Zygote | None = None
    processes: list[Camtay] = []
    try:
        upgrade(url)
        redis.start()
        zygote = Zygote()
        assert fake.stdout is not None
        fake_url = fake.stdout.readline().strip()
        ref = await reference(home, fake_url)
        phases["set-up (database, Redis, fake, reference learner)"] = time.monotonic() - clock
        env = {key: value for key, value in os.environ.items() if not key.startswith("CAMTAY_")} | {
            "CAMTAY_DATABASE_URL": url,
            "CAMTAY_REDIS_URL": redis.url,
            "CAMTAY_TELEGRAM_TOKEN": TOKEN,
            "CAMTAY_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "CAMTAY_TELEGRAM_API_URL": fake_url,
            "CAMTAY_EMBEDDED_WORKER": "false",
            "CAMTAY_REPORT_REFRESH_SECONDS": "0",
            # The fake has no 30/s limit: raised, but the shared limiter stays in the path.
            "CAMTAY_TELEGRAM_PER_BOT_RATE": "2000",
            "CAMTAY_TELEGRAM_PER_CHAT_RATE": "50",
            "CAMTAY_TELEGRAM_PER_CHAT_BURST": "3",
        }
        ports = [free_port(), free_port()]
        for number, port in enumerate(ports, 1):
            args_ = ["serve", "--host", "127.0.0.1", "--port", str(port)]
            processes.append(Camtay(f"web{number}", args_, zygote, env, home))
        for number in (1, 2):
            processes.append(Camtay(f"worker{number}", ["worker"], zygote, env, home))
        for process in processes:
            process.start()
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        async with httpx.AsyncClient(timeout=30) as http:
            deadline = time.monotonic() + 60
            for base in urls:
                while True:
                    try:
                        if (await http.get(f"{base}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "camtay serve did not come up"
                    await asyncio.sleep(0.1)
        phases["start 2 web processes and 2 workers"] = (
            time.monotonic() - clock - sum(phases.values())
        )

        clock = time.monotonic()
        limits = httpx.Limits(max_connections=args.in_flight * 2, max_keepalive_connections=64)
        redis_restart: dict[str, float] = {}
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            load = Load(urls, ref, rng, http)
            queue = iter(range(args.learners))
            stop = asyncio.Event()

            async def post_learners() -> None:
                for index in queue:
                    await load.learner(index)

            async def chaos() -> None:
                while not stop.is_set():
                    pause = args.kill_every * rng.uniform(0.6, 1.4)
                    try:
                        await asyncio.wait_for(stop.wait(), pause)
                        return
                    except TimeoutError:
                        pass
                    if not redis_restart and load.done >= args.learners * 0.35:
                        down = time.monotonic()
                        redis.stop()
                        await asyncio.sleep(0.5)
                        await asyncio.to_thread(redis.start)
                        redis_restart["at"] = down - clock
                        redis_restart["down"] = time.monotonic() - down
                        continue
                    victim = rng.choice(processes)
                    victim.kill()
                    victim.start()

            async def progress() -> None:
                while not stop.is_set():
                    with_timeout = asyncio.wait_for(stop.wait(), 15)
                    try:
                        await with_timeout
                    except TimeoutError:
                        print(
                            f"  … {time.monotonic() - clock:5.0f} s: {load.done:,} learners "
                            f"done, {sum(load.delivered.values()):,} deliveries, "
                            f"{sum(p.kills for p in processes)} kills",
                            flush=True,
                        )

            background = [asyncio.create_task(chaos()), asyncio.create_task(progress())]
            await asyncio.gather(*(post_learners() for _ in range(args.in_flight)))
            stop.set()
            await asyncio.gather(*background)
        phases["replay: updates, kills, Redis restart"] = time.monotonic() - clock

        clock = time.monotonic()
        for process in processes:  # a last kill may have left one starting
            if not alive(process.pid):
                process.start()
        left = -1
        while time.monotonic() - clock < 180:
            left = await pending(url)
            if left == 0:
                break
            await asyncio.sleep(0.5)
        phases["drain: the workers send the rest"] = time.monotonic() - clock
        for process in processes:
            process.stop()
        sends, methods = await fetch_sends(fake_url)
        kills = {
            name: sum(p.kills for p in processes if p.name.startswith(name))
            for name in ("web", "worker")
        }

        clock = time.monotonic()
        verdicts, figures = await check(url, ref, args.learners, load, sends, kills["worker"])
        for error in load.errors[:10]:
            verdicts.check(False, error)
        phases["checks"] = time.monotonic() - clock

        total = time.monotonic() - started
        updates = args.learners * len(ref.steps)
        print()
        print(f"soak: {args.learners:,} learners × {len(ref.steps)} updates = {updates:,} updates")
        deliveries = sum(load.delivered.values())
        print(f"  deliveries: {deliveries:,} ({deliveries / updates:.2f} per update)")
        for kind, count in load.delivered.items():
            print(f"    {kind:45} {count:7,}")
        print(f"  answers: {dict(load.outcomes)}")
        print(f"  requests posted again after a failure: {dict(load.retries)}")
        print(
            f"  SIGKILLs: {kills['web']} web processes, {kills['worker']} workers "
            f"(every {args.kill_every:g} s ± 40 %)"
        )
        if redis_restart:
            print(
                f"  Redis restarted once at +{redis_restart['at']:.0f} s "
                f"(down {redis_restart['down']:.2f} s, emptied)"
            )
        else:
            verdicts.check(False, "Redis was not restarted (the run ended first)")
        print(f"  outbox: {figures['outbox']}; fake Bot API calls: {methods}")
        print(f"  sends: {figures['sends']}")
        if left:
            verdicts.check(False, f"{left} outbox rows still pending after the drain")
        print("  wall time:")
        for phase, seconds in phases.items():
            print(f"    {phase:55} {seconds:6.1f} s")
        print(f"    {'total':55} {total:6.1f} s")
        print()
        for ok, text in verdicts.lines:
            print(f"{'PASS' if ok else 'FAIL'}  {text}")
        if figures["sends"].get("resent"):
            print(
                "note: the resent replies are the only duplicates allowed: Telegram's "
                "sendMessage cannot be made idempotent, so a worker SIGKILLed after Telegram "
                "accepted a message but before its `sent` commit leaves the row pending, and "
                "another worker sends it again"
            )
        return verdicts.passed
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.stop()
        if zygote is not None:
            zygote.close()
        if fake.stdin is not None:
            fake.stdin.close()
        fake.wait(10)
        redis.stop()
        if not args.keep:
            await execute(server, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


def main() -> int:
    args = parse_args()
    if args.serve_fake:
        serve_fake()
        return 0
    if args.zygote:
        zygote()
        return 0
    with tempfile.TemporaryDirectory(prefix="camtay-soak-") as tmp:
        home = Path(tmp)
        try:
            passed = asyncio.run(soak(args, home))
        except BaseException:
            for log in sorted(home.glob("*.log")):
                print(f"--- {log.name} (last lines)", file=sys.stderr)
                print(
                    "\n".join(log.read_text(errors="replace").splitlines()[-30:]), file=sys.stderr
                )
            raise
        if not passed:
            for log in sorted(home.glob("*.log")):
                errors = [
                    line
                    for line in log.read_text(errors="replace").splitlines()
                    if "Traceback" in line or "ERROR" in line
                ]
                print(f"--- {log.name}: {len(errors)} error lines", file=sys.stderr)
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="camtay-soak-logs-"))
            for log in home.glob("*.log"):
                log.rename(kept / log.name)
            print(f"logs kept in {kept}")
        return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
