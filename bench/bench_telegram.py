"""Benchmark Telegram webhook turns through the app, and the sender's pacing against a fake."""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests.fakes is not installed with the package: import it from this checkout.
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.content import DEFAULT_LESSONS_DIR  # noqa: E402
from bot.engine import ChoicesReply, TextReply  # noqa: E402
from bot.engine import phrases as p  # noqa: E402
from bot.service import Outgoing  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import Learner, OutboxMessage  # noqa: E402
from bot.store.scratch import create_scratch, drop_scratch  # noqa: E402
from bot.wiring import Runtime, build  # noqa: E402
from tests.fakes import updates  # noqa: E402
from tests.fakes.telegram import Call, FakeTelegram  # noqa: E402
from webhook.app import create_app  # noqa: E402
from webhook.telegram import OUTCOME_HEADER  # noqa: E402

TOKEN = "123456:BENCH-token"  # noqa: S105 -- the fake Bot API's, nothing real
SECRET = "bench_secret-1"  # noqa: S105 -- only this process checks it
LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
WEBHOOK = "/webhook/telegram"
JSON = {"Content-Type": "application/json"}
HOOK_HEADERS = {**JSON, "X-Telegram-Bot-Api-Secret-Token": SECRET}
SEND_METHODS = frozenset({"sendmessage", "sendphoto"})

# What a learner does, one update each: None presses the first button of the newest keyboard.
SCRIPT: tuple[str | None, ...] = ("/start", *4 * [None], "/menu", *3 * [None], "/lang")

# Replies that mean a press was not understood: the replayed script went off track.
MISFIRES = frozenset(
    text(locale) for text in (p.TAP_A_BUTTON, p.OLD_BUTTON) for locale in ("vi", "en")
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=40, help="chats per webhook phase")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="requests in flight, over distinct chats"
    )
    parser.add_argument("--lessons", type=Path, default=DEFAULT_LESSONS_DIR, help="lessons folder")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=LOCAL_POSTGRES,
        help="also run the webhook phases on PostgreSQL: a database camtay_bench_<random> is "
        "created on this server and dropped after ('' skips; default %(default)s)",
    )
    parser.add_argument("--redis", metavar="URL", help="hold learner locks in Redis, not memory")
    parser.add_argument("--bulk-chats", type=int, default=100, help="pacing: chats of the bulk")
    parser.add_argument("--bulk-each", type=int, default=3, help="pacing: messages per bulk chat")
    parser.add_argument("--heavy", type=int, default=20, help="pacing: messages to one more chat")
    parser.add_argument("--skip-webhook", action="store_true", help="only the pacing part")
    parser.add_argument("--skip-pacing", action="store_true", help="only the webhook part")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def bench_settings(
    database: Path | str, api_url: str, lessons: Path, redis_url: str | None
) -> Settings:
    """The app's settings: a SQLite file (a Path) or a PostgreSQL URL, no worker in the app."""
    return Settings(
        _env_file=None,  # only what is given here, whatever .env or CAMTAY_* say
        database_url=None if isinstance(database, Path) else database,
        sqlite_path=database if isinstance(database, Path) else Path("unused.sqlite3"),
        redis_url=redis_url,
        lessons_dir=lessons,
        telegram_token=TOKEN,
        telegram_webhook_secret=SECRET,
        telegram_api_url=api_url,
        embedded_worker=False,
    )


# --- timing ---------------------------------------------------------------------------------


def percentile(ordered: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain, aligned text table: first column left, the others right."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for number, row in enumerate([header, *rows]):
        cells = [
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


@dataclass
class Phase:
    """One measured phase: each request's latency and the wall time of the whole phase."""

    name: str
    flight: int
    latencies_ns: list[int] = field(default_factory=list)
    wall_ns: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def row(self, backend: str) -> list[str]:
        ordered = sorted(self.latencies_ns)

        def ms(fraction: float) -> str:
            return f"{percentile(ordered, fraction) / 1e6:.2f}"

        how = "sequential" if self.flight == 1 else f"{self.flight} in flight"
        return [
            f"{backend}: {self.name}, {how}",
            f"{len(ordered):,}",
            f"{len(ordered) / (self.wall_ns / 1e9):,.0f}",
            ms(0.50),
            ms(0.95),
            ms(0.99),
            f"{sum(self.errors.values())}",
        ]


async def timed(phase: Phase, request: Awaitable[httpx.Response]) -> httpx.Response | None:
    """Await one request; keep its latency, or count it as an error unless it is a 200."""
    started = time.perf_counter_ns()
    try:
        response = await request
    except Exception as error:  # a benchmark counts failures and reports them
        phase.errors[f"{type(error).__name__}: {str(error)[:120]}"] += 1
        return None
    phase.latencies_ns.append(time.perf_counter_ns() - started)
    if response.status_code != 200:
        phase.errors[f"HTTP {response.status_code}: {response.text[:120]}"] += 1
        return None
    return response


async def run_phase(
    phase: Phase,
    chats: Sequence[int],
    one_chat: Callable[[int, Phase], Awaitable[None]],
    after: Callable[[], Awaitable[None]] | None = None,
) -> Phase:
    """`phase.flight` tasks take the next chat and play its whole script, so the requests in
    flight are always for distinct chats; `after` (untimed per request) ends the wall time."""
    queue: Iterator[int] = iter(chats)

    async def worker() -> None:
        for chat in queue:  # a shared iterator: each task pulls the next chat
            await one_chat(chat, phase)

    started = time.perf_counter_ns()
    await asyncio.gather(*(worker() for _ in range(phase.flight)))
    if after is not None:
        await after()
    phase.wall_ns = time.perf_counter_ns() - started
    return phase


# --- part 1: webhook turns ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One update of the replayed script: a text message, or a press on a known keyboard."""

    text: str | None = None
    data: str = ""
    buttons: tuple[tuple[str, str], ...] = ()
    message_text: str = ""


class WebhookBench:
    """Webhook, web chat and /healthz requests through one app on one database."""

    def __init__(self, runtime: Runtime, http: httpx.AsyncClient, first_chat: int) -> None:
        self.runtime = runtime
        self.http = http
        self.next_chat = first_chat
        self.next_update = 0
        self.steps: list[Step] = []
        self.expected: list[Any] = []

    def chats(self, count: int) -> list[int]:
        first, self.next_chat = self.next_chat, self.next_chat + count
        return list(range(first, first + count))

    def payload(self, chat: int, step: Step) -> bytes:
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

    async def replies(self, chat: int) -> list[Any]:
        async with self.runtime.database.unit_of_work() as uow:
            learner = await uow.learners.get("telegram", str(chat))
            assert learner is not None
            rows = await uow.outbox.history(learner.id, 0, limit=10_000)
            return [Outgoing.from_row(row).reply for row in rows]

    async def probe(self) -> None:
        """Play SCRIPT once, reading each keyboard back, so later chats replay it blind."""
        (chat,) = self.chats(1)
        keyboard: ChoicesReply | None = None
        for text in SCRIPT:
            if text is not None:
                step = Step(text=text)
            else:
                assert keyboard is not None, "a press before any keyboard"
                step = Step(
                    data=keyboard.options[0].key,
                    buttons=tuple((option.label, option.key) for option in keyboard.options),
                    message_text=keyboard.text,
                )
            response = await self.http.post(
                WEBHOOK, content=self.payload(chat, step), headers=HOOK_HEADERS
            )
            assert response.headers[OUTCOME_HEADER] == "turn", response.text
            self.steps.append(step)
            keyboard = [r for r in await self.replies(chat) if isinstance(r, ChoicesReply)][-1]
        self.expected = await self.replies(chat)
        assert not [r for r in self.expected if isinstance(r, TextReply) and r.text in MISFIRES]

    async def webhook_chat(self, chat: int, phase: Phase) -> None:
        for step in self.steps:
            body = self.payload(chat, step)
            response = await timed(
                phase, self.http.post(WEBHOOK, content=body, headers=HOOK_HEADERS)
            )
            if response is not None and (outcome := response.headers.get(OUTCOME_HEADER)) != "turn":
                phase.errors[f"outcome {outcome}"] += 1

    async def web_chat(self, chat: int, phase: Phase) -> None:
        headers = {**JSON, "Cookie": f"camtay_chat=bench-{chat}"}
        options: list[dict[str, Any]] = []
        for number, text in enumerate(SCRIPT):
            message: dict[str, Any] = {"id": f"{chat}-{number:04d}"}
            if text == "/start":
                message["kind"] = "start"
            elif text is not None:
                message |= {"kind": "text", "text": text}
            else:
                message |= {"kind": "choice", "key": options[0]["key"] if options else "-"}
            body = json.dumps(message).encode()
            response = await timed(
                phase, self.http.post("/chat/api/send", content=body, headers=headers)
            )
            if response is None:
                return
            messages = response.json()["messages"]
            if any(m.get("text") in MISFIRES for m in messages):
                phase.errors["web chat press not understood"] += 1
            options = next((m["options"] for m in reversed(messages) if "options" in m), [])

    async def healthz_chat(self, chat: int, phase: Phase) -> None:
        for _ in SCRIPT:
            await timed(phase, self.http.get("/healthz"))

    async def drain(self) -> None:
        """Wait for the best-effort callback answers the presses started."""
        assert self.runtime.telegram is not None
        await self.runtime.telegram.channel.drain()

    async def check(self, chats: Sequence[int]) -> int:
        """Chats whose replies differ from the probe's: the replay went off track."""
        async with self.runtime.database.unit_of_work() as uow:
            counts = dict(
                (
                    await uow.session.execute(
                        select(Learner.external_id, func.count(OutboxMessage.id))
                        .join(OutboxMessage, OutboxMessage.learner_id == Learner.id)
                        .where(Learner.channel == "telegram")
                        .group_by(Learner.external_id)
                    )
                ).all()
            )
        wrong = [chat for chat in chats if counts.get(str(chat)) != len(self.expected)]
        for chat in chats[:: max(1, len(chats) // 5)]:  # a sample, compared reply by reply
            if await self.replies(chat) != self.expected:
                wrong.append(chat)
        return len(set(wrong))


async def webhook_bench(
    database: Path | str, args: argparse.Namespace, fake_url: str, first_chat: int
) -> tuple[list[Phase], int]:
    settings = bench_settings(database, fake_url, args.lessons, args.redis)
    runtime = build(settings)
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://camtay.bench") as http,
        ):
            bench = WebhookBench(runtime, http, first_chat)
            await bench.probe()
            warm = Phase("warm-up", 4)
            await run_phase(warm, bench.chats(8), bench.webhook_chat, bench.drain)
            await run_phase(warm, bench.chats(8), bench.web_chat)
            assert not warm.errors, warm.errors
            phases: list[Phase] = []
            webhook_chats: list[int] = []
            for flight in (1, max(1, min(args.concurrency, args.chats))):
                phases.append(
                    await run_phase(
                        Phase("GET /healthz", flight), bench.chats(args.chats), bench.healthz_chat
                    )
                )
                chats = bench.chats(args.chats)
                webhook_chats += chats
                phases.append(
                    await run_phase(
                        Phase("webhook turn", flight), chats, bench.webhook_chat, bench.drain
                    )
                )
                phases.append(
                    await run_phase(
                        Phase("web chat send", flight), bench.chats(args.chats), bench.web_chat
                    )
                )
            return phases, await bench.check(webhook_chats)
    finally:
        await runtime.close()


# --- part 2: sender pacing ------------------------------------------------------------------


def most_in_window(times: Sequence[float], seconds: float) -> tuple[int, int]:
    """The largest number of sorted `times` in any window [t, t + seconds), and its first
    index."""
    best, where = 0, 0
    for index, start in enumerate(times):
        count = bisect.bisect_left(times, start + seconds, lo=index) - index
        if count > best:
            best, where = count, index
    return best, where


@dataclass
class Pacing:
    queued: int
    chats: int
    started: float
    sends: list[Call]
    per_bot: float
    per_chat: float
    burst: int
    errors: list[str]

    def report(self) -> tuple[list[list[str]], list[tuple[bool, str]]]:
        times = sorted(call.at for call in self.sends)
        first, last = times[0], times[-1]
        window_1s, at_1s = most_in_window(times, 1.0)
        # Once the bucket has filled (from a second after the first send on), only its drip.
        steady = [t for t in times if t >= first + 1.0]
        steady_1s, _ = most_in_window(steady, 1.0)
        by_chat: dict[int | None, list[float]] = {}
        for call in self.sends:
            by_chat.setdefault(call.chat_id, []).append(call.at)
        window_5s = 0
        for chat_times in by_chat.values():
            window_5s = max(window_5s, most_in_window(sorted(chat_times), 5.0)[0])
        heavy_times = by_chat[max(by_chat, key=lambda chat: len(by_chat[chat]))]
        heavy = sorted(heavy_times)
        # Its sends after the burst: only the per-chat drip gates them.
        paced = heavy[self.burst :]
        gaps = [later - earlier for earlier, later in itertools.pairwise(paced)]
        heavy_rate = len(gaps) / (paced[-1] - paced[0])
        others = [sorted(times) for times in by_chat.values() if times is not heavy_times]
        done = sorted(times[-1] - self.started for times in others)
        waited = max(min(times) for times in by_chat.values()) - self.started
        per_chat_cap = self.burst + 5 * self.per_chat
        sustained = (window_5s - self.burst) / 5
        rows = [
            ["outbox messages queued", f"{self.queued:,} to {self.chats} chats"],
            ["sends recorded by the fake", f"{len(self.sends):,}"],
            ["total time (worker start → last send)", f"{last - self.started:.2f} s"],
            ["messages/s (over the total time)", f"{len(self.sends) / (last - self.started):.1f}"],
            [
                f"the other {len(others)} chats: all sent after",
                f"{done[len(done) // 2]:.2f} s median, {done[-1]:.2f} s last",
            ],
            ["longest wait for a chat's first send", f"{waited:.2f} s"],
            [
                "max sends in any 1-s window",
                f"{window_1s} (window at +{times[at_1s] - first:.2f} s)",
            ],
            ["max sends in any 1-s window, steady state", f"{steady_1s}"],
            ["max sends to one chat in any 5-s window", f"{window_5s} (cap {per_chat_cap:g})"],
            ["one chat's rate over 5 s, after its burst", f"{sustained:.2f}/s"],
            [
                f"heaviest chat ({len(heavy)} sends): after its burst",
                f"{heavy_rate:.2f}/s, gaps {statistics.median(gaps) * 1000:.0f} ms median, "
                f"{min(gaps) * 1000:.0f} ms min",
            ],
        ]
        limit = self.per_bot
        verdicts = [
            (window_1s <= limit, f"no 1-second window over {limit:g} sends (max {window_1s})"),
            (
                steady_1s <= limit + 1,
                f"steady state: no 1-second window over {limit:g} sends, one send of edge allowed "
                f"(max {steady_1s})",
            ),
            (
                window_5s <= per_chat_cap and not self.errors,
                f"no chat over {self.per_chat:g}/s sustained after its burst of {self.burst} "
                f"(max {window_5s} sends in 5 s, cap {per_chat_cap:g}; {sustained:.2f}/s)",
            ),
        ]
        return rows, verdicts


async def pacing_bench(database: Path, args: argparse.Namespace) -> Pacing:
    """Queue replies through real /start turns with the worker off, then let it send them all
    with the default limits, and read the send times the fake recorded."""
    async with FakeTelegram(token=TOKEN) as fake:
        settings = bench_settings(database, fake.base_url, args.lessons, None)
        runtime = build(settings)
        app = create_app(runtime=runtime)
        stop = asyncio.Event()
        errors: list[str] = []
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://camtay.bench"
                ) as http,
            ):
                heavy = 900_000_000
                # The heavy chat first, so the worker's first round (100 learners) includes it.
                plan = [heavy] * args.heavy
                plan += [heavy + 1 + n for n in range(args.bulk_chats)] * args.bulk_each
                for update_id, chat in enumerate(plan, 1):
                    payload = updates.text_message(update_id, chat, "/start")
                    response = await http.post(WEBHOOK, json=payload, headers=HOOK_HEADERS)
                    assert response.headers[OUTCOME_HEADER] == "turn", response.text
                async with runtime.database.unit_of_work() as uow:
                    queued = await uow.outbox.count("pending")
                started = time.monotonic()
                worker = asyncio.create_task(runtime.worker.run(stop, idle=0.05))
                deadline = started + 60 + queued / settings.telegram_per_bot_rate
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    async with runtime.database.unit_of_work() as uow:
                        if not await uow.outbox.count("pending"):
                            break
                else:
                    errors.append("the worker did not send everything in time")
                stop.set()
                await worker
                async with runtime.database.unit_of_work() as uow:
                    for status in ("failed", "cancelled"):
                        if count := await uow.outbox.count(status):
                            errors.append(f"{count} outbox messages {status}")
        finally:
            await runtime.close()
        sends = [call for call in fake.calls if call.method.lower() in SEND_METHODS]
        errors += [f"{call.method} answered {call.error_code}" for call in sends if not call.ok]
        return Pacing(
            queued=queued,
            chats=len(set(plan)),
            started=started,
            sends=[call for call in sends if call.ok],
            per_bot=settings.telegram_per_bot_rate,
            per_chat=settings.telegram_per_chat_rate,
            burst=settings.telegram_per_chat_burst,
            errors=errors,
        )


# --- the run --------------------------------------------------------------------------------


async def serve_fake() -> None:
    """The child process: a FakeTelegram for the webhook part, until stdin closes."""
    async with FakeTelegram(token=TOKEN) as fake:
        print(fake.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def start_fake() -> tuple[subprocess.Popen[str], str]:
    """A fake Bot API in a child process, so its work does not load the measured event loop."""
    child = subprocess.Popen(  # noqa: S603 -- this very file, with the interpreter running it
        [sys.executable, str(Path(__file__).resolve()), "--serve-fake"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    base_url = child.stdout.readline().strip()
    assert base_url.startswith("http://127.0.0.1:"), base_url
    return child, base_url


def webhook_part(args: argparse.Namespace) -> tuple[list[list[str]], Counter[str], list[str]]:
    rows: list[list[str]] = []
    errors: Counter[str] = Counter()
    notes: list[str] = []
    child, fake_url = start_fake()
    try:
        with tempfile.TemporaryDirectory(prefix="camtay-bench-") as folder:
            path = Path(folder) / "bench.sqlite3"
            upgrade(sqlite_url(path))
            phases, off_track = asyncio.run(webhook_bench(path, args, fake_url, 10_000_000))
            rows += [phase.row("sqlite") for phase in phases]
            for phase in phases:
                errors.update(phase.errors)
            if off_track:
                errors[f"sqlite: {off_track} chats' replies differ from the probe's"] += 1
        if args.postgres:
            try:
                url_text = asyncio.run(create_scratch(args.postgres, "camtay_bench"))
            except (OSError, asyncpg.PostgresError) as error:
                notes.append(f"PostgreSQL skipped: {args.postgres} is unreachable ({error})")
            else:
                try:
                    upgrade(url_text)
                    phases, off_track = asyncio.run(
                        webhook_bench(url_text, args, fake_url, 20_000_000)
                    )
                    rows += [phase.row("postgres") for phase in phases]
                    for phase in phases:
                        errors.update(phase.errors)
                    if off_track:
                        errors[f"postgres: {off_track} chats' replies differ from the probe's"] += 1
                finally:
                    asyncio.run(drop_scratch(args.postgres, url_text))
        else:
            notes.append("PostgreSQL skipped: --postgres ''")
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
    return rows, errors, notes


def main() -> int:
    args = parse_args()
    if args.serve_fake:
        asyncio.run(serve_fake())
        return 0
    began = time.perf_counter()
    status = 0
    locks = "Redis" if args.redis else "memory"
    print(
        f"camtay Telegram benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{locks} locks"
    )
    if not args.skip_webhook:
        rows, errors, notes = webhook_part(args)
        print()
        print(
            f"1. Webhook turns: {args.chats} chats x {len(SCRIPT)} updates per phase "
            "(/start, 4 presses, /menu, 3 presses, /lang), through the FastAPI app over httpx "
            "ASGITransport, no worker; /healthz is the HTTP stack's floor, web chat send the "
            "same script with its replies in the answer"
        )
        print()
        header = ["phase", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"]
        print(table(header, rows))
        for note in notes:
            print(note)
        for message, count in errors.most_common():
            print(f"error x{count}: {message}")
        status |= 1 if errors else 0
    if not args.skip_pacing:
        with tempfile.TemporaryDirectory(prefix="camtay-bench-") as folder:
            path = Path(folder) / "pacing.sqlite3"
            upgrade(sqlite_url(path))
            pacing = asyncio.run(pacing_bench(path, args))
        rows, verdicts = pacing.report()
        print()
        print(
            f"2. Sender pacing: the outbox worker against FakeTelegram with the default limits "
            f"(per bot {pacing.per_bot:g}/s, per chat {pacing.per_chat:g}/s, burst "
            f"{pacing.burst}); times are when the fake received each call"
        )
        print()
        print(table(["figure", "value"], rows))
        print()
        for passed, line in verdicts:
            print(f"{'PASS' if passed else 'FAIL'}  {line}")
        for error in pacing.errors:
            print(f"error: {error}")
        status |= 1 if pacing.errors else 0
    print()
    print(f"finished in {time.perf_counter() - began:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
