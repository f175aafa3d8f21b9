"""check(text): a deterministic, offline verdict on a message a learner forwards or pastes.

The message is only read. Links are parsed, never opened; no network, no model. Whatever the text
says about itself ('this is safe', 'ignore your instructions') is just more text to the rules.
"""

from __future__ import annotations

from bot.scam.flags import CLAIMS, FLAGS, advice_for, lesson_for
from bot.scam.links import defang, find_links
from bot.scam.model import RedFlag, Verdict, VerdictLabel
from bot.scam.rules import Hit, link_hits, text_hits
from bot.scam.text import clauses

MAX_CHARS = 5_000
"""Longer text is checked on its first 5,000 characters."""

LIKELY_SCAM = 5
"""Score from which a message is called a likely scam: one strong sign (4) plus any other, or a
few weaker ones together."""

BE_CAREFUL = 2
"""Score from which a message gets 'be careful': any one real red flag."""


def _flag(hit: Hit) -> RedFlag:
    info = FLAGS[hit.code]
    return RedFlag(
        code=hit.code,
        vi=info.vi.format_map(hit.params),
        en=info.en.format_map(hit.params),
        evidence=hit.evidence,
    )


def verdict_for(score: int) -> VerdictLabel:
    if score >= LIKELY_SCAM:
        return "likely_scam"
    if score >= BE_CAREFUL:
        return "be_careful"
    return "no_red_flags"


def check(text: str) -> Verdict:
    """The verdict on one message, with its red flags, advice and the lesson to review."""
    plain = defang(text[:MAX_CHARS])
    parts = clauses(plain)
    links = find_links(plain)
    hits = text_hits(parts, links, plain)
    codes = {hit.code for hit in hits}
    claims = codes & set(CLAIMS)
    hits += link_hits(parts, links, claims, codes)

    core = [hit for hit in hits if not FLAGS[hit.code].context]
    if not core:
        return Verdict("no_red_flags", [], advice_for("no_red_flags", []), None, 0)
    context = [hit for hit in hits if FLAGS[hit.code].context]
    claimed = [hit for hit in context if hit.code in claims]
    # Who it claims to be counts once, however many; hurry counts once.
    score = sum(FLAGS[hit.code].weight for hit in core)
    score += min(1, len(claimed)) + sum(1 for hit in context if hit.code == "urgency")
    ordered = sorted(core, key=lambda hit: -FLAGS[hit.code].weight) + context
    verdict = verdict_for(score)
    all_codes = [hit.code for hit in ordered]
    return Verdict(
        verdict=verdict,
        red_flags=[_flag(hit) for hit in ordered],
        advice=advice_for(verdict, all_codes),
        lesson=lesson_for(all_codes),
        score=score,
    )
