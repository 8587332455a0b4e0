"""Safe image input and output for evidence photos and data sets.

Everything that reads a picture from a user or a data set goes through :func:`load_image`, which returns
an RGB ``uint8`` array ``(H, W, 3)`` whatever the file held:

- formats: JPEG (and MPO, the multi-picture JPEG that phones write), PNG, BMP, TIFF, WebP; anything else
  is refused as unsupported;
- EXIF orientation is applied, so a phone photo taken upright comes out upright;
- grey, 1-bit, palette (with or without transparency), alpha, CMYK, YCbCr/LAB/HSV and 16-bit images are
  converted to 8-bit RGB; transparent pixels are composited onto white; 16-bit values are scaled
  (``v / 257``), not clipped;
- zero-byte, truncated, non-image and over-large files (decompression bombs: more than ``max_pixels``,
  default 64 MP, checked from the header before any pixel is decoded) raise :class:`ImageLoadError`,
  one typed error whose message a person understands.

The source is opened read-only and never written. Pillow's own bomb guard (about 179 MP) also applies.
:func:`save_png` writes atomically and can embed text chunks (the case store records provenance in them);
:func:`resize` picks area-averaging to shrink and bicubic to enlarge.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 64_000_000
ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "TIFF", "WEBP")
_OPENERS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")  # Pillow's JPEG opener also yields MPO


class ImageLoadError(ValueError):
    """An image could not be used. ``str(err)`` is a sentence for the person who chose the file."""


def _describe(src: Path | str | bytes) -> str:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return "the image data"
    return f"'{Path(src).name}'"


def _open_source(src: Path | str | bytes) -> tuple[io.BytesIO, str]:
    """Read the whole source into memory (read-only) so that Pillow never holds a writable handle."""
    what = _describe(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    else:
        path = Path(src)
        if not path.exists():
            raise ImageLoadError(f"{what} does not exist.")
        if not path.is_file():
            raise ImageLoadError(f"{what} is not a file.")
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ImageLoadError(f"{what} could not be read: {exc.strerror or exc}.") from exc
    if len(data) == 0:
        raise ImageLoadError(f"{what} is empty (zero bytes); it holds no picture.")
    return io.BytesIO(data), what


def _bomb_message(what: str) -> str:
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485) / 1e6
    return (
        f"{what} is far too large to open safely (over {limit:.0f} megapixels); "
        "it may be a decompression bomb."
    )


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB uint8."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        if mode == "I" and arr.max(initial=0) <= 255:  # 8-bit data stored wide
            grey = arr
        else:
            grey = arr / 257.0
        grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        grey = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.array(img, dtype=np.uint8)  # a copy, writable, C-contiguous


def load_image(src: Path | str | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``src`` (a path or the file's bytes) into an RGB uint8 array ``(H, W, 3)``.

    Raises :class:`ImageLoadError` for a missing, empty, truncated, non-image, unsupported or too large
    (more than ``max_pixels`` pixels) file. Multi-frame files (TIFF pages, MPO) give their first frame.
    """
    buf, what = _open_source(src)
    Image.init()  # register every plugin so that the opener list below resolves
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(buf, formats=_OPENERS)  # other decoders never see the bytes
        except Image.DecompressionBombError as exc:
            raise ImageLoadError(_bomb_message(what)) from exc
        except UnidentifiedImageError as exc:
            raise ImageLoadError(
                f"{what} is not a picture in a format this program reads (JPEG, PNG, BMP, TIFF, WebP)."
            ) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageLoadError(f"{what} could not be opened as an image: {exc}.") from exc
        with img:
            if img.format not in ACCEPTED_FORMATS:
                raise ImageLoadError(
                    f"{what} is a {img.format or 'unknown'} image; this program reads JPEG, PNG, BMP, "
                    "TIFF and WebP."
                )
            w, h = img.size
            if w <= 0 or h <= 0:
                raise ImageLoadError(f"{what} has no pixels ({w}x{h}).")
            if w * h > max_pixels:
                raise ImageLoadError(
                    f"{what} is {w}x{h} = {w * h / 1e6:.1f} megapixels, more than the limit of "
                    f"{max_pixels / 1e6:.1f} megapixels; crop or shrink it first."
                )
            try:
                img.load()
                oriented = ImageOps.exif_transpose(img)
                return _to_rgb(oriented)
            except Image.DecompressionBombError as exc:
                raise ImageLoadError(_bomb_message(what)) from exc
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                msg = str(exc)
                if "truncated" in msg.lower() or isinstance(exc, EOFError):
                    raise ImageLoadError(
                        f"{what} is truncated or damaged: the file ends before the picture does."
                    ) from exc
                raise ImageLoadError(f"{what} is damaged and could not be decoded: {msg}.") from exc


def _check_rgb(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) image, got shape {arr.shape}")
    return arr


def save_png(
    img: np.ndarray, path: Path | str, text: dict[str, str] | None = None, compress_level: int = 6
) -> Path:
    """Write ``img`` (RGB or RGBA uint8) as PNG, with ``text`` as iTXt chunks; atomic (temp + rename).

    Read the chunks back with ``PIL.Image.open(path).text``. ``compress_level`` 0-9 (zlib): lower is
    faster and larger; the pixels are identical either way.
    """
    arr = _check_rgb(img)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(str(key), str(value))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(np.ascontiguousarray(arr)).save(
            tmp, format="PNG", pnginfo=info, compress_level=compress_level
        )
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def resize(img: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (an int: a square ``size x size``; a tuple: ``(width, height)``, as in Pillow).

    Shrinking uses area averaging (no aliasing), enlarging uses bicubic interpolation; the output is
    uint8 with the input's channel count. Aspect ratio is not preserved: crop first.
    """
    arr = _check_rgb(img)
    w, h = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if (arr.shape[1], arr.shape[0]) == (w, h):
        return arr.copy()
    cv2 = import_cv2()
    shrink = w * h < arr.shape[0] * arr.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(arr), (w, h), interpolation=interp)


def import_cv2():
    """Import OpenCV without letting it point Qt at its own plugin folder (it sets an env variable)."""
    before = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    import cv2

    if before is None:
        os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
    else:
        os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"] = before
    return cv2
