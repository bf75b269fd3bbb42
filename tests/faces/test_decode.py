"""Decoding: every broken file gets a typed error a person understands; odd but valid images decode."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.core.faces.decode import ImageDecodeError, decode_image

LIMIT = 50_000_000

BROKEN = {
    "empty_0_bytes.jpg": ("empty", "empty"),
    "one_pixel_1x1.png": ("too_small", "1x1 pixels"),
    "png_with_jpg_extension_64x64_gray.jpg": ("type_mismatch", "content is a PNG"),
    "text_renamed.jpg": ("not_an_image", "not an image"),
    "truncated_half_George_W_Bush_0001.jpg": ("truncated", "cut off"),
    "truncated_half_madonna.jpg": ("truncated", "cut off"),
}


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def test_every_broken_file_is_covered(facedata: Path) -> None:
    assert {p.name for p in (facedata / "bad" / "broken").iterdir()} == set(BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_gives_typed_error(facedata: Path, name: str) -> None:
    reason, words = BROKEN[name]
    data = (facedata / "bad" / "broken" / name).read_bytes()
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data, LIMIT, name=name)
    assert caught.value.reason == reason
    assert words in str(caught.value)
    assert 400 <= caught.value.status_code < 500


def test_content_decides_when_nothing_is_declared(facedata: Path) -> None:
    data = (facedata / "bad" / "broken" / "png_with_jpg_extension_64x64_gray.jpg").read_bytes()
    image = decode_image(data, LIMIT, name="upload", media_type="application/octet-stream")
    assert image.format == "PNG" and (image.width, image.height) == (64, 64)


def test_too_many_pixels_is_refused_before_decoding() -> None:
    data = _encode(Image.new("RGB", (3000, 2000)), "PNG")
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data, 5_000_000)
    assert caught.value.reason == "too_many_pixels" and caught.value.status_code == 413
    assert "6,000,000" in str(caught.value)


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (200, 100), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 20))  # blue mark top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display after turning 90 degrees clockwise
    image = decode_image(_encode(img, "JPEG", exif=exif, quality=95), LIMIT)
    assert (image.width, image.height) == (100, 200)
    top_right = image.rgb[5:15, -15:-5].mean(axis=(0, 1))
    assert top_right[2] > 200 and top_right[0] < 60  # the mark is now at the top right


@pytest.mark.parametrize(
    ("mode", "fmt", "fill"),
    [("L", "PNG", 128), ("LA", "PNG", (128, 255)), ("RGBA", "PNG", (10, 200, 30, 255)),
     ("CMYK", "JPEG", (0, 255, 255, 0)), ("P", "PNG", 3), ("1", "PNG", 1), ("RGB", "WEBP", (20, 40, 60))],
)
def test_colour_modes_become_rgb(mode: str, fmt: str, fill: object) -> None:
    image = decode_image(_encode(Image.new(mode, (64, 48), fill), fmt), LIMIT)  # type: ignore[arg-type]
    assert image.rgb.shape == (48, 64, 3) and image.rgb.dtype == np.uint8


def test_transparent_pixels_become_white() -> None:
    image = decode_image(_encode(Image.new("RGBA", (40, 40), (0, 0, 0, 0)), "PNG"), LIMIT)
    assert image.rgb.min() == 255


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    grey = np.full((40, 40), 32768, dtype=np.uint16)
    data = _encode(Image.fromarray(grey), "PNG")
    image = decode_image(data, LIMIT)
    assert 120 <= int(image.rgb[0, 0, 0]) <= 135


def test_declared_media_type_that_disagrees_is_refused() -> None:
    data = _encode(Image.new("RGB", (64, 64)), "PNG")
    with pytest.raises(ImageDecodeError, match="declared type image/jpeg"):
        decode_image(data, LIMIT, media_type="image/jpeg")
