"""The public events: what a subscriber receives, and how internal events become them.

Versioned JSON with an id, a type, a time and the minimum data: the learner appears only as a
pseudonymous id (an HMAC of their id with the deployment's secret) and their place, never a
chat id, and a name only on an admin's subscription that asked for names.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from bot.engine.types import Event

VERSION: Final = 1
PublicType = Literal[
    "learner.registered",
    "lesson.completed",
    "module.completed",
    "certificate.issued",
    "certificate.revoked",
    "referral.joined",
    "referral.activated",
    "learner.stuck",
    "learner.erased",
]
PUBLIC_TYPES: Final[tuple[str, ...]] = get_args(PublicType)
TEST_TYPE: Final = "webhook.test"
SOURCES: Final = frozenset({*PUBLIC_TYPES, "check.completed"})
"""Internal event types that may become public ones: a turn without any costs no query."""
LESSON_EVENTS: Final = frozenset({"lesson.completed", "learner.stuck", "referral.activated"})
"""Public events about a lesson: their module is looked up in the library when sent."""


@dataclass(frozen=True)
class PublicEvent:
    id: str
    type: str
    data: dict[str, Any]
    module: str | None
    """The module the event is about, if it names one (lesson events: found when sent)."""


def new_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def learner_key(secret: str, person: int) -> str:
    """The pseudonymous learner id: stable for a deployment, meaningless outside it."""
    digest = hmac.new(secret.encode(), f"learner:{person}".encode(), hashlib.sha256)
    return f"lrn_{digest.hexdigest()[:32]}"


def _score(raw: object) -> dict[str, int] | None:
    if not isinstance(raw, Mapping):
        return None
    return {"correct": int(raw.get("correct", 0)), "total": int(raw.get("total", 0))}


def public(event: Event, checks: Mapping[str, object] | None = None) -> PublicEvent | None:
    """The public event an internal one becomes, or None when it is not published.

    `checks` is the learner's State.checks (for a module's pre-check score).
    """
    data = event.data
    lesson = {"lesson": event.lesson_id} if event.lesson_id else {}
    match event.type:
        case "lesson.completed":
            body: dict[str, Any] = {
                **lesson,
                "correct": int(data.get("correct", 0)),
                "answered": int(data.get("answered", 0)),
                "assisted": bool(data.get("assisted", False)),
            }
            return PublicEvent(new_id(), event.type, body, None)
        case "check.completed":
            if data.get("phase") != "post":
                return None
            module = str(data.get("module", ""))
            post = {"correct": int(data.get("correct", 0)), "total": int(data.get("total", 0))}
            pre = _score((checks or {}).get(f"{module}:pre"))
            body = {"module": module, "pre": pre, "post": post}
            return PublicEvent(new_id(), "module.completed", body, module)
        case "learner.stuck":
            body = {**lesson, "step": event.step_id, "step_index": data.get("step")}
            return PublicEvent(new_id(), event.type, body, None)
        case "referral.joined" | "referral.activated":
            body = {**lesson, "volunteer": data.get("volunteer")}
            return PublicEvent(new_id(), event.type, body, None)
        case "certificate.issued" | "certificate.revoked":
            module = str(data.get("module", ""))
            body = {"module": module, "code": data.get("code")}
            return PublicEvent(new_id(), event.type, body, module)
        case "learner.registered" | "learner.erased":
            return PublicEvent(new_id(), event.type, dict(data), None)
        case _:
            return None


def envelope(
    event_id: str,
    type_: str,
    time: datetime,
    learner: dict[str, Any] | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The JSON a subscriber receives (the learner's `id` is added when it is sent)."""
    return {
        "id": event_id,
        "type": type_,
        "version": VERSION,
        "time": iso(time),
        "learner": learner,
        "data": data,
    }
