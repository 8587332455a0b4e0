"""dlib identity backend: scores, calibration resource, registry, and the missing-model message."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tfgnet_desk.faces import FaceModelError, IdentityScore, NoFaceError, cosine, get_identity_encoder
from tfgnet_desk.faces import models as face_models


@pytest.fixture(scope="session")
def dlib_encoder():
    return get_identity_encoder("dlib-resnet")


def test_cosine_and_score_record():
    assert cosine([1, 0], [1, 0]) == pytest.approx(1.0)
    assert cosine([1, 0], [-1, 0]) == pytest.approx(-1.0)
    assert cosine([1, 0], [0, 0]) == 0.0
    with pytest.raises(ValueError):
        cosine([1, 0], [1, 0, 0])
    s = IdentityScore(raw=0.93, calibrated=0.41, backend="dlib-resnet", threshold=0.3)
    assert s.to_dict() == {
        "raw": 0.93,
        "calibrated": 0.41,
        "backend": "dlib-resnet",
        "calibration": "centred-cosine",
        "threshold": 0.3,
    }
    assert s.same_person is True
    assert IdentityScore(0.5, 0.5, "x").same_person is None


def test_registry_caches_and_rejects_unknown_names(dlib_encoder):
    assert get_identity_encoder() is dlib_encoder
    assert dlib_encoder.name == "dlib-resnet" and dlib_encoder.dim == 128
    assert -1 < dlib_encoder.calibrated_threshold < dlib_encoder.threshold < 1
    with pytest.raises(KeyError, match="unknown identity backend"):
        get_identity_encoder("nope")


def test_mean_descriptor_resource_is_shipped_and_used(dlib_encoder):
    from tfgnet_desk.faces.dlib_backend import MEAN_DESCRIPTOR_FILE, load_mean_descriptor

    assert MEAN_DESCRIPTOR_FILE.is_file(), "run: python -m tfgnet_desk.faces.bench --data DIR --calibrate"
    mean = load_mean_descriptor()
    assert mean.shape == (128,) and mean.dtype == np.float32
    # dlib descriptors share a large common component: their mean is long (norm ~1.3 of ~1.4)
    assert 0.5 < float(np.linalg.norm(mean)) < 2.0
    assert dlib_encoder.mean is not None and dlib_encoder.calibration == "centred-cosine"


def test_missing_dlib_file_names_the_file_and_the_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(face_models, "package_models_dir", lambda: tmp_path / "site-packages-models")
    with pytest.raises(FaceModelError) as err:
        face_models.dlib_model_path(face_models.RESNET_DESCRIPTOR, tmp_path / "models")
    msg = str(err.value)
    assert "dlib_face_recognition_resnet_model_v1.dat" in msg
    assert str(tmp_path / "models" / "dlib") in msg and str(tmp_path / "site-packages-models") in msg
    assert "face-recognition-models" in msg
    from tfgnet_desk.faces.dlib_backend import DlibResNetEncoder

    with pytest.raises(FaceModelError, match="not found"):
        DlibResNetEncoder(tmp_path / "models")


def test_a_copy_in_the_model_folder_wins(tmp_path):
    pkg = face_models.package_models_dir()
    assert pkg is not None and (pkg / face_models.SHAPE_68).is_file()
    (tmp_path / "dlib").mkdir()
    (tmp_path / "dlib" / face_models.SHAPE_68).symlink_to(pkg / face_models.SHAPE_68)
    assert (
        face_models.dlib_model_path(face_models.SHAPE_68, tmp_path)
        == tmp_path / "dlib" / face_models.SHAPE_68
    )
    assert face_models.dlib_model_path(face_models.SHAPE_5, tmp_path) == pkg / face_models.SHAPE_5


def test_embed_without_a_face_raises(dlib_encoder):
    with pytest.raises(NoFaceError):
        dlib_encoder.embed(np.full((100, 100, 3), 30, np.uint8))


def _identity_pairs(data_root: Path, n: int) -> list[tuple[str, str, str]]:
    """(identity, file_a, file_b) for the first ``n`` identities with two photos among the first 400."""
    by_id: dict[str, list[str]] = {}
    with open(data_root / "celeba10k" / "labels.csv") as f:
        for row in csv.DictReader(f):
            if int(row["file"][:6]) <= 400:
                by_id.setdefault(row["identity"], []).append(row["file"])
    pairs = [(i, fs[0], fs[1]) for i, fs in by_id.items() if len(fs) >= 2]
    return pairs[:n]


@pytest.mark.data
def test_same_person_scores_higher_than_a_different_person(data_root, dlib_encoder):
    from tfgnet_desk.imaging import load_image

    pairs = _identity_pairs(data_root, 3)
    assert len(pairs) == 3
    img = {f: load_image(data_root / "celeba10k" / "images" / f) for _, a, b in pairs for f in (a, b)}
    emb = {f: dlib_encoder.embed(im) for f, im in img.items()}
    wins = 0
    genuine, impostor = [], []
    for k, (_, a, b) in enumerate(pairs):
        other = pairs[(k + 1) % len(pairs)][2]
        g = dlib_encoder.score_embeddings(emb[a], emb[b])
        i = dlib_encoder.score_embeddings(emb[a], emb[other])
        genuine.append(g.calibrated)
        impostor.append(i.calibrated)
        wins += g.raw > i.raw
        assert g.backend == "dlib-resnet" and -1 <= g.calibrated <= 1 and -1 <= g.raw <= 1
    assert wins >= 2
    assert np.mean(genuine) > np.mean(impostor) + 0.2
    assert abs(np.mean(impostor)) < 0.3  # centring puts different people near 0
    same = dlib_encoder.score(img[pairs[0][1]], img[pairs[0][1]])
    assert same.raw == pytest.approx(1.0, abs=1e-5) and same.to_dict()["backend"] == "dlib-resnet"


def test_documented_thresholds_match_the_code():
    from tfgnet_desk.faces.arcface_backend import ARCFACE_THRESHOLD
    from tfgnet_desk.faces.dlib_backend import DLIB_CALIBRATED_THRESHOLD, DLIB_RAW_THRESHOLD

    doc = (Path(__file__).resolve().parent.parent / "docs" / "identity.md").read_text()
    assert f"{DLIB_RAW_THRESHOLD:.3f} / {DLIB_CALIBRATED_THRESHOLD:.3f}" in doc
    assert f"{ARCFACE_THRESHOLD:.2f} / {ARCFACE_THRESHOLD:.2f}" in doc
    # and they are the clean EER thresholds the bench wrote into the same page
    assert "| clean | raw |" in doc and f"| {DLIB_RAW_THRESHOLD:.3f} |" in doc
    assert f"| {DLIB_CALIBRATED_THRESHOLD:.3f} |" in doc
