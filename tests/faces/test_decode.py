"""Decoding: every broken file gets a typed error a person understands; odd but valid images decode."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.core.faces.decode import ImageDecodeError, decode_image, inspect_image

LIMIT = 50_000_000

BROKEN = {
    "empty_0_bytes.jpg": ("empty", "empty"),
    "one_pixel_1x1.png": ("too_small", "1x1 pixels"),
    "png_with_jpg_extension_64x64_gray.jpg": ("blank", "one flat colour"),
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
        decode_image(data, LIMIT)
    assert caught.value.reason == reason
    assert words in str(caught.value)
    assert 400 <= caught.value.status_code < 500


def test_content_decides_not_the_name(facedata: Path) -> None:
    misnamed = facedata / "celeb5" / "train" / "ben_afflek" / "httpwwwrumenewscomwpcontentuploadsbenafflekxpng.jpg"
    image = decode_image(misnamed.read_bytes(), LIMIT)
    assert image.format == "PNG" and image.rgb.shape[2] == 3


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


def _noise(mode: str, size: tuple[int, int] = (64, 48)) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)


@pytest.mark.parametrize(("mode", "fmt"), [("L", "PNG"), ("LA", "PNG"), ("RGBA", "PNG"), ("CMYK", "JPEG"),
                                           ("P", "PNG"), ("1", "PNG"), ("RGB", "WEBP"), ("RGB", "TIFF")])
def test_colour_modes_become_rgb(mode: str, fmt: str) -> None:
    image = decode_image(_encode(_noise(mode), fmt), LIMIT)
    assert image.rgb.shape == (48, 64, 3) and image.rgb.dtype == np.uint8


def test_transparent_pixels_become_white() -> None:
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[:, 20:] = (0, 0, 255, 255)  # right half opaque blue, left half fully transparent
    image = decode_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"), LIMIT)
    assert image.rgb[:, :20].min() == 255 and tuple(image.rgb[0, 30]) == (0, 0, 255)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    grey = np.zeros((40, 40), dtype=np.uint16)
    grey[:, :20] = 32768
    image = decode_image(_encode(Image.fromarray(grey), "PNG"), LIMIT)
    assert 120 <= int(image.rgb[0, 0, 0]) <= 135 and int(image.rgb[0, 39, 0]) == 0


def test_flat_image_is_refused_as_blank() -> None:
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(_encode(Image.new("RGB", (300, 200), (40, 90, 200)), "JPEG"), LIMIT)
    assert caught.value.reason == "blank" and "300x200" in str(caught.value)


def test_a_huge_photo_is_decoded_reduced_with_its_scale() -> None:
    import io

    import numpy as np
    from PIL import Image

    from services.core.faces.decode import decode_image, inspect_image

    rng = np.random.default_rng(5)
    for fmt, size in (("PNG", (6000, 5000)), ("JPEG", (7000, 4000))):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, fmt)
        whole = decode_image(buffer.getvalue(), 60_000_000)
        reduced = decode_image(buffer.getvalue(), 60_000_000, reduce_above=24_000_000)
        assert whole.rgb.shape[:2] == (size[1], size[0]) and whole.scale == 1.0
        assert reduced.rgb.shape[0] * reduced.rgb.shape[1] <= 24_000_000
        assert reduced.scale * reduced.rgb.shape[1] == size[0]
        info = inspect_image(buffer.getvalue(), 60_000_000)
        assert (info.format, info.width, info.height) == (fmt, *size)


def _jpeg_with_exif(tags: dict[int, str], exif_ifd: dict[int, str] | None = None) -> bytes:
    img = Image.new("RGB", (64, 64), (10, 20, 30))
    img.putpixel((1, 1), (200, 0, 0))
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[tag] = value
    if exif_ifd:
        exif.get_ifd(0x8769).update(exif_ifd)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_the_day_a_photo_was_taken_comes_from_its_exif() -> None:
    from datetime import UTC, datetime

    taken = inspect_image(_jpeg_with_exif({0x0132: "2001:02:03 04:05:06"}), 10**8).taken_at
    assert taken == datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    original = _jpeg_with_exif({0x0132: "2011:01:01 00:00:00"},
                               {0x9003: "1999:12:31 23:30:00", 0x9011: "-02:00"})
    assert inspect_image(original, 10**8).taken_at == datetime(2000, 1, 1, 1, 30, tzinfo=UTC)
    assert inspect_image(_jpeg_with_exif({0x0132: "0000:00:00 00:00:00"}), 10**8).taken_at is None
    assert inspect_image(_jpeg_with_exif({}), 10**8).taken_at is None


_PEAK_SCRIPT = """
import sys
from pathlib import Path
from services.core.faces.decode import decode_image

def memory(field):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1]) // 1024

data = Path(sys.argv[1]).read_bytes()
before = memory("VmRSS")
decoded = decode_image(data, 60_000_000, int(sys.argv[2]) or None)
print(decoded.width, decoded.height, decoded.scale, memory("VmHWM") - before)
"""


def test_a_jpeg_just_over_the_bound_is_decoded_at_half_size_by_jpeg_itself(tmp_path: Path) -> None:
    """A 24.5 MP camera-sized JPEG with the detector's 24 MP bound costs what a 6 MP photo costs to decode: JPEG's
    own half-size decoding, not the whole photo decoded (98 MB more) and then halved."""
    import subprocess
    import sys

    rng = np.random.default_rng(7)
    coarse = Image.fromarray(rng.integers(0, 256, (82, 120, 3), dtype=np.uint8))
    big, small = tmp_path / "camera.jpg", tmp_path / "half.jpg"
    coarse.resize((6000, 4075), Image.Resampling.BILINEAR).save(big, "JPEG", quality=90)
    coarse.resize((3000, 2038), Image.Resampling.BILINEAR).save(small, "JPEG", quality=90)

    def decode(photo: Path, reduce_above: int) -> list[float]:
        run = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(photo), str(reduce_above)],
                             capture_output=True, text=True, check=True)
        return [float(v) for v in run.stdout.split()]

    *_, half_mb = decode(small, 0)
    width, height, scale, reduced_mb = decode(big, 24_000_000)
    assert (width, height, scale) == (3000, 2038, 2.0)  # boxes found on it are doubled back to the photo's
    assert reduced_mb < 1.2 * half_mb, (reduced_mb, half_mb)


def test_a_24_megapixel_camera_photo_is_decoded_at_half_size_for_face_finding() -> None:
    """6000x4000 (a 24 MP camera's) is found faces in at 3000x2000; a 12 MP phone photo (4032x3024) whole."""
    from services.core.faces.decode import DETECT_DECODE_PIXELS

    coarse = Image.fromarray(np.random.default_rng(3).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    for (width, height), expected in (((6000, 4000), (3000, 2000, 2.0)), ((4032, 3024), (4032, 3024, 1.0))):
        buffer = io.BytesIO()
        coarse.resize((width, height), Image.Resampling.BILINEAR).save(buffer, "JPEG", quality=85)
        decoded = decode_image(buffer.getvalue(), 60_000_000, DETECT_DECODE_PIXELS)
        assert (decoded.width, decoded.height, decoded.scale) == expected
