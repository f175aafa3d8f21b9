"""End to end in a real browser: the served chat page walks a learner through a whole lesson."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, ViewportSize, expect, sync_playwright

from bot.engine import QRReply, Reply, TextReply, phrases
from bot.service import utcnow
from bot.store import Database
from tests.conftest import FIXTURE_LESSONS, unavailable
from tests.served import camtay_env, serving

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# Quiet, offline, sandbox-free: the test runs as root in containers and must not phone home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
LESSON = "Lesson one"


def _database(tmp_path: Path) -> Path:
    return tmp_path / "x.sqlite3"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The real `camtay serve` on a fresh SQLite file and the fixture lessons; its base URL."""
    env = camtay_env(sqlite_path=str(_database(tmp_path)), lessons_dir=str(FIXTURE_LESSONS))
    with serving(tmp_path, env) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        unavailable("chromium is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _bubbles(page: Page) -> int:
    return page.locator(".msg").count()


def _wait_for_replies(page: Page, before: int) -> None:
    # The page draws the learner's own bubble at once and the replies in one go when they arrive,
    # so more than one new bubble means this turn is fully drawn and the page is ready for the next.
    page.wait_for_function("n => document.querySelectorAll('.msg').length > n + 1", arg=before)


def _tap(page: Page, label: str) -> None:
    before = _bubbles(page)
    page.locator(".options button:enabled", has_text=label).first.click()
    _wait_for_replies(page, before)


def _enabled_buttons(page: Page) -> list[str]:
    return page.locator(".options button:enabled").all_inner_texts()


def test_a_learner_finishes_a_lesson_on_a_phone(
    server: str, browser: Browser, tmp_path: Path
) -> None:
    finished = phrases.FINISHED.en.format(title=LESSON)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{server}/chat")
        expect(page.locator(".options button:enabled")).to_have_count(2)
        _tap(page, "English")
        # The privacy notice comes before anything is kept.
        expect(page.locator(".msg").last).to_contain_text(phrases.CONSENT.en[:30])
        _tap(page, phrases.CONSENT_YES.en)
        expect(page.locator(".msg").last).to_contain_text(phrases.MENU.en)
        # Each step of the fixture lesson: say, show, quiz, drill; only the newest buttons work.
        for label in ("Demo", LESSON, "Next", "Done", "Nobody", "A scam"):
            _tap(page, label)
            assert page.locator(".options button:disabled").count() > 0
        expect(page.locator("#log")).to_contain_text(finished)
        expect(page.locator("#log")).to_contain_text("You got 2 of 2 answers right.")
        # The drill came with its phone-screen picture, served from the lesson assets.
        picture = page.locator(".msg img").first
        expect(picture).to_be_visible()
        assert page.evaluate("img => img.naturalWidth", picture.element_handle()) > 0
        page.screenshot(path=tmp_path / "finished.png")

        replies = page.locator(".msg.bot").count()
        menu = _enabled_buttons(page)
        assert len(menu) >= 2, menu
        page.reload()
        # The history endpoint redraws every reply and the page must not start over on reload.
        expect(page.locator(".msg.bot")).to_have_count(replies)
        expect(page.locator("#log")).to_contain_text(finished)
        assert _enabled_buttons(page) == menu

        before = _bubbles(page)
        page.fill("#text", "2")
        page.click("#sendButton")
        _wait_for_replies(page, before)
        expect(page.locator(".msg.me").last).to_have_text("2")
        # Option 2 is the topic's lesson list; option 1 would have opened the next lesson instead.
        expect(page.locator(".msg.bot").last).to_contain_text("Two sample lessons for tests.")
        expect(page.locator("#log")).not_to_contain_text("Lesson: Lesson two")
        assert any("Lesson two" in label for label in _enabled_buttons(page))
        assert page.input_value("#text") == ""
    finally:
        context.close()


def _queue(database: Path, visitor: str, replies: list[Reply]) -> list[str]:
    """Put replies in a visitor's outbox, as a volunteer's action would; their row statuses."""

    async def run() -> list[str]:
        db = Database(f"sqlite+aiosqlite:///{database}")
        try:
            async with db.unit_of_work() as uow:
                learner = await uow.learners.get("web", visitor)
                assert learner is not None
                await uow.outbox.add(learner, replies, utcnow())
                await uow.commit()
                return [row.status for row in await uow.outbox.history(learner.id, 0)]
        finally:
            await db.dispose()

    # Playwright's sync API keeps an event loop of its own on this thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_a_reply_queued_while_the_page_is_open_appears_by_itself(
    server: str, browser: Browser, tmp_path: Path
) -> None:
    link = "https://tutor.example/chat?ref=Vx7Q2a"
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{server}/chat")
        expect(page.locator(".options button:enabled")).to_have_count(2)
        bubbles = page.locator(".msg.bot").count()
        (visitor,) = [c["value"] for c in context.cookies() if c["name"] == "camtay_chat"]
        tip, invitation = (
            TextReply(text="A tip from your helper"),
            QRReply(data=link, caption="Join"),
        )
        _queue(_database(tmp_path), visitor, [tip, invitation])
        # The page polls every 5 s while visible: both arrive within 10 s, each drawn once.
        expect(page.locator(".msg.bot")).to_have_count(bubbles + 2, timeout=10_000)
        expect(page.locator(".msg.bot").nth(bubbles)).to_have_text(tip.text)
        qr = page.locator(".msg.bot img.qr")
        expect(qr).to_be_visible()
        assert page.evaluate("img => img.naturalWidth", qr.element_handle()) >= 300
        anchor = page.locator(".msg.bot a")
        expect(anchor).to_have_text(link)
        expect(anchor).to_have_attribute("href", link)
        page.screenshot(path=tmp_path / "queued.png")
        page.wait_for_timeout(6_000)  # one more poll: nothing is drawn twice
        expect(page.locator(".msg.bot")).to_have_count(bubbles + 2)
        # Fetched means delivered: nothing is left pending.
        assert "pending" not in _queue(_database(tmp_path), visitor, [])
    finally:
        context.close()


INJECTIONS = ("<img src=x onerror=alert(1)>", "<script>alert(2)</script>")


def test_markup_typed_or_queued_is_shown_as_text_and_never_runs(
    server: str, browser: Browser, tmp_path: Path
) -> None:
    """A learner's words and a lesson's or helper's words are drawn as text: no element is
    made from them, no script runs, and the page's policy would refuse inline script anyway."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    try:
        response = page.goto(f"{server}/chat")
        assert response is not None
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        expect(page.locator(".options button:enabled")).to_have_count(2)
        for text in INJECTIONS:
            before = _bubbles(page)
            page.fill("#text", text)
            page.click("#sendButton")
            _wait_for_replies(page, before)
            expect(page.locator(".msg.me").last).to_have_text(text)
        (visitor,) = [c["value"] for c in context.cookies() if c["name"] == "camtay_chat"]
        bubbles = page.locator(".msg.bot").count()
        _queue(_database(tmp_path), visitor, [TextReply(text=INJECTIONS[0])])
        expect(page.locator(".msg.bot")).to_have_count(bubbles + 1, timeout=10_000)
        expect(page.locator(".msg.bot").last).to_have_text(INJECTIONS[0])
        assert page.locator("#log img").count() == 0
        assert page.locator("#log script").count() == 0
        # Even a script put into the page by a bug could not run: inline script is refused.
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'alert(3)'; document.body.appendChild(s); }"
        )
        page.wait_for_timeout(500)
        assert dialogs == []
    finally:
        context.close()
