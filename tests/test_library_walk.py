"""Every lesson of the library, in both languages, walked through the terminal and the web chat."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.channels.terminal import chat
from bot.engine import Catalog, Locale
from bot.engine import phrases as p
from bot.settings import Settings
from bot.wiring import build, migrate_if_embedded
from webhook.app import create_app

LOCALES: tuple[Locale, ...] = ("vi", "en")


@pytest.mark.parametrize("locale", LOCALES)
async def test_every_lesson_in_the_terminal(
    real_catalog: Catalog, tmp_path: Path, locale: Locale
) -> None:
    settings = Settings(sqlite_path=tmp_path / "walk.sqlite3", database_url=None, redis_url=None)
    migrate_if_embedded(settings)
    runtime = build(settings, real_catalog)
    try:
        for lesson in real_catalog.ordered():
            # "1" is always a way forward: Next, Done, the first answer, or "Scam".
            # /agree answers the privacy notice the first start shows.
            lines = ["/agree", f"/start lesson_{lesson.id}"] + ["1"] * len(lesson.steps)
            out = io.StringIO()
            await chat(
                runtime.tutor,
                user=f"walker-{locale}",
                lang=locale,
                source=io.StringIO("\n".join(lines) + "\n"),
                out=out,
            )
            finished = p.FINISHED(locale).format(title=lesson.title(locale))
            assert finished in out.getvalue(), (locale, lesson.id)
    finally:
        await runtime.close()


@pytest.mark.parametrize("locale", LOCALES)
async def test_every_lesson_in_the_web_chat(
    real_catalog: Catalog, tmp_path: Path, locale: Locale
) -> None:
    settings = Settings(sqlite_path=tmp_path / "web.sqlite3", database_url=None, redis_url=None)
    migrate_if_embedded(settings)
    runtime = build(settings, real_catalog)
    app = create_app(runtime=runtime)
    count = 0

    async def send(http: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
        nonlocal count
        count += 1
        response = await http.post("/chat/api/send", json={"id": f"walk-{count:08d}", **body})
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://camtay.test"
        ) as http,
    ):
        await send(http, kind="start", payload=f"lang_{locale}")
        await send(http, kind="text", text="/agree")  # the privacy notice
        for lesson in real_catalog.ordered():
            messages = await send(http, kind="start", payload=f"lesson_{lesson.id}")
            for _ in lesson.steps:
                for message in messages:
                    if message["kind"] == "picture":  # every drill's phone screen is served
                        assert (await http.get(message["url"])).status_code == 200
                buttons = [m for m in messages if m["kind"] == "choices"][-1]["options"]
                messages = await send(http, kind="choice", key=buttons[0]["key"])
            finished = p.FINISHED(locale).format(title=lesson.title(locale))
            assert any(m.get("text") == finished for m in messages), (locale, lesson.id)
    await runtime.close()
