"""Request bodies read with a size limit, so an oversized one is refused before it is all read."""

from __future__ import annotations

from fastapi import HTTPException, Request

WEBHOOK_LIMIT = 1024 * 1024
"""Platform updates are small; anything over 1 MB is not one."""


async def read_body(request: Request, limit: int, detail: str = "body too large") -> bytes:
    """The body, or 413 as soon as it is known to exceed `limit` bytes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPException(413, detail)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, detail)
    return bytes(body)
