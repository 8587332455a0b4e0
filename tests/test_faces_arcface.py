"""ArcFace backend: the pack layout, the missing-pack message, and a tiny ONNX network built here."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from tfgnet_desk.faces import FaceModelError, get_identity_encoder
from tfgnet_desk.faces.arcface_backend import ArcFaceEncoder, find_recognition_model, packs_dir

DIM = 16
SIZE = 112
PATCH = 8


def _weights():
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.2, (8, 3, PATCH, PATCH)).astype(np.float32)
    w2 = rng.normal(0, 0.05, (8 * (SIZE // PATCH) ** 2, DIM)).astype(np.float32)
    return w1, w2


def build_recognition_onnx(path: Path) -> None:
    """A small recognition-shaped network: (N, 3, 112, 112) -> patch conv -> relu -> linear -> (N, 16)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1, w2 = _weights()
    nodes = [
        helper.make_node("Conv", ["data", "w1"], ["c"], name="conv0", strides=[PATCH, PATCH]),
        helper.make_node("Relu", ["c"], ["r"], name="relu0"),
        helper.make_node("Flatten", ["r"], ["f"], name="flat0", axis=1),
        helper.make_node("MatMul", ["f", "w2"], ["fc1"], name="fc1"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_arcface",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", DIM])],
        initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def expected_embedding(face_rgb: np.ndarray) -> np.ndarray:
    """The network computed in numpy, with insightface's ArcFace preprocessing ((x - 127.5) / 127.5, RGB)."""
    w1, w2 = _weights()
    x = (face_rgb.astype(np.float32) - 127.5) / 127.5  # H, W, 3 in RGB order
    g = SIZE // PATCH
    patches = x.reshape(g, PATCH, g, PATCH, 3).transpose(0, 2, 4, 1, 3)  # gy, gx, c, py, px
    conv = np.einsum("yxcij,ocij->oyx", patches, w1)
    return (np.maximum(conv, 0).reshape(-1) @ w2).astype(np.float32)


@pytest.fixture()
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_missing_pack_names_the_folder_it_looked_in(tmp_path, no_network):
    with pytest.raises(FaceModelError) as err:
        ArcFaceEncoder(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "insightface" / "models") in msg
    assert "buffalo_l" in msg and "antelopev2" in msg and "nothing is downloaded" in msg
    # a pack folder without a recognition network is still "missing"
    (tmp_path / "insightface" / "models" / "buffalo_l").mkdir(parents=True)
    (tmp_path / "insightface" / "models" / "buffalo_l" / "det_10g.onnx").write_bytes(b"not onnx")
    with pytest.raises(FaceModelError, match="no insightface model pack"):
        get_identity_encoder("arcface", tmp_path)


@pytest.fixture(scope="module")
def arcface_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_recognition_onnx(root / "insightface" / "models" / "buffalo_l" / "w600k_r50.onnx")
    return root


def test_present_pack_loads_offline_and_matches_the_network(arcface_dir, no_network):
    enc = get_identity_encoder("arcface", arcface_dir)
    assert enc.name == "arcface" and enc.dim == DIM and enc.aligned_size == SIZE
    assert enc.pack == "buffalo_l" and enc.model_file.name == "w600k_r50.onnx"
    face = np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    e = enc.embed_aligned(face)
    assert e.shape == (DIM,) and e.dtype == np.float32
    np.testing.assert_allclose(e, expected_embedding(face), rtol=1e-3, atol=1e-3)
    other = enc.embed_aligned(np.ascontiguousarray(face[::-1]))
    assert enc.similarity(e, e) == pytest.approx(1.0, abs=1e-6)
    assert enc.similarity(e, other) < 0.99
    s = enc.score_embeddings(e, other)
    assert s.backend == "arcface" and s.calibrated == s.raw and s.calibration.startswith("none")


def test_recognition_network_found_by_shape_under_another_name(tmp_path):
    build_recognition_onnx(tmp_path / "insightface" / "models" / "antelopev2" / "my_recognizer.onnx")
    pack, path = find_recognition_model(tmp_path)
    assert pack == "antelopev2" and path.name == "my_recognizer.onnx"
    assert packs_dir(tmp_path) == tmp_path / "insightface" / "models"


@pytest.mark.data
def test_arcface_embeds_a_real_photo_through_dlib_detection(arcface_dir, data_root):
    from tfgnet_desk.imaging import load_image

    enc = get_identity_encoder("arcface", arcface_dir)
    img = load_image(data_root / "celeba10k" / "images" / "000010.jpg")
    score = enc.score(img, img)
    assert score.backend == "arcface" and score.raw == pytest.approx(1.0, abs=1e-5)
    assert enc.embed(img).shape == (DIM,)
