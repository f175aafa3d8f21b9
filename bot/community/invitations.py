"""A volunteer's invitation: the code, the links that carry it, and reading it back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from bot.store.volunteers import CODE_ALPHABET, CODE_LENGTH

REF_PAYLOAD = "ref_"
"""A start payload that carries an invitation: `/start ref_<code>`, `/chat?ref=<code>`."""
TELEGRAM_START_LIMIT = 64
"""Telegram's limit on a deep link's start parameter."""

_CODE = f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}"
TYPED_CODE = re.compile(rf"(?:/start(?:@\w+)?\s+)?ref[\s_-]*({_CODE})")
"""What a learner types where there are no deep links (Zalo): `ref abc234`, `REF_ABC234`."""


def code_of(payload: str) -> str | None:
    """The invitation code in a start payload, or None when it carries none.

    A payload that starts with `ref_` but holds no valid code gives "" — an unknown code.
    """
    if not payload.casefold().startswith(REF_PAYLOAD):
        return None
    code = payload[len(REF_PAYLOAD) :].casefold()
    return code if re.fullmatch(_CODE, code) else ""


def typed_code(text: str) -> str | None:
    match = TYPED_CODE.fullmatch(text.strip().casefold())
    return None if match is None else match.group(1)


@dataclass(frozen=True)
class Links:
    """Where an invitation can be opened: the web chat always, Telegram when it is configured."""

    base_url: str = "http://127.0.0.1:8000"
    telegram_bot: str | None = None
    """The bot's username, without '@'; None when the Telegram channel is not set up."""
    secret: bytes = b""
    """Signs the download links of learners' data; empty: no links (files only)."""

    def web(self, code: str) -> str:
        return f"{self.base_url.rstrip('/')}/chat?ref={quote(code)}"

    def telegram(self, code: str) -> str | None:
        if self.telegram_bot is None:
            return None
        start = f"{REF_PAYLOAD}{code}"
        assert len(start) <= TELEGRAM_START_LIMIT  # noqa: S101 -- codes are 6 characters
        return f"https://t.me/{self.telegram_bot}?start={start}"

    def primary(self, code: str) -> str:
        """The link the QR code carries: Telegram's when there is one (it opens the app)."""
        return self.telegram(code) or self.web(code)
