"""Turn uploaded bytes into an upright 8-bit RGB array, or say exactly why that is impossible."""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from services.core.errors import InvalidInput

MIN_SIDE = 32
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "BMP": "image/bmp",
                    "TIFF": "image/tiff", "GIF": "image/gif"}
FLAT_TOLERANCE = 2  # grey levels; a flat image saved as JPEG wobbles by about one
INSPECT_PIXELS = 4_000_000  # non-JPEG uploads up to this size are decoded whole by the gateway (12 MB of RGB)
# Photos above this are decoded for face finding at an integer fraction of their size: detection runs at
# FACETAG_MAX_DETECT_SIDE anyway, and memory then follows this bound, not the photo (a 59 MP PNG: 1.9 GB whole,
# about 0.5 GB reduced). A 24 MP camera's photo is decoded at half size by JPEG itself (bench/decode.py: 0.27 of
# the time, faces' descriptors within cosine 0.985 of the whole decode's); a 12 MP phone's whole.
DETECT_DECODE_PIXELS = 20_000_000
EXIF_ORIENTATION = 0x0112
EXIF_IFD, EXIF_DATE_TAKEN, EXIF_OFFSET_TAKEN, EXIF_DATE_TIME = 0x8769, 0x9003, 0x9011, 0x0132


class ImageDecodeError(InvalidInput):
    """An upload that is not a usable image. ``reason`` is a stable code; the message is for people."""

    def __init__(self, reason: str, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.reason = reason
        self.status_code = status_code


@dataclass(frozen=True)
class DecodedImage:
    rgb: NDArray[np.uint8]  # (rows, cols, 3), EXIF orientation applied
    format: str  # "JPEG", "PNG", ...
    scale: float = 1.0  # photo pixels per decoded pixel: above 1 when decoded at a reduced size

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def media_type(self) -> str:
        return ACCEPTED_FORMATS[self.format]


def _to_rgb(img: Image.Image) -> NDArray[np.uint8]:
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16-bit and float greyscale: scale the used range to 8 bits rather than clipping at 255.
        grey = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(grey.max()), 1.0)
        grey8 = np.clip(grey * (255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent areas become white, as a viewer shows them, instead of black.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _open_checked(data: bytes, max_pixels: int) -> tuple[Image.Image, str, int, int]:
    """The image opened from its header (no pixels decoded), its format and upright size, all checked."""
    if not data:
        raise ImageDecodeError("empty", "The file is empty (0 bytes); choose a photo file.", 400)
    img: Image.Image
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageDecodeError(
            "too_many_pixels", f"The image has far more pixels than the limit of {max_pixels:,}.", 413
        ) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            "not_an_image",
            "The file is not an image this service can read; send a JPEG, PNG, WebP, BMP, TIFF or GIF.",
            415,
        ) from None
    fmt = img.format or ""
    if fmt not in ACCEPTED_FORMATS:
        raise ImageDecodeError("unsupported_format", f"{fmt or 'This'} images are not supported; send a JPEG, "
                               "PNG, WebP, BMP, TIFF or GIF.", 415)
    width, height = img.size
    if width * height > max_pixels:
        raise ImageDecodeError(
            "too_many_pixels",
            f"The image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}. "
            "Scale it down and upload it again.",
            413,
        )
    if min(width, height) < MIN_SIDE:
        raise ImageDecodeError(
            "too_small", f"The image is {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed."
        )
    if _turned(img):
        width, height = height, width
    return img, fmt, width, height


def _exif(img: Image.Image) -> Image.Exif:
    """The EXIF the header gave, without decoding pixels: Pillow's PNG getexif() decodes the whole image to look
    for a late eXIf chunk, so a PNG's is read only from what its header already gave."""
    if img.format != "PNG":
        return img.getexif()
    exif = Image.Exif()
    raw = img.info.get("exif")
    if raw:
        exif.load(raw)
    return exif


def _turned(img: Image.Image) -> bool:
    """EXIF orientations 5 to 8 show the stored image turned by a quarter: width and height swap."""
    try:
        return _exif(img).get(EXIF_ORIENTATION) in (5, 6, 7, 8)
    except Exception:  # unreadable EXIF: shown as stored
        return False


def _decode_failure(fmt: str, exc: Exception) -> ImageDecodeError:
    if "truncated" in str(exc).lower() or isinstance(exc, EOFError):
        return ImageDecodeError("truncated", f"The {fmt} file is cut off before its end (incomplete upload or "
                                "copy); upload the complete file.")
    return ImageDecodeError("corrupt", f"The {fmt} file is damaged and cannot be decoded: {exc}.")


def _refuse_blank(rgb: NDArray[np.uint8], width: int, height: int) -> None:
    if int(np.ptp(rgb.reshape(-1, 3), axis=0).max()) <= FLAT_TOLERANCE:
        raise ImageDecodeError("blank", f"The {width}x{height} image is one flat colour: there is nothing in it to "
                               "tag. Check that the right file was chosen.")


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int  # upright, EXIF orientation applied
    height: int
    taken_at: datetime | None = None

    @property
    def media_type(self) -> str:
        return ACCEPTED_FORMATS[self.format]


def exif_taken_at(img: Image.Image) -> datetime | None:
    """When the photo was taken, from EXIF (DateTimeOriginal, else DateTime), with its zone offset if it says one
    (cameras mostly do not: the camera's clock is then read as UTC, which keeps the day right)."""
    try:
        exif = _exif(img)
        details = exif.get_ifd(EXIF_IFD)
        stamp = details.get(EXIF_DATE_TAKEN) or exif.get(EXIF_DATE_TIME)
        if not isinstance(stamp, str):
            return None
        moment = datetime.strptime(stamp.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
        offset = details.get(EXIF_OFFSET_TAKEN)
        if isinstance(offset, str) and len(offset) == 6 and offset[0] in "+-":
            sign = 1 if offset[0] == "+" else -1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
            return moment.replace(tzinfo=zone).astimezone(UTC)
        return moment.replace(tzinfo=UTC)
    except Exception:  # no EXIF, unreadable EXIF or a date that is not one ("0000:00:00 00:00:00")
        return None


def inspect_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Check an upload without decoding the whole photo, so the gateway's memory stays small.

    Type, size and orientation come from the header. A JPEG is then decoded at an eighth of its size
    (JPEG's own reduced decoding), which still reads every byte: truncation, damage and a blank image
    are caught for a few MB. Other formats are decoded only when small (INSPECT_PIXELS); a large PNG
    has its chunks' checksums verified without inflating them. Anything else wrong with a large file is
    found by the detector, which marks the photo failed with the reason.
    """
    img, fmt, width, height = _open_checked(data, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if fmt == "JPEG":
                img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            elif img.width * img.height > INSPECT_PIXELS:
                if fmt == "PNG":
                    Image.open(io.BytesIO(data)).verify()  # must come straight after opening
                return ImageInfo(fmt, width, height, exif_taken_at(img))
            img.load()
            rgb = _to_rgb(img)
    except (OSError, SyntaxError, ValueError) as exc:
        raise _decode_failure(fmt, exc) from None
    _refuse_blank(rgb, width, height)
    return ImageInfo(fmt, width, height, exif_taken_at(img))


def decode_image(data: bytes, max_pixels: int, reduce_above: int | None = None) -> DecodedImage:
    """Decode fully (so truncation is caught), apply EXIF orientation, convert to RGB.

    The content alone decides what the file is: a PNG named ``.jpg`` is read as the PNG it is. With
    ``reduce_above``, a photo of more pixels is decoded at an integer fraction of its size (a JPEG by
    its own reduced decoding), so memory follows that bound and not the photo; ``scale`` says by how much.
    """
    img, fmt, width, height = _open_checked(data, max_pixels)
    stored_width = img.width
    step = 1  # the whole reduction: an integer, so JPEG's own 1/2, 1/4, 1/8 can do it while decoding
    if reduce_above is not None and img.width * img.height > reduce_above:
        step = math.ceil(math.sqrt(img.width * img.height / reduce_above))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if step > 1 and fmt == "JPEG":
                # Asked for the final size, not just under the bound: a photo a little over the bound is then
                # decoded at half size directly, instead of whole and then halved (twice the memory and time).
                img.draft("RGB", (img.width // step, img.height // step))  # at most 1/8
            img.load()
            still = math.ceil(step * img.width / stored_width)  # what JPEG's own reduction left to do
            if still > 1:
                img = img.reduce(still)
            img = ImageOps.exif_transpose(img) or img
            rgb = _to_rgb(img)
    except (OSError, SyntaxError, ValueError) as exc:
        raise _decode_failure(fmt, exc) from None
    _refuse_blank(rgb, width, height)
    return DecodedImage(rgb=rgb, format=fmt, scale=width / rgb.shape[1])
