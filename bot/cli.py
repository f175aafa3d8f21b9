"""The `camtay` command: serve, chat in the terminal, check lessons, migrate the database."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import getpass
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.content import DEFAULT_LESSONS_DIR, load
from bot.engine import Catalog
from bot.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from bot.wiring import Runtime

app = typer.Typer(help="camtay: a chat tutor for safe phone skills.", no_args_is_help=True)
lessons_app = typer.Typer(help="Work with the lesson files.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
telegram_app = typer.Typer(help="The Telegram bot.", no_args_is_help=True)
app.add_typer(lessons_app, name="lessons")
app.add_typer(db_app, name="db")
app.add_typer(telegram_app, name="telegram")

TELEGRAM_UPDATES = ["message", "callback_query", "my_chat_member"]
log = logging.getLogger(__name__)


def _settings() -> Settings:
    """The settings, with logging set up from them: to standard error, as text lines or JSON
    (CAMTAY_LOG_FORMAT, CAMTAY_LOG_LEVEL); what a command prints for people goes to stdout."""
    from bot.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


def _refuse_unsafe_production(settings: Settings) -> None:
    """Stop `serve` and `worker` (status 2) when production settings are missing or examples."""
    problems = settings.production_problems()
    if not problems:
        return
    typer.echo("camtay will not start in production with these settings:", err=True)
    for problem in problems:
        typer.echo(f"  - {problem}", err=True)
    typer.echo("Fix them in the environment or .env (see deploy/env.example).", err=True)
    raise typer.Exit(2)


@lessons_app.command("check")
def lessons_check(
    path: Annotated[Path | None, typer.Argument(help="Lessons folder (default: lessons/)")] = None,
) -> None:
    """Validate every module and lesson file; list each problem with its file and field."""
    root = path or DEFAULT_LESSONS_DIR
    catalog, problems = load(root)
    if problems:
        for problem in problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(problems)} problem(s) in {root}", err=True)
        raise typer.Exit(1)
    assert catalog is not None  # noqa: S101 -- no problems means a catalog
    steps = sum(len(lesson.steps) for lesson in catalog.ordered())
    typer.echo(
        f"ok: {len(catalog.modules)} modules, {len(catalog.lessons)} lessons, "
        f"{steps} steps in {root}"
    )


@lessons_app.command("list")
def lessons_list(
    path: Annotated[Path | None, typer.Argument(help="Lessons folder (default: lessons/)")] = None,
) -> None:
    """Print the modules and lessons with their competency codes as a Markdown table."""
    from bot.content import load_catalog

    catalog = load_catalog(path or DEFAULT_LESSONS_DIR)
    typer.echo(library_table(catalog))


def library_table(catalog: Catalog) -> str:
    """The README's table of modules, lessons and competency codes."""
    lines = ["| # | module | lessons | competencies |", "| --- | --- | --- | --- |"]
    for number, module in enumerate(catalog.modules, 1):
        titles = "<br>".join(
            f"{lesson.title.vi} / {lesson.title.en}" for lesson in catalog.lessons_of(module)
        )
        codes = ", ".join(catalog.competencies(module))
        lines.append(f"| {number} | {module.title.vi} / {module.title.en} | {titles} | {codes} |")
    return "\n".join(lines)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to the configured database (CAMTAY_DATABASE_URL or the SQLite file)."""
    from bot.store.migrate import upgrade

    settings = _settings()
    upgrade(settings.effective_database_url, revision)
    typer.echo(f"database at {revision}")


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived process's main coroutine on uvloop where it is installed (uvicorn picks
    it too): the same asyncio code, with a faster event loop under asyncpg and redis-py."""
    try:
        import uvloop
    except ImportError:  # not on this platform: the standard loop
        asyncio.run(main)
        return
    uvloop.run(main)


YOUNG_COLLECTION_EVERY = 20_000
"""Allocations (net of frees) between the garbage collector's collections of young objects in
`camtay serve`; Python's default is 700. A turn allocates thousands of short-lived objects (the
update's models, SQLAlchemy's rows, the state's copy), almost none in reference cycles, and
every tenth young collection is a middle one and every hundredth a full one, over everything
made since the start (`gc.freeze`). At 700 that cost a web process 0–18 % more CPU a turn
(7 % at the median), and saved no memory (`bench/README.md`). The older generations keep
their defaults. A worker allocates little between its sends, and gains nothing from it."""


def collect_less() -> None:
    """Tune the garbage collector of a web process (`YOUNG_COLLECTION_EVERY`)."""
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
) -> None:
    """Serve the web chat (and health checks) with uvicorn."""
    import uvicorn

    from bot.wiring import migrate_if_embedded
    from webhook.app import create_app

    settings = _settings()
    _refuse_unsafe_production(settings)
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    migrate_if_embedded(settings)
    collect_less()
    typer.echo(f"\n  camtay web chat: http://{settings.host}:{settings.port}/chat\n")
    # log_config=None: uvicorn's own and access logs go through the root handler set up above,
    # so they share its format (JSON in production) and carry the request id.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level.lower(),
    )


@app.command()
def chat(
    user: Annotated[
        str | None, typer.Option(help="Who is learning (progress is kept per user)")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="vi or en")] = None,
) -> None:
    """Learn in the terminal. Type the number of a choice, or words; /quit to stop."""
    from bot.channels.terminal import chat as run_chat
    from bot.wiring import build, migrate_if_embedded

    if lang not in (None, "vi", "en"):
        raise typer.BadParameter("use vi or en", param_hint="--lang")
    settings = Settings()  # quiet: the terminal is the conversation
    migrate_if_embedded(settings)

    async def main() -> None:
        runtime = build(settings)
        jobs = runtime.model_jobs

        async def think() -> None:
            # The terminal has no worker: model answers are worked out here, between inputs.
            if jobs is not None:
                await jobs.run_once()

        try:
            await run_chat(
                runtime.tutor, user=user or getpass.getuser(), lang=lang, after_turn=think
            )
        finally:
            await runtime.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        typer.echo("")


def _runtime_with_telegram(settings: Settings) -> Runtime:
    from bot.wiring import build

    if settings.telegram_token is None:
        raise typer.BadParameter("set CAMTAY_TELEGRAM_TOKEN (from @BotFather) first")
    return build(settings)


@telegram_app.command("set-webhook")
def telegram_set_webhook() -> None:
    """Point Telegram at PUBLIC_URL/webhook/telegram with the webhook secret."""
    settings = _settings()
    if settings.public_url is None or not settings.public_url.startswith("https://"):
        raise typer.BadParameter("set CAMTAY_PUBLIC_URL to the https:// address of this server")
    if settings.telegram_webhook_secret is None:
        raise typer.BadParameter("set CAMTAY_TELEGRAM_WEBHOOK_SECRET (A-Z a-z 0-9 _ -)")
    url = f"{settings.base_url}/webhook/telegram"

    async def main() -> None:
        runtime = _runtime_with_telegram(settings)
        assert runtime.telegram is not None  # noqa: S101 -- checked above
        try:
            await runtime.telegram.channel.bot.set_webhook(
                url=url,
                secret_token=settings.telegram_webhook_secret.get_secret_value(),  # type: ignore[union-attr]
                allowed_updates=TELEGRAM_UPDATES,
            )
        finally:
            await runtime.close()

    asyncio.run(main())
    typer.echo(f"Telegram now sends updates to {url}")


@telegram_app.command("poll")
def telegram_poll() -> None:
    """Long-poll Telegram (no public URL needed); the same handling path as the webhook."""
    from bot.channels.telegram_poll import poll
    from bot.wiring import migrate_if_embedded

    settings = _settings()
    migrate_if_embedded(settings)

    async def main() -> None:
        runtime = _runtime_with_telegram(settings)
        try:
            await poll(runtime, TELEGRAM_UPDATES)
        finally:
            await runtime.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@app.command()
def worker() -> None:
    """Send from the outbox (use with CAMTAY_EMBEDDED_WORKER=false on the web processes).

    With CAMTAY_METRICS_PORT set, Prometheus metrics are served on CAMTAY_HOST at that port
    (no login: keep it on the private network)."""
    from prometheus_client import start_http_server

    from bot.wiring import build

    settings = _settings()
    _refuse_unsafe_production(settings)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.host)
        log.info("metrics on http://%s:%s/metrics", settings.host, settings.metrics_port)

    async def main() -> None:
        runtime = build(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        from admin.background import keep_current

        upkeep = asyncio.create_task(keep_current(runtime, stop), name="admin-upkeep")
        thinking = (
            asyncio.create_task(runtime.model_jobs.run(stop), name="model-jobs")
            if runtime.model_jobs is not None
            else None
        )
        try:
            await runtime.worker.run(stop)
        finally:
            stop.set()
            await upkeep
            if thinking is not None:
                await thinking
            await runtime.close()

    run_fast(main())


admin_app = typer.Typer(help="Admin API tokens.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@admin_app.command("create-token")
def admin_create_token(
    role: Annotated[str, typer.Option(help="admin, analyst or viewer")],
    name: Annotated[str, typer.Option(help="Who will use it (shown in the audit log)")] = "admin",
    province: Annotated[str | None, typer.Option(help="A viewer's province (name or code)")] = None,
    school: Annotated[str | None, typer.Option(help="A viewer's school, within --province")] = None,
) -> None:
    """Make a token and print it once; only its hash is kept."""
    from admin.audit import record
    from admin.auth import CLI, TokenError, create_token
    from bot.wiring import build, migrate_if_embedded

    settings = _settings()
    migrate_if_embedded(settings)

    async def main() -> str:
        runtime = build(settings)
        try:
            async with runtime.database.unit_of_work() as uow:
                now = runtime.tutor.clock()
                row, token = await create_token(
                    uow, role=role, name=name, province=province, school=school, now=now
                )
                await record(uow, CLI, "token.create", now, token=row.id, role=role,
                             name=name, province=row.province, school=school)  # fmt: skip
                await uow.commit()
                return token
        finally:
            await runtime.close()

    try:
        token = asyncio.run(main())
    except TokenError as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(token)
    typer.echo("Keep it secret: it is shown only this once.", err=True)


@admin_app.command("list-tokens")
def admin_list_tokens() -> None:
    """Every token: id, role, scope, name, last used, revoked."""
    from sqlalchemy import select

    from bot.store.models import AdminToken
    from bot.wiring import build

    settings = _settings()

    async def main() -> list[str]:
        runtime = build(settings)
        try:
            async with runtime.database.unit_of_work() as uow:
                rows = (await uow.session.scalars(select(AdminToken).order_by(AdminToken.id))).all()
        finally:
            await runtime.close()
        return [
            f"{row.id}\t{row.role}\t{row.province or '*'}\t{row.school or '*'}\t{row.name}\t"
            f"{row.last_used_at or '-'}\t{'revoked' if row.revoked_at else 'active'}"
            for row in rows
        ]

    for line in asyncio.run(main()):
        typer.echo(line)


@admin_app.command("revoke-token")
def admin_revoke_token(
    token_id: Annotated[int, typer.Argument(help="The id from list-tokens")],
) -> None:
    """Stop a token working at once."""
    from admin.audit import record
    from admin.auth import CLI
    from bot.store.models import AdminToken
    from bot.wiring import build

    settings = _settings()

    async def main() -> bool:
        runtime = build(settings)
        try:
            async with runtime.database.unit_of_work() as uow:
                row = await uow.session.get(AdminToken, token_id)
                if row is None:
                    return False
                now = runtime.tutor.clock()
                row.revoked_at = row.revoked_at or now
                await record(uow, CLI, "token.revoke", now, token=token_id)
                await uow.commit()
                return True
        finally:
            await runtime.close()

    if not asyncio.run(main()):
        raise typer.BadParameter(f"no token {token_id}")
    typer.echo(f"token {token_id} revoked")


volunteers_app = typer.Typer(help="Volunteers and the people they bring in.", no_args_is_help=True)
app.add_typer(volunteers_app, name="volunteers")


@volunteers_app.command("board")
def volunteers_board(
    school: Annotated[str, typer.Option(help="The school's name, as volunteers typed it")],
    province: Annotated[str, typer.Option(help="Province name or code (new or former name)")],
    lang: Annotated[str, typer.Option(help="vi or en")] = "vi",
) -> None:
    """A school's board: per class, volunteers, family invited and activated, topics completed."""
    from bot import provinces
    from bot.engine.matching import fold
    from bot.wiring import build

    place = provinces.by_code(province) or provinces.find(province)
    if place is None:
        raise typer.BadParameter(f"no province called {province!r}", param_hint="--province")
    if lang not in ("vi", "en"):
        raise typer.BadParameter("use vi or en", param_hint="--lang")
    settings = _settings()

    async def main() -> str:
        runtime = build(settings)
        try:
            async with runtime.database.unit_of_work() as uow:
                return await runtime.tutor.community.board_text(
                    uow, place.code, fold(school), school, "en" if lang == "en" else "vi"
                )
        finally:
            await runtime.close()

    typer.echo(asyncio.run(main()))


zalo_bot_app = typer.Typer(help="The Zalo Bot (Zalo Bot Platform).", no_args_is_help=True)
app.add_typer(zalo_bot_app, name="zalo-bot")


def _runtime_with_zalo_bot(settings: Settings) -> Runtime:
    from bot.wiring import build

    if settings.zalo_bot_token is None:
        raise typer.BadParameter("set CAMTAY_ZALO_BOT_TOKEN (from Zalo Bot Manager) first")
    return build(settings)


@zalo_bot_app.command("set-webhook")
def zalo_bot_set_webhook() -> None:
    """Point Zalo at PUBLIC_URL/webhook/zalo-bot with the webhook secret."""
    from bot.channels.zalo_bot import ZaloBotError, set_webhook

    settings = _settings()

    async def main() -> str:
        runtime = _runtime_with_zalo_bot(settings)
        try:
            return await set_webhook(runtime)
        finally:
            await runtime.close()

    try:
        url = asyncio.run(main())
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    except ZaloBotError as error:
        typer.echo(f"Zalo refused: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Zalo Bot now sends events to {url}")


@zalo_bot_app.command("poll")
def zalo_bot_poll() -> None:
    """Long-poll Zalo Bot (removes the webhook); the same handling path as the webhook."""
    from bot.channels.zalo_bot import poll
    from bot.wiring import migrate_if_embedded

    settings = _settings()
    migrate_if_embedded(settings)

    async def main() -> None:
        runtime = _runtime_with_zalo_bot(settings)
        try:
            await poll(runtime)
        finally:
            await runtime.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@app.command("check-message")
def check_message(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: verdict, red_flags, advice, lesson")
    ] = False,
) -> None:
    """Check one suspicious message read from standard input (links are never opened)."""
    import json
    import sys

    from bot.content import ContentError, load_catalog
    from bot.scam import check, render

    text = sys.stdin.buffer.read().decode("utf-8-sig", errors="replace")
    if not text.strip():
        typer.echo("Hãy dán tin nhắn vào đầu vào / Paste the message on standard input.", err=True)
        raise typer.Exit(2)
    result = check(text)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return

    def title(lesson_id: str) -> str:
        try:
            lesson = load_catalog().lessons[lesson_id]
        except (ContentError, KeyError):
            return lesson_id
        return f"{lesson.title.vi} / {lesson.title.en} ({lesson_id})"

    typer.echo(render(result, title))


certificates_app = typer.Typer(help="Certificates of passed modules.", no_args_is_help=True)
app.add_typer(certificates_app, name="certificates")


@certificates_app.command("revoke")
def certificates_revoke(
    code: Annotated[str, typer.Argument(help="The certificate's verification code")],
    reason: Annotated[str, typer.Option(help="Why it is revoked (kept in the audit log)")],
) -> None:
    """Revoke a certificate: its verify page says so from now on."""
    from admin.audit import record
    from admin.auth import CLI
    from bot.certificates import normalise_code, revoke
    from bot.wiring import build

    settings = _settings()
    normal = normalise_code(code)
    if normal is None:
        raise typer.BadParameter(f"{code!r} is not a certificate code")

    async def main() -> bool:
        runtime = build(settings)
        try:
            async with runtime.database.unit_of_work() as uow:
                now = runtime.tutor.clock()
                if not await revoke(uow, normal, reason, now):
                    return False
                await record(uow, CLI, "certificate.revoke", now, code=normal, reason=reason)
                await uow.commit()
                return True
        finally:
            await runtime.close()

    if not asyncio.run(main()):
        raise typer.BadParameter(f"no certificate {normal}")
    typer.echo(f"certificate {normal} revoked")


if __name__ == "__main__":  # pragma: no cover
    app()
