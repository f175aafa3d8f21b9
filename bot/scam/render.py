"""A verdict as plain text for a person: Vietnamese first, English alongside."""

from __future__ import annotations

from collections.abc import Callable

from bot.scam.model import Verdict, VerdictLabel

HEADLINES: dict[VerdictLabel, tuple[str, str]] = {
    "likely_scam": ("RẤT CÓ THỂ LÀ LỪA ĐẢO", "VERY LIKELY A SCAM"),
    "be_careful": ("CẦN CẨN THẬN", "BE CAREFUL"),
    "no_red_flags": (
        "Chưa thấy dấu hiệu lừa đảo rõ ràng",
        "No clear warning signs found",
    ),
}


def render(verdict: Verdict, lesson_title: Callable[[str], str] | None = None) -> str:
    """The verdict, its red flags, the advice and the lesson, in both languages."""
    vi, en = HEADLINES[verdict.verdict]
    lines = [f"Kết quả / Result: {vi} / {en}"]
    if verdict.red_flags:
        lines += ["", "Dấu hiệu đáng ngờ / Warning signs:"]
        for number, flag in enumerate(verdict.red_flags, 1):
            lines.append(f"{number}. {flag.vi}")
            lines.append(f"   {flag.en}")
    lines += ["", "Nên làm gì / What to do:"]
    for item in verdict.advice:
        lines.append(f"- {item.vi}")
        lines.append(f"  {item.en}")
    if verdict.lesson is not None:
        title = lesson_title(verdict.lesson) if lesson_title else verdict.lesson
        lines += ["", f"Bài học nên xem / Lesson to review: {title}"]
    return "\n".join(lines)
