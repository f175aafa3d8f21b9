"""The admin dashboard: server-rendered pages at /admin on the same queries as the API.

Sign-in puts the admin token in an HttpOnly, SameSite=Strict cookie (never in a URL); every
page reads it, checks it with `authenticate` and calls the report functions of admin/reports.py
with that principal, so a page shows exactly what the API would. Pages are Jinja2 templates with
autoescaping; charts are SVG drawn by admin/charts.py. There is no JavaScript.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from admin import charts, learners, reports
from admin.auth import Principal, authenticate, runtime_of
from admin.reports import (
    GainReport,
    LessonRow,
    LessonsReport,
    Period,
    ProgressRow,
    VolunteerGroup,
    VolunteersReport,
)
from bot import provinces, vietnam
from bot.engine import Catalog
from bot.engine.lesson import DrillStep, QuizStep, SayStep, ShowStep
from webhook.bodies import read_body

router = APIRouter(prefix="/admin", include_in_schema=False)

HERE = Path(__file__).resolve().parent
CSS = (HERE / "static" / "dashboard.css").read_bytes()
"""Read once at import: the style sheet is static."""
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

COOKIE = "camtay_admin"
LANG_COOKIE = "camtay_admin_lang"
SESSION_SECONDS = 12 * 3600
MAX_FORM = 4096
FORM_TYPE = "application/x-www-form-urlencoded"
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
LOGIN = "/admin/login"
HOME = "/admin"

HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
"""On every page: nothing cached, no script runs, no framing, no foreign form targets."""

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")
PERIODS: tuple[Period, ...] = get_args(Period)
GROUPS: tuple[VolunteerGroup, ...] = get_args(VolunteerGroup)

STUCK_SHARE = 0.10
"""A step is a hot spot when at least this share of the people who reached it tapped "stuck"..."""
STOP_SHARE = 0.25
"""... or at least this share of them went no further (so far)."""
HOT_SPOTS = 8
VOLUNTEERS = 20
VOLUNTEER_BARS = 10

# Every word on the pages, Vietnamese first. Keys are used by the templates through t("key").
TEXTS: dict[str, tuple[str, str]] = {
    "app": ("Cầm Tay", "Cầm Tay"),
    "dashboard": ("Bảng theo dõi", "Dashboard"),
    "other_language": ("English", "Tiếng Việt"),
    "sign_in": ("Đăng nhập", "Sign in"),
    "sign_in_lead": (
        "Dành cho người quản lý của trường, hội và tỉnh.",
        "For admins of schools, associations and provinces.",
    ),
    "token": ("Mã truy cập", "Access token"),
    "token_help": (
        "Dán mã bạn nhận được (bắt đầu bằng camtay_). Mã được giữ trong trình duyệt này "
        "đến khi bạn đăng xuất.",
        "Paste the token you were given (it starts with camtay_). It stays in this browser "
        "until you sign out.",
    ),
    "bad_token": (
        "Mã này không đúng hoặc đã bị thu hồi. Bạn kiểm tra lại giúp nhé.",
        "This token is wrong or has been revoked. Please check it and try again.",
    ),
    "cross_site": (
        "Yêu cầu đăng nhập này đến từ một trang khác nên đã bị chặn. Bạn mở lại trang "
        "đăng nhập rồi thử lại nhé.",
        "This sign-in came from another site, so it was blocked. Please open the sign-in "
        "page again and retry.",
    ),
    "sign_out": ("Đăng xuất", "Sign out"),
    "signed_out": ("Bạn đã đăng xuất.", "You have signed out."),
    "role_admin": ("quản trị", "admin"),
    "role_analyst": ("phân tích (không thấy tên)", "analyst (no names)"),
    "role_viewer": ("xem", "viewer"),
    "everywhere": ("Cả nước", "All of Vietnam"),
    "overview": ("Tổng quan", "Overview"),
    "as_of": (
        "Số liệu cập nhật lúc {when} (giờ Việt Nam).",
        "Figures as of {when} (Vietnam time).",
    ),
    "never_refreshed": (
        "Số liệu chưa được tổng hợp lần nào. Hệ thống tự tổng hợp vài phút một lần.",
        "The figures have not been compiled yet. They are compiled every few minutes.",
    ),
    "filters": ("Chọn số liệu", "Choose figures"),
    "period": ("Theo", "By"),
    "period_month": ("tháng", "month"),
    "period_quarter": ("quý", "quarter"),
    "from": ("Từ tháng", "From month"),
    "to": ("Đến tháng", "To month"),
    "province": ("Tỉnh, thành", "Province"),
    "show": ("Xem", "Show"),
    "this_quarter": ("Quý này", "This quarter"),
    "last_quarter": ("Quý trước", "Last quarter"),
    "last_12_months": ("12 tháng qua", "Last 12 months"),
    "all_time": ("Từ trước đến nay", "All time"),
    "bad_month": (
        "«{value}» không phải là tháng (dạng 2026-01), nên đã được bỏ qua.",
        "«{value}» is not a month (like 2026-01), so it was ignored.",
    ),
    "bad_province": (
        "Không có tỉnh, thành «{value}», nên đang xem cả nước.",
        "There is no province «{value}», so all of Vietnam is shown.",
    ),
    "forbidden_title": ("Không xem được", "Not available"),
    "forbidden_place": (
        "Mã của bạn chỉ xem được số liệu của {place}.",
        "Your token only shows figures for {place}.",
    ),
    "back": ("Về trang tổng quan", "Back to the overview"),
    # key figures
    "registered": ("Đăng ký", "Registered"),
    "started": ("Bắt đầu học", "Started"),
    "completed_lesson": ("Xong một bài", "Completed a lesson"),
    "completed_module": ("Xong một chủ đề", "Completed a module"),
    "equipped": ("Đủ kỹ năng cơ bản", "Equipped"),
    "share_equipped": ("Tỉ lệ đủ kỹ năng", "Share equipped"),
    "card_registered": ("người đăng ký trong khoảng này", "people registered in this range"),
    "card_module": (
        "người xong chủ đề đầu tiên trong khoảng này",
        "people completed their first module in this range",
    ),
    "card_equipped": (
        "người đủ kỹ năng cơ bản trong khoảng này",
        "people became equipped in this range",
    ),
    "card_share": (
        "số người đã đăng ký, đến cuối khoảng này",
        "of everyone registered, by the end",
    ),
    "equipped_means": (
        "«Đủ kỹ năng cơ bản» nghĩa là đã học xong các chủ đề: {modules}.",
        "«Equipped» means having completed the topics: {modules}.",
    ),
    # progress
    "progress": ("Tiến độ theo thời gian", "Progress over time"),
    "progress_chart": (
        "Số người đăng ký và số người đủ kỹ năng (cộng dồn), {place}",
        "People registered and people equipped (running totals), {place}",
    ),
    "registered_total": ("Đã đăng ký (cộng dồn)", "Registered (running total)"),
    "equipped_total": ("Đủ kỹ năng (cộng dồn)", "Equipped (running total)"),
    "period_col": ("Thời gian", "Period"),
    "by_province": ("Theo tỉnh, thành", "By province"),
    "by_school": ("Theo trường", "By school"),
    "place_col": ("Nơi", "Place"),
    "unknown_place": ("(chưa rõ nơi)", "(place unknown)"),
    "no_school": ("(không thuộc trường nào)", "(no school)"),
    "no_data": ("Chưa có số liệu cho lựa chọn này.", "No figures for this choice yet."),
    "see_place": ("Xem riêng", "Show only this"),
    # lessons
    "lessons": ("Người học bị kẹt ở đâu", "Where people get stuck"),
    "lessons_lead": (
        "Tính từ trước đến nay, {place}. Ô đỏ là điểm nóng: nhiều người bấm «Tôi bị kẹt» "
        "hoặc dừng lại ở bước đó.",
        "All time, {place}. Red marks a hot spot: many people tapped «I'm stuck» there or "
        "went no further.",
    ),
    "hot_spots": ("Điểm nóng", "Hot spots"),
    "no_hot_spots": ("Chưa có điểm nóng nào.", "No hot spots yet."),
    "lesson_col": ("Bài", "Lesson"),
    "step_col": ("Bước", "Step"),
    "reached": ("Đến bước này", "Reached"),
    "stuck": ("Bấm «Tôi bị kẹt»", "Tapped «I'm stuck»"),
    "stopped": ("Dừng ở đây", "Went no further"),
    "hot": ("điểm nóng", "hot spot"),
    "funnel_chart": (
        "Số người đến từng bước của bài «{title}»",
        "People reaching each step of «{title}»",
    ),
    "funnel_note": (
        "Bước {number} · {text}: {reached} người đến, {stuck} lần bấm «Tôi bị kẹt», "
        "{stopped} người dừng ở đây",
        "Step {number} · {text}: {reached} reached, {stuck} «I'm stuck» taps, "
        "{stopped} went no further",
    ),
    "all_lessons": ("Tất cả các bài", "All lessons"),
    "module_col": ("Chủ đề", "Topic"),
    "completion": ("Tỉ lệ học xong", "Completion"),
    "median": ("Thời gian (trung vị)", "Median time"),
    "minutes": ("{value} phút", "{value} min"),
    "under_a_minute": ("dưới 1 phút", "under 1 min"),
    "view_funnel": ("Xem các bước", "See the steps"),
    "questions": ("Câu hỏi của bài «{title}»", "Questions of «{title}»"),
    "question_col": ("Câu hỏi", "Question"),
    "answers": ("Lượt trả lời", "Answers"),
    "correct": ("Trả lời đúng", "Right"),
    "top_wrong": ("Câu sai hay chọn nhất", "Most chosen wrong answer"),
    "kind_say": ("Đọc", "Read"),
    "kind_show": ("Làm thử", "Try it"),
    "kind_quiz": ("Câu hỏi", "Question"),
    "kind_drill": ("Nhận diện lừa đảo", "Spot the scam"),
    # gain
    "gain": ("Tiến bộ sau khi học", "Learning gain"),
    "gain_lead": (
        "Điểm trung bình của bài kiểm tra nhanh (trước) và bài kiểm tra cuối (sau), "
        "của những người làm cả hai. Từ trước đến nay, {place}.",
        "Average score of the quick check (before) and the final check (after), for people "
        "who took both. All time, {place}.",
    ),
    "gain_chart": ("Điểm trước và sau khi học, theo chủ đề", "Scores before and after, by topic"),
    "before": ("Trước khi học", "Before"),
    "after": ("Sau khi học", "After"),
    "people_both": ("Số người làm cả hai", "People who took both"),
    "gain_points": ("Tăng", "Gain"),
    # volunteers
    "volunteers": ("Tình nguyện viên", "Volunteers"),
    "volunteers_lead": (
        "Xếp theo số người thân đã học xong bài đầu tiên. Từ trước đến nay, {place}.",
        "Ranked by family members who finished their first lesson. All time, {place}.",
    ),
    "volunteers_chart": (
        "Người thân đã học xong bài đầu tiên, theo {by}",
        "Family members who finished a first lesson, by {by}",
    ),
    "by_volunteer": ("tình nguyện viên", "volunteer"),
    "by_class": ("lớp", "class"),
    "by_school_short": ("trường", "school"),
    "by_province_short": ("tỉnh, thành", "province"),
    "rank": ("Hạng", "Rank"),
    "name_col": ("Tên", "Name"),
    "referred": ("Đã mời", "Invited"),
    "activated": ("Xong bài đầu", "First lesson done"),
    "names_hidden": (
        "Vai trò phân tích không thấy tên: tình nguyện viên được ghi bằng số.",
        "The analyst role sees no names: volunteers are shown by number.",
    ),
    # downloads
    "downloads": ("Tải về (CSV)", "Downloads (CSV)"),
    "downloads_lead": (
        "Mở được bằng Excel hoặc Google Trang tính. Mỗi lần tải đều được ghi lại.",
        "Open them in Excel or Google Sheets. Every download is recorded.",
    ),
    "downloads_place": ("Số liệu của: {place}.", "Figures for: {place}."),
    "learners_csv": ("Danh sách người học", "Learners"),
    "progress_csv": (
        "Tiến độ từng bài của mỗi người học",
        "Lesson progress of each learner",
    ),
}


class Words:
    """The page's words in one language: `t("key", name=value)`."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang

    def __call__(self, key: str, **values: object) -> str:
        vi, en = TEXTS[key]
        text = vi if self.lang == "vi" else en
        return text.format(**values) if values else text


# --- numbers and dates ------------------------------------------------------------------------


def number(value: float, lang: Lang) -> str:
    """1234 -> '1.234' (vi) or '1,234' (en); one decimal when not whole."""
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if lang == "vi":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text


def percent(value: float, lang: Lang) -> str:
    return number(round(value, 1), lang) + "%"


def period_label(period: str, lang: Lang) -> str:
    """'2026-01' -> '01/2026' (vi) or 'Jan 2026' (en); '2026-Q1' -> 'Q1/2026' or 'Q1 2026'."""
    year, _, part = period.partition("-")
    if not year.isdigit() or not part:
        return period
    if part.startswith("Q"):
        return f"{part}/{year}" if lang == "vi" else f"{part} {year}"
    if part.isdigit() and 1 <= int(part) <= 12:
        return f"{part}/{year}" if lang == "vi" else f"{calendar.month_abbr[int(part)]} {year}"
    return period


def when_label(moment: datetime) -> str:
    return vietnam.local(moment).strftime("%H:%M %d/%m/%Y")


def parse_month(text: str) -> str | None:
    """'2026-01' or '2026-01-31' -> '2026-01'; None when it is not a month."""
    match = _MONTH.match(text)
    if match is None:
        return None
    year, month, day = match.groups()
    try:
        date(int(year), int(month), int(day or 1))
    except ValueError:
        return None
    return f"{year}-{month}"


def month_start(month: str) -> date:
    year, number_ = (int(part) for part in month.split("-"))
    return date(year, number_, 1)


def month_end(month: str) -> date:
    year, number_ = (int(part) for part in month.split("-"))
    return date(year, number_, calendar.monthrange(year, number_)[1])


def shift_month(month: str, by: int) -> str:
    year, number_ = (int(part) for part in month.split("-"))
    index = year * 12 + number_ - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --- filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the overview shows, from its query string; links keep it."""

    period: Period = "month"
    start: str = ""
    """YYYY-MM or "" (from the beginning)."""
    end: str = ""
    province: str = ""
    """A province code, or "" for everywhere the principal may see."""
    lesson: str = ""
    by: VolunteerGroup = "volunteer"

    def link(self, anchor: str = "", **changes: Any) -> str:
        """The overview's URL with these filters (changed as given); defaults are left out."""
        values = dataclasses.asdict(dataclasses.replace(self, **changes))
        defaults = dataclasses.asdict(Filters())
        names = {"start": "from", "end": "to"}
        query = {
            names.get(key, key): value
            for key, value in values.items()
            if value and value != defaults[key]
        }
        return HOME + (f"?{urlencode(query)}" if query else "") + (f"#{anchor}" if anchor else "")


class Forbidden(Exception):
    """A viewer asked for a place outside their scope."""


def read_filters(who: Principal, params: dict[str, str], t: Words) -> tuple[Filters, list[str]]:
    """The filters from a query string, and notices about what was ignored; Forbidden for a
    viewer's request outside their province."""
    notices: list[str] = []
    period_value = params.get("period", "month")
    period: Period = period_value if period_value in PERIODS else "month"
    months: list[str] = []
    for name in ("from", "to"):
        raw = params.get(name, "").strip()
        month = parse_month(raw) if raw else ""
        if month is None:
            notices.append(t("bad_month", value=raw[:20]))
            month = ""
        months.append(month)
    start, end = months
    if start and end and end < start:
        start, end = end, start
    province = params.get("province", "").strip()
    if who.province is not None:
        if province and province != who.province:
            raise Forbidden(province)
        province = who.province
    elif province and provinces.by_code(province) is None:
        notices.append(t("bad_province", value=province[:40]))
        province = ""
    by_value = params.get("by", "volunteer")
    by: VolunteerGroup = by_value if by_value in GROUPS else "volunteer"
    lesson = params.get("lesson", "")[:64]
    filters = Filters(period=period, start=start, end=end, province=province, lesson=lesson, by=by)
    return filters, notices


def presets(filters: Filters, today: date, t: Words) -> list[tuple[str, str]]:
    """Quick ranges: this quarter, last quarter, the last 12 months, all time."""
    month = f"{today.year:04d}-{today.month:02d}"
    first = shift_month(month, -((today.month - 1) % 3))
    return [
        (
            t("this_quarter"),
            filters.link(period="quarter", start=first, end=shift_month(first, 2)),
        ),
        (
            t("last_quarter"),
            filters.link(
                period="quarter", start=shift_month(first, -3), end=shift_month(first, -1)
            ),
        ),
        (
            t("last_12_months"),
            filters.link(period="month", start=shift_month(month, -11), end=month),
        ),
        (t("all_time"), filters.link(start="", end="")),
    ]


def place_name(code: str, t: Words) -> str:
    if not code:
        return t("unknown_place")
    place = provinces.by_code(code)
    return place.name(t.lang) if place is not None else code


def scope_label(who: Principal, filters: Filters, t: Words) -> str:
    """Where the figures come from: 'All of Vietnam', 'Nghệ An', 'THPT X, Nghệ An'."""
    if who.school is not None and who.province is not None:
        return f"{who.school}, {place_name(who.province, t)}"
    if filters.province:
        return place_name(filters.province, t)
    return t("everywhere")


# --- progress ---------------------------------------------------------------------------------


@dataclass
class Figures:
    """Milestone counts over a stretch of time, and the running totals at its end."""

    label: str
    key: str = ""
    registered: int = 0
    started: int = 0
    completed_lesson: int = 0
    completed_module: int = 0
    equipped: int = 0
    registered_total: int = 0
    equipped_total: int = 0

    @property
    def share(self) -> float:
        """Percent of everyone registered who is equipped, by the end."""
        return 100 * self.equipped_total / self.registered_total if self.registered_total else 0.0

    def add(self, row: ProgressRow) -> None:
        self.registered += row.registered
        self.started += row.started
        self.completed_lesson += row.completed_lesson
        self.completed_module += row.completed_module
        self.equipped += row.equipped


def by_period(rows: Sequence[ProgressRow], lang: Lang) -> list[Figures]:
    """Rows of several places summed per period, with running totals that stay right for a
    place that had no activity in some periods (its total then is what it was before)."""
    periods = sorted({row.period for row in rows})
    places: dict[str, list[ProgressRow]] = {}
    for row in sorted(rows, key=lambda r: r.period):
        places.setdefault(row.group, []).append(row)
    result = {period: Figures(label=period_label(period, lang), key=period) for period in periods}
    for row in rows:
        result[row.period].add(row)
    for place_rows in places.values():
        index = 0
        registered = place_rows[0].registered_total - place_rows[0].registered
        equipped = place_rows[0].equipped_total - place_rows[0].equipped
        for period in periods:
            if index < len(place_rows) and place_rows[index].period == period:
                registered = place_rows[index].registered_total
                equipped = place_rows[index].equipped_total
                index += 1
            result[period].registered_total += registered
            result[period].equipped_total += equipped
    return [result[period] for period in periods]


def by_place(rows: Sequence[ProgressRow], label: Callable[[ProgressRow], str]) -> list[Figures]:
    """Rows summed per place over the whole range, biggest first; totals at each place's end."""
    places: dict[str, Figures] = {}
    for row in sorted(rows, key=lambda r: r.period):
        figures = places.setdefault(row.group, Figures(label=label(row), key=row.group))
        figures.add(row)
        figures.registered_total = row.registered_total
        figures.equipped_total = row.equipped_total
    return sorted(places.values(), key=lambda f: (-f.registered_total, f.label))


def total(periods: Sequence[Figures], label: str) -> Figures:
    whole = Figures(label=label)
    for figures in periods:
        whole.registered += figures.registered
        whole.started += figures.started
        whole.completed_lesson += figures.completed_lesson
        whole.completed_module += figures.completed_module
        whole.equipped += figures.equipped
    if periods:
        whole.registered_total = periods[-1].registered_total
        whole.equipped_total = periods[-1].equipped_total
    return whole


# --- lessons ----------------------------------------------------------------------------------


@dataclass
class StepView:
    number: int
    kind: str
    text: str
    reached: int
    stuck: int
    stopped: int
    hot: bool


@dataclass
class ItemView:
    question: str
    answers: int
    percent_correct: float
    top_wrong: str | None


@dataclass
class LessonView:
    lesson_id: str
    title: str
    module: str
    started: int
    completed: int
    completion: float
    median_minutes: float | None
    steps: list[StepView] = field(default_factory=list)
    items: list[ItemView] = field(default_factory=list)

    @property
    def hot_steps(self) -> list[StepView]:
        return [step for step in self.steps if step.hot]


def is_hot(reached: int, stuck: int, stopped: int) -> bool:
    """Many "I'm stuck" taps for the people who got there, or many who went no further."""
    if reached <= 0:
        return False
    return stuck >= max(1.0, STUCK_SHARE * reached) or stopped >= max(1.0, STOP_SHARE * reached)


def step_text(catalog: Catalog, lesson_id: str, step_id: str, lang: Lang) -> str:
    """A step's words, for labels: what it says, asks or shows (escaped wherever it is drawn)."""
    lesson = catalog.lesson(lesson_id)
    index = lesson.step_index(step_id) if lesson is not None else None
    if lesson is None or index is None:
        return step_id
    step = lesson.steps[index]
    if isinstance(step, SayStep):
        return step.text(lang)
    if isinstance(step, ShowStep):
        return step.instruction(lang)
    if isinstance(step, QuizStep):
        return step.question(lang)
    assert isinstance(step, DrillStep)  # noqa: S101 -- the four kinds
    return f"{step.sender}: {step.message(lang)}"


def lesson_view(row: LessonRow, catalog: Catalog, t: Words) -> LessonView:
    lang = t.lang
    module = catalog.module(row.module_id)
    steps = []
    for index, step in enumerate(row.steps):
        following = row.steps[index + 1].reached if index + 1 < len(row.steps) else row.completed
        stopped = max(step.reached - following, 0)
        steps.append(
            StepView(
                number=step.step + 1,
                kind=t(f"kind_{step.kind}") if f"kind_{step.kind}" in TEXTS else step.kind,
                text=step_text(catalog, row.lesson_id, step.step_id, lang),
                reached=step.reached,
                stuck=step.stuck,
                stopped=stopped,
                hot=is_hot(step.reached, step.stuck, stopped),
            )
        )
    items = [
        ItemView(
            question=item.question_vi if lang == "vi" else item.question_en,
            answers=item.answers,
            percent_correct=item.percent_correct,
            top_wrong=item.top_wrong_option_vi if lang == "vi" else item.top_wrong_option_en,
        )
        for item in row.items
    ]
    return LessonView(
        lesson_id=row.lesson_id,
        title=row.title_vi if lang == "vi" else row.title_en,
        module=module.title(lang) if module is not None else row.module_id,
        started=row.started,
        completed=row.completed,
        completion=100 * row.completion_rate,
        median_minutes=row.median_minutes,
        steps=steps,
        items=items,
    )


def hot_spots(lessons: Sequence[LessonView]) -> list[tuple[LessonView, StepView]]:
    """The hot steps of every lesson, worst first (most stuck taps, then most who stopped)."""
    spots = [(lesson, step) for lesson in lessons for step in lesson.hot_steps]
    spots.sort(key=lambda spot: (-spot[1].stuck, -spot[1].stopped, -spot[1].reached))
    return spots[:HOT_SPOTS]


def chosen_lesson(
    lessons: Sequence[LessonView], wanted: str, spots: Sequence[tuple[LessonView, StepView]]
) -> LessonView | None:
    """The lesson whose steps are drawn: the one asked for, else the worst hot spot's, else the
    first that anyone started."""
    for lesson in lessons:
        if lesson.lesson_id == wanted:
            return lesson
    if spots:
        return spots[0][0]
    started = [lesson for lesson in lessons if lesson.started > 0]
    return started[0] if started else (lessons[0] if lessons else None)


def funnel_chart(lesson: LessonView | None, t: Words) -> Markup:
    if lesson is None:
        return charts.bar_chart([], [], chart_id="chart-funnel", title="", empty=t("no_data"))
    lang = t.lang
    return charts.bar_chart(
        [f"{step.number}. {step.text}" for step in lesson.steps],
        [step.reached for step in lesson.steps],
        chart_id="chart-funnel",
        title=t("funnel_chart", title=lesson.title),
        notes=[
            t(
                "funnel_note",
                number=step.number,
                text=charts.shorten(step.text, 60),
                reached=number(step.reached, lang),
                stuck=number(step.stuck, lang),
                stopped=number(step.stopped, lang),
            )
            for step in lesson.steps
        ],
        highlight={index for index, step in enumerate(lesson.steps) if step.hot},
        fmt=lambda value: number(value, lang),
        top=max([lesson.started, *(step.reached for step in lesson.steps)]) or None,
        empty=t("no_data"),
    )


# --- the pages --------------------------------------------------------------------------------


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def language(request: Request) -> Lang:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if wanted == "en" else "vi"


def remember_language(request: Request, response: Response, lang: Lang) -> None:
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            path=HOME,
            httponly=True,
            samesite="lax",
            secure=secure(request),
        )


def switch_link(request: Request, lang: Lang) -> str:
    """This page's URL in the other language (path and query only)."""
    query = {key: value for key, value in request.query_params.items() if key != "lang"}
    query["lang"] = "en" if lang == "vi" else "vi"
    return f"{request.url.path}?{urlencode(query)}"


def common(request: Request, lang: Lang, who: Principal | None) -> dict[str, Any]:
    t = Words(lang)
    return {
        "t": t,
        "lang": lang,
        "other_lang": "en" if lang == "vi" else "vi",
        "switch_url": switch_link(request, lang),
        "who": who,
        "role": t(f"role_{who.role}") if who is not None else "",
        "number": lambda value: number(value, lang),
        "percent": lambda value: percent(value, lang),
    }


def to_login() -> RedirectResponse:
    return RedirectResponse(LOGIN, status_code=303, headers={"Cache-Control": "no-store"})


async def signed_in(request: Request) -> Principal | None:
    """The principal of the session cookie, if it holds a valid, unrevoked token."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    runtime = runtime_of(request)
    async with runtime.database.unit_of_work() as uow:
        return await authenticate(uow, token, runtime.tutor.clock())


def our_hosts(request: Request) -> set[str]:
    """The names this site answers to: the Host header, a proxy's X-Forwarded-Host and the
    configured public URL's. A form posted from another site cannot set the latter headers."""
    hosts = {request.headers.get("host", "")}
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded:
        hosts.add(forwarded.split(",")[0].strip())
    public = runtime_of(request).settings.public_url
    if public:
        hosts.add(urlsplit(public).netloc)
    return {host.lower() for host in hosts if host}


def same_origin(request: Request) -> bool:
    """False when the browser says the form was sent from another site (Sec-Fetch-Site,
    Origin, else Referer), or when the body is declared as something no form of ours sends."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        return False
    kind = request.headers.get("content-type")
    if kind is not None and kind.split(";")[0].strip().lower() != FORM_TYPE:
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc.lower() in our_hosts(request)
    referer = request.headers.get("referer")
    if referer is not None:
        return urlsplit(referer).netloc.lower() in our_hosts(request)
    return True  # not a browser, or one that sends neither: SameSite=Strict still holds


def secure(request: Request) -> bool:
    """Cookies only over https: this request's, or the public URL's behind a proxy."""
    public = runtime_of(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


@router.get("/static/dashboard.css")
async def stylesheet() -> Response:
    return Response(
        CSS,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    lang = language(request)
    if await signed_in(request) is not None:
        return RedirectResponse(HOME, status_code=303)
    response = render("login.html", **common(request, lang, None), error=None)
    remember_language(request, response, lang)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    lang = language(request)
    t = Words(lang)
    if not same_origin(request):
        return render("login.html", 403, **common(request, lang, None), error=t("cross_site"))
    body = await read_body(request, MAX_FORM)
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
    token = (fields.get("token") or [""])[0].strip()
    runtime = runtime_of(request)
    who = None
    if token:
        async with runtime.database.unit_of_work() as uow:
            who = await authenticate(uow, token, runtime.tutor.clock())
    if who is None:
        return render("login.html", 401, **common(request, lang, None), error=t("bad_token"))
    response = RedirectResponse(HOME, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path=HOME,
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
    return response


@router.get("/logout")
async def logout(request: Request) -> Response:
    response = to_login()
    response.delete_cookie(
        COOKIE, path=HOME, httponly=True, samesite="strict", secure=secure(request)
    )
    return response


@router.get("", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login()
    lang = language(request)
    t = Words(lang)
    page = common(request, lang, who)
    try:
        filters, notices = read_filters(who, dict(request.query_params), t)
    except Forbidden:
        assert who.province is not None  # noqa: S101 -- only viewers are refused
        response = render(
            "message.html",
            403,
            **page,
            title=t("forbidden_title"),
            message=t("forbidden_place", place=place_name(who.province, t)),
        )
        remember_language(request, response, lang)
        return response
    runtime = runtime_of(request)
    # The API's own narrowing: the filters above already kept a viewer to their province.
    scope = reports.narrowed(who, filters.province or None)
    start = month_start(filters.start) if filters.start else None
    end = month_end(filters.end) if filters.end else None
    async with runtime.database.unit_of_work() as uow:
        progress = await reports.progress_report(
            uow,
            scope,
            catalog=runtime.catalog,
            group_by="province",
            period=filters.period,
            start=start,
            end=end,
        )
        places = progress
        if filters.province:
            places = await reports.progress_report(
                uow,
                scope,
                catalog=runtime.catalog,
                group_by="school",
                period=filters.period,
                start=start,
                end=end,
            )
        lessons = await reports.lessons_report(uow, scope, runtime.catalog)
        gain = await reports.gain_report(uow, scope, runtime.catalog)
        volunteers = await reports.volunteers_report(uow, scope, by=filters.by, limit=VOLUNTEERS)
    today = vietnam.day(runtime.tutor.clock())
    page |= progress_context(progress.rows, places.rows, filters, t, scope, who)
    page |= lessons_context(lessons, runtime.catalog, filters, t)
    page |= gain_context(gain, t)
    page |= volunteers_context(volunteers, filters, t, who)
    modules = [runtime.catalog.module(module_id) for module_id in progress.equipped_means]
    response = render(
        "overview.html",
        **page,
        filters=filters,
        notices=notices,
        presets=presets(filters, today, t),
        place=scope_label(who, filters, t),
        as_of=when_label(progress.as_of) if progress.as_of is not None else None,
        equipped_means=", ".join(f"«{m.title(lang)}»" for m in modules if m is not None),
        province_choices=province_choices(who, t),
        period_choices=PERIODS,
        csv_links=csv_links(filters),
    )
    remember_language(request, response, lang)
    return response


def csv_links(filters: Filters) -> dict[str, str]:
    query = f"?{urlencode({'province': filters.province})}" if filters.province else ""
    return {name: f"{HOME}/exports/{name}.csv{query}" for name in ("learners", "progress")}


def province_choices(who: Principal, t: Words) -> list[tuple[str, str]]:
    if who.province is not None:
        return [(who.province, place_name(who.province, t))]
    return [("", t("everywhere"))] + [
        (place.code, place.name(t.lang)) for place in provinces.provinces()
    ]


def progress_context(
    rows: Sequence[ProgressRow],
    place_rows: Sequence[ProgressRow],
    filters: Filters,
    t: Words,
    scope: Principal,
    who: Principal,
) -> dict[str, Any]:
    lang = t.lang
    periods = by_period(rows, lang)
    schools = bool(filters.province)

    def label(row: ProgressRow) -> str:
        if schools:
            return row.label if row.group else t("no_school")
        return place_name(row.group, t)

    places = by_place(place_rows, label)
    place = scope_label(who, filters, t)
    chart = charts.line_chart(
        [figures.label for figures in periods],
        [
            charts.Series(t("registered_total"), [f.registered_total for f in periods]),
            charts.Series(t("equipped_total"), [f.equipped_total for f in periods]),
        ],
        chart_id="chart-progress",
        title=t("progress_chart", place=place),
        fmt=lambda value: number(value, lang),
        empty=t("no_data"),
    )
    return {
        "periods": periods,
        "summary": total(periods, place),
        "places": places,
        "places_are_schools": schools,
        "progress_chart": chart,
        "place_links": {
            f.key: filters.link("progress", province=f.key)
            for f in places
            if not schools and f.key and scope.province is None
        },
    }


def lessons_context(
    report: LessonsReport, catalog: Catalog, filters: Filters, t: Words
) -> dict[str, Any]:
    lessons = [lesson_view(row, catalog, t) for row in report.lessons]
    spots = hot_spots(lessons)
    chosen = chosen_lesson(lessons, filters.lesson, spots)
    return {
        "lessons": lessons,
        "hot_spots": spots,
        "chosen": chosen,
        "funnel_chart": funnel_chart(chosen, t),
        "lesson_links": {
            lesson.lesson_id: filters.link("funnel", lesson=lesson.lesson_id) for lesson in lessons
        },
    }


def gain_context(report: GainReport, t: Words) -> dict[str, Any]:
    lang = t.lang
    rows = [row for row in report.modules if row.learners > 0]
    titles = [row.title_vi if lang == "vi" else row.title_en for row in rows]
    chart = charts.grouped_bar_chart(
        titles,
        [
            charts.Series(t("before"), [row.pre_percent for row in rows], charts.PALETTE[1]),
            charts.Series(t("after"), [row.post_percent for row in rows], charts.PALETTE[0]),
        ],
        chart_id="chart-gain",
        title=t("gain_chart"),
        fmt=lambda value: percent(value, lang),
        top=100,
        empty=t("no_data"),
    )
    return {"gain_rows": list(zip(titles, rows, strict=True)), "gain_chart": chart}


def volunteers_context(
    report: VolunteersReport, filters: Filters, t: Words, who: Principal
) -> dict[str, Any]:
    lang = t.lang
    rows = []
    for rank, row in enumerate(report.rows, start=1):
        if report.by == "province":
            label = place_name(row.key, t)
        elif report.by == "volunteer" and not who.sees_names:
            label = f"#{rank}"  # the report hides names too; the page never relies on it alone
        else:
            label = row.label
        rows.append((rank, label, place_name(row.province, t), row))
    top = rows[:VOLUNTEER_BARS]
    by_words = {
        "volunteer": t("by_volunteer"),
        "class": t("by_class"),
        "school": t("by_school_short"),
        "province": t("by_province_short"),
    }
    chart = charts.bar_chart(
        [label for _, label, _, _ in top],
        [row.activated for _, _, _, row in top],
        chart_id="chart-volunteers",
        title=t("volunteers_chart", by=by_words[report.by]),
        notes=[
            f"{label}: {t('referred')} {number(row.referred, lang)} · "
            f"{t('started')} {number(row.started, lang)} · "
            f"{t('activated')} {number(row.activated, lang)} · "
            f"{t('completed_module')} {number(row.completed_module, lang)}"
            for _, label, _, row in top
        ],
        fmt=lambda value: number(value, lang),
        empty=t("no_data"),
    )
    return {
        "volunteer_rows": rows,
        "volunteers_chart": chart,
        "volunteer_tabs": [(by, by_words[by], filters.link("volunteers", by=by)) for by in GROUPS],
        "names_hidden": not who.sees_names and report.by == "volunteer",
    }


# --- downloads ------------------------------------------------------------------------------
# The API's exports want a bearer header, which a link cannot send: these routes call the very
# same export functions (admin/learners.py) with the principal of the session cookie, so the
# scope, the hiding of names for analysts and the audit entry are the API's own.

Export = Callable[[Request, Principal, learners.LearnerFilters], Awaitable[Response]]


async def _export(request: Request, export: Export) -> Response:
    who = await signed_in(request)
    if who is None:
        return to_login()
    lang = language(request)
    t = Words(lang)
    province = request.query_params.get("province", "").strip()[:60] or None
    try:
        chosen = learners.learner_filters(who, province=province)
    except HTTPException as error:
        if error.status_code == 403 and who.province is not None:
            message = t("forbidden_place", place=place_name(who.province, t))
        else:
            message = t("bad_province", value=(province or "")[:40])
        return render(
            "message.html",
            error.status_code,
            **common(request, lang, who),
            title=t("downloads"),
            message=message,
        )
    return await export(request, who, chosen)


@router.get("/exports/learners.csv")
async def export_learners(request: Request) -> Response:
    return await _export(request, learners.export_learners)


@router.get("/exports/progress.csv")
async def export_progress(request: Request) -> Response:
    return await _export(request, learners.export_progress)
