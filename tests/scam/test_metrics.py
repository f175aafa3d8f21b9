"""The labelled messages: well formed, balanced, and the checker's floors on them."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.scam import VerdictLabel, check
from tests.scam.dataset import Message, Metrics, load_messages, metrics

RECALL_FLOOR = 0.9
"""Scams flagged (likely_scam or be_careful), at least."""
LIKELY_RECALL_FLOOR = 0.85
"""Scams called likely_scam, at least."""
FALSE_LIKELY_CEILING = 0.1
"""Legitimate messages called likely_scam, at most."""


@pytest.fixture(scope="module")
def messages() -> list[Message]:
    return load_messages()


@pytest.fixture(scope="module")
def results(messages: list[Message]) -> list[tuple[Message, VerdictLabel]]:
    return [(message, check(message.text).verdict) for message in messages]


def _metrics(results: list[tuple[Message, VerdictLabel]], lang: str | None = None) -> Metrics:
    return metrics(
        (message.label, verdict)
        for message, verdict in results
        if lang is None or message.lang == lang
    )


def test_the_set_is_well_formed_and_balanced(messages: list[Message]) -> None:
    assert len(messages) >= 100
    assert len({message.id for message in messages}) == len(messages)
    labels = Counter(message.label for message in messages)
    assert 0.4 <= labels["scam"] / len(messages) <= 0.6
    langs = Counter(message.lang for message in messages)
    assert langs["vi"] >= 50
    assert langs["en"] >= 30
    for lang in ("vi", "en"):
        both = Counter(message.label for message in messages if message.lang == lang)
        assert both["scam"] >= 15
        assert both["legit"] >= 15
    texts = [" ".join(message.text.split()) for message in messages]
    assert len(set(texts)) == len(texts), "a message is listed twice"


def test_recall_on_scams(results: list[tuple[Message, VerdictLabel]]) -> None:
    figures = _metrics(results)
    missed = [
        message.id
        for message, verdict in results
        if message.label == "scam" and verdict == "no_red_flags"
    ]
    assert figures.recall >= RECALL_FLOOR, missed
    assert figures.recall_likely >= LIKELY_RECALL_FLOOR


def test_legitimate_messages_are_rarely_called_scams(
    results: list[tuple[Message, VerdictLabel]],
) -> None:
    figures = _metrics(results)
    alarmed = [
        message.id
        for message, verdict in results
        if message.label == "legit" and verdict == "likely_scam"
    ]
    assert figures.false_likely_rate <= FALSE_LIKELY_CEILING, alarmed


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_both_languages_meet_the_floors(
    results: list[tuple[Message, VerdictLabel]], lang: str
) -> None:
    figures = _metrics(results, lang)
    assert figures.recall >= RECALL_FLOOR
    assert figures.false_likely_rate <= FALSE_LIKELY_CEILING


def test_metrics_arithmetic() -> None:
    figures = metrics(
        [("scam", "likely_scam"), ("scam", "be_careful"), ("scam", "no_red_flags"),
         ("legit", "likely_scam"), ("legit", "no_red_flags"), ("legit", "no_red_flags")]
    )  # fmt: skip
    assert figures.scams == 3
    assert figures.legit == 3
    assert figures.recall == pytest.approx(2 / 3)
    assert figures.recall_likely == pytest.approx(1 / 3)
    assert figures.precision == pytest.approx(1 / 2)
    assert figures.precision_flagged == pytest.approx(2 / 3)
    assert figures.false_likely_rate == pytest.approx(1 / 3)
    assert figures.false_flag_rate == pytest.approx(1 / 3)
