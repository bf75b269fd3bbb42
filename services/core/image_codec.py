"""Encoding of what the workers store: lossless face chips and JPEG thumbnails."""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image


def encode_png(rgb: NDArray[np.uint8]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=3)
    return buf.getvalue()


def decode_png(data: bytes) -> NDArray[np.uint8]:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def encode_thumbnail(rgb: NDArray[np.uint8], side: int) -> bytes:
    img = Image.fromarray(rgb)
    # A box reduction first, Lanczos for the last 1.5x: half the time of Lanczos all the way, for a thumbnail
    # within 0.35 of it (mean absolute difference per channel, 0-255) on the shared photos at 1 MP.
    img.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=1.5)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85, optimize=True)
    return buf.getvalue()
