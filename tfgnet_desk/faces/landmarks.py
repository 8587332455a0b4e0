"""68- and 5-point facial landmarks.

The 68 points follow the iBUG 300-W layout that dlib's predictor outputs (image coordinates, x then y).
The 5 points follow the convention of the ArcFace and FFHQ templates, in image order:
eye centre on the image left, eye centre on the image right, nose tip, mouth corner on the image left,
mouth corner on the image right. They are derived from the 68 points, so one predictor run gives both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Index groups of the 68-point layout (image-left / image-right as seen in the picture).
JAW = tuple(range(0, 17))
BROW_LEFT = tuple(range(17, 22))
BROW_RIGHT = tuple(range(22, 27))
NOSE_BRIDGE = tuple(range(27, 31))
NOSE_TIP = 30
NOSE_BOTTOM = tuple(range(31, 36))
EYE_LEFT = tuple(range(36, 42))
EYE_RIGHT = tuple(range(42, 48))
MOUTH_OUTER = tuple(range(48, 60))
MOUTH_INNER = tuple(range(60, 68))
MOUTH_CORNER_LEFT = 48
MOUTH_CORNER_RIGHT = 54


def five_from_68(landmarks68: np.ndarray) -> np.ndarray:
    """The 5 template points (eye centres, nose tip, mouth corners) from 68 landmarks, float32 (5, 2)."""
    p = np.asarray(landmarks68, dtype=np.float64)
    if p.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got {p.shape}")
    out = np.stack(
        [
            p[list(EYE_LEFT)].mean(axis=0),
            p[list(EYE_RIGHT)].mean(axis=0),
            p[NOSE_TIP],
            p[MOUTH_CORNER_LEFT],
            p[MOUTH_CORNER_RIGHT],
        ]
    )
    return out.astype(np.float32)


def to_rgb_uint8(img: np.ndarray) -> np.ndarray:
    """Accept (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 and return a contiguous RGB uint8 array."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    elif not (a.ndim == 3 and a.shape[2] == 3):
        raise ValueError(f"expected an image of shape (H, W, 3), got {a.shape}")
    return np.ascontiguousarray(a)


def predict_landmarks68(
    img: np.ndarray, box: tuple[float, float, float, float], models_dir: Path | None = None
) -> np.ndarray:
    """Fit dlib's 68-point predictor inside ``box`` (x0, y0, x1, y1) of ``img``; float32 (68, 2).

    The predictor starts from a mean shape placed in the box, so the box should frame the face the way a
    detector would (brows to chin, cheek to cheek); it works on any box, including one drawn by hand.
    """
    import dlib

    from .models import inference_lock, shape_predictor_68

    rgb = to_rgb_uint8(img)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    rect = dlib.rectangle(x0, y0, max(x1 - 1, x0 + 1), max(y1 - 1, y0 + 1))
    predictor = shape_predictor_68(models_dir)
    with inference_lock:
        shape = predictor(rgb, rect)
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float32)


def to_full_object_detection(landmarks68: np.ndarray, box: tuple[float, float, float, float]):
    """A ``dlib.full_object_detection`` from 68 landmarks (for ``dlib.get_face_chip``)."""
    import dlib

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    pts = [dlib.point(int(round(x)), int(round(y))) for x, y in np.asarray(landmarks68)]
    return dlib.full_object_detection(dlib.rectangle(x0, y0, x1, y1), pts)
