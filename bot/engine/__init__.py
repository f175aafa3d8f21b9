"""The pure lesson engine: standard library and pydantic only, no platform, HTTP or SQL."""

from bot.engine.engine import Engine
from bot.engine.lesson import SPEC_VERSION, Catalog, Lesson, Locale, Module, Text
from bot.engine.types import (
    Again,
    Choice,
    ChoicesReply,
    Done,
    Event,
    Input,
    Option,
    Outcome,
    PictureReply,
    Reply,
    Start,
    State,
    Stuck,
    TextInput,
    TextReply,
    Unsupported,
)

__all__ = [
    "SPEC_VERSION",
    "Again",
    "Catalog",
    "Choice",
    "ChoicesReply",
    "Done",
    "Engine",
    "Event",
    "Input",
    "Lesson",
    "Locale",
    "Module",
    "Option",
    "Outcome",
    "PictureReply",
    "Reply",
    "Start",
    "State",
    "Stuck",
    "Text",
    "TextInput",
    "TextReply",
    "Unsupported",
]
