"""The faceres ID encoder: fit, folder round trip, the graph check, identity on real faces."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tfgnet_desk.model.config import fusion_for
from tfgnet_desk.model.embed import EncoderSpec, build_image_encoder, is_clip_vision
from tfgnet_desk.model.id_encoder import (
    FaceResIDConfig,
    FaceResIDEncoder,
    faceres_vision_spec,
    is_faceres_spec,
)


@pytest.fixture(scope="module")
def encoder() -> FaceResIDEncoder:
    enc = build_image_encoder(EncoderSpec(vision=faceres_vision_spec(16), texts=()))
    assert isinstance(enc, FaceResIDEncoder) and not is_clip_vision(enc)
    return enc.eval()


def test_spec_names_the_backbone_and_its_graph():
    spec = faceres_vision_spec(128)
    assert is_faceres_spec(spec) and not is_faceres_spec({"hidden_size": 160})
    assert spec["projection_dim"] == 128 and spec["hidden_size"] == 1024 and len(spec["graph_sha256"]) == 64


def test_fit_centres_and_projects_onto_principal_axes(encoder):
    rng = np.random.default_rng(0)
    # features varying mostly along 3 directions around a common offset
    basis = rng.normal(size=(3, 1024))
    feats = (
        5.0
        + rng.normal(size=(400, 3)) @ (basis * [[10.0], [5.0], [2.0]])
        + 0.01 * rng.normal(size=(400, 1024))
    )
    report = encoder.fit(feats)
    assert np.allclose(encoder.centre.numpy(), feats.mean(0), atol=1e-4)
    assert report["variance_kept"] > 0.99  # 16 axes hold the 3 real directions
    w = encoder.visual_projection.weight.detach().double().numpy()
    gram = w @ w.T / report["scale"] ** 2
    assert np.allclose(gram, np.eye(16), atol=1e-5)  # orthonormal axes, one common scale
    # the first axis is the largest direction of the (unit, centred) data
    top = basis[0] / np.linalg.norm(basis[0])
    assert abs(float(w[0] @ top)) / report["scale"] > 0.9
    with pytest.raises(ValueError, match="feature rows"):
        encoder.fit(feats[:5])


def test_backbone_is_frozen_and_only_the_projection_trains(encoder):
    enc = build_image_encoder(EncoderSpec(vision=faceres_vision_spec(8), texts=()))
    enc.train().requires_grad_(True)
    assert not enc.backbone.training
    trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert trainable == ["visual_projection.weight"]
    x = torch.zeros(1, 3, 64, 64)
    pooled, embeds = enc(x)
    embeds.sum().backward()
    assert enc.visual_projection.weight.grad is not None
    assert all(p.grad is None for p in enc.backbone.parameters())
    assert pooled.shape == (1, 1024) and torch.allclose(pooled.norm(dim=-1), torch.ones(1), atol=1e-4)


def test_a_changed_graph_is_refused():
    from tfgnet_desk.faces.models import FaceModelError

    cfg = FaceResIDConfig(projection_dim=8, graph_sha256="0" * 64)
    with pytest.raises(FaceModelError, match="not the faceres graph"):
        FaceResIDEncoder(cfg)


def test_model_folder_round_trip_with_the_faceres_encoder(tmp_path, encoder):
    from tfgnet_desk.model.testing import tiny_test_config
    from tfgnet_desk.model.tfgnet import TFGNet

    base = tiny_test_config()
    spec = EncoderSpec(vision=faceres_vision_spec(base.fusion.image_embed_dim), texts=base.clip.texts)
    cfg = replace(base, clip=spec, fusion=fusion_for(spec, base.fusion.pseudo_text_tokens))
    model = TFGNet.random(cfg, seed=0)
    rng = np.random.default_rng(1)
    model.image_encoder.fit(rng.normal(size=(200, 1024)) + 3.0)
    folder = model.save_pretrained(tmp_path / "m")
    loaded = TFGNet.from_pretrained(folder)
    assert isinstance(loaded.image_encoder, FaceResIDEncoder)
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        a, b = model.id_embeddings(x), loaded.id_embeddings(x)
        cond, info = loaded.condition("a photo of a man", x[:1])
    assert torch.allclose(a, b, atol=1e-5)
    assert a.shape == (2, cfg.fusion.embed_dim) and info["n_id_images"] == 1
    assert torch.equal(loaded.image_encoder.centre, model.image_encoder.centre)
    # a shipped folder names faceres's licences on the encoder's files, and still verifies
    import json

    from tfgnet_desk.train.assemble import write_manifest

    write_manifest(folder)
    files = {e["path"]: e for e in json.loads((folder / "MANIFEST.json").read_text())["files"]}
    assert "Apache-2.0" in files["image_encoder/model.safetensors"]["licence"]
    assert "Apache-2.0" not in files["unet/diffusion_pytorch_model.safetensors"]["licence"]
    TFGNet.from_pretrained(folder)


def test_same_person_is_closer_than_another_on_real_faces(encoder, data_root):
    """CelebA val-pool faces in the training frame: genuine pairs score above impostor pairs."""
    from tfgnet_desk.data.crops import load_face
    from tfgnet_desk.data.splits import Splits
    from tfgnet_desk.train.data import to_tensor

    recs = [r for r in Splits.load().records("val", data_root) if r.dataset == "celeba10k"]
    by: dict[str, list] = {}
    for r in recs:
        by.setdefault(r.identity, []).append(r)
    pairs = [v[:2] for v in by.values() if len(v) >= 2][:8]
    faces = np.stack([load_face(r, 128) for p in pairs for r in p])
    with torch.no_grad():
        feats = encoder.features(to_tensor(faces).float()).double().numpy()
    u = feats - feats.mean(0)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    n = len(pairs)
    genuine = [float(u[2 * i] @ u[2 * i + 1]) for i in range(n)]
    impostor = [float(u[2 * i] @ u[(2 * i + 3) % (2 * n)]) for i in range(n)]
    assert np.mean(genuine) > np.mean(impostor) + 0.2
    assert sum(g > i for g, i in zip(genuine, impostor, strict=True)) >= n - 1
