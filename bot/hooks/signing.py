"""Signing: `Camtay-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.

The timestamp (Unix seconds, `Camtay-Timestamp`) is signed with the body, so a captured request
cannot be replayed later: receivers refuse timestamps more than TOLERANCE old.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

EVENT_ID: Final = "Camtay-Event-Id"
TIMESTAMP: Final = "Camtay-Timestamp"
SIGNATURE: Final = "Camtay-Signature"
TOLERANCE_SECONDS: Final = 300
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 -- a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "camtay-webhooks/1",
        EVENT_ID: event_id,
        TIMESTAMP: str(timestamp),
        SIGNATURE: signature(secret, timestamp, body),
    }


def verify(secret: str, timestamp: str, body: bytes, signed: str, now: float) -> bool:
    """What a receiver does (the README's example does the same in ten lines)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), signed)
