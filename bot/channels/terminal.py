"""The terminal channel, `camtay chat`: buttons become numbered lines; type a number or words."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot import privacy
from bot.engine import (
    ChoicesReply,
    FileReply,
    Input,
    PictureReply,
    QRReply,
    Reply,
    Start,
    TextInput,
    TextReply,
)
from bot.service import Collector, Inbound, Tutor

CHANNEL = "terminal"
QUIT = {"/quit", "/exit", "/q"}


def render(reply: Reply) -> str:
    """Plain lines a terminal can show."""
    if isinstance(reply, TextReply):
        return reply.text
    if isinstance(reply, PictureReply):
        return f"[🖼  {reply.path}]" + (f"\n{reply.caption}" if reply.caption else "")
    if isinstance(reply, QRReply):
        return f"{reply.caption}\n{reply.data}" if reply.caption else reply.data
    if isinstance(reply, FileReply):
        return f"{reply.caption or ''}\n[📄 {reply.name}]".strip()
    assert isinstance(reply, ChoicesReply)  # noqa: S101 -- the union's rest
    lines = [reply.text]
    lines += [f"  {number}. {option.label}" for number, option in enumerate(reply.options, 1)]
    return "\n".join(lines)


async def _print(tutor: Tutor, collector: Collector, out: TextIO) -> None:
    for message in collector.messages:
        reply = message.reply
        if isinstance(reply, FileReply):
            # The file goes where the terminal is: the current folder.
            content = await privacy.export_bytes(tutor.database, reply.person, tutor.clock())
            path = await asyncio.to_thread(Path(reply.name).resolve)
            await asyncio.to_thread(path.write_bytes, content)
            reply = reply.model_copy(update={"name": str(path)})
        out.write(render(reply) + "\n\n")
    out.flush()


async def turn(tutor: Tutor, user: str, event: Input, out: TextIO) -> None:
    """Apply one input and print what arrived: messages others sent meanwhile come first."""
    collector = Collector()
    await tutor.handle(Inbound(channel=CHANNEL, external_id=user, input=event), collector)
    await _print(tutor, collector, out)


async def _read_line(source: TextIO, interactive: bool, out: TextIO) -> str | None:
    if interactive:
        out.write("> ")
        out.flush()
    line = await asyncio.to_thread(source.readline)
    return None if line == "" else line.rstrip("\r\n")


async def chat(
    tutor: Tutor,
    *,
    user: str,
    lang: str | None = None,
    source: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    after_turn: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run a conversation until end of input (or /quit); each line is one input.

    `after_turn` runs after each input (the model's answers, worked out in this process); what
    it sends is printed before the next prompt.
    """
    interactive = source.isatty()
    await turn(tutor, user, Start(payload=f"lang_{lang}" if lang else None), out)
    while (line := await _read_line(source, interactive, out)) is not None:
        if line.strip().casefold() in QUIT:
            break
        await turn(tutor, user, TextInput(text=line), out)
        if after_turn is not None:
            await after_turn()
            await _arrived(tutor, user, out)


async def _arrived(tutor: Tutor, user: str, out: TextIO) -> None:
    """Print what was sent to this user since the last input."""
    async with tutor.database.unit_of_work() as uow:
        learner = await uow.learners.get(CHANNEL, user)
    if learner is None:
        return
    collector = Collector()
    await tutor.deliver(learner.id, CHANNEL, user, collector)
    await _print(tutor, collector, out)
