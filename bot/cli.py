"""The `camtay` command: serve, chat in the terminal, check lessons, migrate the database."""

from __future__ import annotations

import asyncio
import getpass
import logging
from pathlib import Path
from typing import Annotated

import typer

from bot.content import DEFAULT_LESSONS_DIR, load
from bot.settings import Settings

app = typer.Typer(help="camtay: a chat tutor for safe phone skills.", no_args_is_help=True)
lessons_app = typer.Typer(help="Work with the lesson files.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(lessons_app, name="lessons")
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return Settings()


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


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to the configured database (CAMTAY_DATABASE_URL or the SQLite file)."""
    from bot.store.migrate import upgrade

    settings = _settings()
    upgrade(settings.effective_database_url, revision)
    typer.echo(f"database at {revision}")


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
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    migrate_if_embedded(settings)
    typer.echo(f"\n  camtay web chat: http://{settings.host}:{settings.port}/chat\n")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


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
        try:
            await run_chat(runtime.tutor, user=user or getpass.getuser(), lang=lang)
        finally:
            await runtime.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        typer.echo("")


if __name__ == "__main__":  # pragma: no cover
    app()
