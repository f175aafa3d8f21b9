"""The whole volunteer journey on two channels: a student on the web chat, grandma in a terminal.

Referral -> activation -> family view -> stuck -> tip relayed -> assisted completion, each person
seeing only what their own channel shows them.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.channels import terminal
from bot.engine import Start, TextInput
from bot.engine.types import Input
from bot.settings import Settings
from bot.wiring import Runtime, build, migrate_if_embedded
from tests.conftest import FIXTURE_LESSONS
from webhook.app import create_app


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        sqlite_path=tmp_path / "journey.sqlite3",
        lessons_dir=FIXTURE_LESSONS,
        database_url=None,
        redis_url=None,
        public_url="https://camtay.example",
        telegram_bot_username="camtay_bot",
    )
    migrate_if_embedded(settings)
    built = build(settings)
    yield built
    await built.close()


class WebVolunteer:
    """The chat page as a volunteer uses it: send, tap, and the page's poll for new messages."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.count = 0
        self.last_id = 0
        self.buttons: list[dict[str, Any]] = []

    def _draw(self, messages: list[dict[str, Any]]) -> str:
        lines = []
        for message in messages:
            self.last_id = max(self.last_id, message["id"])
            if message["kind"] == "choices":
                self.buttons = message["options"]
                lines += [message["text"], *(o["label"] for o in message["options"])]
            elif message["kind"] == "qr":
                lines.append(f"[QR {message['data']}]")
            else:
                lines.append(message.get("text") or message.get("caption") or "")
        return "\n".join(lines)

    async def send(self, **body: Any) -> str:
        self.count += 1
        response = await self.http.post(
            "/chat/api/send", json={"id": f"msg-{self.count:06d}", **body}
        )
        assert response.status_code == 200, response.text
        return self._draw(response.json()["messages"])

    async def type(self, text: str) -> str:
        return await self.send(kind="text", text=text)

    async def tap(self, label_start: str) -> str:
        labels = [o["label"] for o in self.buttons]
        option = next((o for o in self.buttons if o["label"].startswith(label_start)), None)
        assert option is not None, f"no button {label_start!r} in {labels}"
        return await self.send(kind="choice", key=option["key"])

    async def poll(self) -> str:
        response = await self.http.get("/chat/api/history", params={"after": self.last_id})
        assert response.status_code == 200
        return self._draw(response.json()["messages"])


class TerminalLearner:
    """`camtay chat` for one user: each input prints the replies, numbered buttons included."""

    def __init__(self, runtime: Runtime, user: str) -> None:
        self.runtime = runtime
        self.user = user

    async def send(self, event: Input) -> str:
        out = io.StringIO()
        await terminal.turn(self.runtime.tutor, self.user, event, out)
        return out.getvalue()

    async def type(self, text: str) -> str:
        return await self.send(TextInput(text=text))


async def test_a_volunteer_and_grandma_on_two_channels(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as http,
    ):
        assert (await http.get("/chat")).status_code == 200
        minh = WebVolunteer(http)
        grandma = TerminalLearner(runtime, "ba-noi")

        # Minh signs up on the web chat and gets an invitation.
        await minh.send(kind="start", payload="lang_en")
        await minh.tap("✅ I agree")  # the privacy notice
        await minh.type("/volunteer")
        await minh.type("Minh")
        await minh.type("THPT Phan Bội Châu")
        await minh.type("11A2")
        invitation = await minh.type("Nghe An")
        code = re.search(r"Your invitation code: ([a-z0-9]{6})", invitation)
        assert code is not None, invitation
        assert f"https://t.me/camtay_bot?start=ref_{code.group(1)}" in invitation
        assert f"https://camtay.example/chat?ref={code.group(1)}" in invitation
        assert f"[QR https://t.me/camtay_bot?start=ref_{code.group(1)}]" in invitation

        # Grandma types the code in her terminal (as on Zalo) and picks English.
        joined = await grandma.type(f"ref {code.group(1)}")
        assert "You are learning with Minh's help" in joined
        assert "1. Tiếng Việt" in joined
        notice = await grandma.type("2")
        assert "Before we start, a quick read" in notice
        assert "1. ✅ I agree" in notice
        await grandma.type("1")
        assert "just started learning with your invitation" in await minh.poll()
        await minh.tap("✏️ Name them")
        await minh.type("Bà nội")

        # She learns her first lesson with Minh beside her: the referral activates.
        assert "learn together" in await grandma.type("My helper is with me")
        await grandma.type("Demo")
        await grandma.type("Lesson one")
        await grandma.type("Next")
        stuck = await grandma.type("I'm stuck")
        assert "Look for the gear ⚙️." in stuck
        assert "I've let Minh know" in stuck

        alert = await minh.poll()
        assert "Bà nội is stuck in «Lesson one», step 2/4" in alert
        assert "«Open Settings.»" in alert
        await minh.tap("💬 Send a tip")
        assert "Sent to Bà nội" in await minh.type("Swipe down, then tap the gear")

        # The tip reaches the terminal with grandma's next input, before its answer.
        done = await grandma.type("Done")
        assert done.index("💡 Minh's tip: «Swipe down, then tap the gear»") < done.index(
            "👍 Well done!"
        )
        await grandma.type("Nobody")
        finished = await grandma.type("A scam")
        assert "You did this lesson together with your helper" in finished
        assert "Bà nội just finished their first lesson: «Lesson one»" in await minh.poll()

        # The family view, then a word of encouragement relayed with Minh's name.
        family = await minh.type("/family")
        assert "1. Bà nội · terminal" in family
        assert "Lessons done: 1 (1 with a helper 👥, 0 on their own 🙋)" in family
        await minh.tap("💬 Encourage Bà nội")
        await minh.type("Giỏi lắm bà ơi!")
        nudge = await grandma.type("/helper")
        assert "💌 Minh says: «Giỏi lắm bà ơi!»" in nudge
        assert "Your helper: Minh (THPT Phan Bội Châu)" in nudge
        assert "Lessons done: 1 (1 with a helper, 0 on your own)" in nudge

        # Minh's school board counts her: one activated, no topic finished yet.
        board = await minh.type("/board")
        assert "• 11A2: 1 · 1 · 1 · 0" in board


async def test_the_web_chat_link_with_a_code_attributes_a_newcomer(runtime: Runtime) -> None:
    async with runtime.database.unit_of_work() as uow:
        volunteer_account, _ = await uow.learners.get_or_create(
            channel="web", external_id="student", now=runtime.tutor.clock()
        )
        volunteer = await uow.volunteers.register(
            volunteer_account.id,
            name="Lan",
            school="THCS Kim Liên",
            school_key="thcs kim lien",
            class_name="9A",
            province="ha-noi",
            now=runtime.tutor.clock(),
        )
        await uow.commit()
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://camtay.test") as http,
    ):
        page = WebVolunteer(http)
        # What the page sends when opened at /chat?ref=<code>.
        first = await page.send(kind="start", payload=f"ref_{volunteer.code}")
        assert "Bạn học cùng Lan" in first
        assert "Tiếng Việt" in first
    async with runtime.database.unit_of_work() as uow:
        families = await uow.volunteers.family(volunteer)
    assert [len(member.accounts) for member in families] == [1]


async def test_start_payload_from_telegram_text_carries_the_code(runtime: Runtime) -> None:
    """Telegram sends a deep link's payload as the text `/start ref_<code>`."""
    grandma = TerminalLearner(runtime, "telegram-like")
    reply = await grandma.send(Start(payload="ref_aaaaaa"))
    assert "Mình không tìm thấy mã mời này" in reply
    reply = await grandma.type("/start ref_bbbbbb")
    assert "không tìm thấy mã mời" in reply or "couldn't find that invitation" in reply
