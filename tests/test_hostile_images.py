"""Hostile image shapes and modes (issue 17 item 1): each is refused in one line or handled, and face
detection runs in bounded memory (a 4000x3 strip once made dlib's CNN allocate 24 GB)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from tfgnet_desk.faces.detect import (
    CNN_MAX_PIXELS,
    WORK_MAX_PIXELS,
    NoFaceError,
    _work_image,
    check_face_image,
)
from tfgnet_desk.imaging import ImageLoadError, load_image

# Peak resident memory allowed to the detection child. The detectors' working copies are bounded by
# WORK_MAX_PIXELS / HOG_MAX_PIXELS / CNN_MAX_PIXELS; measured peaks are in docs/performance.md.
PEAK_LIMIT_MB = 3000

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # a runaway allocation fails, not the machine
    from tfgnet_desk.faces.detect import NoFaceError, detect_faces
    w, h = int(sys.argv[1]), int(sys.argv[2])
    img = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
    try:
        found = len(detect_faces(img))
        outcome = f"ran ({found} faces)"
    except NoFaceError as exc:
        outcome = "refused: " + str(exc)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"outcome": outcome, "peak_mb": peak}))
    """
)


def _detect_in_child(w: int, h: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(w), str(h)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "w,h,refused",
    [(4000, 3, True), (3, 4000, True), (1, 1, True), (8000, 8000, False)],
)
def test_detection_refuses_or_runs_in_bounded_memory(w, h, refused):
    got = _detect_in_child(w, h)
    assert got["outcome"].startswith("refused: ") == refused, got
    if refused:
        assert "\n" not in got["outcome"] and f"{w}x{h}" in got["outcome"]
    assert got["peak_mb"] < PEAK_LIMIT_MB, got


def test_working_copies_are_bounded_and_map_back():
    big = np.zeros((6000, 5000, 3), np.uint8)
    work, pad, scale = _work_image(big)
    assert work.shape[0] * work.shape[1] <= WORK_MAX_PIXELS * 1.01
    # a point of the working copy maps back into the original image's coordinates
    corner = (np.array([[pad * scale, pad * scale]]) / scale - pad)[0]
    np.testing.assert_allclose(corner, [0, 0], atol=1e-6)
    small = np.zeros((90, 110, 3), np.uint8)
    work, pad, scale = _work_image(small)
    assert scale > 1 and pad == round(0.25 * 110)  # small crops: padded, then enlarged, as before
    assert CNN_MAX_PIXELS < WORK_MAX_PIXELS


@pytest.mark.parametrize("shape", [(4000, 3), (3, 4000), (1, 1), (7, 200)])
def test_check_face_image_gives_one_line_reasons(shape):
    w, h = shape
    with pytest.raises(NoFaceError) as err:
        check_face_image(np.zeros((h, w, 3), np.uint8))
    assert "\n" not in str(err.value) and f"{w}x{h}" in str(err.value)
    check_face_image(np.zeros((100, 80, 3), np.uint8))


def _encoded(mode: str) -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    if mode == "16-bit":
        Image.fromarray((rng.random((64, 48)) * 65535).astype(np.uint16)).save(buf, format="PNG")
    elif mode == "CMYK":
        Image.fromarray((rng.random((64, 48, 3)) * 255).astype(np.uint8)).convert("CMYK").save(buf, "JPEG")
    elif mode == "palette":
        Image.fromarray((rng.random((64, 48, 3)) * 255).astype(np.uint8)).convert("P").save(buf, "PNG")
    elif mode == "animated":
        frames = [Image.fromarray(np.full((64, 48, 3), v, np.uint8)) for v in (30, 200)]
        frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["16-bit", "CMYK", "palette", "animated"])
def test_unusual_modes_load_as_rgb_or_are_refused_in_one_line(mode):
    try:
        img = load_image(_encoded(mode))
    except ImageLoadError as exc:
        assert "\n" not in str(exc)
        return
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.shape[:2] == (64, 48)
    check_face_image(img)  # a loadable image of a sane shape goes on to detection
