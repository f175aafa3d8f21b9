"""Certificates: issued when a module's post-check is passed, drawn as a PNG and a PDF.

A certificate carries only what the learner chose to show (their display name), the module, the
date, its competency codes and a verification code; the public page at PUBLIC_URL/verify/<code>
says whether it is valid or revoked, with the name, module and date only.
"""

from __future__ import annotations

import functools
import io
import re
import secrets
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from bot import vietnam
from bot.engine import Catalog, Event, Locale, QRReply, Reply, TextReply
from bot.hooks.publisher import publish
from bot.qr import qr_png
from bot.store.db import UnitOfWork
from bot.store.models import Certificate

if TYPE_CHECKING:
    # Pillow (and bot.pictures, which draws with it) is imported where a name is cleaned or a
    # certificate drawn: a web process that never does either does not carry it.
    from PIL import ImageDraw, ImageFont

    FreeOrDefault = ImageFont.FreeTypeFont | ImageFont.ImageFont

PASS_SHARE = 0.6
"""A post-check passed: at least this share of its questions answered right."""
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""No 0/O, 1/I/L: a code read aloud or typed from paper comes out right."""
CODE_LENGTH = 10
CODE_PATTERN = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
WIDTH, HEIGHT = 1200, 850
MARGIN = 60
INK = (25, 35, 60)
ACCENT = (18, 94, 160)
GREY = (90, 98, 112)
ISSUE_ATTEMPTS = 5


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str | None:
    """The code as stored, from what someone typed or a link held; None when it cannot be one."""
    code = text.strip().upper()
    return code if CODE_PATTERN.fullmatch(code) else None


def passed(correct: int, total: int) -> bool:
    return total > 0 and correct / total >= PASS_SHARE


def verify_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/verify/{code}"


def clean_name(display_name: str) -> str:
    """The name as printed: what the font can draw, on one line, at most 64 characters."""
    from bot.pictures import FontsMissingError, drawable

    try:
        text = drawable(display_name)
    except FontsMissingError:
        text = display_name
    return " ".join(text.split())[:64]


# --- issuing and revoking ------------------------------------------------------------------


async def issue(
    uow: UnitOfWork, *, person: int, module_id: str, display_name: str, now: datetime
) -> Certificate | None:
    """Issue the person's certificate for the module, once: None when they already have it.

    Added in the caller's transaction (a savepoint), which commits it.
    """
    if await uow.certificates.find(person, module_id) is not None:
        return None
    name = " ".join(display_name.split())[:64] or "-"
    for _ in range(ISSUE_ATTEMPTS):
        certificate = Certificate(
            code=new_code(),
            learner_id=person,
            module_id=module_id,
            display_name=name,
            issued_at=now,
        )
        if await uow.certificates.add(certificate):
            await _publish(uow, "certificate.issued", certificate, now)
            return certificate
        if await uow.certificates.find(person, module_id) is not None:
            return None  # issued at the same moment by another turn
    raise RuntimeError("could not find an unused certificate code")


async def revoke(uow: UnitOfWork, code: str, reason: str, now: datetime) -> bool:
    """Revoke the certificate with this code; False when there is none. A second revocation
    keeps the first one's date and reason."""
    normal = normalise_code(code)
    certificate = None if normal is None else await uow.certificates.by_code(normal)
    if certificate is None:
        return False
    if certificate.revoked_at is None:
        certificate.revoked_at = now
        certificate.revoked_reason = reason.strip()[:300] or None
        await uow.session.flush()
        await _publish(uow, "certificate.revoked", certificate, now)
    return True


async def _publish(
    uow: UnitOfWork,
    kind: Literal["certificate.issued", "certificate.revoked"],
    certificate: Certificate,
    now: datetime,
) -> None:
    """Tell event webhooks, in this transaction (the reason for a revocation stays private)."""
    if certificate.learner_id is None:
        return  # its learner erased their data: nobody to tell about
    data = {"module": certificate.module_id, "code": certificate.code}
    await publish(uow.session, certificate.learner_id, [Event(type=kind, data=data)], now)


# --- in the chat ---------------------------------------------------------------------------


def _titles(catalog: Catalog, module_id: str) -> tuple[str, str]:
    module = catalog.module(module_id)
    if module is None:
        return module_id, module_id
    return module.title.vi, module.title.en


def competencies(catalog: Catalog, module_id: str) -> list[str]:
    module = catalog.module(module_id)
    return [] if module is None else catalog.competencies(module)


def chat_replies(
    certificate: Certificate, catalog: Catalog, base_url: str, locale: Locale
) -> list[Reply]:
    """The congratulation with the certificate's links, and its QR code."""
    vi, en = _titles(catalog, certificate.module_id)
    link = verify_url(base_url, certificate.code)
    if locale == "en":
        text = (
            f"🎓 Congratulations! You passed the final check of “{en}”. "
            f"Here is your certificate, in the name of {certificate.display_name}.\n"
            f"Picture: {link}.png\nPDF to print: {link}.pdf\n"
            f"Code: {certificate.code}. Anyone can check it at {link}"
        )
        caption = "Scan to check the certificate"
    else:
        text = (
            f"🎓 Chúc mừng bạn! Bạn đã vượt qua bài kiểm tra cuối của “{vi}”. "
            f"Đây là chứng nhận của bạn, mang tên {certificate.display_name}.\n"
            f"Ảnh: {link}.png\nBản PDF để in: {link}.pdf\n"
            f"Mã: {certificate.code}. Ai cũng có thể kiểm tra tại {link}"
        )
        caption = "Quét để kiểm tra chứng nhận"
    return [TextReply(text=text), QRReply(data=link, caption=caption)]


def list_text(
    certificates: Sequence[Certificate], catalog: Catalog, base_url: str, locale: Locale
) -> str:
    """What /certificates answers: each certificate, its date and link; revoked ones marked."""
    if not certificates:
        if locale == "en":
            return "You have no certificates yet. Pass a module's final check to earn one."
        return "Bạn chưa có chứng nhận nào. Hãy hoàn thành bài kiểm tra cuối của một chủ đề nhé."
    lines = ["Your certificates:" if locale == "en" else "Chứng nhận của bạn:"]
    for certificate in certificates:
        vi, en = _titles(catalog, certificate.module_id)
        title = en if locale == "en" else vi
        day = _day(issued_on(certificate))
        mark = ""
        if certificate.revoked_at is not None:
            mark = " (revoked)" if locale == "en" else " (đã thu hồi)"
        lines.append(f"• {title}: {day}{mark}\n  {verify_url(base_url, certificate.code)}.pdf")
    return "\n".join(lines)


def _day(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def issued_on(certificate: Certificate) -> date:
    return vietnam.day(certificate.issued_at)  # the date printed is Vietnam's


# --- drawing -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _font(size: int, bold: bool = False) -> FreeOrDefault:
    from PIL import ImageFont

    from bot.pictures import FontsMissingError, font_files

    try:
        regular, heavy = font_files()
    except FontsMissingError:
        return ImageFont.load_default(size)
    return ImageFont.truetype(
        str(heavy if bold else regular), size, layout_engine=ImageFont.Layout.BASIC
    )


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: FreeOrDefault, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _fit(
    draw: ImageDraw.ImageDraw,
    text: str,
    sizes: Sequence[int],
    width: int,
    bold: bool = False,
    max_lines: int = 2,
) -> tuple[FreeOrDefault, list[str]]:
    """The largest size at which `text` fits in `max_lines` lines of `width` (else the smallest,
    cut to two lines)."""
    for size in sizes:
        font = _font(size, bold)
        lines = _wrap(draw, text, font, width)
        if len(lines) <= max_lines:
            return font, lines
    font = _font(sizes[-1], bold)
    return font, _wrap(draw, text, font, width)[:2]


def render_png(
    name: str,
    module_title_vi: str,
    module_title_en: str,
    day: date,
    competency_codes: Sequence[str],
    code: str,
    url: str,
) -> bytes:
    """The certificate as a 1200×850 PNG, with the QR code of `url` at its own pixel scale."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((18, 18, WIDTH - 19, HEIGHT - 19), outline=ACCENT, width=6)
    draw.rectangle((32, 32, WIDTH - 33, HEIGHT - 33), outline=ACCENT, width=2)
    centre = WIDTH // 2
    draw.text((centre, 95), "CHỨNG NHẬN", font=_font(64, True), fill=ACCENT, anchor="mm")
    draw.text((centre, 150), "Certificate", font=_font(34), fill=GREY, anchor="mm")
    draw.text(
        (centre, 205),
        "Kỹ năng dùng điện thoại an toàn · Safe phone skills",
        font=_font(26),
        fill=GREY,
        anchor="mm",
    )
    qr = Image.open(io.BytesIO(qr_png(url))).convert("RGB")
    if qr.width > 420:  # keep the code's whole-pixel modules: shrink by a whole factor only
        factor = -(-qr.width // 420)
        qr = qr.resize((qr.width // factor, qr.height // factor), Image.Resampling.NEAREST)
    qr_x, qr_y = WIDTH - MARGIN - qr.width, HEIGHT - MARGIN - qr.height
    image.paste(qr, (qr_x, qr_y))
    left = MARGIN + 20
    column = qr_x - left - 30

    y = 250
    draw.text((left, y), "Trao cho / Awarded to", font=_font(26), fill=GREY)
    y += 40
    printed = clean_name(name) or "-"
    font, lines = _fit(draw, printed, (56, 48, 40), WIDTH - 2 * left, True, max_lines=1)
    if len(lines) > 1:  # a long name: two lines, beside the QR code
        font, lines = _fit(draw, printed, (40, 34, 30), column, True)
    for line in lines:
        draw.text((left, y), line, font=font, fill=INK)
        y += 58
    y = max(y + 10, 390)
    draw.text((left, y), "đã hoàn thành / has completed", font=_font(26), fill=GREY)
    y += 40
    font, lines = _fit(draw, module_title_vi, (38, 34, 30), column, True)
    for line in lines:
        draw.text((left, y), line, font=font, fill=INK)
        y += 46
    if module_title_en != module_title_vi:
        font, lines = _fit(draw, module_title_en, (30, 26), column)
        for line in lines:
            draw.text((left, y), line, font=font, fill=GREY)
            y += 38
    y += 14
    details = [
        f"Ngày cấp / Date: {_day(day)}",
        "Năng lực số / Competencies: " + (", ".join(competency_codes) or "-"),
        f"Mã xác minh / Code: {code}",
    ]
    small = _font(26)
    for text in details:
        for line in _wrap(draw, text, small, column):
            draw.text((left, y), line, font=small, fill=INK)
            y += 36
    draw.text((left, HEIGHT - MARGIN - 30), url, font=_font(22), fill=GREY)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def render_pdf(
    name: str,
    module_title_vi: str,
    module_title_en: str,
    day: date,
    competency_codes: Sequence[str],
    code: str,
    url: str,
) -> bytes:
    """The certificate on an A4 landscape page (the PNG, full page, linked to `url`)."""
    picture = render_png(name, module_title_vi, module_title_en, day, competency_codes, code, url)
    from fpdf import FPDF  # only when a PDF is made: it costs every process some 20 MB

    pdf = FPDF(orientation="landscape", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_title(f"camtay certificate {code}")
    pdf.set_subject(f"{code} {url}")
    pdf.set_creator("camtay")
    pdf.add_page()
    height = pdf.h
    width = height * WIDTH / HEIGHT
    x = (pdf.w - width) / 2
    pdf.image(io.BytesIO(picture), x=x, y=0, w=width, h=height, link=url)
    return bytes(pdf.output())


def render(certificate: Certificate, catalog: Catalog, base_url: str, kind: str) -> bytes:
    """`kind` "png" or "pdf" of a stored certificate."""
    vi, en = _titles(catalog, certificate.module_id)
    arguments = (
        certificate.display_name,
        vi,
        en,
        issued_on(certificate),
        tuple(competencies(catalog, certificate.module_id)),
        certificate.code,
        verify_url(base_url, certificate.code),
    )
    return render_pdf(*arguments) if kind == "pdf" else render_png(*arguments)
