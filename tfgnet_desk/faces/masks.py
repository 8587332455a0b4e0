"""Identity-region masks from landmarks, and the background-noise fill before the CLIP image encoder.

The identity region is the convex hull of the 68 landmarks widened to what identifies a person beyond
the inner face: up to the hairline (the eyebrows lifted by ``FOREHEAD`` of the brow-to-chin height) and
down to the neck (the lower jaw pushed down by up to ``NECK`` of that height), with the sides widened by
``WIDEN`` of the face width so that the temples and the roots of the ears are kept. Directions follow the
face (perpendicular to the eye line), so a tilted face gets a tilted region. Used by the masked diffusion
loss (paper 3.5) and, through ``fill_background_noise``, by the CLIP image embedding (paper 3.3:
everything outside the subject is filled with random noise).

Masks are float32 (H, W) in [0, 1]. Hard masks are 0/1. Soft masks are the hard mask blurred with a
Gaussian of sigma ``SOFT_SIGMA`` x face width, then set back to 1 wherever the hard mask eroded by that
sigma is 1, so the landmarks keep full weight and only the boundary fades.
"""

from __future__ import annotations

import logging

import numpy as np

from .landmarks import BROW_LEFT, BROW_RIGHT, EYE_LEFT, EYE_RIGHT, JAW, to_rgb_uint8

log = logging.getLogger(__name__)

FOREHEAD = 0.45
NECK = 0.30
WIDEN = 0.08
SOFT_SIGMA = 0.06
ELLIPSE_AXES = (0.36, 0.46)  # fallback ellipse half-axes, fractions of width and height
ELLIPSE_CENTRE_Y = 0.52  # fallback ellipse centre, fraction of height (aligned faces sit a bit low)


def identity_region_polygon(landmarks68: np.ndarray) -> np.ndarray:
    """The widened face outline for 68 landmarks: convex hull points, float32 (N, 2), image coords."""
    import cv2

    p = np.asarray(landmarks68, dtype=np.float64)
    if p.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got {p.shape}")
    eye_vec = p[list(EYE_RIGHT)].mean(0) - p[list(EYE_LEFT)].mean(0)
    norm = float(np.linalg.norm(eye_vec))
    right = eye_vec / norm if norm > 0 else np.array([1.0, 0.0])
    down = np.array([-right[1], right[0]])
    centre = p.mean(axis=0)
    brows = p[list(BROW_LEFT) + list(BROW_RIGHT)]
    jaw = p[list(JAW)]
    height = max(float((p[8] - brows.mean(0)) @ down), 1.0)
    width = max(float(np.ptp(jaw @ right)), 1.0)
    forehead = brows - down * (FOREHEAD * height)
    # Jaw points move down more the lower they sit (chin -> neck); the upper jaw barely moves.
    depth = np.clip(((jaw - centre) @ down) / (0.5 * height), 0.0, 1.0)
    neck = jaw + down * (NECK * height) * depth[:, None]
    pts = np.vstack([p, forehead, neck])
    lateral = (pts - centre) @ right
    pts = pts + np.outer(lateral / (0.5 * width), right) * (WIDEN * width)
    return cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)


def _face_width(landmarks68: np.ndarray) -> float:
    jaw = np.asarray(landmarks68, dtype=np.float64)[list(JAW)]
    return float(max(np.ptp(jaw[:, 0]), np.ptp(jaw[:, 1]) * 0.5, 1.0))


def _soften(hard: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    sigma = max(sigma, 0.5)
    k = int(2 * round(3 * sigma) + 1)
    blurred = cv2.GaussianBlur(hard, (k, k), sigma, borderType=cv2.BORDER_CONSTANT)
    r = max(1, int(round(sigma)))
    core = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return np.clip(np.maximum(blurred, core), 0.0, 1.0).astype(np.float32)


def identity_mask(landmarks68: np.ndarray, shape: tuple[int, int], soft: bool = False) -> np.ndarray:
    """float32 (H, W) mask of the identity region (face hull widened to hairline and neck).

    ``shape`` is (H, W) of the image the landmarks belong to (any size).
    """
    import cv2

    h, w = int(shape[0]), int(shape[1])
    poly = identity_region_polygon(landmarks68)
    hard = np.zeros((h, w), dtype=np.float32)
    # Sub-pixel polygon: fixed-point coordinates with 4 fractional bits.
    cv2.fillConvexPoly(hard, np.round(poly * 16).astype(np.int32), 1.0, lineType=cv2.LINE_8, shift=4)
    if not soft:
        return hard
    return _soften(hard, SOFT_SIGMA * _face_width(landmarks68))


def ellipse_mask(shape: tuple[int, int], soft: bool = False) -> np.ndarray:
    """A centred ellipse covering where an aligned face sits; float32 (H, W)."""
    import cv2

    h, w = int(shape[0]), int(shape[1])
    hard = np.zeros((h, w), dtype=np.float32)
    centre = (int(round(w / 2)), int(round(h * ELLIPSE_CENTRE_Y)))
    axes = (max(1, int(round(w * ELLIPSE_AXES[0]))), max(1, int(round(h * ELLIPSE_AXES[1]))))
    cv2.ellipse(hard, centre, axes, 0, 0, 360, 1.0, thickness=-1)
    return _soften(hard, SOFT_SIGMA * w) if soft else hard


def face_mask(
    img: np.ndarray, detection=None, soft: bool = False, return_source: bool = False, use_cnn: bool = True
):
    """Identity mask for ``img``: from ``detection`` if given, else from the largest detected face.

    When no face is found (no detection, no plausible whole crop), falls back to a centred ellipse, which
    fits an aligned face, and logs a warning. With ``return_source=True`` returns (mask, source) where
    source is the detection method ('hog', 'cnn', 'whole-crop', 'manual') or 'ellipse'. ``use_cnn=False``
    skips the slow CNN fallback of the detector.
    """
    from .detect import detect_faces

    rgb = to_rgb_uint8(img)
    source = "ellipse"
    if detection is None:
        faces = detect_faces(rgb, use_cnn=use_cnn)
        detection = faces[0] if faces else None
    if detection is not None:
        mask = identity_mask(detection.landmarks68, rgb.shape[:2], soft=soft)
        source = detection.method
    else:
        log.warning(
            "face_mask: no face found in a %dx%d image; using a centred ellipse", rgb.shape[1], rgb.shape[0]
        )
        mask = ellipse_mask(rgb.shape[:2], soft=soft)
    return (mask, source) if return_source else mask


def fill_background_noise(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``img`` with everything outside ``mask`` replaced by uniform random noise (uint8, same shape).

    A soft mask blends: out = mask * img + (1 - mask) * noise. The noise comes from ``rng`` only.
    """
    rgb = to_rgb_uint8(img)
    m = np.asarray(mask, dtype=np.float32)
    if m.shape != rgb.shape[:2]:
        raise ValueError(f"mask shape {m.shape} does not match image {rgb.shape[:2]}")
    noise = rng.integers(0, 256, size=rgb.shape, dtype=np.uint8).astype(np.float32)
    out = m[:, :, None] * rgb.astype(np.float32) + (1.0 - m[:, :, None]) * noise
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
