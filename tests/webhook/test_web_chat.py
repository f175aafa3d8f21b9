"""The web chat's HTTP API, driven as the page drives it, through a whole lesson and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from bot.channels import web
from bot.engine import QRReply, TextReply
from bot.service import Outgoing, utcnow
from bot.settings import Settings
from bot.store.models import Learner, OutboxMessage
from bot.wiring import Runtime, build, migrate_if_embedded
from tests.conftest import FIXTURE_LESSONS
from tests.qr_check import assert_qr_png
from webhook.app import create_app


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        sqlite_path=tmp_path / "web.sqlite3",
        lessons_dir=FIXTURE_LESSONS,
        database_url=None,
        redis_url=None,
    )
    migrate_if_embedded(settings)
    built = build(settings)
    yield built
    await built.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as http,
    ):
        page = await http.get("/chat")
        assert page.status_code == 200
        yield http


class Page:
    """What the chat page does: post an input with a fresh id, keep the newest buttons."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.count = 0
        self.buttons: list[dict[str, Any]] = []
        self.texts: list[str] = []

    async def send(self, **body: Any) -> list[dict[str, Any]]:
        self.count += 1
        response = await self.http.post(
            "/chat/api/send", json={"id": f"msg-{self.count:06d}", **body}
        )
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        for message in messages:
            self.texts.append(message.get("text", ""))
            if message["kind"] == "choices":
                self.buttons = message["options"]
        return messages

    async def tap(self, label_start: str) -> list[dict[str, Any]]:
        option = next(o for o in self.buttons if o["label"].startswith(label_start))
        return await self.send(kind="choice", key=option["key"])


async def test_a_newcomer_completes_a_lesson(client: httpx.AsyncClient) -> None:
    page = Page(client)
    first = await page.send(kind="start")
    assert first[-1]["kind"] == "choices"
    await page.tap("English")
    assert "Before we start, a quick read" in page.texts[-1]
    await page.tap("✅ I agree")
    await page.tap("📘 Demo")
    await page.tap("📘 Lesson one")
    await page.tap("Next")
    await page.tap("I'm stuck")
    assert "Look for the gear ⚙️." in page.texts[-3]
    assert "ask a family member" in page.texts[-2]  # no volunteer: where to find help
    await page.tap("Done")
    await page.send(kind="text", text="1")  # typed number = first answer
    await page.tap("A scam")
    assert "🎉 You finished «Lesson one»!" in page.texts
    assert page.buttons[0]["label"] == "▶️ Next: Lesson two"
    history = (await client.get("/chat/api/history")).json()["messages"]
    assert [m["text"] for m in history if "text" in m][-3:] == page.texts[-3:]
    later = (await client.get("/chat/api/history", params={"after": history[-2]["id"]})).json()
    assert len(later["messages"]) == 1


async def test_a_resent_message_id_is_applied_once(client: httpx.AsyncClient) -> None:
    body = {"id": "same-id-123", "kind": "start"}
    first = await client.post("/chat/api/send", json=body)
    again = await client.post("/chat/api/send", json=body)
    assert first.json()["messages"]
    assert not first.json()["duplicate"]
    assert again.json() == {"duplicate": True, "messages": []}


async def test_visitors_have_their_own_conversations(client: httpx.AsyncClient) -> None:
    await Page(client).send(kind="start", payload="lang_en")
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://camtay.test"
    ) as other:
        assert (await other.get("/chat/api/history")).json() == {"messages": []}
        reply = await Page(other).send(kind="start")
        assert "Tiếng Việt 🇻🇳" in [o["label"] for o in reply[-1]["options"]]
        assert other.cookies.get("camtay_chat") != client.cookies.get("camtay_chat")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"not json", 400),
        (b"\xff\xfe\x00binary", 400),
        (b"[]", 422),
        (b'{"id": "short", "kind": "text", "text": "hi"}', 422),
        (b'{"id": "abcdefgh1", "kind": "shout", "text": "hi"}', 422),
        (b'{"id": "abcdefgh1", "kind": "text", "text": "hi", "extra": 1}', 422),
        (b'{"id": "abcdefgh1", "kind": "choice", "key": "' + b"k" * 100 + b'"}', 422),
        (b'{"id": "abcdefgh1", "kind": "text", "text": "' + b"a" * 5000 + b'"}', 413),
        (b'{"id": "abcdefgh1", "kind": "text", "text": "' + b"a" * 20000 + b'"}', 413),
    ],
    ids=[
        "empty",
        "not-json",
        "binary",
        "array",
        "short-id",
        "unknown-kind",
        "extra-field",
        "long-key",
        "over-4kb",
        "over-body-limit",
    ],
)
async def test_bad_bodies_get_a_clear_4xx(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    response = await client.post(
        "/chat/api/send", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert "detail" in response.json()


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02", "🙂" * 50, "' OR 1=1; --"])
async def test_odd_text_gets_a_polite_reply(client: httpx.AsyncClient, text: str) -> None:
    page = Page(client)
    await page.send(kind="start")
    replies = await page.send(kind="text", text=text)
    assert replies[0]["text"].startswith("Bạn bấm một nút bên dưới")
    assert replies[-1]["kind"] == "choices"


async def test_pictures_are_served_only_from_the_assets_folder(client: httpx.AsyncClient) -> None:
    assert (await client.get("/chat/assets/../../pyproject.toml")).status_code == 404
    assert (await client.get("/chat/assets/%2e%2e/demo/first.yaml")).status_code == 404
    assert (await client.get("/chat/assets/missing.png")).status_code == 404


async def test_health_check(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_regression_two_visitors_may_use_the_same_message_id(
    client: httpx.AsyncClient,
) -> None:
    """Browsers make their own ids; one visitor's id must not swallow another's message."""
    body = {"id": "msg-000001", "kind": "start"}
    assert (await client.post("/chat/api/send", json=body)).json()["messages"]
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://camtay.test"
    ) as other:
        assert (await other.post("/chat/api/send", json=body)).json()["messages"]


async def test_a_chunked_body_over_the_limit_is_refused_before_it_is_all_read(
    client: httpx.AsyncClient,
) -> None:
    """Without a Content-Length the limit must still hold, counted while streaming."""
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"id": "abcdefgh1", "kind": "text", "text": "'
        for _ in range(1000):
            sent += 1
            yield b"a" * 1024

    response = await client.post(
        "/chat/api/send", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert sent < 100, f"read {sent} KB before refusing"


# --- QR codes and replies that arrive while the visitor is idle ------------------------------

LINK = "https://tutor.example/chat?ref=Vx7Q2a&lang=vi"


async def test_a_qr_reply_is_drawn_from_a_url_the_page_can_load(client: httpx.AsyncClient) -> None:
    rendered = web.render(Outgoing(id=7, channel="web", external_id="v",
                                   reply=QRReply(data=LINK, caption="Mã mời:")))  # fmt: skip
    assert {k: v for k, v in rendered.items() if k != "url"} == {
        "id": 7, "kind": "qr", "data": LINK, "caption": "Mã mời:"}  # fmt: skip
    url = urlsplit(rendered["url"])
    assert url.path == "/chat/qr.png"
    assert parse_qs(url.query) == {"data": [LINK]}
    response = await client.get(rendered["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert_qr_png(response.content, LINK)


@pytest.mark.parametrize(
    "query",
    ["", "?data=", "?other=1", "?data=" + "x" * 301],
    ids=["no-query", "empty", "no-data", "over-300"],
)
async def test_qr_codes_need_data_of_at_most_300_characters(
    client: httpx.AsyncClient, query: str
) -> None:
    response = await client.get(f"/chat/qr.png{query}")
    assert response.status_code == 422
    assert "detail" in response.json()


async def _visitor(runtime: Runtime, client: httpx.AsyncClient) -> Learner:
    visitor = client.cookies.get("camtay_chat")
    assert visitor
    async with runtime.database.unit_of_work() as uow:
        learner = await uow.learners.get(web.CHANNEL, visitor)
    assert learner is not None
    return learner


async def test_the_history_delivers_what_arrived_while_the_visitor_was_idle(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    drawn = await Page(client).send(kind="start", payload="lang_en")
    seen = drawn[-1]["id"]
    learner = await _visitor(runtime, client)
    # A volunteer's tip and invitation, queued by someone else's turn: pending until fetched.
    async with runtime.database.unit_of_work() as uow:
        ids = await uow.outbox.add(
            learner, [TextReply(text="A tip from your helper"), QRReply(data=LINK)], utcnow()
        )
        await uow.commit()
    response = await client.get("/chat/api/history", params={"after": seen})
    messages = response.json()["messages"]
    assert [m["id"] for m in messages] == ids
    assert messages[0]["text"] == "A tip from your helper"
    assert messages[1]["kind"] == "qr"
    assert messages[1]["data"] == LINK
    assert (await client.get(messages[1]["url"])).status_code == 200
    async with runtime.database.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert {row.status for row in rows} == {"sent"}
    assert all(row.sent_at is not None for row in rows if row.id in ids)
    # The next poll has nothing new; a reload still redraws everything.
    after = {"after": ids[-1]}
    assert (await client.get("/chat/api/history", params=after)).json() == {"messages": []}
    everything = (await client.get("/chat/api/history")).json()["messages"]
    assert [m["id"] for m in everything] == [row.id for row in rows]


async def test_a_visitor_history_leaves_other_visitors_pending_rows_alone(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await Page(client).send(kind="start")
    learner = await _visitor(runtime, client)
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://camtay.test"
    ) as other:
        await Page(other).send(kind="start")
        stranger = await _visitor(runtime, other)
    async with runtime.database.unit_of_work() as uow:
        (theirs,) = await uow.outbox.add(stranger, [TextReply(text="not yours")], utcnow())
        (mine,) = await uow.outbox.add(learner, [TextReply(text="yours")], utcnow())
        await uow.commit()
    messages = (await client.get("/chat/api/history", params={"after": 0})).json()["messages"]
    assert mine in [m["id"] for m in messages]
    assert theirs not in [m["id"] for m in messages]
    async with runtime.database.unit_of_work() as uow:
        rows = (await uow.session.scalars(select(OutboxMessage))).all()
    statuses = {row.id: row.status for row in rows}
    assert statuses[theirs] == "pending"
    assert statuses[mine] == "sent"
