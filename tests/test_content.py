"""Content lint for the lesson library: complete, bilingual, bite-sized, sourced, pictured."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from bot.cli import library_table
from bot.engine import Catalog, Choice, ChoicesReply, Engine, Lesson, Module, Start, TextReply
from bot.engine.lesson import FRAMEWORK, DrillStep, QuizStep, ShowStep, Text
from tests.conftest import ROOT

MAX_TEXT = 600  # one field of a lesson file: a phone screen, read slowly
MAX_MESSAGE = 1000  # one message as sent: under Telegram's 1024 caption, Zalo's 2000 text


def texts_of(value: object) -> list[Text]:
    """Every bilingual text inside a lesson or module, however deep."""
    if isinstance(value, Text):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in texts_of(item)]
    if isinstance(value, BaseModel):
        return [
            text for name in type(value).model_fields for text in texts_of(getattr(value, name))
        ]
    return []


def test_the_library_is_complete(real_catalog: Catalog) -> None:
    assert len(real_catalog.modules) >= 10
    assert len(real_catalog.lessons) >= 36


def test_every_lesson_is_bite_sized_and_practical(real_catalog: Catalog) -> None:
    for lesson in real_catalog.ordered():
        kinds = {step.kind for step in lesson.steps}
        assert 3 <= len(lesson.steps) <= 8, lesson.id
        assert 3 <= lesson.minutes <= 6, lesson.id
        assert kinds & {"show", "drill"}, f"{lesson.id}: needs a show or a drill step"
        assert "quiz" in kinds, f"{lesson.id}: needs a quiz"
        for step in lesson.steps:
            if isinstance(step, ShowStep):
                assert step.hint is not None, f"{lesson.id}/{step.id}: a show step needs a hint"
            if isinstance(step, QuizStep):
                assert all(option.feedback for option in step.options)


def test_every_text_is_short_and_translated(real_catalog: Catalog) -> None:
    owners: list[Module | Lesson] = [*real_catalog.modules, *real_catalog.ordered()]
    for owner in owners:
        for text in texts_of(owner):
            for locale in ("vi", "en"):
                assert len(text(locale)) <= MAX_TEXT, f"{owner.id}: {text(locale)[:60]}…"
            if len(text.vi) > 25:
                assert text.vi != text.en, f"{owner.id}: not translated: {text.vi[:60]}"


def test_every_message_fits_a_phone_screen(real_catalog: Catalog) -> None:
    """Walk every lesson in both languages and measure what is actually sent."""
    engine = Engine(real_catalog)
    for locale in ("vi", "en"):
        for lesson in real_catalog.ordered():
            outcome = engine.step(None, Start(payload=f"lang_{locale}"))
            outcome = engine.step(outcome.state, Start(payload=f"lesson_{lesson.id}"))
            while outcome.state.position is not None:
                for reply in outcome.replies:
                    if isinstance(reply, TextReply | ChoicesReply):
                        assert len(reply.text) <= MAX_MESSAGE, f"{lesson.id}: {reply.text[:60]}"
                choices = [r for r in outcome.replies if isinstance(r, ChoicesReply)][-1]
                outcome = engine.step(outcome.state, Choice(key=choices.options[0].key))


def test_sources_and_competencies(real_catalog: Catalog) -> None:
    for lesson in real_catalog.ordered():
        assert lesson.sources, lesson.id
        for source in lesson.sources:
            assert source.scheme in ("http", "https")
        assert set(lesson.competencies) <= set(FRAMEWORK)


def test_every_module_checks_what_it_teaches(real_catalog: Catalog) -> None:
    for module in real_catalog.modules:
        taught = set(real_catalog.competencies(module))
        assert {item.competency for item in module.pre_check} >= taught, module.id
        assert {item.competency for item in module.post_check} >= taught, module.id


def test_ids_are_unique_across_the_library(real_catalog: Catalog) -> None:
    ids = [module.id for module in real_catalog.modules] + list(real_catalog.lessons)
    assert len(ids) == len(set(ids))


def test_every_drill_has_its_phone_screen_pictures(real_catalog: Catalog) -> None:
    for lesson in real_catalog.ordered():
        for step in lesson.steps:
            if isinstance(step, DrillStep):
                for locale in ("vi", "en"):
                    assert real_catalog.drill_picture(lesson.id, step.id, locale), (
                        f"{lesson.id}/{step.id} has no {locale} picture: run make pictures"
                    )


def test_the_readme_lists_every_module_with_its_competencies(real_catalog: Catalog) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert library_table(real_catalog) in readme, (
        "README's library table is stale: camtay lessons list"
    )


@pytest.mark.parametrize("code", sorted(FRAMEWORK))
def test_framework_codes_are_well_formed(code: str) -> None:
    assert re.fullmatch(r"[1-6]\.[1-6]", code)
