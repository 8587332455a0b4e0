"""Similarity-transform alignment of a face to a canonical template, at any output size.

Three templates:
- ``ffhq``: the 5-point FFHQ-style template used by face restorers (CodeFormer/GFPGAN's 512x512
  ``face_template``), the layout the TFGNet model is trained on;
- ``arcface``: insightface's 112x112 ArcFace template (``arcface_dst``);
- ``dlib``: the chip that dlib's ResNet descriptor expects (``get_face_chip_details`` with padding 0.25):
  with 68 landmarks it uses dlib's own mean-face points (indices 27-54 and 60-64), with 5 landmarks the
  same mean face reduced to the 5 template points.

The transform is the least-squares similarity (rotation, uniform scale, translation; Umeyama 1991) from
the landmarks to the template points (for ``dlib``, fitted from the template to the landmarks and
inverted, as dlib does, so that the chips match ``dlib.get_face_chip``); it is returned as a 2x3 matrix
mapping image coordinates to aligned coordinates, so that callers can map points (``transform_points``)
or paste back (invert it).
"""

from __future__ import annotations

import numpy as np

from .landmarks import EYE_LEFT, EYE_RIGHT, MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT, NOSE_TIP, five_from_68

TEMPLATES = ("ffhq", "arcface", "dlib")

_FFHQ_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.19360],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float64,
)

_ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

# dlib's mean face (points 17-67 of the 68-point layout, unit square), from get_face_chip_details.
_DLIB_MEAN_X = [
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689,
]  # fmt: skip
_DLIB_MEAN_Y = [
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182,
]  # fmt: skip
# The 68-point indices dlib fits (no jaw, no eyebrows, no lower lip).
DLIB_CHIP_INDICES = tuple(i for i in range(27, 68) if not (55 <= i <= 59 or 65 <= i <= 67))
DLIB_PADDING = 0.25
DLIB_CHIP_SIZE = 150


def _dlib_mean68(size: int, padding: float) -> np.ndarray:
    """dlib's mean face for points 17..67 (index i-17), in a ``size`` chip with ``padding``; (51, 2)."""
    pts = np.stack([np.array(_DLIB_MEAN_X), np.array(_DLIB_MEAN_Y)], axis=1)
    return (padding + pts) / (2 * padding + 1) * size


def ffhq_template(size: int = 512) -> np.ndarray:
    """FFHQ-style 5-point template for a ``size`` x ``size`` face, float32 (5, 2)."""
    return (_FFHQ_512 * (size / 512.0)).astype(np.float32)


def arcface_template(size: int = 112) -> np.ndarray:
    """insightface's ArcFace 5-point template scaled to ``size`` x ``size``, float32 (5, 2)."""
    return (_ARCFACE_112 * (size / 112.0)).astype(np.float32)


def dlib_template(size: int = DLIB_CHIP_SIZE, padding: float = DLIB_PADDING, points: int = 5) -> np.ndarray:
    """dlib's chip template: ``points=68`` gives the fitted subset (``DLIB_CHIP_INDICES`` order), 5 the
    eye centres, nose tip and mouth corners of the same mean face; float32."""
    mean = _dlib_mean68(size, padding)

    def at(i: int) -> np.ndarray:
        return mean[i - 17]

    if points == 68:
        return np.stack([at(i) for i in DLIB_CHIP_INDICES]).astype(np.float32)
    if points != 5:
        raise ValueError("points must be 5 or 68")
    five = [
        np.mean([at(i) for i in EYE_LEFT], axis=0),
        np.mean([at(i) for i in EYE_RIGHT], axis=0),
        at(NOSE_TIP),
        at(MOUTH_CORNER_LEFT),
        at(MOUTH_CORNER_RIGHT),
    ]
    return np.stack(five).astype(np.float32)


def template_points(template: str, size: int) -> np.ndarray:
    """The 5-point template ``template`` at output size ``size``."""
    if template == "ffhq":
        return ffhq_template(size)
    if template == "arcface":
        return arcface_template(size)
    if template == "dlib":
        return dlib_template(size, points=5)
    raise ValueError(f"template must be one of {TEMPLATES}, not {template!r}")


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping ``src`` points onto ``dst``; 2x3 float64 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching (N>=2, 2) point sets, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    if var_s <= 1e-12:
        raise ValueError("degenerate landmarks: all points coincide")
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    r = u @ e @ vt
    scale = float((sig * np.diag(e)).sum() / var_s)
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine ``matrix`` to (N, 2) points."""
    p = np.asarray(points, dtype=np.float64)
    return (p @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]).astype(np.float32)


def invert_transform(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (aligned -> image coordinates)."""
    m = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(m)[:2]


def estimate_alignment(landmarks: np.ndarray, template: str = "ffhq", size: int = 512) -> np.ndarray:
    """2x3 similarity mapping ``landmarks`` ((5, 2) or (68, 2)) onto ``template`` at ``size``."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if template == "dlib":
        # dlib fits template -> image (chip_details(from=chip, to=image)); with an imperfect fit the
        # least-squares scale depends on the direction, so fit the same way and invert to match its chips.
        if lm.shape == (68, 2):
            src, dst = lm[list(DLIB_CHIP_INDICES)], dlib_template(size, points=68)
        else:
            src, dst = _five(lm), dlib_template(size, points=5)
        return invert_transform(similarity_transform(dst, src))
    return similarity_transform(_five(lm), template_points(template, size))


def _five(lm: np.ndarray) -> np.ndarray:
    if lm.shape == (68, 2):
        return five_from_68(lm)
    if lm.shape != (5, 2):
        raise ValueError(f"landmarks must be (5, 2) or (68, 2), got {lm.shape}")
    return lm


def align_face(
    img: np.ndarray,
    landmarks: np.ndarray,
    template: str = "ffhq",
    size: int = 512,
    border: str = "reflect",
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``img`` so that ``landmarks`` land on ``template`` in a ``size`` x ``size`` image.

    Returns (aligned image, 2x3 matrix image -> aligned). ``border`` fills what lies outside the source:
    'reflect' (mirror, the restorers' habit), 'replicate' or 'constant' (black, as dlib's chips).
    Strong downscaling is pre-filtered (area interpolation) so that large photos do not alias.
    """
    import cv2

    modes = {
        "reflect": cv2.BORDER_REFLECT_101,
        "replicate": cv2.BORDER_REPLICATE,
        "constant": cv2.BORDER_CONSTANT,
    }
    if border not in modes:
        raise ValueError(f"border must be one of {tuple(modes)}")
    matrix = estimate_alignment(landmarks, template, size)
    src = np.ascontiguousarray(img)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    m = matrix
    if scale < 0.5:  # shrink first with area averaging, then warp the remainder
        f = min(1.0, 2.0 * scale)
        src = cv2.resize(src, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        m = matrix @ np.array([[1 / f, 0, 0], [0, 1 / f, 0], [0, 0, 1.0]])
    aligned = cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=modes[border])
    return aligned, matrix.astype(np.float64)
