"""Small SVG charts drawn on the server: bars, grouped bars and lines, fed with plain lists.

Every chart is one `<svg>` with a viewBox, so it scales to its box; every mark carries a
`<title>` that browsers show on hover (and screen readers read). All text that goes in -- labels,
series names, titles -- is escaped here, so callers pass plain strings, never markup.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

Format = Callable[[float], str]

PALETTE = ("#0b6e4f", "#e07b00", "#2f6db5", "#8e44ad", "#6b7a72")
"""Series colours, in order: the tutor's green, then colours that stay apart for most eyes."""
HOT = "#c62828"
"""Highlighted bars (hot spots)."""
INK = "#1b1b1b"
MUTED = "#5b6660"
GRID = "#dde4e0"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif"

WIDTH = 640
_ID = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Series:
    """One named row of numbers, drawn in one colour."""

    name: str
    values: Sequence[float]
    colour: str | None = None


def plain(value: float) -> str:
    """1234 -> '1234', 12.345 -> '12.3': the default number format."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least `top`, in steps of 1, 2, 2.5 or 5 times 10^n."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 1.0]
    raw = top / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    steps = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters; cut text ends with an ellipsis (the full text is in titles)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 1)].rstrip() + "…"


def _number(value: float) -> str:
    """A coordinate for an attribute: short and locale-free."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _colour(series: Series, index: int) -> str:
    colour = series.colour or PALETTE[index % len(PALETTE)]
    if not _COLOUR.match(colour):
        raise ValueError(f"colour must look like #1a2b3c, not {colour!r}")
    return colour


def _check_id(chart_id: str) -> None:
    if not _ID.match(chart_id):
        raise ValueError(f"chart id must be lower-case letters, digits and dashes: {chart_id!r}")


def _clean(values: Sequence[float]) -> list[float]:
    """Negative, missing or not-a-number values are drawn as 0 (counts and shares are never <0)."""
    return [v if isinstance(v, int | float) and math.isfinite(v) and v > 0 else 0.0 for v in values]


def _svg(chart_id: str, title: str, height: float, body: list[str], desc: str = "") -> Markup:
    _check_id(chart_id)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" '
        f'viewBox="0 0 {WIDTH} {_number(height)}" role="img" '
        f'aria-labelledby="{chart_id}-title" font-family="{escape(FONT)}" font-size="13" '
        f'preserveAspectRatio="xMinYMin meet">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
    )
    if desc:
        head += f"<desc>{escape(desc)}</desc>"
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 -- every piece escaped above


def _text(x: float, y: float, content: str, **attributes: str) -> str:
    extra = "".join(f' {name.replace("_", "-")}="{escape(v)}"' for name, v in attributes.items())
    return f'<text x="{_number(x)}" y="{_number(y)}"{extra}>{escape(content)}</text>'


def _empty(chart_id: str, title: str, message: str) -> Markup:
    return _svg(
        chart_id,
        title,
        80,
        [
            f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="79" fill="none" stroke="{GRID}"/>',
            _text(WIDTH / 2, 45, message, text_anchor="middle", fill=MUTED),
        ],
    )


def _legend(series: Sequence[Series], y: float) -> list[str]:
    parts = ['<g class="legend">']
    x = 0.0
    for index, item in enumerate(series):
        colour = _colour(item, index)
        name = shorten(item.name, 28)
        parts.append(
            f'<rect x="{_number(x)}" y="{_number(y - 10)}" width="12" height="12" rx="2" '
            f'fill="{colour}"/>'
        )
        parts.append(_text(x + 17, y, name, fill=INK))
        x += 17 + 7.5 * len(name) + 22
    parts.append("</g>")
    return parts


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    chart_id: str,
    title: str,
    notes: Sequence[str] | None = None,
    highlight: Collection[int] = (),
    colour: str = PALETTE[0],
    fmt: Format = plain,
    top: float | None = None,
    empty: str = "—",
) -> Markup:
    """Horizontal bars, one per label, value at the bar's end; `highlight` bars in red.

    `notes[i]` is bar i's hover text (default "label: value"); `top` fixes the scale's end
    (e.g. the first bar of a funnel, or 100 for shares).
    """
    if len(labels) != len(values) or (notes is not None and len(notes) != len(labels)):
        raise ValueError("labels, values and notes must be the same length")
    if not _COLOUR.match(colour):
        raise ValueError(f"colour must look like #1a2b3c, not {colour!r}")
    if not labels:
        return _empty(chart_id, title, empty)
    numbers = _clean(values)
    scale_top = top if top is not None and top > 0 else max(max(numbers), 1.0)
    row, gap, label_width, value_room = 26.0, 8.0, 230.0, 56.0
    plot = WIDTH - label_width - value_room
    height = len(labels) * (row + gap) + gap
    body = [
        f'<line x1="{_number(label_width)}" y1="0" x2="{_number(label_width)}" '
        f'y2="{_number(height)}" stroke="{MUTED}" stroke-width="1"/>'
    ]
    for index, (label, value) in enumerate(zip(labels, numbers, strict=True)):
        y = gap + index * (row + gap)
        length = plot * min(value / scale_top, 1.0)
        fill = HOT if index in highlight else colour
        note = notes[index] if notes is not None else f"{label}: {fmt(value)}"
        mark_class = "bar hot" if index in highlight else "bar"
        body.append(f'<g class="{mark_class}"><title>{escape(note)}</title>')
        body.append(
            f'<rect x="{_number(label_width)}" y="{_number(y)}" width="{_number(max(length, 1))}" '
            f'height="{_number(row)}" rx="3" fill="{fill}"/>'
        )
        body.append(
            _text(label_width - 8, y + row / 2 + 4.5, shorten(label, 32), text_anchor="end")
        )
        body.append(_text(label_width + length + 6, y + row / 2 + 4.5, fmt(value), fill=INK))
        body.append("</g>")
    return _svg(chart_id, title, height, body)


def _y_axis(
    ticks: list[float], left: float, top: float, plot_height: float, right: float, fmt: Format
) -> list[str]:
    """Gridlines and tick labels of a vertical value axis, from 0 at the bottom."""
    parts = ['<g class="axis y">']
    for tick in ticks:
        y = top + plot_height * (1 - tick / ticks[-1])
        parts.append(
            f'<line x1="{_number(left)}" y1="{_number(y)}" x2="{_number(right)}" '
            f'y2="{_number(y)}" stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y + 4, fmt(tick), text_anchor="end", fill=MUTED))
    parts.append(
        f'<line x1="{_number(left)}" y1="{_number(top)}" x2="{_number(left)}" '
        f'y2="{_number(top + plot_height)}" stroke="{MUTED}" stroke-width="1"/>'
    )
    parts.append(
        f'<line x1="{_number(left)}" y1="{_number(top + plot_height)}" x2="{_number(right)}" '
        f'y2="{_number(top + plot_height)}" stroke="{MUTED}" stroke-width="1"/>'
    )
    parts.append("</g>")
    return parts


def _check_series(labels: Sequence[str], series: Sequence[Series]) -> None:
    if not series:
        raise ValueError("a chart needs at least one series")
    for item in series:
        if len(item.values) != len(labels):
            raise ValueError(
                f"series {item.name!r} has {len(item.values)} values for {len(labels)}"
            )


def grouped_bar_chart(
    groups: Sequence[str],
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    fmt: Format = plain,
    top: float | None = None,
    empty: str = "—",
) -> Markup:
    """Vertical bars side by side: one group per label, one bar per series (e.g. before/after)."""
    _check_series(groups, series)
    if not groups:
        return _empty(chart_id, title, empty)
    columns = [_clean(item.values) for item in series]
    highest = max(max(column) for column in columns)
    ticks = nice_ticks(top if top is not None and top > 0 else max(highest, 1.0))
    left, right, plot_top, plot_height, legend = 48.0, WIDTH - 8.0, 34.0, 220.0, 16.0
    height = plot_top + plot_height + 40
    body = _legend(series, legend)
    body += _y_axis(ticks, left, plot_top, plot_height, right, fmt)
    slot = (right - left) / len(groups)
    bar = min(44.0, slot * 0.8 / len(series))
    limit = max(int(slot / 7.5), 4)
    for g, group in enumerate(groups):
        start = left + g * slot + (slot - bar * len(series)) / 2
        for s, item in enumerate(series):
            value = columns[s][g]
            bar_height = plot_height * min(value / ticks[-1], 1.0)
            x = start + s * bar
            y = plot_top + plot_height - bar_height
            note = f"{group} · {item.name}: {fmt(value)}"
            body.append(f'<g class="bar"><title>{escape(note)}</title>')
            body.append(
                f'<rect x="{_number(x + 1)}" y="{_number(y)}" width="{_number(bar - 2)}" '
                f'height="{_number(max(bar_height, 0.5))}" fill="{_colour(item, s)}"/>'
            )
            if bar >= 22:
                body.append(
                    _text(x + bar / 2, y - 4, fmt(value), text_anchor="middle", font_size="11")
                )
            body.append("</g>")
        body.append(
            _text(
                left + g * slot + slot / 2,
                plot_top + plot_height + 18,
                shorten(group, limit),
                text_anchor="middle",
                fill=INK,
            )
        )
    return _svg(chart_id, title, height, body)


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    fmt: Format = plain,
    empty: str = "—",
) -> Markup:
    """Lines over time with a point per value; x labels are thinned out when there are many."""
    _check_series(x_labels, series)
    if not x_labels:
        return _empty(chart_id, title, empty)
    columns = [_clean(item.values) for item in series]
    ticks = nice_ticks(max(max(max(column) for column in columns), 1.0))
    left, right, plot_top, plot_height, legend = 56.0, WIDTH - 16.0, 34.0, 220.0, 16.0
    height = plot_top + plot_height + 40
    body = _legend(series, legend)
    body += _y_axis(ticks, left, plot_top, plot_height, right, fmt)
    count = len(x_labels)
    step = (right - left) / count
    every = max(1, math.ceil(count / 10))

    def x_of(index: int) -> float:
        return left + step * index + step / 2

    def y_of(value: float) -> float:
        return plot_top + plot_height * (1 - value / ticks[-1])

    for index, label in enumerate(x_labels):
        if index % every == 0 or index == count - 1:
            body.append(
                _text(
                    x_of(index),
                    plot_top + plot_height + 18,
                    shorten(label, 10),
                    text_anchor="middle",
                    fill=INK,
                )
            )
    for s, item in enumerate(series):
        colour = _colour(item, s)
        points = " ".join(
            f"{_number(x_of(i))},{_number(y_of(v))}" for i, v in enumerate(columns[s])
        )
        body.append(f'<g class="line"><title>{escape(item.name)}</title>')
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="3" '
            f'stroke-linejoin="round" stroke-linecap="round"/>'
        )
        body.append("</g>")
        for i, value in enumerate(columns[s]):
            note = f"{x_labels[i]} · {item.name}: {fmt(value)}"
            body.append(
                f'<g class="point"><title>{escape(note)}</title>'
                f'<circle cx="{_number(x_of(i))}" cy="{_number(y_of(value))}" r="4.5" '
                f'fill="#ffffff" stroke="{colour}" stroke-width="2.5"/></g>'
            )
    return _svg(chart_id, title, height, body)
