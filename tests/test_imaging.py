"""imaging.load_image against hostile and unusual files, all generated here; save_png and resize."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfgnet_desk.imaging import ImageLoadError, load_image, resize, save_png


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _load_unchanged(path: Path, **kw) -> np.ndarray:
    """load_image(path) and assert the file is byte-for-byte and mtime unchanged afterwards."""
    before = _digest(path)
    try:
        return load_image(path, **kw)
    finally:
        assert _digest(path) == before, "load_image modified its source file"


def _refused(path: Path, *words: str, **kw) -> str:
    before = _digest(path)
    with pytest.raises(ImageLoadError) as info:
        load_image(path, **kw)
    assert _digest(path) == before
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    for w in words:
        assert w in msg.lower(), f"{w!r} not in message {msg!r}"
    return msg


def _gradient(h: int = 24, w: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 90)], axis=2).astype(np.uint8)


def _jpeg_bytes(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png16_rgb(arr16: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = arr16.shape
    raw = b"".join(b"\x00" + arr16[r].astype(">u2").tobytes() for r in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


# --- refusals --------------------------------------------------------------------------------------


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    _refused(p, "empty", "empty.jpg")


def test_zero_bytes_given_directly():
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(b"")


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_image(tmp_path / "nope.png")


def test_truncated_jpeg(tmp_path):
    data = _jpeg_bytes(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    _refused(p, "truncated")


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    p = tmp_path / "cut.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _refused(p, "cut.png")


def test_text_file_named_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is a witness statement, not a photo\n")
    msg = _refused(p, "not a picture")
    assert "JPEG" in msg


def test_unsupported_format_gif(tmp_path):
    p = tmp_path / "anim.gif"
    Image.fromarray(_gradient()).save(p, format="GIF")
    _refused(p, "not a picture in a format", "webp")


def test_postscript_never_reaches_a_decoder(tmp_path):
    p = tmp_path / "evil.jpg"  # EPS would run Ghostscript in Pillow's EPS plugin; it must not be tried
    p.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    _refused(p, "not a picture")


def test_mpo_phone_jpeg_gives_first_frame(tmp_path):
    p = tmp_path / "phone.jpg"
    first, second = np.full((16, 16, 3), 200, np.uint8), np.zeros((16, 16, 3), np.uint8)
    Image.fromarray(first).save(p, format="MPO", save_all=True, append_images=[Image.fromarray(second)])
    with Image.open(p) as im:
        assert im.format == "MPO"
    assert abs(int(_load_unchanged(p)[8, 8, 0]) - 200) < 4


def test_pixel_limit_is_configurable(tmp_path):
    p = tmp_path / "big.png"
    Image.fromarray(_gradient(100, 100)).save(p)
    _refused(p, "megapixels", "limit", max_pixels=5_000)
    assert _load_unchanged(p, max_pixels=10_000).shape == (100, 100, 3)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    # 10,000 x 10,000 one-bit PNG: a small file that would decode to 100 MP (300 MB as RGB).
    p = tmp_path / "bomb.png"
    Image.new("1", (10_000, 10_000)).save(p, optimize=True)
    assert p.stat().st_size < 200_000
    _refused(p, "megapixels")


def test_huge_header_bomb_refused(tmp_path):
    # A PNG header claiming 30,000 x 30,000 with almost no data: Pillow's own guard fires at open.
    ihdr = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 10))
    p = tmp_path / "header_bomb.png"
    p.write_bytes(data + _png_chunk(b"IEND", b""))
    _refused(p, "too large", "decompression bomb")


# --- conversions -----------------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(p, quality=95)  # pure red in CMYK
    img = _load_unchanged(p)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    r, g, b = img[8, 8].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 257 * 128, 65535, 257 * 10]], dtype=np.uint16).repeat(4, axis=0)
    p = tmp_path / "grey16.png"
    Image.fromarray(arr).save(p)
    img = _load_unchanged(p)
    assert img.shape == (4, 4, 3)
    np.testing.assert_array_equal(img[0, :, 0], [0, 128, 255, 10])
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()


def test_16bit_rgb_png(tmp_path):
    arr = np.zeros((3, 5, 3), dtype=np.uint16)
    arr[..., 0], arr[..., 1], arr[..., 2] = 65535, 257 * 100, 0
    p = tmp_path / "rgb16.png"
    p.write_bytes(_png16_rgb(arr))
    img = _load_unchanged(p)
    assert img.shape == (3, 5, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[1, 2], [255, 100, 0])


def test_palette_with_transparency_composited_on_white(tmp_path):
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 255] + [255, 0, 0] * 255)
    pal.putpixel((0, 0), 1)
    p = tmp_path / "pal.png"
    pal.save(p, transparency=0)  # index 0 (blue) transparent, index 1 red opaque
    img = _load_unchanged(p)
    np.testing.assert_array_equal(img[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(img[4, 4], [255, 255, 255])


def test_rgba_and_grey_alpha(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    p = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(p)
    img = _load_unchanged(p)
    np.testing.assert_array_equal(img[1, 1], [0, 200, 0])
    np.testing.assert_array_equal(img[0, 0], [255, 255, 255])
    q = tmp_path / "la.png"
    Image.new("LA", (3, 3), (40, 255)).save(q)
    np.testing.assert_array_equal(_load_unchanged(q)[2, 2], [40, 40, 40])


def test_grey_and_one_bit(tmp_path):
    p = tmp_path / "g.png"
    Image.new("L", (5, 4), 77).save(p)
    np.testing.assert_array_equal(_load_unchanged(p)[0, 0], [77, 77, 77])
    q = tmp_path / "b.bmp"
    Image.new("1", (5, 4), 1).save(q)
    np.testing.assert_array_equal(_load_unchanged(q)[0, 0], [255, 255, 255])


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)  # wide: red left half, blue right half
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "phone.jpg"
    Image.fromarray(arr).save(p, quality=95, exif=exif)
    img = _load_unchanged(p)
    assert img.shape == (40, 20, 3)  # upright: tall
    top, bottom = img[5, 10].astype(int), img[35, 10].astype(int)
    assert top[0] > 200 and top[2] < 60  # red on top after rotating clockwise
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize(
    "fmt,suffix,kw",
    [
        ("TIFF", ".tif", {}),
        ("WEBP", ".webp", {"lossless": True}),
        ("BMP", ".bmp", {}),
        ("PNG", ".png", {}),
    ],
)
def test_lossless_formats_round_trip(tmp_path, fmt, suffix, kw):
    arr = _gradient()
    p = tmp_path / f"img{suffix}"
    Image.fromarray(arr).save(p, format=fmt, **kw)
    np.testing.assert_array_equal(_load_unchanged(p), arr)


def test_jpeg_from_bytes_and_path_agree(tmp_path):
    data = _jpeg_bytes(_gradient())
    p = tmp_path / "a.jpg"
    p.write_bytes(data)
    from_path = _load_unchanged(p)
    np.testing.assert_array_equal(from_path, load_image(data))
    assert np.abs(from_path.astype(int) - _gradient().astype(int)).mean() < 4


def test_read_only_source_is_fine(tmp_path):
    p = tmp_path / "ro.png"
    Image.fromarray(_gradient()).save(p)
    p.chmod(0o444)
    assert _load_unchanged(p).shape == (24, 32, 3)


# --- save_png and resize ---------------------------------------------------------------------------


def test_save_png_text_chunks_round_trip(tmp_path):
    arr = _gradient()
    p = save_png(arr, tmp_path / "sub" / "out.png", text={"run": "42", "note": "seed=7 ü"})
    with Image.open(p) as im:
        assert im.text == {"run": "42", "note": "seed=7 ü"}
    np.testing.assert_array_equal(load_image(p), arr)
    assert [x.name for x in p.parent.iterdir()] == ["out.png"]  # no temp file left


def test_save_png_rejects_float(tmp_path):
    with pytest.raises(TypeError):
        save_png(np.zeros((4, 4, 3), np.float32), tmp_path / "x.png")


def test_resize_shapes_and_values():
    arr = _gradient(24, 32)
    assert resize(arr, 16).shape == (16, 16, 3)
    assert resize(arr, (64, 48)).shape == (48, 64, 3)
    flat = np.full((10, 10, 3), 123, np.uint8)
    assert (resize(flat, 37) == 123).all() and (resize(flat, 3) == 123).all()
    np.testing.assert_array_equal(resize(arr, (32, 24)), arr)
    with pytest.raises(ValueError):
        resize(arr, 0)
