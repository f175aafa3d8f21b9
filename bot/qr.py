"""QR code pictures of links, for channels that draw a QRReply as an image."""

from __future__ import annotations

import functools
import io

MAX_DATA = 300
"""QRReply.data's limit; longer data would make a dense code that old phone cameras misread."""
ERROR = "m"
"""Error correction level M: about 15% of the code may be damaged and still read."""
BORDER = 4
"""The quiet zone, in modules: the QR standard's minimum."""
TARGET_PX = 400
"""About how wide the picture is: sharp on any phone, small as a file (a few kB)."""


@functools.lru_cache(maxsize=256)
def qr_png(data: str) -> bytes:
    """A black-on-white PNG QR code of `data`, about 300–500 px square.

    ValueError when `data` is empty or over MAX_DATA characters.
    """
    if not data or len(data) > MAX_DATA:
        raise ValueError(f"QR data must be 1 to {MAX_DATA} characters, not {len(data)}")
    import segno  # on the first code drawn: a process that draws none does not carry it

    # No boost: the level stays M, so a code's look depends on its data alone.
    code = segno.make_qr(data, error=ERROR, boost_error=False)
    width, _ = code.symbol_size(scale=1, border=BORDER)
    scale = max(1, round(TARGET_PX / width))
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=BORDER, dark="#000", light="#fff")
    return out.getvalue()
