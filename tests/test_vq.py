"""Codebook learning (paper 3.1): quantiser, code-level loss, VQ autoencoder, discriminator, eq. 3 loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tfgnet_desk.model.discriminator import (
    PatchDiscriminator,
    adaptive_weight,
    discriminator_loss,
    generator_adversarial_loss,
)
from tfgnet_desk.model.perceptual import PerceptualLoss
from tfgnet_desk.model.restorer import RestorerConfig
from tfgnet_desk.model.vq import VectorQuantizer, VQAutoEncoder, code_level_loss, codebook_loss

torch.set_num_threads(1)

# a small autoencoder with the tiny graph's structure, for fast training tests
SMALL = dict(
    img_size=32, nf=16, ch_mult=(1, 2), res_blocks=1, attn_resolutions=(16,), codebook_size=32, emb_dim=16
)


def _hand_quantizer() -> VectorQuantizer:
    q = VectorQuantizer(codebook_size=4, emb_dim=2)
    with torch.no_grad():
        q.embedding.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]))
    return q


def test_quantizer_picks_nearest_entry_hand_made_codebook():
    q = _hand_quantizer()
    # four vectors on a 2x2 grid, channel-first: nearest entries 1, 2, 3, 0
    vectors = torch.tensor([[0.9, 0.2], [0.1, 0.7], [4.0, 3.5], [-0.3, 0.1]])
    z = vectors.t().reshape(1, 2, 2, 2)
    z_q, indices, _ = q(z)
    assert indices.tolist() == [[[1, 2], [3, 0]]]
    expected = q.embedding.weight[torch.tensor([1, 2, 3, 0])].t().reshape(1, 2, 2, 2)
    assert torch.allclose(z_q, expected)


def test_quantizer_matches_brute_force_distances():
    g = torch.Generator().manual_seed(0)
    q = VectorQuantizer(codebook_size=64, emb_dim=8)
    with torch.no_grad():
        q.embedding.weight.copy_(torch.randn(64, 8, generator=g))
    z = torch.randn(3, 8, 5, 4, generator=g)
    _, indices, _ = q(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 8)
    brute = torch.cdist(flat, q.embedding.weight).argmin(dim=1).reshape(3, 5, 4)
    assert torch.equal(indices, brute)


def test_code_level_loss_matches_hand_computation_and_term_roles():
    q = _hand_quantizer()
    z = torch.tensor([[0.9, 0.2], [0.1, 0.7]]).t().reshape(1, 2, 1, 2).requires_grad_(True)
    _, _, loss = q(z)
    # chosen entries (1,0) and (0,1): squared errors (0.01 + 0.04) + (0.01 + 0.09) = 0.15 over 4 elements
    mse = 0.15 / 4
    assert loss.item() == pytest.approx(mse + 0.5 * mse, rel=1e-6)
    loss.backward()
    # commitment term (weight alpha = 0.5) reaches the encoder output: d/dz = alpha * 2 (z - e) / N
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).t().reshape(1, 2, 1, 2)
    assert torch.allclose(z.grad, 0.5 * 2 * (z.detach() - e) / 4, atol=1e-7)
    # codebook term (weight 1) reaches the chosen entries: d/de = 2 (e - z) / N; unused entries get 0
    grad_e = q.embedding.weight.grad
    assert torch.allclose(grad_e[1], 2 * (torch.tensor([1.0, 0.0]) - torch.tensor([0.9, 0.2])) / 4, atol=1e-7)
    assert torch.allclose(grad_e[2], 2 * (torch.tensor([0.0, 1.0]) - torch.tensor([0.1, 0.7])) / 4, atol=1e-7)
    assert torch.all(grad_e[[0, 3]] == 0)
    assert code_level_loss(z.detach(), e, alpha=0.0).item() == pytest.approx(mse, rel=1e-6)


def test_straight_through_gradient_reaches_encoder():
    torch.manual_seed(0)
    vq = VQAutoEncoder(**SMALL)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    recon, _, _ = vq(x)
    F.l1_loss(recon, x).backward()  # image loss only: no code-level term
    first = vq.encoder.blocks[0].weight.grad
    assert first is not None and first.abs().sum() > 0
    assert vq.quantize.embedding.weight.grad is None  # the codebook is trained by the code-level loss only


def test_vq_autoencoder_shapes_tiny_and_decode_indices():
    torch.manual_seed(0)
    cfg = RestorerConfig.tiny()
    vq = VQAutoEncoder.from_config(cfg).eval()
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        z_q, indices, loss = vq.encode(x)
        assert z_q.shape == (2, cfg.emb_dim, 16, 16)
        assert indices.shape == (2, 16, 16) and indices.max() < cfg.codebook_size
        assert loss.ndim == 0
        recon, idx2, _ = vq(x)
        assert recon.shape == x.shape and torch.equal(idx2, indices)
        assert torch.allclose(vq.decode_indices(indices), recon, atol=1e-5)
        assert torch.allclose(vq.decode_indices(indices.flatten(1), (2, 16, 16)), recon, atol=1e-5)
    with pytest.raises(ValueError):
        vq.decode_indices(indices.flatten(1))


def test_patch_discriminator_shapes_and_published_names():
    d = PatchDiscriminator(ndf=32, n_layers=3)
    out = d(torch.zeros(2, 3, 128, 128))
    assert out.shape == (2, 1, 14, 14)
    with torch.device("meta"):
        full = PatchDiscriminator()
    shapes = {k: tuple(v.shape) for k, v in full.state_dict().items()}
    assert shapes["main.0.weight"] == (64, 3, 4, 4)
    assert shapes["main.2.weight"] == (128, 64, 4, 4) and "main.2.bias" not in shapes
    assert shapes["main.3.running_mean"] == (128,)
    assert shapes["main.8.weight"] == (512, 256, 4, 4)
    assert shapes["main.11.weight"] == (512, 512, 4, 4)
    assert shapes["main.14.weight"] == (1, 512, 4, 4) and shapes["main.14.bias"] == (1,)


def test_adversarial_losses_match_formulas():
    real = torch.tensor([2.0, -1.0])
    fake = torch.tensor([0.5, -3.0])
    sp = F.softplus
    ns = 0.5 * (sp(-real).mean() + sp(fake).mean())
    assert discriminator_loss(real, fake).item() == pytest.approx(ns.item())
    hinge = 0.5 * ((0.0 + 2.0) / 2 + (1.5 + 0.0) / 2)
    assert discriminator_loss(real, fake, "hinge").item() == pytest.approx(hinge)
    assert generator_adversarial_loss(fake).item() == pytest.approx(sp(-fake).mean().item())
    assert generator_adversarial_loss(fake, "hinge").item() == pytest.approx(1.25)
    with pytest.raises(ValueError):
        discriminator_loss(real, fake, "wasserstein")


def test_codebook_loss_sums_weighted_terms_and_adaptive_weight():
    torch.manual_seed(0)
    vq = VQAutoEncoder(**SMALL)
    disc = PatchDiscriminator(ndf=8, n_layers=2)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    recon, _, code = vq(x)
    with pytest.warns(UserWarning):
        per = PerceptualLoss(None)
    fake = disc(recon)
    total, parts = codebook_loss(
        x,
        recon,
        code,
        perceptual=per,
        fake_logits=fake,
        l1_weight=2.0,
        perceptual_weight=0.5,
        adversarial_weight=0.25,
        code_weight=3.0,
    )
    expected = (
        2.0 * parts["l1"] + 0.5 * parts["perceptual"] + 0.25 * parts["adversarial"] + 3.0 * parts["code"]
    )
    assert total.item() == pytest.approx(expected, rel=1e-5)
    assert parts["l1"] == pytest.approx(F.l1_loss(recon, x).item())
    last = vq.generator.blocks[-1].weight
    weight = adaptive_weight(F.l1_loss(recon, x), generator_adversarial_loss(fake), last)
    assert weight.ndim == 0 and 0 < weight.item() <= 1e4 and not weight.requires_grad


def test_codebook_stage_loss_falls_when_overfitting_one_batch():
    torch.manual_seed(0)
    vq = VQAutoEncoder(**SMALL)
    g = torch.Generator().manual_seed(1)
    x = F.interpolate(torch.rand(2, 3, 4, 4, generator=g), size=32, mode="bilinear") * 2 - 1  # smooth targets
    opt = torch.optim.Adam(vq.parameters(), lr=5e-3)
    totals, l1s = [], []
    for _ in range(30):
        recon, _, code = vq(x)
        total, parts = codebook_loss(x, recon, code)
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(total.item())
        l1s.append(parts["l1"])
    # the code-level term first grows while the encoder output spreads, then both terms fall
    assert totals[-1] < totals[0] and sum(totals[-5:]) < 0.6 * sum(totals[:5]), totals
    assert l1s[-1] < 0.5 * l1s[0], l1s
