"""The training cache's teacher part: faceres features and landmarks per face, landmark masks, and
faceres as the clip stage's identity teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfgnet_desk.faces.masks import identity_mask
from tfgnet_desk.train.data import CachedFaces, ellipse_mask

SIZE = 32


def _cache(tmp_path, n: int = 6):
    rng = np.random.default_rng(0)
    faces = (rng.random((n, SIZE, SIZE, 3)) * 255).astype(np.uint8)
    np.save(tmp_path / f"faces-{SIZE}.npy", faces)
    keys = [f"celeba10k/{i:06d}.jpg" for i in range(n)]
    meta = {"size": SIZE, "keys": keys, "pools": ["train"] * n, "split_seed": 0}
    (tmp_path / f"faces-{SIZE}.json").write_text(json.dumps(meta))
    return keys


def _landmarks(n: int) -> np.ndarray:
    """A plausible 68-point face shape (a jaw arc, brows, eyes, nose, mouth) at SIZE px, per face."""
    t = np.linspace(np.pi * 0.95, np.pi * 0.05, 17)
    jaw = np.stack([16 + 11 * np.cos(t), 14 + 14 * np.sin(t)], 1)
    rest = np.stack([np.linspace(8, 24, 51), 10 + 10 * np.abs(np.sin(np.arange(51)))], 1)
    lm = np.concatenate([jaw, rest]).astype(np.float32)
    return np.stack([lm + i * 0.1 for i in range(n)])


def test_masks_follow_the_landmarks_and_faceres_is_the_identity_teacher(tmp_path):
    keys = _cache(tmp_path)
    lm = _landmarks(len(keys))
    lm[2] = np.nan  # a face without landmarks keeps the ellipse
    feats = np.random.default_rng(1).normal(size=(len(keys), 1024)).astype(np.float16)
    np.savez(tmp_path / "teacher.npz", keys=np.array(keys), faceres=feats, lm68=lm, done=np.array(len(keys)))
    src = CachedFaces(tmp_path, None, size=SIZE, flip=False, identity_teacher="faceres")
    batch = src.rows(np.arange(len(keys)), np.random.default_rng(0))
    np.testing.assert_array_equal(batch.mask[0].numpy(), identity_mask(lm[0], (SIZE, SIZE)))
    np.testing.assert_array_equal(batch.mask[2].numpy(), ellipse_mask(SIZE))
    assert not np.array_equal(batch.mask[0].numpy(), ellipse_mask(SIZE))
    assert batch.desc.shape == (len(keys), 1024) and bool(batch.has_desc.all())
    np.testing.assert_allclose(batch.desc.norm(dim=1).numpy(), 1.0, atol=1e-4)
    centred = feats.astype(np.float32) - feats.astype(np.float32).mean(0)
    want = centred[0] / np.linalg.norm(centred[0])
    np.testing.assert_allclose(batch.desc[0].numpy(), want, atol=1e-4)
    ell = CachedFaces(tmp_path, None, size=SIZE, flip=False, masks="ellipse")
    np.testing.assert_array_equal(
        ell.rows(np.arange(2), np.random.default_rng(0)).mask[0].numpy(), ellipse_mask(SIZE)
    )
    assert ell.desc.shape[1] == 128 and not ell.has_desc.any()  # dlib teacher, no identity.npz


def test_faceres_teacher_needs_the_teacher_cache(tmp_path):
    _cache(tmp_path)
    with pytest.raises(FileNotFoundError, match="facecache teacher"):
        CachedFaces(tmp_path, None, size=SIZE, identity_teacher="faceres")
    with pytest.raises(ValueError):
        CachedFaces(tmp_path, None, size=SIZE, masks="circle")


def test_build_teacher_writes_features_and_landmarks_and_resumes(tmp_path):
    from tfgnet_desk.train.facecache import build_teacher

    keys = _cache(tmp_path, n=3)
    path = build_teacher(tmp_path, size=SIZE, batch=2, teacher_size=64)
    z = np.load(path)
    assert int(z["done"]) == 3 and list(z["keys"]) == keys
    assert np.isfinite(z["lm68"]).all() and z["lm68"].shape == (3, 68, 2)
    assert z["faceres"].shape == (3, 1024) and np.abs(z["faceres"]).sum() > 0
    before = z["faceres"].copy()
    build_teacher(tmp_path, size=SIZE, batch=2, teacher_size=64)  # complete: nothing recomputed
    np.testing.assert_array_equal(np.load(path)["faceres"], before)
