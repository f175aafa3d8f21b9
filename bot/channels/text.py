"""Text helpers shared by the channels."""

from __future__ import annotations


def split_text(text: str, limit: int) -> list[str]:
    """Split at paragraph breaks, then line breaks, then spaces; never over `limit`."""
    if len(text) <= limit:
        return [text]
    for separator in ("\n\n", "\n", " "):
        cut = text.rfind(separator, 0, limit + 1)
        if cut > 0:
            return [text[:cut], *split_text(text[cut + len(separator) :], limit)]
    return [text[:limit], *split_text(text[limit:], limit)]
