"""Engine behaviour that reports and channels rely on, asserted directly."""

from __future__ import annotations

import json

from bot.engine import (
    Catalog,
    Choice,
    ChoicesReply,
    Done,
    Engine,
    Outcome,
    Start,
    State,
    Stuck,
    TextInput,
    TextReply,
)
from bot.engine.engine import answer_order
from bot.engine.lesson import QuizStep

AGREED = State(consent="given")
"""A learner who has agreed to the privacy notice (the notice itself is tested below)."""


def buttons(outcome: Outcome) -> ChoicesReply:
    return [reply for reply in outcome.replies if isinstance(reply, ChoicesReply)][-1]


def press(engine: Engine, outcome: Outcome, label_start: str) -> Outcome:
    options = buttons(outcome).options
    option = next(option for option in options if option.label.startswith(label_start))
    return engine.step(outcome.state, Choice(key=option.key))


def texts(outcome: Outcome) -> str:
    return "\n".join(r.text for r in outcome.replies if isinstance(r, TextReply | ChoicesReply))


def test_a_whole_lesson_emits_progress_events_in_order(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lang_en"))
    outcome = press(engine, outcome, "📘 Demo")
    outcome = press(engine, outcome, "📘 Lesson one")
    kinds = [event.type for event in outcome.events]
    outcome = press(engine, outcome, "Next")
    outcome = engine.step(outcome.state, Stuck())
    kinds += [event.type for event in outcome.events]
    outcome = engine.step(outcome.state, Done())
    outcome = press(engine, outcome, "The bank")
    answered = [event for event in outcome.events if event.type == "quiz.answered"]
    assert answered[0].data == {"option": 1, "correct": False}
    outcome = press(engine, outcome, "A scam")
    finished = [event for event in outcome.events if event.type == "lesson.completed"]
    assert finished[0].data == {"correct": 1, "answered": 2, "assisted": False}
    assert kinds == ["locale.changed", "lesson.started", "learner.stuck"] or kinds[-2:] == [
        "lesson.started",
        "learner.stuck",
    ]
    assert outcome.state.completed == ["first"]
    assert outcome.state.position is None
    assert "You finished «Lesson one»" in texts(outcome)
    # The finished screen offers the next lesson first.
    assert buttons(outcome).options[0].label == "▶️ Next: Lesson two"


def test_wrong_quiz_answer_names_the_right_one(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lesson_first"))
    outcome = press(engine, outcome, "Tiếp tục")
    outcome = engine.step(outcome.state, Done())
    outcome = press(engine, outcome, "Ngân hàng")
    assert "❌ Chưa đúng. Ngân hàng không hỏi OTP.\nĐáp án đúng: Không ai cả" in texts(outcome)


def test_an_old_button_changes_nothing(engine: Engine) -> None:
    first = engine.step(AGREED, Start(payload="lesson_first"))
    second = press(engine, first, "Tiếp tục")
    again = engine.step(second.state, Choice(key=buttons(first).options[0].key))
    assert again.state == second.state
    assert again.events == []
    assert "tin nhắn cũ" in texts(again)


def test_malformed_button_keys_are_treated_as_old(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lesson_first"))
    for key in ["", ":", "x:next", "999:next", "1:answer:99", "1:open:../../etc"]:
        again = engine.step(outcome.state, Choice(key=key))
        assert again.state.position == outcome.state.position
        assert again.events == []


def test_out_of_range_answer_is_nudged_not_crashed(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lesson_second"))
    outcome = press(engine, outcome, "Tiếp tục")
    prompt = outcome.state.prompt
    nudged = engine.step(outcome.state, Choice(key=f"{prompt}:answer:7"))
    assert nudged.events == []
    assert "gõ số thứ tự" in texts(nudged)


def test_state_is_plain_json_and_round_trips(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lesson_first"))
    outcome = press(engine, outcome, "Tiếp tục")
    dumped = json.loads(json.dumps(outcome.state.model_dump(mode="json")))
    assert State.model_validate(dumped) == outcome.state


def test_leaving_a_lesson_keeps_a_bookmark_and_resumes_there(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lesson_first"))
    outcome = press(engine, outcome, "Tiếp tục")
    outcome = engine.step(outcome.state, TextInput(text="/menu"))
    assert outcome.state.bookmarks == {"first": 1}
    assert buttons(outcome).options[0].label == "▶️ Bài mẫu · 0/2"
    outcome = press(engine, outcome, "▶️ Bài mẫu")
    assert [o.label for o in buttons(outcome).options][:2] == ["▶️ Bài một", "📘 Bài hai"]
    outcome = press(engine, outcome, "▶️ Bài một")
    assert outcome.state.position is not None
    assert outcome.state.position.step == 1
    assert outcome.events == []  # resuming is not a new start


def test_huge_text_is_answered_with_the_current_screen(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start())
    flooded = engine.step(outcome.state, TextInput(text="a" * 100_000))
    assert flooded.state.screen == "welcome"
    assert isinstance(flooded.replies[-1], ChoicesReply)


def test_a_new_learner_typing_first_gets_the_welcome(engine: Engine) -> None:
    outcome = engine.step(AGREED, TextInput(text="hello"))
    assert outcome.state.screen == "welcome"
    assert [o.label for o in buttons(outcome).options] == ["Tiếng Việt 🇻🇳", "English 🇬🇧"]


def test_every_real_lesson_can_be_walked_to_the_end_in_both_languages(real_catalog) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(real_catalog)
    for locale in ("vi", "en"):
        for lesson in real_catalog.ordered():
            outcome = engine.step(AGREED, Start(payload=f"lang_{locale}"))
            outcome = engine.step(outcome.state, Start(payload=f"lesson_{lesson.id}"))
            for _ in range(3 * len(lesson.steps)):
                if outcome.state.position is None:
                    break
                outcome = engine.step(outcome.state, Choice(key=buttons(outcome).options[0].key))
            assert lesson.id in outcome.state.completed, (locale, lesson.id)


def test_pre_check_suggests_the_lesson_for_what_was_missed(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lang_en"))
    outcome = press(engine, outcome, "📘 Demo")
    outcome = press(engine, outcome, "📝 Quick check")
    outcome = press(engine, outcome, "Only you")  # 4.2 right
    outcome = press(engine, outcome, "Give up")  # 5.2 wrong: taught by "Lesson two"
    outcome = press(engine, outcome, "Don't tap")  # 4.2 right
    assert outcome.state.checks["demo:pre"].model_dump() == {"correct": 2, "total": 3}
    assert outcome.state.recommended == {"demo": "second"}
    assert "start with «Lesson two»" in texts(outcome)
    completed = [e for e in outcome.events if e.type == "check.completed"]
    assert completed[0].data == {"module": "demo", "phase": "pre", "correct": 2, "total": 3}
    outcome = press(engine, outcome, "📋 This topic")
    labels = [o.label for o in buttons(outcome).options]
    assert labels[:2] == ["📘 Lesson one", "⭐ Lesson two"]  # no quick check offered any more


def test_a_check_left_half_way_starts_again(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lang_en"))
    outcome = press(engine, outcome, "📘 Demo")
    outcome = press(engine, outcome, "🏁 Final check")
    outcome = press(engine, outcome, "Refuse")
    outcome = engine.step(outcome.state, TextInput(text="/menu"))
    assert outcome.state.bookmarks == {}
    outcome = press(engine, outcome, "📘 Demo")
    outcome = press(engine, outcome, "🏁 Final check")
    assert "A courier asks for your OTP?" in texts(outcome)


def test_the_quick_check_is_not_offered_once_lessons_have_begun(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lesson_first"))
    outcome = press(engine, outcome, "Tiếp tục")
    outcome = engine.step(outcome.state, TextInput(text="/menu"))
    outcome = press(engine, outcome, "▶️ Bài mẫu")
    assert not any("Kiểm tra nhanh" in o.label for o in buttons(outcome).options)


def test_step_never_changes_the_state_it_was_given(engine: Engine) -> None:
    """The engine copies only containers (for speed); every one of them must be copied."""
    outcome = engine.step(AGREED, Start(payload="lang_en"))
    outcome = press(engine, outcome, "📘 Demo")
    outcome = press(engine, outcome, "📝 Quick check")
    outcome = press(engine, outcome, "A caller")  # a wrong answer: position.missed grows
    for _ in range(12):
        before = outcome.state.model_dump_json()
        following = engine.step(outcome.state, Choice(key=buttons(outcome).options[0].key))
        assert outcome.state.model_dump_json() == before
        outcome = following
    assert outcome.state.checks
    assert outcome.state.completed
    assert outcome.state.recommended


def test_quiz_options_are_shown_in_a_fixed_order_that_hides_the_file_order(
    real_catalog: Catalog,
) -> None:
    """Writers often put the right answer first; the order shown must not give that away."""
    shown_first = 0
    quizzes = 0
    for lesson in real_catalog.ordered():
        for step in lesson.steps:
            if isinstance(step, QuizStep):
                order = answer_order(lesson.id, step)
                assert sorted(order) == list(range(len(step.options)))
                assert order == answer_order(lesson.id, step)  # the same for every learner
                quizzes += 1
                shown_first += step.options[order[0]].correct
    assert shown_first < quizzes * 0.6


def test_a_shown_answer_key_still_names_the_option_in_the_file(engine: Engine) -> None:
    outcome = engine.step(AGREED, Start(payload="lesson_second"))
    outcome = press(engine, outcome, "Tiếp tục")
    outcome = press(engine, outcome, "Hai")
    (answered,) = [event for event in outcome.events if event.type == "quiz.answered"]
    assert answered.data == {"option": 0, "correct": True}


def learn_a_step_on(engine: Engine, state: State, day: str) -> State:
    """On `day`, open the demo's second lesson where it was left and do one step."""
    state = state.model_copy(update={"today": day})
    outcome = engine.step(state, Choice(key=f"{state.prompt}:open:second"))
    buttons = [r for r in outcome.replies if isinstance(r, ChoicesReply)][-1].options
    return engine.step(outcome.state, Choice(key=buttons[0].key)).state


def test_a_streak_counts_days_in_a_row_and_keeps_one_rest_day_a_week(engine: Engine) -> None:
    state = engine.step(AGREED, Start(payload="lang_en")).state
    state = learn_a_step_on(engine, state, "2026-01-05")  # a Monday
    assert state.streak == 1
    state = learn_a_step_on(engine, state, "2026-01-05")  # the same day counts once
    state = learn_a_step_on(engine, state, "2026-01-06")
    assert state.streak == 2
    state = learn_a_step_on(engine, state, "2026-01-08")  # Wednesday rested: the week's rest day
    assert (state.streak, state.rest_week) == (3, "2026-W02")
    state = learn_a_step_on(engine, state, "2026-01-10")  # a second rest in the same week
    assert state.streak == 1
    state = learn_a_step_on(engine, state, "2026-01-11")
    state = learn_a_step_on(engine, state, "2026-01-13")  # Monday rested: a new week's rest day
    assert state.streak == 3


def test_the_streak_is_shown_kindly_in_the_menu_and_after_a_lesson(engine: Engine) -> None:
    state = engine.step(AGREED, Start(payload="lang_en")).state
    for day in ("2026-01-05", "2026-01-06"):
        state = learn_a_step_on(engine, state, day)
    menu = engine.step(state.model_copy(update={"today": "2026-01-06"}), TextInput(text="/menu"))
    assert "🔥 2 days in a row — well done!" in texts(menu)
    later = engine.step(state.model_copy(update={"today": "2026-01-20"}), TextInput(text="/menu"))
    assert "🔥" not in texts(later)  # a broken streak is simply not shown
    first = engine.step(AGREED, Start(payload="lang_en")).state.model_copy(
        update={"today": "2026-01-05"}
    )
    outcome = press(engine, engine.step(first, TextInput(text="/menu")), "📘 Demo")
    outcome = press(engine, outcome, "📘 Lesson one")
    for label in ("Next", "Done", "Nobody", "A scam"):
        outcome = press(engine, outcome, label)
    assert "🌱 Your first day of learning!" in texts(outcome)


def test_the_privacy_notice_comes_after_the_language_and_before_anything_else(
    engine: Engine,
) -> None:
    outcome = engine.step(None, Start())
    outcome = press(engine, outcome, "English")
    assert outcome.state.screen == "consent"
    assert "Before we start, a quick read" in texts(outcome)
    labels = [option.label for option in buttons(outcome).options]
    assert labels == ["✅ I agree", "📖 Just read, keep nothing", "👦 I'm under 16"]
    # Only the language changed; the service keeps no event before the notice is answered.
    assert [event.type for event in outcome.events] == ["locale.changed"]
    agreed = press(engine, outcome, "✅")
    assert agreed.state.consent == "given"
    assert [(e.type, e.data) for e in agreed.events] == [
        ("consent.given", {"version": "2026-11-1", "by": "learner"})
    ]
    assert agreed.state.screen == "menu"
    assert "Thank you! We'll keep how far you've got" in texts(agreed)


def test_just_reading_and_agreeing_later(engine: Engine) -> None:
    outcome = engine.step(None, Start(payload="lang_en"))
    assert outcome.state.screen == "consent"
    reading = press(engine, outcome, "📖")
    assert reading.state.consent == "declined"
    assert reading.state.screen == "menu"
    assert "You're reading without keeping progress" in texts(reading)
    lesson = press(engine, reading, "📘 Demo")
    assert lesson.state.screen == "module"
    later = engine.step(lesson.state, TextInput(text="/agree"))
    assert later.state.consent == "given"
    assert later.state.screen == "module"  # the same screen again
    assert [e.type for e in later.events] == ["consent.given"]


def test_a_child_needs_a_parent_or_volunteer(engine: Engine) -> None:
    outcome = engine.step(None, Start(payload="lang_en"))
    child = press(engine, outcome, "👦")
    assert child.state.consent == "guardian"
    assert [e.type for e in child.events] == ["consent.guardian_needed"]
    assert "a parent, guardian or the volunteer who invited you must agree" in texts(child)
    labels = [option.label for option in buttons(child).options]
    assert labels == ["👨‍👩‍👧 I'm the parent or guardian: I agree", "📖 Just read, keep nothing"]
    waiting = press(engine, child, "📖")
    assert waiting.state.consent == "guardian"  # still waiting for a grown-up
    parent = press(engine, child, "👨‍👩‍👧")
    assert parent.state.consent == "given"
    assert parent.events[0].data["by"] == "guardian"


def test_a_lesson_link_opens_the_lesson_right_after_the_notice(engine: Engine) -> None:
    outcome = engine.step(None, Start(payload="lesson_first"))
    assert outcome.state.screen == "consent"
    opened = press(engine, outcome, "✅")
    assert opened.state.screen == "lesson"
    assert opened.state.position is not None
    assert opened.state.position.lesson_id == "first"
    assert opened.state.opening is None
