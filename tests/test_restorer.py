"""Transformer restorer (paper 3.2): config, shapes, ablations, stage-2 loss, training (the CodeFormer
layout: test_restorer_layout.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from tfgnet_desk.model.restorer import (
    CodeFormerRestorer,
    RestorerConfig,
    code_targets,
    transformer_loss,
)
from tfgnet_desk.model.vq import VQAutoEncoder

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny() -> CodeFormerRestorer:
    torch.manual_seed(0)
    return CodeFormerRestorer(RestorerConfig.tiny()).eval()


def _lq(b: int = 2, size: int = 128, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ------------------------------------------------------------------------------------------------
# CodeFormer's published layout, written out from basicsr/archs/codeformer_arch.py and vqgan_arch.py
# (CodeFormer(dim_embd=512, n_head=8, n_layers=9, codebook_size=1024, latent_size=256,
#  connect_list=['32','64','128','256']) on VQAutoEncoder(512, 64, [1,2,2,4,4,8], 'nearest', 2, [16]))
# ------------------------------------------------------------------------------------------------


def test_config_roundtrip_presets_and_validation():
    ablated = replace(RestorerConfig.tiny(), use_codebook=False)
    for cfg in (RestorerConfig.tiny(), RestorerConfig.full(), ablated):
        d = json.loads(json.dumps(cfg.to_dict()))
        assert RestorerConfig.from_dict(d) == cfg
    full = RestorerConfig.full()
    assert (
        full.img_size,
        full.codebook_size,
        full.emb_dim,
        full.code_size,
        full.n_layers,
        full.dim_embd,
        full.n_head,
    ) == (512, 1024, 256, 16, 9, 512, 8)
    assert full.connect_list == ("32", "64", "128", "256")
    assert RestorerConfig.tiny().code_size == 16
    with pytest.raises(ValueError, match="unknown"):
        RestorerConfig.from_dict({"img_size": 128, "bogus": 1})
    with pytest.raises(ValueError, match="connect_list"):
        replace(RestorerConfig.tiny(), connect_list=("16",))
    with pytest.raises(ValueError, match="divisible"):
        replace(RestorerConfig.tiny(), img_size=100)


def test_tiny_shapes_at_every_stage_and_size(tiny):
    cfg = tiny.config
    assert sum(p.numel() for p in tiny.parameters()) <= 6_000_000
    lq = _lq()
    with torch.no_grad():
        lq_feat, enc = tiny._encode(lq)
        assert lq_feat.shape == (2, cfg.emb_dim, 16, 16)
        assert {k: tuple(v.shape[1:]) for k, v in enc.items()} == {"32": (64, 32, 32), "64": (64, 64, 64)}
        tokens = tiny._tokens(lq_feat)
        assert tokens.shape == (2, 256, cfg.dim_embd)
        restored, logits, z_l = tiny(lq)
        assert restored.shape == (2, 3, 128, 128)
        assert logits.shape == (2, 256, cfg.codebook_size)
        assert torch.equal(z_l, lq_feat)
        logits2, _ = tiny.predict_logits(lq)
        assert torch.allclose(logits, logits2)
    with pytest.raises(ValueError, match="128x128"):
        tiny(_lq(size=64))


def test_w0_is_pure_codebook_decoding_and_cft_changes_output():
    torch.manual_seed(0)
    cfg = RestorerConfig.tiny()
    vq = VQAutoEncoder.from_config(cfg)
    model = CodeFormerRestorer(cfg)
    model.init_from_codebook(vq)
    model.eval()
    lq = _lq()
    with torch.no_grad():
        restored, logits, _ = model(lq, w=0.0)
        indices = logits.argmax(-1).reshape(2, 16, 16)
        assert torch.allclose(restored, vq.decode_indices(indices), atol=1e-5)
        # fresh fuse blocks are the identity (zero-initialised modulation), so w > 0 changes nothing yet
        assert torch.allclose(model(lq, w=1.0)[0], restored, atol=1e-6)
        for block in model.fuse_convs_dict.values():
            torch.nn.init.normal_(block.scale[2].weight, std=0.05)
            torch.nn.init.normal_(block.shift[2].weight, std=0.05)
        half, full = model(lq, w=0.5)[0], model(lq, w=1.0)[0]
    assert not torch.allclose(half, restored, atol=1e-4)
    assert not torch.allclose(full, half, atol=1e-4)


def test_init_from_codebook_copies_without_aliasing():
    torch.manual_seed(0)
    cfg = RestorerConfig.tiny()
    vq = VQAutoEncoder.from_config(cfg)
    model = CodeFormerRestorer(cfg)
    model.init_from_codebook(vq)
    for name in ("encoder", "quantize", "generator"):
        for (k, a), b in zip(
            getattr(model, name).state_dict().items(), getattr(vq, name).state_dict().values(), strict=True
        ):
            assert torch.equal(a, b), k
            assert a.data_ptr() != b.data_ptr(), k


def test_freeze_for_transformer_stage_trains_only_encoder_and_transformer():
    torch.manual_seed(0)
    model = CodeFormerRestorer(RestorerConfig.tiny())
    model.freeze_for_transformer_stage()
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n.split(".")[0] for n, p in model.named_parameters() if not p.requires_grad}
    assert trainable == {"encoder", "position_emb", "feat_emb", "ft_layers", "idx_pred_layer"}
    assert frozen == {"quantize", "generator", "fuse_convs_dict"}
    restored, logits, _ = model(_lq(1))
    (restored.mean() + logits.mean()).backward()
    assert model.generator.blocks[0].weight.grad is None
    assert model.quantize.embedding.weight.grad is None
    assert model.ft_layers[0].linear1.weight.grad is not None
    model.freeze_for_fidelity_stage()
    assert {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad} == {"fuse_convs_dict"}


def test_ablation_flags():
    torch.manual_seed(0)
    tiny = RestorerConfig.tiny()
    lq = _lq(1)
    no_tf = CodeFormerRestorer(replace(tiny, use_transformer=False)).eval()
    assert not any(k.startswith(("ft_layers", "idx_pred_layer", "position_emb")) for k in no_tf.state_dict())
    with torch.no_grad():
        restored, logits, z_l = no_tf(lq)
        # nearest-code lookup of the LQ features; logits are negative squared distances
        nearest = no_tf.quantize(z_l).indices
        assert torch.equal(logits.argmax(-1).reshape(1, 16, 16), nearest)
        decoded = no_tf.generator(no_tf.quantize.lookup(nearest, nearest.shape))
        assert torch.allclose(restored, decoded, atol=1e-5)
    no_cb = CodeFormerRestorer(replace(tiny, use_codebook=False)).eval()
    assert "quantize.embedding.weight" not in no_cb.state_dict() and "feat_out.weight" in no_cb.state_dict()
    no_both = CodeFormerRestorer(replace(tiny, use_codebook=False, use_transformer=False)).eval()
    with torch.no_grad():
        for model in (no_cb, no_both):
            restored, logits, _ = model(lq)
            assert restored.shape == (1, 3, 128, 128) and logits is None
        z_l, _ = no_both._encode(lq)
        assert torch.allclose(no_both(lq)[0], no_both.generator(z_l), atol=1e-5)


def test_restore_resizes_clamps_and_keeps_mode(tiny):
    tiny.train()
    out = tiny.restore(_lq(1, size=64), w=0.5)
    assert tiny.training
    tiny.eval()
    assert out.shape == (1, 3, 128, 128) and not out.requires_grad
    assert out.min() >= -1 and out.max() <= 1


def test_safetensors_roundtrip_gives_identical_output(tmp_path, tiny):
    from safetensors.torch import load_file, save_file

    state = tiny.state_dict()
    assert all(t.is_contiguous() for t in state.values())
    save_file(state, str(tmp_path / "restorer.safetensors"))
    loaded = CodeFormerRestorer(RestorerConfig.from_dict(tiny.config.to_dict()))
    loaded.load_state_dict(load_file(str(tmp_path / "restorer.safetensors")), strict=True)
    lq = _lq(1)
    assert torch.equal(loaded.restore(lq, w=0.3), tiny.restore(lq, w=0.3))


def test_transformer_loss_matches_hand_computation():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]]])  # B=1, hw=2, C=3
    target = torch.tensor([[0, 2]])
    z_l = torch.tensor([1.0, 2.0]).reshape(1, 1, 1, 2).requires_grad_(True)
    z_c = torch.tensor([0.0, 4.0]).reshape(1, 1, 1, 2).requires_grad_(True)
    lse0 = torch.logsumexp(torch.tensor([2.0, 0.0, -1.0]), 0) - 2.0
    lse1 = torch.logsumexp(torch.tensor([0.0, 1.0, 0.0]), 0) - 0.0
    ce = (lse0 + lse1) / 2
    l2 = (1.0 + 4.0) / 2
    loss = transformer_loss(logits, target, z_l, z_c, beta=0.5)
    assert loss.item() == pytest.approx(0.5 * ce.item() + l2, rel=1e-6)
    loss.backward()
    assert z_c.grad is None  # sg(Z_C)
    assert torch.allclose(z_l.grad, torch.tensor([1.0, -2.0]).reshape(1, 1, 1, 2))


def test_transformer_stage_loss_falls_when_overfitting_one_batch():
    torch.manual_seed(0)
    # the tiny graph at a quarter of the cost: 64x64 input, still a 16x16 code grid
    cfg = RestorerConfig(
        img_size=64,
        nf=16,
        ch_mult=(1, 2, 2),
        norm_groups=16,
        codebook_size=64,
        emb_dim=16,
        dim_embd=64,
        n_head=4,
        n_layers=2,
        dim_mlp=128,
        connect_list=("32",),
    )
    vq = VQAutoEncoder.from_config(cfg).eval()
    model = CodeFormerRestorer(cfg)
    model.init_from_codebook(vq)
    model.freeze_for_transformer_stage()
    g = torch.Generator().manual_seed(3)
    hq = F.interpolate(torch.rand(2, 3, 16, 16, generator=g), size=64, mode="bilinear") * 2 - 1
    lq = F.interpolate(F.avg_pool2d(hq, 4), size=64, mode="bilinear")
    targets, z_c = code_targets(vq, hq)
    assert targets.shape == (2, 256) and z_c.shape == (2, cfg.emb_dim, 16, 16)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    for _ in range(30):
        logits, z_l = model.predict_logits(lq)
        loss = transformer_loss(logits, targets, z_l, z_c)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_evidence_skip_starts_at_the_input_and_blends_with_w():
    """image_skip: at w = 1 an untrained restorer returns its input; at w = 0 the codebook path alone;
    in between a blend. Off by default, so CodeFormer's keys (and old tiny models) are unchanged."""
    torch.manual_seed(0)
    base = replace(RestorerConfig.tiny(), connect_list=("32", "64", "128"))
    assert not base.image_skip and "skip_head.2.weight" not in CodeFormerRestorer(base).state_dict()
    model = CodeFormerRestorer(replace(base, image_skip=True)).eval()
    assert RestorerConfig.from_dict(model.config.to_dict()).image_skip
    lq = _lq(2)
    with torch.no_grad():
        one, zero, half = (model(lq, w=w)[0] for w in (1.0, 0.0, 0.5))
        torch.testing.assert_close(one, lq)
        # untrained fuse blocks are the identity, so the decoder part at w = 0.5 is the w = 0 output
        torch.testing.assert_close(half, 0.5 * zero + 0.5 * lq)
        model.skip_head[2].bias.fill_(0.1)
        torch.testing.assert_close(model(lq, w=1.0)[0], lq + 0.1)
    model.freeze_for_fidelity_stage()
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fuse_convs_dict", "skip_head"}
