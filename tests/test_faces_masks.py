"""Identity-region masks and the background-noise fill (paper 3.3, 3.5)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tfgnet_desk.faces import ellipse_mask, face_mask, fill_background_noise, identity_mask
from tfgnet_desk.faces.align import _dlib_mean68


def synthetic_landmarks68(size: int = 128) -> np.ndarray:
    """A plausible frontal 68-point set: dlib's mean face for points 17-67 plus an elliptic jaw line."""
    inner = _dlib_mean68(size, 0.3)  # points 17..67
    brow_x = inner[:10, 0]
    cx, eye_y = inner[:, 0].mean(), inner[19:31, 1].mean()
    chin_y = inner[48 - 17 :, 1].max() + 0.12 * size
    ax, ay = 0.55 * (brow_x.max() - brow_x.min()), chin_y - eye_y
    t = np.linspace(np.pi, 0.0, 17)
    jaw = np.stack([cx + ax * np.cos(t), eye_y + ay * np.sin(t)], axis=1)
    return np.vstack([jaw, inner]).astype(np.float32)


def _values_at(mask: np.ndarray, pts: np.ndarray) -> np.ndarray:
    ij = np.round(pts).astype(int)
    return mask[ij[:, 1], ij[:, 0]]


def _corners(mask: np.ndarray) -> np.ndarray:
    return np.array([mask[0, 0], mask[0, -1], mask[-1, 0], mask[-1, -1]])


def test_hard_mask_covers_landmarks_forehead_and_neck_but_not_corners():
    lm = synthetic_landmarks68(128)
    mask = identity_mask(lm, (128, 128))
    assert mask.dtype == np.float32 and mask.shape == (128, 128)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert _values_at(mask, lm).min() == 1.0
    assert _corners(mask).max() == 0.0
    brow_top, chin = lm[17:27, 1].min(), lm[8]
    cx = int(round(lm[:, 0].mean()))
    face_h = chin[1] - lm[17:27, 1].mean()
    assert mask[int(brow_top - 0.3 * face_h), cx] == 1.0  # forehead up to the hairline
    assert mask[int(chin[1] + 0.15 * face_h), cx] == 1.0  # down to the neck
    assert 0.2 < mask.mean() < 0.8


def test_soft_mask_fades_only_at_the_boundary():
    lm = synthetic_landmarks68(128)
    hard = identity_mask(lm, (128, 128))
    soft = identity_mask(lm, (128, 128), soft=True)
    assert soft.dtype == np.float32 and soft.min() >= 0.0 and soft.max() <= 1.0
    assert ((soft > 0.05) & (soft < 0.95)).sum() > 50  # a real gradient
    assert _values_at(soft, lm).min() > 0.99
    assert _corners(soft).max() < 0.01
    assert abs(soft.sum() - hard.sum()) / hard.sum() < 0.15


def test_mask_scales_with_the_image_and_follows_a_tilted_face():
    import cv2

    lm = synthetic_landmarks68(128)
    small = identity_mask(lm, (128, 128))
    big = identity_mask(lm * 4, (512, 512))
    down = cv2.resize(big, (128, 128), interpolation=cv2.INTER_AREA) > 0.5
    iou = (down & (small > 0.5)).sum() / (down | (small > 0.5)).sum()
    assert iou > 0.95
    # rotate the landmarks by 25 degrees about the centre: the mask must still cover them
    a = np.deg2rad(25)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    tilted = (lm - 64) @ r.T + 64
    mask = identity_mask(tilted, (128, 128))
    assert _values_at(mask, np.clip(tilted, 0, 127)).min() == 1.0
    with pytest.raises(ValueError):
        identity_mask(lm[:5], (128, 128))


def test_face_mask_falls_back_to_an_ellipse_and_says_so(caplog):
    flat = np.full((96, 96, 3), 128, np.uint8)
    with caplog.at_level(logging.WARNING, logger="tfgnet_desk.faces.masks"):
        mask, source = face_mask(flat, return_source=True, use_cnn=False)
    assert source == "ellipse"
    assert "centred ellipse" in caplog.text
    np.testing.assert_array_equal(mask, ellipse_mask((96, 96)))
    assert mask[50, 48] == 1.0 and _corners(mask).max() == 0.0


def test_fill_background_noise_keeps_the_subject_and_randomises_the_rest():
    img = np.full((64, 64, 3), 200, np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1.0
    a = fill_background_noise(img, mask, np.random.default_rng(1))
    b = fill_background_noise(img, mask, np.random.default_rng(1))
    c = fill_background_noise(img, mask, np.random.default_rng(2))
    assert a.dtype == np.uint8 and a.shape == img.shape
    np.testing.assert_array_equal(a[16:48, 16:48], img[16:48, 16:48])
    outside = a[mask == 0]
    assert outside.std() > 50 and abs(outside.mean() - 127.5) < 10  # uniform noise, not the image
    np.testing.assert_array_equal(a, b)  # the generator alone decides the noise
    assert (a != c).any()
    with pytest.raises(ValueError):
        fill_background_noise(img, mask[:10], np.random.default_rng(0))


@pytest.mark.data
def test_face_mask_on_a_real_face_uses_its_landmarks(data_root):
    from tfgnet_desk.faces import detect_faces
    from tfgnet_desk.imaging import load_image

    img = load_image(data_root / "celeba10k" / "images" / "000010.jpg")
    det = detect_faces(img)[0]
    mask, source = face_mask(img, return_source=True)
    assert source == "hog"
    inside = np.clip(det.landmarks68, 0, [img.shape[1] - 1, img.shape[0] - 1])
    assert _values_at(mask, inside).min() == 1.0
    assert _corners(mask).max() == 0.0
    np.testing.assert_array_equal(mask, face_mask(img, detection=det))
