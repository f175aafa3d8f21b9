"""The web chat channel: JSON in from the chat page, JSON replies out for it to draw."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from bot.engine import (
    Choice,
    ChoicesReply,
    FileReply,
    Input,
    PictureReply,
    QRReply,
    Start,
    TextInput,
)
from bot.service import Outgoing

CHANNEL = "web"
ASSETS_PATH = "/chat/assets"
QR_PATH = "/chat/qr.png"
MYDATA_PATH = "/chat/mydata"
"""The learner's own data, for the visitor's cookie (webhook/privacy.py)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class WebInput(BaseModel):
    """What the chat page posts: `{"id": "…", "kind": "text", "text": "Xin chào"}`."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    kind: Literal["start", "text", "choice"]
    text: str | None = None
    key: Annotated[str | None, Field(max_length=64)] = None
    payload: Annotated[str | None, Field(max_length=64)] = None

    def to_input(self) -> Input:
        if self.kind == "start":
            return Start(payload=self.payload)
        if self.kind == "choice" and self.key:
            return Choice(key=self.key)
        # Control characters (a pasted binary blob) carry no meaning for the tutor.
        return TextInput(text=_CONTROL.sub("", self.text or ""))


def qr_url(data: str) -> str:
    """Where the web app draws a QR code of `data` (webhook/chat.py)."""
    return f"{QR_PATH}?{urlencode({'data': data})}"


def render(message: Outgoing) -> dict[str, Any]:
    """A reply as the page draws it; pictures and QR codes become URLs under /chat."""
    data = message.reply.model_dump()
    data["id"] = message.id
    if isinstance(message.reply, PictureReply):
        data["url"] = f"{ASSETS_PATH}/{message.reply.path}"
    if isinstance(message.reply, QRReply):
        data["url"] = qr_url(message.reply.data)
    if isinstance(message.reply, FileReply):
        data["url"] = MYDATA_PATH
        del data["person"]
    if isinstance(message.reply, ChoicesReply):
        data["options"] = [option.model_dump() for option in message.reply.options]
    return data
