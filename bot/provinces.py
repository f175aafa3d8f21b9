"""Vietnam's 34 provinces and centrally-run cities after the 2025 merger, found by any name.

The data lives in provinces.yaml. Matching ignores accents, case, punctuation, spacing and
words such as "tỉnh" or "thành phố", and knows the 63 former names, so someone who still
says "Bình Dương" is taken to Hồ Chí Minh.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal, cast

import yaml

from bot.engine.matching import fold

Kind = Literal["city", "province"]

MAX_INPUT = 100
_SLUG = re.compile(r"[a-z]+(?:-[a-z]+)*")
# Leading words (after folding) that say what kind of unit follows, longest first.
_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("thanh", "pho"),
    ("city", "of"),
    ("province", "of"),
    ("tinh",),
    ("tp",),
    ("t", "p"),
    ("city",),
    ("province",),
)
# Trailing English words: "Hue City", "Nghe An Province".
_SUFFIXES = ("city", "province")
# A suggestion must be at least this similar (difflib ratio) to one of the unit's names.
_SUGGEST_CUTOFF = 0.75


@dataclass(frozen=True)
class Province:
    code: str
    vi: str
    en: str
    kind: Kind
    merged_from: tuple[str, ...]
    aliases: tuple[str, ...]

    def name(self, locale: str) -> str:
        return self.vi if locale == "vi" else self.en


def _names(province: Province) -> tuple[str, ...]:
    """Every name a unit answers to, current and former."""
    return (province.code, province.vi, province.en, *province.merged_from, *province.aliases)


def _key(text: str) -> str:
    """The form names are compared in: 'TP. Hồ Chí Minh' -> 'hochiminh'."""
    words = fold(text).split()
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if tuple(words[: len(prefix)]) == prefix:
                words = words[len(prefix) :]
                stripped = True
                break
    if len(words) > 1 and words[-1] in _SUFFIXES:
        words = words[:-1]
    # Spaces go too, so "Hanoi", "Danang" and "Ba Ria Vung Tau" all match as typed.
    return "".join(words)


def _strings(entry: dict[str, object], field: str, *, required: bool) -> tuple[str, ...]:
    value = entry.get(field)
    if value is None and not required:
        return ()
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item for item in value)
    ):
        raise ValueError(f"provinces.yaml: {entry.get('code')}: {field} must be a list of names")
    return tuple(cast(list[str], value))


def _province(entry: object) -> Province:
    if not isinstance(entry, dict):
        raise ValueError(f"provinces.yaml: expected a mapping, got {entry!r}")
    fields = cast(dict[str, object], entry)
    code, vi, en, kind = (fields.get(name) for name in ("code", "vi", "en", "kind"))
    if not isinstance(code, str) or not _SLUG.fullmatch(code):
        raise ValueError(f"provinces.yaml: bad code {code!r}")
    if not isinstance(vi, str) or not vi or not isinstance(en, str) or not en:
        raise ValueError(f"provinces.yaml: {code}: vi and en are required")
    if kind not in ("city", "province"):
        raise ValueError(f"provinces.yaml: {code}: kind must be city or province")
    return Province(
        code=code,
        vi=vi,
        en=en,
        kind=kind,
        merged_from=_strings(fields, "merged_from", required=True),
        aliases=_strings(fields, "aliases", required=False),
    )


@functools.cache
def provinces() -> tuple[Province, ...]:
    """All 34 units, in file order (roughly north to south)."""
    text = resources.files("bot").joinpath("provinces.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, list):
        raise ValueError("provinces.yaml: expected a list of units")
    return tuple(_province(entry) for entry in data)


@functools.cache
def _index() -> dict[str, Province]:
    index: dict[str, Province] = {}
    for province in provinces():
        for name in _names(province):
            key = _key(name)
            other = index.setdefault(key, province)
            # One spelling naming two units would make find() guess; refuse such data.
            if other is not province:
                raise ValueError(f"provinces.yaml: {name!r} names {other.code} and {province.code}")
    return index


@functools.cache
def _by_code() -> dict[str, Province]:
    return {province.code: province for province in provinces()}


def by_code(code: str) -> Province | None:
    return _by_code().get(code)


def find(text: str) -> Province | None:
    """The unit a name, old or new, refers to; None when nothing matches exactly."""
    if len(text) > MAX_INPUT:
        return None
    key = _key(text)
    return _index().get(key) if key else None


def suggest(text: str, limit: int = 5) -> list[Province]:
    """The units whose names are closest to what was typed, best first; [] when none is close."""
    if len(text) > MAX_INPUT or limit <= 0:
        return []
    key = _key(text)
    if not key:
        return []
    best: dict[str, float] = {}
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(key)
    for name, province in _index().items():
        matcher.set_seq1(name)
        score = matcher.ratio()
        if score >= _SUGGEST_CUTOFF and score > best.get(province.code, 0.0):
            best[province.code] = score
    order = {province.code: place for place, province in enumerate(provinces())}
    ranked = sorted(best, key=lambda code: (-best[code], order[code]))
    return [_by_code()[code] for code in ranked[:limit]]
