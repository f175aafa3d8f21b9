"""The admin dashboard: sign-in, scopes, escaping, CSV links and the SVG charts, on SQLite and
PostgreSQL.

The data set is made by people chatting with the real tutor (see `seed`):
Nghệ An: volunteer Bảo Ngọc (THPT Phan Bội Châu, 11A2) brings in grandma, who takes the quick check,
both demo lessons and the final check (equipped), and grandpa, who taps "I'm stuck" on the
show step of lesson one and stops there.
Hà Nội: volunteer Phương Thảo (THCS Kim Liên, 9A) brings in an uncle who finishes lesson one in
February; a second volunteer there calls themself `<script>` (and their school `<b>`), to check
that whatever people type is shown as text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from markupsafe import Markup
from sqlalchemy import select

from admin import charts, dashboard, reports
from admin.rollups import refresh_rollups
from bot.engine import Start, Stuck
from bot.store.models import AuditEntry
from bot.wiring import Runtime
from tests.admin.conftest import MakeToken
from tests.conftest import Clock
from tests.test_community import Person, volunteer_signs_up

ORIGIN = "http://camtay.test"
NGOC = "Bảo Ngọc"
THAO = "Phương Thảo"
EVIL = "<script>alert(1)</script>"
EVIL_SCHOOL = "<b>Trường Xấu</b>"
SVG = "{http://www.w3.org/2000/svg}"


@dataclass
class Seeded:
    codes: dict[str, str]


async def volunteer(runtime: Runtime, chat: str, answers: tuple[str, str, str, str]) -> str:
    """Someone signs up as a volunteer (name, school, class, province); their invitation code."""
    person = Person(runtime.tutor, "telegram", chat)
    if answers[3] == "Nghệ An":
        return await volunteer_signs_up(person, *answers[:3])
    await person.send(Start(payload="lang_en"))
    await person.type("/volunteer")
    for answer in answers:
        await person.type(answer)
    text = "\n".join(getattr(reply, "text", "") for reply in await person.type("/volunteer"))
    match = re.search(r"Your invitation code: ([a-z0-9]{6})", text)
    assert match is not None, text
    return match.group(1)


async def joins(runtime: Runtime, chat: str, code: str) -> Person:
    person = Person(runtime.tutor, "web", chat)
    await person.send(Start(payload=f"ref_{code}"))
    await person.tap("English")
    return person


async def seed(runtime: Runtime, clock: Clock) -> Seeded:
    """The small data set of this module's docstring, made through the real tutor; rollups
    refreshed at the end."""
    minh = await volunteer(runtime, "minh", (NGOC, "THPT Phan Bội Châu", "11A2", "Nghệ An"))
    quang = await volunteer(runtime, "quang", (THAO, "THCS Kim Liên", "9A", "Hà Nội"))
    await volunteer(runtime, "evil", (EVIL, EVIL_SCHOOL, "9B", "Hà Nội"))

    grandma = await joins(runtime, "grandma", minh)
    await grandma.tap("📘 Demo")
    await grandma.tap("📝 Quick check")
    for answer in ("A caller", "Make the text bigger", "Tap to see"):  # 1 of 3 right
        await grandma.tap(answer)
    await grandma.tap("▶️ Learn")
    clock.advance(minutes=4)
    for label in ("Next", "Done", "Nobody", "A scam", "▶️ Next: Lesson two", "Next", "Two"):
        await grandma.tap(label)
    await grandma.tap("🏁 Take the final check")
    while grandma.buttons and not grandma.buttons[0].label.startswith("📋"):
        right = [o for o in grandma.buttons if o.label in ("Refuse", "Press the volume button")]
        right += [o for o in grandma.buttons if o.label == "A scam"]
        await grandma.tap((right or grandma.buttons)[0].label)

    grandpa = await joins(runtime, "grandpa", minh)
    await grandpa.tap("📘 Demo")
    await grandpa.tap("📘 Lesson one")
    await grandpa.tap("Next")
    await grandpa.send(Stuck())

    clock.advance(days=20)  # February
    uncle = await joins(runtime, "uncle", quang)
    await uncle.tap("📘 Demo")
    await uncle.tap("📘 Lesson one")
    for label in ("Next", "Done", "The bank", "Safe"):
        await uncle.tap(label)
    await refresh_rollups(runtime.database, runtime.catalog, clock())
    return Seeded(codes={"minh": minh, "quang": quang})


@pytest.fixture
async def seeded(runtime: Runtime, clock: Clock) -> Seeded:
    return await seed(runtime, clock)


# --- helpers ----------------------------------------------------------------------------------


async def sign_in(client: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    return await client.post(
        "/admin/login",
        content=f"token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )


async def page(
    client: httpx.AsyncClient, make_token: MakeToken, role: str, path: str = "/admin", **scope: str
) -> str:
    token = await make_token(role, **scope)
    assert (await sign_in(client, token)).status_code == 303
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.text


class Cards(HTMLParser):
    """The key figures of the overview, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = ("class", "figure") in attrs

    def handle_data(self, data: str) -> None:
        if self._in:
            self.figures.append(data)
            self._in = False


def figures(html: str) -> list[str]:
    parser = Cards()
    parser.feed(html)
    return parser.figures


def svgs(html: str) -> dict[str, ET.Element]:
    """Every chart of a page, parsed as XML (so each one is well-formed on its own)."""
    found = {}
    for match in re.finditer(r"<svg .*?</svg>", html, re.S):
        element = ET.fromstring(match.group(0))  # noqa: S314 -- the app's own output
        found[element.attrib["id"]] = element
    return found


# --- signing in -------------------------------------------------------------------------------


async def test_without_a_cookie_every_page_sends_you_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/admin", "/admin/exports/learners.csv", "/admin/exports/progress.csv"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/admin/login"
    login = await client.get("/admin/login")
    assert login.status_code == 200
    assert 'name="token"' in login.text
    assert "Đăng nhập" in login.text  # Vietnamese by default
    assert "script-src" not in login.headers["content-security-policy"]  # nothing may run
    assert "default-src 'none'" in login.headers["content-security-policy"]


async def test_a_good_token_signs_in_with_a_strict_cookie_and_logout_clears_it(
    client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    token = await make_token("admin", name="Chị Hoa")
    response = await sign_in(client, token, Origin=ORIGIN)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{dashboard.COOKIE}={token};")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    assert token not in response.headers["location"]
    home = await client.get("/admin")
    assert home.status_code == 200
    assert "Chị Hoa" in home.text
    assert token not in home.text
    assert (await client.get("/admin/login")).status_code == 303  # already signed in
    out = await client.get("/admin/logout")
    assert out.status_code == 303
    assert out.headers["location"] == "/admin/login"
    assert dashboard.COOKIE not in client.cookies
    assert (await client.get("/admin")).status_code == 303


async def test_the_cookie_is_secure_over_https(app: Any, make_token: MakeToken) -> None:
    token = await make_token("admin")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://camtay.test") as http:
        response = await sign_in(http, token)
    assert "Secure" in response.headers["set-cookie"]


async def test_a_wrong_or_revoked_token_shows_the_form_again(
    client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    for token in ("camtay_wrong", "not-even-a-token", ""):
        response = await sign_in(client, token)
        assert response.status_code == 401
        assert "không đúng" in response.text
        assert 'name="token"' in response.text
        assert "set-cookie" not in response.headers
    # A token in the cookie that stops working sends you back to sign in.
    client.cookies.set(dashboard.COOKIE, "camtay_forged", path="/admin")
    assert (await client.get("/admin")).status_code == 303


async def test_sign_in_from_another_site_is_refused(
    client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    token = await make_token("admin")
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/form.html"},
    ):
        response = await sign_in(client, token, **headers)
        assert response.status_code == 403, headers
        assert "set-cookie" not in response.headers
    same = await sign_in(client, token, Referer=f"{ORIGIN}/admin/login")
    assert same.status_code == 303


async def test_behind_a_proxy_the_public_host_is_ours(
    client: httpx.AsyncClient, make_token: MakeToken, runtime: Runtime
) -> None:
    token = await make_token("admin")
    proxied = await sign_in(
        client, token, Origin="https://camtay.example", **{"X-Forwarded-Host": "camtay.example"}
    )
    assert proxied.status_code == 303
    assert "Secure" not in proxied.headers["set-cookie"]
    runtime.settings.public_url = "https://tutor.example"
    public = await sign_in(client, token, Origin="https://tutor.example")
    assert public.status_code == 303
    assert "Secure" in public.headers["set-cookie"]  # the site is https, whatever the hop says
    assert (await sign_in(client, token, Origin="https://other.example")).status_code == 403


async def test_sign_in_in_english(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/login?lang=en")
    assert "Sign in" in response.text
    assert '<html lang="en">' in response.text
    # The choice is remembered for the next pages.
    assert "Sign in" in (await client.get("/admin/login")).text
    bad = await sign_in(client, "camtay_nope")
    assert "This token is wrong" in bad.text


# --- what each role sees ----------------------------------------------------------------------


async def test_the_overview_shows_the_four_charts_and_the_tables(
    client: httpx.AsyncClient, make_token: MakeToken, seeded: Seeded
) -> None:
    html = await page(client, make_token, "admin")
    charts_found = svgs(html)
    assert set(charts_found) >= {"chart-progress", "chart-funnel", "chart-gain", "chart-volunteers"}
    # grandma, grandpa, uncle, and the three volunteers' own rows: every person registered.
    assert figures(html)[:3] == ["6", "1", "1"]
    assert "Nghệ An" in html
    assert "Hà Nội" in html
    # The funnel is drawn for the lesson with the hot spot: grandpa stuck at "Open Settings".
    assert "Open Settings" not in html  # Vietnamese by default
    assert "Mở Cài đặt." in html
    funnel = charts_found["chart-funnel"]
    hot = [g for g in funnel.iter(f"{SVG}g") if g.attrib.get("class") == "bar hot"]
    assert hot
    title = hot[0].find(f"{SVG}title")
    assert title is not None
    assert title.text is not None
    assert "Mở Cài đặt" in title.text
    # Learning gain: grandma's 1 of 3 before, 3 of 3 after.
    assert "33,3%" in html
    assert "100%" in html
    # Volunteers by name for an admin.
    assert NGOC in html
    assert THAO in html


async def test_a_province_filter_answers_how_many_completed_a_module_there(
    client: httpx.AsyncClient, make_token: MakeToken, seeded: Seeded
) -> None:
    token = await make_token("admin")
    await sign_in(client, token)
    response = await client.get(
        "/admin",
        params={"province": "nghe-an", "period": "quarter", "from": "2026-01", "to": "2026-03"},
    )
    assert response.status_code == 200
    html = response.text
    assert figures(html)[:2] == ["3", "1"]  # Bảo Ngọc, grandma, grandpa; grandma finished Demo
    assert "Q1/2026" in html
    assert "THPT Phan Bội Châu" in html  # by school inside the province
    assert THAO not in html
    hanoi = await client.get("/admin", params={"province": "ha-noi"})
    assert figures(hanoi.text)[:2] == ["3", "0"]
    assert NGOC not in hanoi.text
    unknown = await client.get("/admin", params={"province": "atlantis", "from": "soon"})
    assert unknown.status_code == 200
    assert "atlantis" in unknown.text  # told what was ignored
    assert "soon" in unknown.text


async def test_a_viewer_never_sees_another_province(
    client: httpx.AsyncClient, make_token: MakeToken, seeded: Seeded
) -> None:
    html = await page(client, make_token, "viewer", province="nghe-an")
    assert figures(html)[:2] == ["3", "1"]
    for other in ("Hà Nội", "Ha Noi", THAO, "Kim Liên", "uncle", "&lt;script&gt;", "Trường Xấu"):
        assert other not in html, other
    assert NGOC in html
    forbidden = await client.get("/admin", params={"province": "ha-noi"})
    assert forbidden.status_code == 403
    assert THAO not in forbidden.text
    assert (await client.get("/admin/exports/learners.csv?province=ha-noi")).status_code == 403


async def test_a_school_viewer_sees_only_their_school(
    client: httpx.AsyncClient, make_token: MakeToken, seeded: Seeded
) -> None:
    html = await page(client, make_token, "viewer", province="ha-noi", school="THCS Kim Liên")
    assert "THCS Kim Liên" in html
    assert THAO in html
    assert "Trường Xấu" not in html  # the other school of the same province
    assert NGOC not in html


async def test_an_analyst_sees_no_names(
    client: httpx.AsyncClient, make_token: MakeToken, seeded: Seeded
) -> None:
    html = await page(client, make_token, "analyst")
    for name in (NGOC, THAO, "script", "Grandma"):
        assert name not in html, name
    assert "#1" in html
    assert figures(html)[:3] == ["6", "1", "1"]


async def test_what_people_type_is_shown_as_text(
    client: httpx.AsyncClient, make_token: MakeToken, seeded: Seeded
) -> None:
    html = await page(client, make_token, "admin", "/admin?by=volunteer&lang=en")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    schools = await client.get("/admin?by=school")
    assert "<b>" not in schools.text
    assert "&lt;b&gt;Trường Xấu&lt;/b&gt;" in schools.text
    svgs(schools.text)  # still well-formed XML with those labels inside
    # A hostile query string is escaped too.
    odd = await client.get("/admin", params={"from": '"><script>x</script>'})
    assert "<script>x" not in odd.text


async def test_english_pages(
    client: httpx.AsyncClient, make_token: MakeToken, seeded: Seeded
) -> None:
    html = await page(client, make_token, "admin", "/admin?lang=en")
    assert "Where people get stuck" in html
    assert "Open Settings." in html
    assert "Tiếng Việt" in html  # the switch back
    assert "Người học bị kẹt ở đâu" not in html
    vietnamese = await client.get("/admin?lang=vi")
    assert "Người học bị kẹt ở đâu" in vietnamese.text


# --- downloads --------------------------------------------------------------------------------


async def test_csv_links_work_with_the_cookie(
    client: httpx.AsyncClient, make_token: MakeToken, runtime: Runtime, seeded: Seeded
) -> None:
    html = await page(client, make_token, "viewer", province="nghe-an")
    links = re.findall(r'href="(/admin/exports/[a-z]+\.csv[^"]*)"', html)
    assert len(links) == 2
    for link in links:
        response = await client.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link
        assert response.headers["content-type"].startswith("text/csv")
        assert response.text.startswith("\ufeff")
    learners_csv = (await client.get("/admin/exports/learners.csv")).text
    assert learners_csv.count("nghe-an") == 3  # Bảo Ngọc, grandma, grandpa
    assert "ha-noi" not in learners_csv
    async with runtime.database.unit_of_work() as uow:
        actions = (await uow.session.scalars(select(AuditEntry.action))).all()
    assert "export.learners" in actions
    assert "export.progress" in actions


async def test_an_analysts_csv_has_no_names(
    client: httpx.AsyncClient, make_token: MakeToken, seeded: Seeded
) -> None:
    await page(client, make_token, "analyst")
    text = (await client.get("/admin/exports/learners.csv")).text
    assert "display_name" not in text
    assert NGOC not in text


# --- the chart functions ----------------------------------------------------------------------


def parse(svg: Markup) -> ET.Element:
    element = ET.fromstring(str(svg))  # noqa: S314 -- our own charts
    assert element.tag == f"{SVG}svg"
    assert element.attrib["viewBox"].startswith("0 0 ")
    return element


def titles(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}title")]


def test_a_bar_chart_has_a_bar_and_a_hover_title_per_value() -> None:
    svg = charts.bar_chart(
        ["One", "Two", EVIL],
        [3, 0, 7.5],
        chart_id="chart-test",
        title="Bars & more",
        highlight={2},
    )
    element = parse(svg)
    assert element.attrib["id"] == "chart-test"
    assert titles(element) == ["Bars & more", "One: 3", "Two: 0", f"{EVIL}: 7.5"]
    rects = list(element.iter(f"{SVG}rect"))
    assert len(rects) == 3
    assert rects[2].attrib["fill"] == charts.HOT
    widths = [float(rect.attrib["width"]) for rect in rects]
    assert widths[0] < widths[2]
    assert widths[1] == 1  # a zero still shows a sliver
    assert "<script>" not in str(svg)


def test_bar_chart_notes_scale_and_formats() -> None:
    svg = charts.bar_chart(
        ["a", "b"],
        [50, 100],
        chart_id="c",
        title="t",
        notes=["first", "second"],
        top=200,
        fmt=lambda v: f"{v:.0f} people",
    )
    element = parse(svg)
    assert titles(element)[1:] == ["first", "second"]
    widths = [float(rect.attrib["width"]) for rect in element.iter(f"{SVG}rect")]
    assert widths[1] == pytest.approx(2 * widths[0])
    assert "100 people" in str(svg)


def test_grouped_bars_pair_each_group() -> None:
    svg = charts.grouped_bar_chart(
        ["Module <1>", "Module 2"],
        [charts.Series("Before", [40, 55.5]), charts.Series("After", [80, 90])],
        chart_id="chart-gain",
        title="Gain",
        top=100,
    )
    element = parse(svg)
    bars = [g for g in element.iter(f"{SVG}g") if g.attrib.get("class") == "bar"]
    assert len(bars) == 4
    assert "Module <1> · After: 80" in titles(element)
    ticks = [
        t.text
        for g in element.iter(f"{SVG}g")
        if g.attrib.get("class") == "axis y"
        for t in g.iter(f"{SVG}text")
    ]
    assert ticks[0] == "0"
    assert ticks[-1] == "100"
    legend = [
        t.text
        for g in element.iter(f"{SVG}g")
        if g.attrib.get("class") == "legend"
        for t in g.iter(f"{SVG}text")
    ]
    assert legend == ["Before", "After"]


def test_a_line_chart_has_axes_points_and_labels() -> None:
    months = [f"2026-{m:02d}" for m in range(1, 25 - 12)]
    svg = charts.line_chart(
        months,
        [
            charts.Series("Registered", list(range(len(months)))),
            charts.Series("Equipped", [0] * len(months)),
        ],
        chart_id="chart-progress",
        title="Progress",
    )
    element = parse(svg)
    assert len(list(element.iter(f"{SVG}polyline"))) == 2
    assert len(list(element.iter(f"{SVG}circle"))) == 2 * len(months)
    assert "2026-03 · Registered: 2" in titles(element)
    labels = [t.text for t in element.iter(f"{SVG}text")]
    assert "2026-01" in labels
    assert "2026-12" in labels  # the last month is always labelled


def test_charts_with_nothing_to_show_say_so() -> None:
    for svg in (
        charts.bar_chart([], [], chart_id="a", title="t", empty="Chưa có số liệu"),
        charts.grouped_bar_chart(
            [], [charts.Series("x", [])], chart_id="b", title="t", empty="Chưa có số liệu"
        ),
        charts.line_chart(
            [], [charts.Series("x", [])], chart_id="c", title="t", empty="Chưa có số liệu"
        ),
    ):
        assert "Chưa có số liệu" in [t.text for t in parse(svg).iter(f"{SVG}text")]


def test_charts_refuse_what_could_break_out_of_an_attribute() -> None:
    with pytest.raises(ValueError, match="chart id"):
        charts.bar_chart(["a"], [1], chart_id='x" onload="alert(1)', title="t")
    with pytest.raises(ValueError, match="colour"):
        charts.grouped_bar_chart(
            ["a"], [charts.Series("s", [1], colour="red;x")], chart_id="x", title="t"
        )
    with pytest.raises(ValueError, match="same length"):
        charts.bar_chart(["a", "b"], [1], chart_id="x", title="t")
    with pytest.raises(ValueError, match="values"):
        charts.line_chart(["a", "b"], [charts.Series("s", [1])], chart_id="x", title="t")


def test_odd_numbers_are_drawn_as_zero() -> None:
    element = parse(
        charts.bar_chart(["a", "b", "c"], [float("nan"), -3, float("inf")], chart_id="x", title="t")
    )
    assert [rect.attrib["width"] for rect in element.iter(f"{SVG}rect")] == ["1", "1", "1"]


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        (7, [0, 2, 4, 6, 8]),
        (100, [0, 25, 50, 75, 100]),
        (1234, [0, 500, 1000, 1500]),
        (0, [0, 1]),
        (0.3, [0, 0.1, 0.2, 0.3]),
    ],
)
def test_nice_ticks(top: float, expected: list[float]) -> None:
    assert charts.nice_ticks(top) == pytest.approx(expected)


# --- the page's small pieces ------------------------------------------------------------------


def test_numbers_periods_and_months_in_both_languages() -> None:
    assert dashboard.number(1234567, "vi") == "1.234.567"
    assert dashboard.number(1234567, "en") == "1,234,567"
    assert dashboard.percent(33.333, "vi") == "33,3%"
    assert dashboard.percent(33.333, "en") == "33.3%"
    assert dashboard.period_label("2026-01", "vi") == "01/2026"
    assert dashboard.period_label("2026-01", "en") == "Jan 2026"
    assert dashboard.period_label("2026-Q2", "en") == "Q2 2026"
    assert dashboard.period_label("odd", "en") == "odd"
    assert dashboard.parse_month("2026-02") == "2026-02"
    assert dashboard.parse_month("2026-02-28") == "2026-02"
    for bad in ("2026-13", "2026-02-30", "26-1", "soon", "2026-02-01x"):
        assert dashboard.parse_month(bad) is None, bad
    assert dashboard.shift_month("2026-01", -1) == "2025-12"
    assert dashboard.month_end("2024-02").day == 29


def row(group: str, period: str, registered: int, equipped: int, totals: tuple[int, int]) -> Any:
    return reports.ProgressRow(
        group=group,
        label=group,
        period=period,
        registered=registered,
        started=0,
        completed_lesson=0,
        completed_module=0,
        equipped=equipped,
        registered_total=totals[0],
        equipped_total=totals[1],
        share_equipped=totals[1] / totals[0],
    )


def test_running_totals_carry_over_quiet_months() -> None:
    # Huế registered 10 people before March and none after; Hà Nội only in April.
    rows = [
        row("hue", "2026-03", 2, 1, (12, 3)),
        row("ha-noi", "2026-04", 5, 0, (5, 0)),
        row("hue", "2026-05", 1, 1, (13, 4)),
    ]
    periods = dashboard.by_period(rows, "en")
    assert [p.label for p in periods] == ["Mar 2026", "Apr 2026", "May 2026"]
    assert [p.registered for p in periods] == [2, 5, 1]
    assert [p.registered_total for p in periods] == [12, 17, 18]
    assert [p.equipped_total for p in periods] == [3, 3, 4]
    whole = dashboard.total(periods, "all")
    assert (whole.registered, whole.equipped, whole.registered_total) == (8, 2, 18)
    assert whole.share == pytest.approx(100 * 4 / 18)
    places = dashboard.by_place(rows, lambda r: r.group)
    assert [(p.key, p.registered, p.registered_total) for p in places] == [
        ("hue", 3, 13),
        ("ha-noi", 5, 5),
    ]
    assert dashboard.by_period([], "vi") == []


def test_a_step_is_hot_when_many_are_stuck_or_stop_there() -> None:
    assert dashboard.is_hot(reached=10, stuck=1, stopped=0)
    assert dashboard.is_hot(reached=10, stuck=0, stopped=3)
    assert not dashboard.is_hot(reached=100, stuck=5, stopped=10)
    assert not dashboard.is_hot(reached=0, stuck=0, stopped=0)


def test_quick_ranges_follow_the_calendar_quarters() -> None:
    from datetime import date

    words = dashboard.Words("en")
    links = dict(dashboard.presets(dashboard.Filters(province="hue"), date(2026, 5, 9), words))
    assert links["This quarter"] == "/admin?period=quarter&from=2026-04&to=2026-06&province=hue"
    assert links["Last quarter"] == "/admin?period=quarter&from=2026-01&to=2026-03&province=hue"
    assert links["Last 12 months"] == "/admin?from=2025-06&to=2026-05&province=hue"
    assert links["All time"] == "/admin?province=hue"


def test_every_text_has_both_languages() -> None:
    for key, (vi, en) in dashboard.TEXTS.items():
        assert vi.strip(), key
        assert en.strip(), key
        assert sorted(re.findall(r"{\w+}", vi)) == sorted(re.findall(r"{\w+}", en)), key
