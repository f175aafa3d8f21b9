"""QR code pictures: the right code, a phone-friendly size, drawn once per link."""

from __future__ import annotations

import pytest

from bot.qr import MAX_DATA, qr_png
from tests.qr_check import assert_qr_png


@pytest.mark.parametrize(
    "data",
    [
        "a",
        "https://t.me/camtay_bot?start=ref_Vx7Q2a",
        "https://tutor.example/chat?ref=" + "x" * (MAX_DATA - 31),
        "https://ví.dụ/Cầm-Tay/" + "🙂" * 100,
    ],
    ids=["one-character", "invitation", "longest", "unicode"],
)
def test_every_size_of_link_is_a_300_to_500_px_black_and_white_code(data: str) -> None:
    assert_qr_png(qr_png(data), data)


def test_the_same_link_is_drawn_once() -> None:
    link = "https://t.me/camtay_bot?start=ref_cached"
    assert qr_png(link) is qr_png(link)


@pytest.mark.parametrize("data", ["", "x" * (MAX_DATA + 1)], ids=["empty", "too-long"])
def test_empty_or_overlong_data_is_refused(data: str) -> None:
    with pytest.raises(ValueError, match="QR data"):
        qr_png(data)
