"""A deterministic, offline checker for suspicious messages (SMS, Zalo, Facebook, e-mail text).

from bot.scam import check
result = check("VCB: tai khoan bi khoa, xac minh tai vcb-xacminh.top")
result.verdict    # 'likely_scam' | 'be_careful' | 'no_red_flags' (never 'safe')
result.red_flags  # [RedFlag(code='lookalike_domain', vi=..., en=..., evidence=...), ...]
result.advice     # [Advice(code='do_not_click', vi=..., en=...), ...]
result.lesson     # 'fake-bank-sms'
"""

from bot.scam.checker import MAX_CHARS, check
from bot.scam.flags import FLAGS, LESSON_BY_FLAG, lesson_for
from bot.scam.model import VERDICTS, Advice, RedFlag, Verdict, VerdictLabel
from bot.scam.render import render

__all__ = [
    "FLAGS",
    "LESSON_BY_FLAG",
    "MAX_CHARS",
    "VERDICTS",
    "Advice",
    "RedFlag",
    "Verdict",
    "VerdictLabel",
    "check",
    "lesson_for",
    "render",
]
