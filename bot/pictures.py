"""Draw each drill's message as a phone-screen picture, straight from the lesson text."""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo
from pydantic import ValidationError

from bot.content import ASSETS_DIR, DEFAULT_LESSONS_DIR, MODULE_FILE
from bot.engine.lesson import LOCALES, DrillStep, Lesson, Locale, drill_picture

RENDER_VERSION = 1
"""Bump when the look changes: every picture is then out of date and redrawn."""

SOURCE_KEY = "camtay-source"
"""The PNG text chunk holding the hash of what a picture was drawn from."""

DRILLS_DIR = "drills"
WIDTH = 720
MIN_HEIGHT = 900
MAX_HEIGHT = 1280
MESSAGE_SIZES = (30, 28, 26)
"""The message's font size, largest first; smaller only when a long message would not fit."""
SCALE = 2
"""Everything is drawn this many times larger, then scaled down: smooth curves and edges."""
COLOURS = 256

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu: fonts-dejavu-core
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),  # Fedora
    Path("/usr/share/fonts/TTF"),  # Arch
)
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")

Colour = tuple[int, int, int] | tuple[int, int, int, int]
Align = Literal["left", "center"]

_UI: dict[str, dict[Locale, str]] = {
    "sms": {"vi": "Tin nhắn văn bản · Hôm nay 09:41", "en": "Text Message · Today 09:41"},
    "sms-input": {"vi": "Tin nhắn văn bản", "en": "Text message"},
    "zalo-day": {"vi": "09:41 Hôm nay", "en": "09:41 Today"},
    "zalo-input": {"vi": "Tin nhắn", "en": "Message"},
    "incoming": {"vi": "Cuộc gọi đến", "en": "Incoming call"},
    "caller-says": {"vi": "Người gọi nói:", "en": "The caller says:"},
    "decline": {"vi": "Từ chối", "en": "Decline"},
    "answer": {"vi": "Trả lời", "en": "Answer"},
}


class FontsMissingError(RuntimeError):
    """DejaVu Sans is not installed where we look for it."""


@functools.cache
def font_files() -> tuple[Path, Path]:
    """The regular and bold DejaVu Sans files, or FontsMissingError."""
    for folder in FONT_DIRS:
        regular, bold = (folder / name for name in FONT_FILES)
        if regular.is_file() and bold.is_file():
            return regular, bold
    searched = ", ".join(str(folder) for folder in FONT_DIRS)
    raise FontsMissingError(
        f"DejaVu Sans ({' and '.join(FONT_FILES)}) was not found in {searched}: "
        "install Debian's fonts-dejavu-core"
    )


@functools.lru_cache(maxsize=64)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """A font at `size` real pixels; basic layout, so every machine draws the same."""
    regular, heavy = font_files()
    return ImageFont.truetype(
        str(heavy if bold else regular), size, layout_engine=ImageFont.Layout.BASIC
    )


@functools.lru_cache(maxsize=4096)
def _has_glyph(char: str, bold: bool = False) -> bool:
    """Whether DejaVu draws `char`, rather than its empty-box 'missing' glyph."""
    font = _font(30, bold)
    missing = font.getmask("\ue000")  # a private-use character: never in DejaVu
    mask = font.getmask(char)
    return bool(mask.size != missing.size or bytes(mask) != bytes(missing))


def drawable(text: str, bold: bool = False) -> str:
    """`text` with what the font cannot draw (emoji, invisible marks) left out, spaces tidied."""
    kept: list[str] = []
    dropped = False
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if char == "\n":
            kept.append(char)
        elif char == "\t" or category == "Zs":
            kept.append(" ")
        elif (
            ord(char) > 0xFFFF
            or category[0] == "C"
            or 0xFE00 <= ord(char) <= 0xFE0F  # emoji presentation selectors
            or char == "\u20e3"  # keycap
            or category[0] == "Z"  # line and paragraph separators
            or not _has_glyph(char, bold)
        ):
            dropped = True
        else:
            kept.append(char)
    lines = [" ".join(line.split()) for line in "".join(kept).split("\n")]
    if dropped:  # "the gear ⚙️." must not become "the gear ."
        for mark in ".,;:!?)":
            lines = [line.replace(f" {mark}", mark) for line in lines]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy).strip()


def _length(text: str, size: float, bold: bool = False) -> float:
    """The width of `text` in layout pixels."""
    return _font(round(size * SCALE), bold).getlength(text) / SCALE


def _split_word(word: str, size: float, bold: bool, width: float) -> tuple[str, str]:
    """The longest head of a too-long word (a web address) that fits, preferring / . - breaks."""
    fits = 1
    while fits < len(word) and _length(word[: fits + 1], size, bold) <= width:
        fits += 1
    for cut in range(fits, fits // 2, -1):
        if word[cut - 1] in "/.-_?&=":
            return word[:cut], word[cut:]
    return word[:fits], word[fits:]


def wrap(text: str, size: float, width: float, bold: bool = False) -> list[str]:
    """Break `text` into lines no wider than `width`, keeping its own line breaks."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if _length(candidate, size, bold) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while _length(word, size, bold) > width:
                head, word = _split_word(word, size, bold, width)
                lines.append(head)
            line = word
        lines.append(line)
    return lines


def _clip(lines: list[str], limit: int | None, size: float, width: float) -> list[str]:
    """At most `limit` lines, the last ending in an ellipsis when some were cut."""
    if limit is None or len(lines) <= limit:
        return lines
    kept = lines[: max(limit, 1)]
    last = kept[-1]
    while last and _length(last + " …", size) > width:
        last = last[:-1]
    kept[-1] = last.rstrip() + " …"
    return kept


def leading(size: float) -> int:
    """The height of one line of text at `size`."""
    return round(size * 1.4)


def _initial(name: str) -> str:
    for char in name:
        if char.isalnum():
            return char.upper()
    return "?"


class _Screen:
    """A tall canvas drawn in layout pixels; `finish` crops it to the content and shrinks it."""

    def __init__(self, background: Colour) -> None:
        self.image = Image.new("RGB", (WIDTH * SCALE, MAX_HEIGHT * SCALE), background[:3])
        self.draw = ImageDraw.Draw(self.image)

    @staticmethod
    def _box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return (round(x0 * SCALE), round(y0 * SCALE), round(x1 * SCALE), round(y1 * SCALE))

    def rect(
        self,
        box: tuple[float, float, float, float],
        fill: Colour | None,
        radius: float = 0,
        outline: Colour | None = None,
        width: float = 0,
    ) -> None:
        corners = min(radius, (box[3] - box[1]) / 2, (box[2] - box[0]) / 2)
        self.draw.rounded_rectangle(
            self._box(*box),
            radius=round(corners * SCALE),
            fill=fill,
            outline=outline,
            width=round(width * SCALE),
        )

    def circle(
        self,
        cx: float,
        cy: float,
        r: float,
        fill: Colour | None,
        outline: Colour | None = None,
        width: float = 0,
    ) -> None:
        self.draw.ellipse(
            self._box(cx - r, cy - r, cx + r, cy + r),
            fill=fill,
            outline=outline,
            width=round(width * SCALE),
        )

    def text(
        self, x: float, y: float, text: str, size: float, fill: Colour, bold: bool = False
    ) -> None:
        """One line whose box starts at y; x is its left edge."""
        self.draw.text(
            (round(x * SCALE), round((y + leading(size) / 2 + size * 0.36) * SCALE)),
            text,
            font=_font(round(size * SCALE), bold),
            fill=fill,
            anchor="ls",
        )

    def lines(
        self,
        x: float,
        y: float,
        lines: Sequence[str],
        size: float,
        fill: Colour,
        bold: bool = False,
        align: Align = "left",
        width: float = 0,
    ) -> float:
        """Draw lines from y (centred in `width` from x when asked); return the y below them."""
        for line in lines:
            left = x + (width - _length(line, size, bold)) / 2 if align == "center" else x
            self.text(left, y, line, size, fill, bold)
            y += leading(size)
        return y

    def initial(self, cx: float, cy: float, r: float, name: str, fill: Colour, ink: Colour) -> None:
        """A round avatar with the first letter of `name`; a person's outline for a number."""
        self.circle(cx, cy, r, fill)
        letter = _initial(name)
        if letter.isalpha():
            size = r * 0.95
            self.text(cx - _length(letter, size) / 2, cy - leading(size) / 2, letter, size, ink)
            return
        self.circle(cx, cy - 0.2 * r, 0.3 * r, ink)
        shoulders = self._box(cx - 0.56 * r, cy + 0.2 * r, cx + 0.56 * r, cy + 1.1 * r)
        self.draw.chord(shoulders, 180, 360, fill=ink)

    def status_bar(self, ink: Colour) -> None:
        """The phone's own top line: clock, signal, battery."""
        self.text(36, 4, "9:41", 22, ink, bold=True)
        for bar in range(4):
            x = WIDTH - 128 + bar * 9
            self.rect((x, 30 - 6 - bar * 3.5, x + 6, 30), ink, radius=1.5)
        self.rect((WIDTH - 80, 15, WIDTH - 44, 31), None, radius=5, outline=ink, width=2)
        self.rect((WIDTH - 76, 19, WIDTH - 56, 27), ink, radius=2)
        self.rect((WIDTH - 42, 20, WIDTH - 39, 26), ink, radius=1.5)

    def home_indicator(self, bottom: float, ink: Colour) -> None:
        self.rect((WIDTH / 2 - 70, bottom - 16, WIDTH / 2 + 70, bottom - 10), ink, radius=3)

    def paste(self, icon: Image.Image, cx: float, cy: float) -> None:
        left = round(cx * SCALE - icon.width / 2)
        top = round(cy * SCALE - icon.height / 2)
        self.image.paste(icon, (left, top), icon)

    def finish(self, height: float) -> Image.Image:
        real = min(math.ceil(height), MAX_HEIGHT)
        cropped = self.image.crop((0, 0, WIDTH * SCALE, real * SCALE))
        return cropped.resize((WIDTH, real), Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class _Drill:
    sender: str
    message: str
    locale: Locale

    def ui(self, key: str) -> str:
        return _UI[key][self.locale]


Drawn = tuple[_Screen, float, int]
"""A drawn screen, its content height, and how many lines the message took."""


def _sms(drill: _Drill, size: int, limit: int | None) -> Drawn:
    header, grey = (247, 247, 250), (142, 142, 147)
    screen = _Screen((255, 255, 255))
    name = wrap(drill.sender, 28, WIDTH - 160, bold=True)
    header_bottom = 44 + 120 + len(name) * leading(28) + 14
    screen.rect((0, 0, WIDTH, header_bottom), header)
    screen.rect((0, header_bottom, WIDTH, header_bottom + 1), (216, 216, 220))
    screen.status_bar((0, 0, 0))
    screen.text(22, 62, "‹", 56, (0, 122, 255))
    screen.initial(WIDTH / 2, 44 + 62, 42, drill.sender, (164, 170, 184), (255, 255, 255))
    screen.lines(0, 44 + 114, name, 28, (0, 0, 0), bold=True, align="center", width=WIDTH)
    y: float = header_bottom + 26
    screen.lines(0, y, [drill.ui("sms")], 20, grey, align="center", width=WIDTH)
    y += leading(20) + 14
    text_width = WIDTH * 0.78 - 52
    lines = wrap(drill.message, size, text_width)
    shown = _clip(lines, limit, size, text_width)
    bubble_width = max(_length(line, size) for line in shown) + 52
    bubble_height = len(shown) * leading(size) + 30
    screen.rect((24, y, 24 + bubble_width, y + bubble_height), (233, 233, 235), radius=34)
    y = screen.lines(24 + 26, y + 15, shown, size, (0, 0, 0)) + 15
    footer = max(y + 48, MIN_HEIGHT - 128)
    screen.rect((0, footer, WIDTH, footer + 128), (255, 255, 255))
    screen.circle(54, footer + 46, 26, (233, 233, 235))
    screen.text(54 - _length("+", 34) / 2, footer + 46 - leading(34) / 2, "+", 34, grey)
    screen.rect((96, footer + 16, WIDTH - 24, footer + 76), None, 30, (199, 199, 204), 2)
    screen.text(122, footer + 46 - leading(24) / 2, drill.ui("sms-input"), 24, (160, 160, 166))
    screen.home_indicator(footer + 128, (0, 0, 0))
    return screen, footer + 128, len(lines)


def _zalo(drill: _Drill, size: int, limit: int | None) -> Drawn:
    blue, ink, grey = (0, 104, 255), (8, 28, 54), (122, 134, 154)
    screen = _Screen((226, 233, 241))
    name = wrap(drill.sender, 28, WIDTH - 220, bold=True)
    header_bottom = 44 + max(92, len(name) * leading(28) + 32)
    screen.rect((0, 0, WIDTH, header_bottom), blue)
    screen.status_bar((255, 255, 255))
    middle = (44 + header_bottom) / 2
    screen.text(20, middle - leading(36) / 2, "←", 36, (255, 255, 255))
    screen.initial(104, middle, 32, drill.sender, (255, 255, 255), blue)
    screen.lines(152, middle - len(name) * leading(28) / 2, name, 28, (255, 255, 255), bold=True)
    for row in (middle - 12, middle, middle + 12):  # the menu button
        screen.rect((WIDTH - 56, row - 2, WIDTH - 24, row + 2), (255, 255, 255), radius=2)
    y = header_bottom + 26
    day = drill.ui("zalo-day")
    day_width = _length(day, 20) + 36
    screen.rect(
        (WIDTH / 2 - day_width / 2, y, WIDTH / 2 + day_width / 2, y + 38), (180, 192, 206), 19
    )
    screen.lines(
        0, y + 19 - leading(20) / 2, [day], 20, (255, 255, 255), align="center", width=WIDTH
    )
    y += 38 + 22
    text_width = WIDTH - 96 - 60 - 40
    lines = wrap(drill.message, size, text_width)
    shown = _clip(lines, limit, size, text_width)
    bubble_width = max(max(_length(line, size) for line in shown), _length("09:41", 18)) + 44
    bubble_height = len(shown) * leading(size) + leading(18) + 30
    screen.initial(44, y + 24, 24, drill.sender, (0, 104, 255), (255, 255, 255))
    screen.rect((84, y, 84 + bubble_width, y + bubble_height), (255, 255, 255), radius=18)
    bottom = screen.lines(84 + 22, y + 14, shown, size, ink)
    screen.text(84 + 22, bottom + 2, "09:41", 18, grey)
    y += bubble_height
    footer = max(y + 48, MIN_HEIGHT - 120)
    screen.rect((0, footer, WIDTH, footer + 120), (255, 255, 255))
    screen.circle(48, footer + 44, 18, None, grey, 2.5)
    screen.circle(41, footer + 39, 2.5, grey)
    screen.circle(55, footer + 39, 2.5, grey)
    screen.draw.arc(
        screen._box(38, footer + 36, 58, footer + 54), 20, 160, fill=grey, width=round(2.5 * SCALE)
    )
    screen.text(86, footer + 44 - leading(26) / 2, drill.ui("zalo-input"), 26, grey)
    for dot in range(3):
        screen.circle(WIDTH - 66 + dot * 14, footer + 44, 3.5, grey)
    screen.home_indicator(footer + 120, (0, 0, 0))
    return screen, footer + 120, len(lines)


def _handset(size: float, colour: Colour, angle: float) -> Image.Image:
    """A telephone handset, lying flat (hung up) when angle is 0, turned by `angle` degrees."""
    side = round(size * SCALE)
    icon = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    s = side
    draw.arc(
        (round(0.08 * s), round(0.28 * s), round(0.92 * s), round(1.0 * s)),
        196,
        344,
        fill=colour,
        width=round(0.2 * s),
    )
    for left in (0.06, 0.64):
        draw.rounded_rectangle(
            (round(left * s), round(0.38 * s), round((left + 0.30) * s), round(0.66 * s)),
            radius=round(0.09 * s),
            fill=colour,
        )
    return icon.rotate(angle, resample=Image.Resampling.BICUBIC)


def _call(drill: _Drill, size: int, limit: int | None) -> Drawn:
    screen = _Screen((14, 23, 38))
    top, bottom = (14, 23, 38), (38, 66, 98)
    for row in range(MAX_HEIGHT * SCALE):
        t = row / (MAX_HEIGHT * SCALE)
        screen.draw.line(
            ((0, row), (WIDTH * SCALE, row)),
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    white, pale = (255, 255, 255), (184, 198, 218)
    screen.status_bar(white)
    y: float = 44 + 44
    y = screen.lines(0, y, [drill.ui("incoming")], 26, pale, align="center", width=WIDTH) + 26
    screen.initial(WIDTH / 2, y + 72, 72, drill.sender, (59, 83, 115), white)
    y += 144 + 24
    name = wrap(drill.sender, 44, WIDTH - 80, bold=True)
    y = screen.lines(0, y, name, 44, white, bold=True, align="center", width=WIDTH) + 36
    text_width = WIDTH - 72 - 56
    lines = wrap(f"“{drill.message}”", size, text_width)
    shown = _clip(lines, limit, size, text_width)
    box_height = leading(22) + 8 + len(shown) * leading(size) + 48
    screen.draw.polygon(
        [
            (round((WIDTH / 2 - 18) * SCALE), round((y + 1) * SCALE)),
            (round((WIDTH / 2) * SCALE), round((y - 18) * SCALE)),
            (round((WIDTH / 2 + 18) * SCALE), round((y + 1) * SCALE)),
        ],
        fill=(238, 243, 250),
    )
    screen.rect((36, y, WIDTH - 36, y + box_height), (238, 243, 250), radius=26)
    screen.text(36 + 28, y + 22, drill.ui("caller-says"), 22, (84, 104, 132), bold=True)
    screen.lines(36 + 28, y + 22 + leading(22) + 8, shown, size, (16, 28, 46))
    y += box_height
    buttons = max(y + 56, MIN_HEIGHT - 230)
    for cx, colour, label, angle in (
        (WIDTH * 0.27, (235, 77, 61), drill.ui("decline"), 0),
        (WIDTH * 0.73, (52, 199, 89), drill.ui("answer"), 135),
    ):
        screen.circle(cx, buttons + 60, 60, colour)
        screen.paste(_handset(76, white, angle), cx, buttons + 60)
        screen.lines(cx - 120, buttons + 132, [label], 24, white, align="center", width=240)
    screen.home_indicator(buttons + 230, white)
    return screen, buttons + 230, len(lines)


def _web(drill: _Drill, size: int, limit: int | None) -> Drawn:
    ink, grey, chrome = (32, 33, 36), (95, 99, 104), (241, 243, 244)
    screen = _Screen((246, 247, 249))
    pill_left, pill_right = 24, WIDTH - 124
    address = wrap(drill.sender, 26, pill_right - pill_left - 84)
    pill_height = max(64, len(address) * leading(26) + 20)
    bar_bottom = 44 + 16 + pill_height + 16
    screen.rect((0, 0, WIDTH, bar_bottom), chrome)
    screen.rect((0, bar_bottom, WIDTH, bar_bottom + 1), (218, 220, 224))
    screen.status_bar(ink)
    screen.rect((pill_left, 60, pill_right, 60 + pill_height), (255, 255, 255), radius=32)
    middle = 60 + pill_height / 2
    screen.circle(pill_left + 36, middle, 13, None, grey, 2.5)
    screen.rect((pill_left + 34.75, middle - 2, pill_left + 37.25, middle + 7), grey)
    screen.circle(pill_left + 36, middle - 6, 1.8, grey)
    screen.lines(pill_left + 64, middle - len(address) * leading(26) / 2, address, 26, ink)
    tabs = pill_right + 26
    screen.rect((tabs, middle - 17, tabs + 34, middle + 17), None, 7, ink, 3)
    one = tabs + 17 - _length("1", 20, True) / 2
    screen.text(one, middle - leading(20) / 2, "1", 20, ink, bold=True)
    for dot in range(3):
        screen.circle(WIDTH - 30, middle - 12 + dot * 12, 3.5, ink)
    y: float = bar_bottom + 28
    text_width = WIDTH - 2 * 24 - 2 * 30
    lines = wrap(drill.message, size, text_width)
    shown = _clip(lines, limit, size, text_width)
    card = len(shown) * leading(size) + 2 * 30
    screen.rect((24, y, WIDTH - 24, y + card), (255, 255, 255), 18, (222, 225, 230), 1.5)
    y = screen.lines(24 + 30, y + 30, shown, size, ink) + 30 + 48
    height = max(y, MIN_HEIGHT)
    screen.home_indicator(height, (0, 0, 0))
    return screen, height, len(lines)


_STYLES: dict[str, Callable[[_Drill, int, int | None], Drawn]] = {
    "sms": _sms,
    "zalo": _zalo,
    "call": _call,
    "web": _web,
}


def render(step: DrillStep, locale: Locale) -> Image.Image:
    """The drill's message as the learner would see it on a phone, in `locale`."""
    drill = _Drill(
        sender=drawable(step.sender, bold=True) or step.sender.strip() or "?",
        message=drawable(step.message(locale)),
        locale=locale,
    )
    style = _STYLES[step.channel]
    for size in MESSAGE_SIZES:
        screen, height, count = style(drill, size, None)
        if height <= MAX_HEIGHT:
            return screen.finish(height)
    limit = count  # still too tall at the smallest size: cut the message short
    while height > MAX_HEIGHT and limit > 1:
        limit = max(1, limit - max(1, math.ceil((height - MAX_HEIGHT) / leading(size))))
        screen, height, _ = style(drill, size, limit)
    return screen.finish(height)


# --- Files -----------------------------------------------------------------------------------


def source_hash(step: DrillStep, locale: Locale) -> str:
    """What a drill's picture is drawn from, hashed: it changes exactly when the picture must."""
    source = {
        "v": RENDER_VERSION,
        "channel": step.channel,
        "sender": step.sender,
        "message": step.message(locale),
        "locale": locale,
    }
    canonical = json.dumps(source, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def stored_hash(path: Path) -> str | None:
    """The `camtay-source` chunk of a picture on disk; None when missing or unreadable."""
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                return None
            value = image.info.get(SOURCE_KEY)
    except (OSError, SyntaxError, ValueError):
        return None
    return str(value) if value is not None else None


def save(image: Image.Image, path: Path, digest: str) -> None:
    """Write a small palette PNG carrying its source hash, atomically: never seen half-written."""
    info = PngInfo()
    info.add_text(SOURCE_KEY, digest)
    small = image.convert("RGB").quantize(COLOURS, dither=Image.Dither.NONE)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    small.save(partial, format="PNG", optimize=True, pnginfo=info)
    os.replace(partial, path)


class InvalidLessonError(Exception):
    """A lesson file that cannot be read or does not validate."""


def lesson_files(root: Path) -> Iterator[Path]:
    """Every lesson file: `root/<module>/*.yaml` except module.yaml, outside the assets folder."""
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        if folder.name == ASSETS_DIR:
            continue
        for file in sorted(folder.glob("*.yaml")):
            if file.name != MODULE_FILE:
                yield file


def read_lesson(file: Path) -> Lesson:
    """One lesson file, parsed and validated as the loader does; InvalidLessonError if it fails."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidLessonError(f"cannot be read: {error}".splitlines()[0]) from error
    if not isinstance(data, dict):
        raise InvalidLessonError("is not a YAML mapping")
    try:
        return Lesson.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidLessonError(
            f"does not validate ({error.error_count()} problems, first {where}: {first['msg']})"
        ) from error


@dataclass
class Report:
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        line = (
            f"pictures: written {self.written}, unchanged {self.unchanged}, removed {self.removed}"
        )
        if self.skipped:
            count = len(self.skipped)
            line += f", skipped {count} invalid lesson file{'s' if count != 1 else ''}"
        return line


def drills(lesson: Lesson) -> list[DrillStep]:
    return [step for step in lesson.steps if isinstance(step, DrillStep)]


def generate(root: Path, report: Report | None = None) -> Report:
    """Draw every drill picture under `root`/assets/drills that is missing or out of date."""
    report = report or Report()
    assets = root / ASSETS_DIR
    wanted: set[Path] = set()
    kept: set[str] = set()  # lessons that failed to load keep their pictures until they are fixed
    for file in lesson_files(root):
        try:
            lesson = read_lesson(file)
        except InvalidLessonError as error:
            print(f"warning: {file} {error}: its pictures are skipped", file=sys.stderr)
            report.skipped.append(file)
            kept.add(file.stem)
            continue
        for step in drills(lesson):
            for locale in LOCALES:
                path = assets / drill_picture(lesson.id, step.id, locale)
                wanted.add(path)
                digest = source_hash(step, locale)
                if stored_hash(path) == digest:
                    report.unchanged += 1
                    continue
                save(render(step, locale), path, digest)
                report.written += 1
    folder = assets / DRILLS_DIR
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            generated = path.suffix == ".png" or path.name.endswith(".png.partial")
            lesson_id = path.relative_to(folder).parts[0]
            if path.is_file() and generated and path not in wanted and lesson_id not in kept:
                path.unlink()
                report.removed += 1
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.pictures", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "roots", nargs="*", type=Path, help=f"lessons folders (default: {DEFAULT_LESSONS_DIR})"
    )
    args = parser.parse_args(argv)
    roots: list[Path] = args.roots or [DEFAULT_LESSONS_DIR]
    report = Report()
    try:
        font_files()
        for root in roots:
            if not root.is_dir():
                print(f"error: {root} is not a lessons folder", file=sys.stderr)
                return 2
            generate(root, report)
    except FontsMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
