"""End to end in a real browser: an admin signs in and reads the dashboard's charts.

The data set is made through the real tutor (tests/admin/test_dashboard.py's `seed`), the rollups
are refreshed, and the real `camtay serve` serves it from the same SQLite file.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Dialog, Page, ViewportSize, expect, sync_playwright

from admin import charts
from admin.auth import create_token
from admin.rollups import refresh_rollups
from bot.settings import Settings
from bot.store.migrate import upgrade
from bot.wiring import build
from tests.admin.test_dashboard import EVIL, seed, volunteer
from tests.conftest import FIXTURE_LESSONS, Clock, unavailable
from tests.served import camtay_env, serving
from tests.webhook.test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE

pytestmark = pytest.mark.browser

LAPTOP: ViewportSize = {"width": 1280, "height": 900}
CHARTS = ("chart-progress", "chart-funnel", "chart-gain", "chart-volunteers")
EVIL_IMG = "<img src=x onerror=alert(1)>"
MIN_INK = 400
"""Non-white pixels a drawn chart has at the least (its bars, lines and words)."""


def _rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def _prepare(database: Path) -> str:
    """Seed the database through the tutor, refresh the rollups; an admin token for it."""

    async def run() -> str:
        url = f"sqlite+aiosqlite:///{database}"
        upgrade(url)
        runtime = build(Settings(database_url=url, redis_url=None, lessons_dir=FIXTURE_LESSONS))
        clock = Clock()
        runtime.tutor.clock = clock
        try:
            await seed(runtime, clock)
            # Someone signs up as a volunteer with markup for a name (the seed has `<script>`).
            await volunteer(runtime, "evil-img", (EVIL_IMG, "THCS <i>Lạ</i>", "9C", "Hà Nội"))
            await refresh_rollups(runtime.database, runtime.catalog, clock())
            async with runtime.database.unit_of_work() as uow:
                _, token = await create_token(uow, role="admin", name="Chị Hoa", now=clock())
                await uow.commit()
            return token
        finally:
            await runtime.close()

    # Playwright's sync API may hold an event loop on this thread: seed on another.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The real `camtay serve` on the seeded SQLite file: its base URL and an admin token."""
    database = tmp_path / "x.sqlite3"
    token = _prepare(database)
    env = camtay_env(sqlite_path=str(database), lessons_dir=str(FIXTURE_LESSONS))
    with serving(tmp_path, env) as url:
        yield url, token


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


def _picture(page: Page, selector: str) -> Image.Image:
    return Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")


def _ink(image: Image.Image) -> int:
    """Pixels that are not (nearly) white."""
    grey = image.convert("L")
    return sum(count for level, count in enumerate(grey.histogram()) if level < 235)


def _has_colour(image: Image.Image, colour: str, tolerance: int = 24) -> bool:
    want = _rgb(colour)
    for _, rgb in image.getcolors(maxcolors=image.width * image.height) or []:
        assert isinstance(rgb, tuple)  # an RGB picture's colours are triples
        if all(
            abs(channel - target) <= tolerance for channel, target in zip(rgb, want, strict=True)
        ):
            return True
    return False


def test_an_admin_signs_in_and_reads_the_charts(
    served: tuple[str, str], browser: Browser, tmp_path: Path
) -> None:
    url, token = served
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    try:
        page.goto(f"{url}/admin")
        expect(page).to_have_url(f"{url}/admin/login")  # not signed in yet
        expect(page.locator("h1")).to_have_text("Đăng nhập")
        page.fill("#token", "camtay_wrong")
        page.click("button[type=submit]")
        expect(page.locator(".error")).to_be_visible()
        page.fill("#token", token)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{url}/admin")
        assert token not in page.url
        cookie = next(c for c in context.cookies() if c["name"] == "camtay_admin")
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # out of reach of any script

        expect(page.locator("#overview-heading")).to_contain_text("Tổng quan")
        # Names with markup are shown as text: no element is made of them, nothing runs.
        volunteers = page.locator("#table-volunteers")
        expect(volunteers).to_contain_text(EVIL)
        expect(volunteers).to_contain_text(EVIL_IMG)
        assert page.locator("main img, main script").count() == 0
        overview = page.request.get(f"{url}/admin")
        policy = overview.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src" not in policy
        assert overview.headers["x-frame-options"] == "DENY"
        for chart in CHARTS:
            expect(page.locator(f"#{chart}")).to_be_visible()
        page.screenshot(path=tmp_path / "overview.png", full_page=True)
        for chart in CHARTS:
            picture = _picture(page, f"#{chart}")
            picture.save(tmp_path / f"{chart}.png")
            assert picture.width > 300, chart
            assert _ink(picture) > MIN_INK, chart
            assert len(picture.getcolors(maxcolors=1 << 20) or []) >= 2, chart
        # The marks are in the colours they were drawn in: green lines and bars, red hot spots.
        assert _has_colour(_picture(page, "#chart-progress"), charts.PALETTE[0])
        assert _has_colour(_picture(page, "#chart-funnel"), charts.HOT)
        assert _has_colour(_picture(page, "#chart-gain"), charts.PALETTE[1])
        assert _has_colour(_picture(page, "#chart-volunteers"), charts.PALETTE[0])
        # Hovering a bar shows its numbers: each mark carries a <title>.
        hot = page.locator("#chart-funnel g.hot title").first
        expect(hot).to_contain_text("Mở Cài đặt")

        # A lesson from the table draws its own steps.
        page.locator("#table-lessons a", has_text="Bài hai").click()
        expect(page.locator("#funnel")).to_contain_text("Bài hai")
        expect(page.locator("#chart-funnel")).to_be_visible()

        page.click("#switch-language")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#lessons-heading")).to_have_text("Where people get stuck")
        expect(page.locator("#gain-heading")).to_have_text("Learning gain")
        page.goto(f"{url}/admin")  # the language is remembered
        expect(page.locator("#progress-heading")).to_have_text("Progress over time")
        page.screenshot(path=tmp_path / "overview-en.png", full_page=True)

        # On a phone the page fits the screen: the charts shrink, wide tables scroll by themselves.
        page.set_viewport_size(PHONE)
        page.reload()
        for chart in CHARTS:
            expect(page.locator(f"#{chart}")).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1
        page.screenshot(path=tmp_path / "overview-phone.png", full_page=True)

        page.get_by_role("link", name="Sign out").click()
        expect(page).to_have_url(f"{url}/admin/login")
        page.goto(f"{url}/admin")
        expect(page).to_have_url(f"{url}/admin/login")
        assert dialogs == []
    finally:
        context.close()
