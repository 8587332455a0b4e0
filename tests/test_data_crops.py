"""Face crops: square, sized, and framed alike for UTKFace and CelebA (checked with dlib landmarks)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tfgnet_desk.data import load_face, load_records
from tfgnet_desk.data.crops import EYE_MIDPOINT, INTER_OCULAR, crop_face

pytestmark = pytest.mark.data


def test_load_face_shapes(data_root):
    for ds in ("utkface", "celeba10k"):
        rec = load_records(data_root, ds)[0]
        for size in (128, 512):
            face = load_face(rec, size)
            assert face.shape == (size, size, 3) and face.dtype == np.uint8
        np.testing.assert_array_equal(load_face(rec.path, 64, dataset=ds), load_face(rec, 64))


def test_box_scales_with_full_resolution_celeba(data_root):
    """The original 178x218 CelebA (here 2x the shared copy) gets the same framing."""
    from tfgnet_desk.imaging import load_image, resize

    rec = load_records(data_root, "celeba10k")[5]
    small = load_image(rec.path)
    big = resize(small, (small.shape[1] * 2, small.shape[0] * 2))
    a = crop_face(small, "celeba10k", 64).astype(float)
    b = crop_face(big, "celeba10k", 64).astype(float)
    assert np.abs(a - b).mean() < 6


def _landmark_tools():
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("face_recognition_models is not installed")
    dat = Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not dat.is_file():
        pytest.skip(f"no 68-point landmark model at {dat}")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(dat))


def test_same_face_position_in_both_datasets(data_root):
    """Eye midpoint and inter-ocular distance, in fractions of the crop, agree across data sets."""
    detector, predictor = _landmark_tools()
    stats = {}
    for ds in ("utkface", "celeba10k"):
        recs = load_records(data_root, ds)
        picks = np.random.default_rng(3).choice(len(recs), 16, replace=False)
        rows = []
        for i in picks:
            face = load_face(recs[int(i)], 256)
            dets = detector(face, 0)
            if not dets:
                continue
            shape = predictor(face, max(dets, key=lambda r: r.area()))
            pts = np.array([[shape.part(k).x, shape.part(k).y] for k in range(36, 48)], float) / 256
            left, right = pts[:6].mean(0), pts[6:].mean(0)
            rows.append([*(left + right) / 2, np.linalg.norm(right - left)])
        assert len(rows) >= 10, f"dlib found too few faces in {ds} crops"
        stats[ds] = np.mean(rows, axis=0)
    for ds, (x, y, iod) in stats.items():
        assert abs(x - EYE_MIDPOINT[0]) < 0.03, (ds, x)
        assert abs(y - EYE_MIDPOINT[1]) < 0.03, (ds, y)
        assert abs(iod - INTER_OCULAR) < 0.04, (ds, iod)
    assert np.abs(stats["utkface"] - stats["celeba10k"]).max() < 0.03
