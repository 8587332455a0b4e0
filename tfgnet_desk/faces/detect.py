"""Face detection with dlib: HOG first, the CNN "mmod" detector as fallback, then the whole crop.

Surveillance crops are small and tight. Before detecting, the image is padded (edge replication, a quarter
of its larger side on every side) so that a face touching the border still fits a detector window, and
enlarged so that its shorter side is at least ``MIN_WORK_SIDE`` pixels (CelebA's 89x109 faces are ~45 px
wide, below the HOG window). Boxes and landmarks are mapped back to the caller's image coordinates.

Memory is bounded whatever the image: the detectors run on a working copy of at most
``WORK_MAX_PIXELS`` (a larger image is shrunk, boxes mapped back), HOG's pyramid upsampling is skipped
where it would pass ``HOG_MAX_PIXELS``, and the CNN sees at most ``CNN_MAX_PIXELS`` (it needs about 1 KB per
pixel: a 4000x3 strip once made it allocate 24 GB). Images that cannot be a face crop are refused with a
one-line reason before any of that (``check_face_image``: sides of at least ``MIN_SIDE`` px, aspect ratio
within ``MAX_ASPECT``).

Order of attempts, and what ``FaceDetection.method`` then says:
1. ``hog``: dlib's frontal HOG detector (fast; ~94 % of CelebA crops);
2. ``cnn``: dlib's CNN mmod detector (about 1 s on a small crop on CPU; catches the rest of CelebA);
3. ``whole-crop``: nothing was found but the image looks like a crop that is mostly face (face-like
   aspect ratio, not flat); the whole image is the box and the 68 landmarks are fitted inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .landmarks import five_from_68, predict_landmarks68, to_rgb_uint8

MIN_WORK_SIDE = 160
PAD_FRACTION = 0.25
CNN_STEP = 1.5  # the CNN's enlargement in place of one 2x upsampling step
WHOLE_CROP_ASPECT = (0.6, 1.67)  # width / height of a crop that may be mostly face
WHOLE_CROP_MIN_STD = 8.0  # grey-level spread below which an image is "flat" (no face to fit)
WHOLE_CROP_INSET = 0.08  # landmarks are fitted in the crop shrunk by this fraction per side
METHODS = ("hog", "cnn", "whole-crop", "manual")
WORK_MAX_PIXELS = 2_500_000  # padded working copy for the detectors (about 1580 x 1580)
HOG_MAX_PIXELS = 10_000_000  # HOG after its pyramid upsampling
CNN_MAX_PIXELS = 1_500_000  # the CNN's input (about 1.5 GB of activations)
MIN_SIDE = 8  # px: smaller cannot hold a face
MAX_ASPECT = 8.0  # a face crop is never a strip


class NoFaceError(ValueError):
    """No face could be found (or assumed) in an image."""


@dataclass(frozen=True)
class FaceDetection:
    """One face: box (x0, y0, x1, y1; x1/y1 exclusive, image coords), detector score, how it was found,
    and its 5- and 68-point landmarks (float32, image coords; see ``landmarks.py`` for the layouts)."""

    box: tuple[int, int, int, int]
    score: float
    method: str
    landmarks5: np.ndarray = field(repr=False)
    landmarks68: np.ndarray = field(repr=False)

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def to_dict(self) -> dict:
        return {
            "box": list(self.box),
            "score": float(self.score),
            "method": self.method,
            "landmarks5": np.asarray(self.landmarks5).round(2).tolist(),
        }


def check_face_image(rgb: np.ndarray) -> None:
    """Raise :class:`NoFaceError` with a one-line reason for an image that cannot be a face crop."""
    h, w = np.asarray(rgb).shape[:2]
    if min(h, w) < MIN_SIDE:
        raise NoFaceError(f"a {w}x{h} image is too small to hold a face (sides of at least {MIN_SIDE} px)")
    if max(h, w) / min(h, w) > MAX_ASPECT:
        raise NoFaceError(
            f"a {w}x{h} image is not a face crop (its sides differ more than {MAX_ASPECT:.0f}:1); "
            "crop the face first"
        )


def _work_image(rgb: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Padded copy of ``rgb`` for the detectors, enlarged to ``MIN_WORK_SIDE`` or shrunk to
    ``WORK_MAX_PIXELS``; returns (image, pad in ``rgb`` pixels, scale). A large image is shrunk before it
    is padded, so the full-size padded image never exists."""
    import cv2

    h, w = rgb.shape[:2]
    pad = int(round(PAD_FRACTION * max(h, w)))
    ph, pw = h + 2 * pad, w + 2 * pad
    if ph * pw <= WORK_MAX_PIXELS:
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        scale = max(1.0, MIN_WORK_SIDE / min(padded.shape[:2]))
        if scale > 1.0:
            padded = cv2.resize(padded, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        return np.ascontiguousarray(padded), float(pad), scale
    scale = (WORK_MAX_PIXELS / (ph * pw)) ** 0.5
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    scale = size[0] / w  # the scale actually applied, for mapping back
    spad = int(round(PAD_FRACTION * max(small.shape[:2])))
    padded = cv2.copyMakeBorder(small, spad, spad, spad, spad, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(padded), spad / scale, scale


def _to_image(points: np.ndarray, pad: float, scale: float) -> np.ndarray:
    return (np.asarray(points, dtype=np.float64) / scale - pad).astype(np.float32)


def clip_box(box: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A float box (x0, y0, x1, y1) rounded to whole pixels inside an image of ``shape`` (h, w), at
    least one pixel wide and high."""
    h, w = shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
    x1, y1 = min(max(x1, x0 + 1), w), min(max(y1, y0 + 1), h)
    return x0, y0, x1, y1


def _run_detectors(work: np.ndarray, upsample: int, models_dir: Path | None, use_cnn: bool):
    """(rects as (N, 4) float array in work coords, scores, method)."""
    from .models import cnn_detector, hog_detector, inference_lock

    area = work.shape[0] * work.shape[1]
    while upsample > 0 and area * 4**upsample > HOG_MAX_PIXELS:
        upsample -= 1
    with inference_lock:
        rects, scores, _ = hog_detector().run(work, upsample, 0.0)
    if len(rects):
        boxes = np.array(
            [[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], dtype=np.float64
        )
        return boxes, np.asarray(scores, dtype=np.float64), "hog"
    if not use_cnn:
        return np.zeros((0, 4)), np.zeros(0), "hog"
    import cv2

    cnn = cnn_detector(models_dir)
    # The CNN costs ~20x HOG per pixel: instead of a full 2x pyramid step it runs on a 1.5x enlargement
    # (measured on CelebA crops: 10 of the 11 HOG misses out of 150 found, at about half the time).
    cnn_scale, cnn_up = (CNN_STEP, upsample - 1) if upsample >= 1 else (1.0, 0)
    while cnn_up > 0 and area * cnn_scale**2 * 4**cnn_up > CNN_MAX_PIXELS:
        cnn_up -= 1
    cnn_scale = min(cnn_scale, (CNN_MAX_PIXELS / area) ** 0.5)
    img = (
        cv2.resize(
            work,
            None,
            fx=cnn_scale,
            fy=cnn_scale,
            interpolation=cv2.INTER_CUBIC if cnn_scale > 1 else cv2.INTER_AREA,
        )
        if cnn_scale != 1
        else work
    )
    with inference_lock:
        dets = cnn(np.ascontiguousarray(img), cnn_up)
    if len(dets):
        boxes = np.array(
            [[d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1] for d in dets],
            dtype=np.float64,
        )
        return boxes / cnn_scale, np.array([d.confidence for d in dets], dtype=np.float64), "cnn"
    return np.zeros((0, 4)), np.zeros(0), "cnn"


def looks_like_face_crop(img: np.ndarray) -> bool:
    """Whether an image could be a crop that is mostly face: face-like aspect ratio and not flat."""
    h, w = img.shape[:2]
    aspect = w / max(h, 1)
    if not (WHOLE_CROP_ASPECT[0] <= aspect <= WHOLE_CROP_ASPECT[1]):
        return False
    return float(np.asarray(img, dtype=np.float32).mean(axis=2).std()) >= WHOLE_CROP_MIN_STD


def landmarks_in_box(
    img: np.ndarray,
    box: tuple[float, float, float, float],
    method: str = "manual",
    score: float = 0.0,
    models_dir: Path | None = None,
) -> FaceDetection:
    """Fit landmarks inside a given box (e.g. drawn by hand in the GUI) and return a FaceDetection.

    The box is given in image coordinates; the fit runs on the same padded, enlarged image as detection.
    """
    rgb = to_rgb_uint8(img)
    work, pad, scale = _work_image(rgb)
    wbox = (np.asarray(box, dtype=np.float64) + pad) * scale
    l68 = _to_image(predict_landmarks68(work, tuple(wbox), models_dir), pad, scale)
    return FaceDetection(
        box=clip_box(np.asarray(box, dtype=np.float64), rgb.shape[:2]),
        score=float(score),
        method=method,
        landmarks5=five_from_68(l68),
        landmarks68=l68,
    )


def detect_faces(
    img: np.ndarray,
    upsample: int = 1,
    *,
    box: tuple[float, float, float, float] | None = None,
    use_cnn: bool = True,
    whole_crop: bool | None = None,
    models_dir: Path | None = None,
) -> list[FaceDetection]:
    """All faces in ``img`` (RGB uint8), largest first.

    ``upsample``: extra dlib pyramid doublings on top of the automatic enlargement of small images.
    ``box``: skip detection and fit landmarks in this box (method 'manual').
    ``use_cnn``: try the CNN detector when HOG finds nothing.
    ``whole_crop``: when nothing is found, treat the whole image as the face box: True always, False
    never, None (default) when the image looks like a face crop (``looks_like_face_crop``).
    """
    rgb = to_rgb_uint8(img)
    check_face_image(rgb)
    if box is not None:
        return [landmarks_in_box(rgb, box, models_dir=models_dir)]
    work, pad, scale = _work_image(rgb)
    boxes, scores, method = _run_detectors(work, max(0, int(upsample)), models_dir, use_cnn)
    out: list[FaceDetection] = []
    for b, s in zip(boxes, scores, strict=True):
        l68 = _to_image(predict_landmarks68(work, tuple(b), models_dir), pad, scale)
        img_box = _to_image(b.reshape(2, 2), pad, scale).reshape(4)
        out.append(
            FaceDetection(
                box=clip_box(img_box, rgb.shape[:2]),
                score=float(s),
                method=method,
                landmarks5=five_from_68(l68),
                landmarks68=l68,
            )
        )
    if not out and (whole_crop or (whole_crop is None and looks_like_face_crop(rgb))):
        h, w = rgb.shape[:2]
        inset = (
            WHOLE_CROP_INSET * w,
            WHOLE_CROP_INSET * h,
            (1 - WHOLE_CROP_INSET) * w,
            (1 - WHOLE_CROP_INSET) * h,
        )
        fitted = landmarks_in_box(rgb, inset, method="whole-crop", models_dir=models_dir)
        out.append(
            FaceDetection(
                box=(0, 0, w, h),
                score=0.0,
                method="whole-crop",
                landmarks5=fitted.landmarks5,
                landmarks68=fitted.landmarks68,
            )
        )
    out.sort(key=lambda d: d.area, reverse=True)
    return out


def largest_face(img: np.ndarray, **kwargs) -> FaceDetection:
    """The largest face in ``img``; raises :class:`NoFaceError` when there is none."""
    faces = detect_faces(img, **kwargs)
    if not faces:
        h, w = np.asarray(img).shape[:2]
        raise NoFaceError(f"no face found in a {w}x{h} image (HOG, CNN and whole-crop fallback)")
    return faces[0]
