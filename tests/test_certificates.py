"""Certificates: issued once, drawn as PNG and PDF, checked on the public page, revoked."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from bot import certificates
from bot.certificates import (
    CODE_ALPHABET,
    CODE_LENGTH,
    chat_replies,
    issue,
    list_text,
    normalise_code,
    passed,
    render_pdf,
    render_png,
    revoke,
    verify_url,
)
from bot.cli import app as cli
from bot.engine import Catalog, QRReply, TextReply
from bot.qr import qr_png
from bot.settings import Settings
from bot.store import Database
from bot.store.models import AuditEntry, Certificate
from bot.wiring import Runtime, build
from tests.conftest import FIXTURE_LESSONS, Clock
from webhook.app import create_app

BASE = "https://camtay.test"
URL = f"{BASE}/verify/ABCDEFGH23"


async def _person(database: Database, clock: Clock, external_id: str = "chat-4242") -> int:
    async with database.unit_of_work() as uow:
        learner, _ = await uow.learners.get_or_create(
            channel="telegram", external_id=external_id, now=clock()
        )
        await uow.commit()
        return learner.id


async def _issue(database: Database, clock: Clock, person: int, name: str) -> Certificate | None:
    async with database.unit_of_work() as uow:
        certificate = await issue(
            uow, person=person, module_id="demo", display_name=name, now=clock()
        )
        await uow.commit()
        return certificate


def test_pass_share_and_codes() -> None:
    assert passed(3, 5)
    assert passed(4, 4)
    assert not passed(2, 4)
    assert not passed(0, 0)
    code = certificates.new_code()
    assert len(code) == CODE_LENGTH
    assert set(code) <= set(CODE_ALPHABET)
    assert not set("01OIL") & set(CODE_ALPHABET)
    assert normalise_code(f" {code.lower()} ") == code
    for junk in ("", "abc", "ABCDEFGH2O", "ABCDEFGH231", "../../etc", "ABCDEFGH2<"):
        assert normalise_code(junk) is None
    assert verify_url(BASE + "/", "ABCDEFGH23") == URL


async def test_issued_once_per_person_and_module(database: Database, clock: Clock) -> None:
    person = await _person(database, clock)
    first = await _issue(database, clock, person, "  Bà   Hồng ")
    assert first is not None
    assert first.display_name == "Bà Hồng"
    assert normalise_code(first.code) == first.code
    clock.advance(days=3)
    assert await _issue(database, clock, person, "Someone else") is None
    async with database.unit_of_work() as uow:
        other = await issue(uow, person=person, module_id="more", display_name="x", now=clock())
        await uow.commit()
        assert other is not None
        assert other.code != first.code
        mine = await uow.certificates.of_person(person)
    assert [c.module_id for c in mine] == ["demo", "more"]
    assert mine[0].display_name == "Bà Hồng"
    assert mine[0].issued_at == first.issued_at


async def test_revoke(database: Database, clock: Clock) -> None:
    person = await _person(database, clock)
    certificate = await _issue(database, clock, person, "Ông Ba")
    assert certificate is not None
    async with database.unit_of_work() as uow:
        assert not await revoke(uow, "ZZZZZZZZZZ", "no such", clock())
        assert not await revoke(uow, "junk", "no such", clock())
        assert await revoke(uow, certificate.code.lower(), "  issued by mistake ", clock())
        await uow.commit()
    clock.advance(days=1)
    async with database.unit_of_work() as uow:
        assert await revoke(uow, certificate.code, "again", clock())
        await uow.commit()
        row = await uow.certificates.by_code(certificate.code)
    assert row is not None
    assert row.revoked_reason == "issued by mistake"
    assert row.revoked_at is not None
    assert row.revoked_at < clock()


def test_png_holds_the_text_area_and_the_qr_code() -> None:
    content = render_png(
        "Nguyễn Thị Hồng",
        "An toàn khi nhận cuộc gọi lạ và tin nhắn lừa đảo qua điện thoại",
        "Staying safe with strange calls and scam messages",
        date(2026, 1, 15),
        ["1.1", "4.2"],
        "ABCDEFGH23",
        URL,
    )
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "PNG"
        assert image.width >= 1000
        assert image.width > image.height
        picture = image.convert("L")
    with Image.open(io.BytesIO(qr_png(URL))) as qr_image:
        qr = qr_image.convert("L")
    # Pasted at its own scale in the bottom-right corner, pixel for pixel.
    left = picture.width - certificates.MARGIN - qr.width
    top = picture.height - certificates.MARGIN - qr.height
    assert picture.crop((left, top, left + qr.width, top + qr.height)).tobytes() == qr.tobytes()
    assert 0 in qr.tobytes()
    assert 255 in qr.tobytes()


def test_pdf_is_a_pdf_with_the_code() -> None:
    content = render_pdf("Ông Ba", "Bài mẫu", "Demo", date(2026, 1, 15), ["1.1"], "ABCDEFGH23", URL)
    assert content.startswith(b"%PDF-")
    assert b"ABCDEFGH23" in content
    assert b"/MediaBox [0 0 841.89 595.28]" in content or b"841.89" in content


def test_chat_replies_and_list(demo_catalog: Catalog) -> None:
    certificate = Certificate(
        code="ABCDEFGH23",
        learner_id=1,
        module_id="demo",
        display_name="Bà Hồng",
        issued_at=Clock()(),
    )
    vi = chat_replies(certificate, demo_catalog, BASE, "vi")
    assert isinstance(vi[0], TextReply)
    assert isinstance(vi[1], QRReply)
    assert "Bài mẫu" in vi[0].text
    assert "Bà Hồng" in vi[0].text
    assert f"{URL}.pdf" in vi[0].text
    assert f"{URL}.png" in vi[0].text
    assert vi[1].data == URL
    en = chat_replies(certificate, demo_catalog, BASE, "en")
    assert isinstance(en[0], TextReply)
    assert "Demo" in en[0].text
    assert "15/01/2026" in list_text([certificate], demo_catalog, BASE, "vi")
    assert "chưa có" in list_text([], demo_catalog, BASE, "vi")


# --- the public page ------------------------------------------------------------------------


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=database_url,
        redis_url=None,
        lessons_dir=FIXTURE_LESSONS,
        public_url=BASE,
        report_refresh_seconds=0,
    )
    built = build(settings)
    yield built
    await built.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE) as http,
    ):
        yield http


async def test_verify_page(runtime: Runtime, client: httpx.AsyncClient, clock: Clock) -> None:
    person = await _person(runtime.database, clock, external_id="secret-chat-987654")
    certificate = await _issue(runtime.database, clock, person, "Bà Hồng")
    assert certificate is not None
    page = await client.get(f"/verify/{certificate.code}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "Hợp lệ" in text
    assert "Valid" in text
    assert "Bà Hồng" in text
    assert "Bài mẫu" in text
    assert "15/01/2026" in text
    assert "secret-chat-987654" not in text
    assert "telegram" not in text.lower()
    assert "thu hồi" not in text.lower()
    # lower-case, as someone might type it
    assert (await client.get(f"/verify/{certificate.code.lower()}")).status_code == 200

    png = await client.get(f"/verify/{certificate.code}.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(png.content)) as image:
        assert image.width >= 1000
    pdf = await client.get(f"/verify/{certificate.code}.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    assert certificate.code.encode() in pdf.content

    async with runtime.database.unit_of_work() as uow:
        assert await revoke(uow, certificate.code, "mistake", clock())
        await uow.commit()
    page = await client.get(f"/verify/{certificate.code}")
    assert page.status_code == 200
    assert "Đã thu hồi" in page.text
    assert "Revoked" in page.text
    assert "Hợp lệ" not in page.text
    assert "mistake" not in page.text
    assert (await client.get(f"/verify/{certificate.code}.pdf")).status_code == 410


async def test_unknown_and_junk_codes(client: httpx.AsyncClient) -> None:
    for path in (
        "/verify/ZZZZZZZZZZ",
        "/verify/ZZZZZZZZZZ.png",
        "/verify/ZZZZZZZZZZ.pdf",
        "/verify/abc",
        "/verify/" + "A" * 5000,
        "/verify/%3Cscript%3E",
        "/verify/ABCDEFGH2O",
        "/verify/%00%ff",
    ):
        response = await client.get(path)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert "<script>" not in response.text
    missing = await client.get("/verify/ZZZZZZZZZZ")
    assert missing.status_code == 404
    assert "Not found" in missing.text


async def test_a_name_with_markup_is_escaped(
    runtime: Runtime, client: httpx.AsyncClient, clock: Clock
) -> None:
    person = await _person(runtime.database, clock)
    certificate = await _issue(runtime.database, clock, person, '<script>alert("x")</script>')
    assert certificate is not None
    page = await client.get(f"/verify/{certificate.code}")
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_cli_revoke(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()

    async def prepare() -> str:
        database = Database(database_url)
        try:
            person = await _person(database, clock)
            certificate = await _issue(database, clock, person, "Ông Ba")
        finally:
            await database.dispose()
        assert certificate is not None
        return certificate.code

    code = asyncio.run(prepare())
    monkeypatch.setenv("CAMTAY_DATABASE_URL", database_url)
    monkeypatch.setenv("CAMTAY_LESSONS_DIR", str(FIXTURE_LESSONS))
    monkeypatch.delenv("CAMTAY_REDIS_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["certificates", "revoke", code, "--reason", "fraud"])
    assert result.exit_code == 0, result.output
    assert f"certificate {code} revoked" in result.output
    missing = runner.invoke(cli, ["certificates", "revoke", "ZZZZZZZZZZ", "--reason", "x"])
    assert missing.exit_code != 0
    junk = runner.invoke(cli, ["certificates", "revoke", "nope", "--reason", "x"])
    assert junk.exit_code != 0

    async def check() -> None:
        database = Database(database_url)
        try:
            async with database.unit_of_work() as uow:
                row = await uow.certificates.by_code(code)
                entries = (await uow.session.execute(select(AuditEntry))).scalars().all()
        finally:
            await database.dispose()
        assert row is not None
        assert row.revoked_at is not None
        assert row.revoked_reason == "fraud"
        assert [(e.action, e.actor, e.detail["code"]) for e in entries] == [
            ("certificate.revoke", "cli", code)
        ]

    asyncio.run(check())
