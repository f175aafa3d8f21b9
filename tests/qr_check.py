"""Check that bytes are a QR code picture of some data, as a phone camera would need it."""

from __future__ import annotations

import io

import segno
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BORDER = 4


def assert_qr_png(content: bytes, data: str) -> None:
    """A square, black-and-white PNG of at least 300 px, holding exactly the modules of `data`.

    No QR decoder is installed, so the picture is read back module by module and compared with
    the symbol segno makes for `data` at level M: the right code, at a whole-pixel scale, with
    its quiet zone.
    """
    assert content[:8] == PNG_SIGNATURE, content[:16]
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "PNG"
        width, height = image.size
        grey = image.convert("L")
    assert width == height, image.size
    assert 300 <= width <= 500, image.size
    histogram = grey.histogram()
    assert histogram[0], "no black"
    assert histogram[255], "no white"
    assert sum(histogram) == histogram[0] + histogram[255], "colours other than black and white"
    matrix = segno.make_qr(data, error="m", boost_error=False).matrix
    modules = len(matrix) + 2 * BORDER
    scale, rest = divmod(width, modules)
    assert rest == 0, f"{width} px is not a whole number of {modules} modules"
    for row in range(modules):
        for column in range(modules):
            inside = BORDER <= row < modules - BORDER and BORDER <= column < modules - BORDER
            dark = bool(inside and matrix[row - BORDER][column - BORDER])
            centre = (column * scale + scale // 2, row * scale + scale // 2)
            assert grey.getpixel(centre) == (0 if dark else 255), (row, column)
