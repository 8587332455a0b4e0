"""Every training stage runs a few steps on synthetic faces and writes its checkpoint, log and export;
a stage over-fits one fixed batch (its loss falls)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from tests.train_helpers import SMALL_RESTORER, run, small_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.mark.parametrize("stage", ["clip", "vae", "codebook"])
def test_stage_runs_and_exports(stage, tmp_path):
    cfg = small_config(stage, max_steps=2, sample_every=2)
    res = run(cfg, tmp_path)
    folder = tmp_path / stage
    assert res.step == 2
    assert (folder / "checkpoint.pt").is_file()
    rows = list(csv.DictReader(open(folder / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert all(float(r["loss"]) == float(r["loss"]) for r in rows)  # not NaN
    cpu = [float(r["cpu_s"]) for r in rows]
    assert 0 <= cpu[0] <= cpu[1] and cpu[1] > 0  # CPU seconds of the stage, logged beside wall time
    from tfgnet_desk.train.assemble import stage_summary
    from tfgnet_desk.train.checkpoint import load_checkpoint

    assert stage_summary(tmp_path)[stage]["cpu_seconds"] == round(cpu[-1])
    assert load_checkpoint(folder)["cpu_seconds"] >= cpu[-1] - 0.001  # the log rounds to 1 ms
    assert any(folder.joinpath("export").glob("*.safetensors"))
    if stage != "clip":
        assert (folder / "samples" / "step_000002.png").is_file()


def test_transformer_and_joint_chain(tmp_path):
    """codebook -> transformer -> joint, each initialised from the previous export."""
    run(small_config("codebook", max_steps=1), tmp_path)
    tr = small_config("transformer", max_steps=2, init={"vq": "codebook/export/vq.safetensors"})
    assert run(tr, tmp_path).step == 2
    run(small_config("vae", max_steps=1), tmp_path)
    joint = small_config(
        "joint",
        max_steps=2,
        sample_every=2,
        init={"restorer": "transformer/export/restorer.safetensors", "vae": "vae/export/vae.safetensors"},
    )
    res = run(joint, tmp_path)
    assert res.step == 2 and "masked" in res.last_logs
    model = tmp_path / "joint" / "export" / "model"
    assert (model / "config.json").is_file() and (model / "MANIFEST.json").is_file()
    assert (tmp_path / "joint" / "samples" / "step_000002.png").is_file()

    # Fine-tuning the assembled model (``base_model``) with a re-trained image encoder: the weights move,
    # the image encoder is the one named, and training.json keeps the first joint run under "earlier".
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.train.assemble import assemble

    first = assemble(tmp_path, tmp_path / "first")
    run(small_config("clip", max_steps=1), tmp_path / "again")
    tune = small_config(
        "joint",
        max_steps=1,
        lr=1e-2,
        init={"image_encoder": "clip/export/image_encoder.safetensors"},
        params={"base_model": str(first)},
    )
    assert run(tune, tmp_path / "again").step == 1
    second = assemble(tmp_path / "again", tmp_path / "second")
    a, b = TFGNet.from_pretrained(first), TFGNet.from_pretrained(second)
    unet_a = dict(a.unet.named_parameters())
    assert any(not torch.equal(p, unet_a[k]) for k, p in b.unet.named_parameters())
    from tfgnet_desk.train.checkpoint import load_component

    exported = tmp_path / "again/clip/export/image_encoder.safetensors"
    clip = load_component(type(a.image_encoder)(a.image_encoder.config), exported)
    assert all(
        torch.allclose(p.float(), q, atol=1e-2)
        for p, q in zip(b.image_encoder.parameters(), clip.parameters(), strict=True)
    )
    history = json.loads((second / "training.json").read_text())
    assert history["joint"]["steps"] == 1 and history["joint"]["earlier"]["steps"] == 2
    assert history["clip"]["steps"] == 1 and "codebook" in history


def test_fidelity_stage_trains_only_the_fuse_blocks_with_the_faceres_teacher(tmp_path):
    """transformer -> fidelity: the CFT fuse blocks change, everything else of the restorer does not,
    and the teacher's identity and perceptual terms are logged."""
    from tfgnet_desk.model.restorer import CodeFormerRestorer, RestorerConfig
    from tfgnet_desk.train.checkpoint import load_component

    run(small_config("codebook", max_steps=1), tmp_path)
    run(small_config("transformer", max_steps=1, init={"vq": "codebook/export/vq.safetensors"}), tmp_path)
    cfg = small_config(
        "fidelity",
        max_steps=2,
        sample_every=2,
        lr=1e-2,
        init={"restorer": "transformer/export/restorer.safetensors"},
        params={"teacher_size": 64},
    )
    res = run(cfg, tmp_path)
    assert res.step == 2 and {"id_faceres", "perceptual_faceres", "l1"} <= set(res.last_logs)

    def weights(rel: str) -> dict:
        folder = tmp_path / rel
        r = CodeFormerRestorer(RestorerConfig.from_dict(json.loads((folder / "restorer.json").read_text())))
        load_component(r, folder / "restorer.safetensors")
        return {k: v.clone() for k, v in r.state_dict().items()}

    before, after = weights("transformer/export"), weights("fidelity/export")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("fuse_convs_dict") for k in changed)
    assert (tmp_path / "fidelity" / "samples" / "step_000002.png").is_file()


def test_fidelity_stage_adds_a_fuse_level_trains_the_decoder_and_assembles(tmp_path):
    """A fuse level the transformer stage lacked starts as the identity and trains; with
    ``train_generator`` the decoder trains too, over a list of w; the export assembles onto a base model
    with the new architecture, and the model's default fidelity is recorded."""
    from tfgnet_desk.model.restorer import CodeFormerRestorer, RestorerConfig
    from tfgnet_desk.model.testing import RANDOM_LICENCE, random_model_config
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.train.assemble import assemble
    from tfgnet_desk.train.checkpoint import load_component

    run(small_config("codebook", max_steps=1), tmp_path)
    run(small_config("transformer", max_steps=1, init={"vq": "codebook/export/vq.safetensors"}), tmp_path)
    cfg = small_config(
        "fidelity",
        max_steps=2,
        lr=1e-2,
        init={"restorer": "transformer/export/restorer.safetensors"},
        params={
            "teacher_size": 64,
            "connect_list": ["16", "32"],
            "train_generator": True,
            "w_train": [0.5, 1],
            "image_skip": True,
        },
    )
    res = run(cfg, tmp_path)
    assert res.last_logs["w"] in (0.5, 1.0)
    rcfg = RestorerConfig.from_dict(json.loads((tmp_path / "fidelity/export/restorer.json").read_text()))
    assert rcfg.connect_list == ("16", "32") and rcfg.image_skip
    r = CodeFormerRestorer(rcfg)
    load_component(r, tmp_path / "fidelity/export/restorer.safetensors")
    assert r.fuse_convs_dict["32"].scale[2].weight.abs().sum() > 0  # the new level trained from zero
    assert r.skip_head[2].weight.abs().sum() > 0  # so did the evidence skip
    before = CodeFormerRestorer(RestorerConfig.from_dict(SMALL_RESTORER))
    load_component(before, tmp_path / "transformer/export/restorer.safetensors")
    gen_before = dict(before.generator.named_parameters())
    assert any(not torch.equal(p, gen_before[k]) for k, p in r.generator.named_parameters())
    assert torch.equal(r.quantize.embedding.weight, before.quantize.embedding.weight)  # codebook frozen

    base_cfg = random_model_config("tiny")
    base_cfg.restorer = RestorerConfig.from_dict(SMALL_RESTORER)  # the transformer stage's architecture
    base = TFGNet.random(base_cfg, seed=0).save_pretrained(
        tmp_path / "base", licence=RANDOM_LICENCE, source="random"
    )
    exported = tmp_path / "fidelity/export/restorer.safetensors"
    model = TFGNet.from_pretrained(assemble(tmp_path, tmp_path / "out", exported, base=base, fidelity=1.0))
    assert model.config.restorer.connect_list == ("16", "32") and model.config.restorer.image_skip
    assert model.config.fidelity == 1.0
    got = model.restorer.fuse_convs_dict["32"].scale[2].weight.float()
    assert torch.allclose(got, r.fuse_convs_dict["32"].scale[2].weight, atol=1e-3)  # fp16 in the folder


def test_joint_teacher_losses_on_the_predicted_clean_image(tmp_path):
    cfg = small_config(
        "joint",
        max_steps=1,
        params={
            "x0_identity_weight": 0.5,
            "x0_perceptual_weight": 0.5,
            "x0_attribute_weight": 0.5,
            "teacher_size": 64,
            "t_max_fraction": 0.5,
            "p_caption": 1.0,
            "p_uncond": 0.0,
        },
    )
    logs = run(cfg, tmp_path).last_logs
    for name in ("x0_identity_faceres", "x0_perceptual_faceres", "x0_attributes_faceres"):
        assert name in logs and float(logs[name]) == float(logs[name]) and float(logs[name]) >= 0


@pytest.mark.parametrize("flags", [{}, {"no_stacked_id": True}, {"no_masked_loss": True}])
def test_joint_ablation_flags(tmp_path, monkeypatch, flags):
    """Each Table-3 switch, alone, changes what the step does and nothing else: ``no_stacked_id`` never
    calls the ID fusion, so the fusion MLP gets no gradient and does not train (it does without the
    switch); ``no_masked_loss`` hands the masked diffusion loss no mask, so the loss is the plain MSE of
    the step's noise prediction (without the switch it is the masked mean, a different number)."""
    import torch.nn.functional as F

    import tfgnet_desk.train.stages.joint as joint
    from tfgnet_desk.model.fusion import IDFusion

    losses, fused, stages = [], [], []
    real_loss, real_fuse, real_forward = (
        joint.masked_diffusion_loss,
        IDFusion.forward,
        joint.JointStage.forward,
    )

    def loss(pred, target, mask=None):
        value = real_loss(pred, target, mask)
        plain = F.mse_loss(pred.float(), target.float())
        losses.append((mask, float(value.detach()), float(plain.detach())))
        return value

    def fuse(self, *args, **kwargs):
        fused.append(1)
        return real_fuse(self, *args, **kwargs)

    def forward(self, *args, **kwargs):
        if not stages:  # the fusion MLP as the first step found it
            stages.append((self, {k: v.detach().clone() for k, v in self.net.fusion.state_dict().items()}))
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(joint, "masked_diffusion_loss", loss)
    monkeypatch.setattr(IDFusion, "forward", fuse)
    monkeypatch.setattr(joint.JointStage, "forward", forward)
    cfg = small_config("joint", max_steps=1, lr=1e-2, params=dict(flags))
    assert run(cfg, tmp_path).step == 1
    no_id, no_mask = bool(flags.get("no_stacked_id")), bool(flags.get("no_masked_loss"))

    assert (len(fused) == 0) == no_id
    ((stage, before),) = stages
    after = stage.net.fusion.state_dict()
    trained = {k for k in before if not torch.equal(before[k], after[k])}
    assert (not trained) == no_id, f"fusion weights that moved: {sorted(trained)[:3]}"

    assert losses
    for mask, value, plain in losses:
        assert (mask is None) == no_mask
        if no_mask:
            assert value == pytest.approx(plain, rel=1e-6)
        else:
            assert value != pytest.approx(plain, rel=1e-3)  # the identity region's mean, not the image's


def test_overfits_one_fixed_batch(tmp_path):
    from tfgnet_desk.train.data import SyntheticFaces

    src = SyntheticFaces(n=4, size=32, seed=3)
    cfg = small_config("vae", batch_size=4, max_steps=25, lr=3e-3, log_every=1)
    # every step draws 4 of the same 4 faces: the loss must fall well below its start
    run(cfg, tmp_path, source=src)
    losses = [float(r["l1"]) for r in csv.DictReader(open(tmp_path / "vae" / "log.csv"))]
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:3]) / 3


def test_relation_loss_rewards_the_teachers_geometry():
    """The relational term is small when the embedding ranks faces as the teacher does, larger when it
    does not, and falls under a gradient step."""
    from tfgnet_desk.train.stages.clip import relation_loss

    g = torch.Generator().manual_seed(0)
    teacher = torch.nn.functional.normalize(torch.randn(12, 16, generator=g), dim=-1)
    has = torch.ones(12, dtype=torch.bool)
    aligned = relation_loss(teacher @ torch.linalg.qr(torch.randn(16, 16, generator=g))[0], teacher, has)
    emb = torch.randn(12, 16, generator=g, requires_grad=True)
    unrelated = relation_loss(emb, teacher, has)
    assert aligned < 0.25 * unrelated
    unrelated.backward()
    with torch.no_grad():
        assert relation_loss(emb - 0.5 * emb.grad / emb.grad.norm(), teacher, has) < unrelated
    assert relation_loss(emb, teacher, torch.zeros(12, dtype=torch.bool)) == 0


def test_clip_stage_lr_mult_freezes_the_text_encoder(tmp_path):
    """``lr_mult: {text_encoder: 0}`` keeps the text encoder bit-identical while the image encoder and
    the relational term train."""
    from tfgnet_desk.train.checkpoint import load_component
    from tfgnet_desk.train.stages.clip import ClipStage

    first = small_config("clip", max_steps=1)
    run(first, tmp_path / "a")
    init = {
        "image_encoder": str(tmp_path / "a/clip/export/image_encoder.safetensors"),
        "text_encoder": str(tmp_path / "a/clip/export/text_encoder.safetensors"),
    }
    cfg = small_config("clip", max_steps=3, init=init)
    cfg.params.update(relation_weight=1.0, lr_mult={"text_encoder": 0.0})
    res = run(cfg, tmp_path / "b")
    assert res.step == 3 and "relation" in res.last_logs
    before, after = (ClipStage(cfg, None, tmp_path / "b") for _ in range(2))
    load_component(before.text_encoders[0], tmp_path / "a/clip/export/text_encoder.safetensors")
    load_component(after.text_encoders[0], tmp_path / "b/clip/export/text_encoder.safetensors")
    load_component(before.image_encoder, tmp_path / "a/clip/export/image_encoder.safetensors")
    load_component(after.image_encoder, tmp_path / "b/clip/export/image_encoder.safetensors")

    def equal(x, y) -> list[bool]:
        return [torch.equal(a, b) for a, b in zip(x.parameters(), y.parameters(), strict=True)]

    assert all(equal(before.text_encoders, after.text_encoders))
    assert not all(equal(before.image_encoder, after.image_encoder))
    bad = small_config("clip", max_steps=1)
    bad.params.update(lr_mult={"text": 0.0})
    with pytest.raises(ValueError, match="unknown parts"):
        run(bad, tmp_path / "c")


def test_fidelity_stage_with_l1_alone_loads_no_teacher(tmp_path):
    """The shipped recipe (both teacher weights 0): faceres is not built, only L1 is logged and trained."""
    from tfgnet_desk.train.stages.fidelity import FidelityStage

    run(small_config("codebook", max_steps=1), tmp_path)
    run(small_config("transformer", max_steps=1, init={"vq": "codebook/export/vq.safetensors"}), tmp_path)
    cfg = small_config(
        "fidelity",
        max_steps=2,
        init={"restorer": "transformer/export/restorer.safetensors"},
        params={"perceptual_weight": 0.0, "identity_weight": 0.0},
    )
    assert FidelityStage(cfg, None, tmp_path).teacher is None
    res = run(cfg, tmp_path)
    assert res.step == 2 and set(res.last_logs) >= {"l1", "w"} and "id_faceres" not in res.last_logs
