"""Masked diffusion loss (eq. 9) and L_total (eq. 10)."""

from __future__ import annotations

import pytest
import torch

from tfgnet_desk.model.losses import LossWeights, latent_mask, masked_diffusion_loss, total_loss


def _mask(size: int = 128) -> torch.Tensor:
    m = torch.zeros(size, size)
    m[32:96, 40:88] = 1.0  # identity region, aligned to the 4x latent grid
    return m


def test_masked_loss_has_zero_gradient_outside_the_mask():
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(2, 4, 32, 32, generator=g)
    eps_pred = torch.randn(2, 4, 32, 32, generator=g, requires_grad=True)
    mask = _mask()
    loss = masked_diffusion_loss(eps_pred, eps, mask)
    loss.backward()
    lat = latent_mask(mask, (32, 32))[0, 0]
    grad = eps_pred.grad
    assert torch.all(grad[:, :, lat == 0] == 0)
    assert torch.all(grad[:, :, lat == 1] != 0)


def test_soft_mask_border_cells_weighted_and_outside_zero():
    m = torch.zeros(128, 128)
    m[30:98, 30:98] = 1.0  # not aligned to the latent grid: border cells are partly inside
    lat = latent_mask(m, (32, 32))[0, 0]
    assert lat.max() == 1 and lat.min() == 0
    assert ((lat > 0) & (lat < 1)).any()
    eps_pred = torch.zeros(1, 4, 32, 32, requires_grad=True)
    masked_diffusion_loss(eps_pred, torch.ones(1, 4, 32, 32), m).backward()
    assert torch.all(eps_pred.grad[0, :, lat == 0] == 0)


def test_masked_loss_is_normalised_by_area():
    eps = torch.zeros(1, 4, 32, 32)
    pred = torch.full((1, 4, 32, 32), 3.0)
    small = torch.zeros(128, 128)
    small[60:68, 60:68] = 1
    for m in (_mask(), small, torch.ones(128, 128)):
        assert masked_diffusion_loss(pred, eps, m).item() == pytest.approx(9.0)


def test_masked_loss_only_sees_the_mask():
    eps = torch.zeros(1, 4, 32, 32)
    pred = torch.zeros(1, 4, 32, 32)
    pred[..., :4, :4] = 100.0  # big error in a corner, outside the mask
    assert masked_diffusion_loss(pred, eps, _mask()).item() == 0.0
    assert masked_diffusion_loss(pred, eps, None).item() > 0  # the unmasked ablation sees it


def test_masked_loss_per_sample_masks_and_checks():
    eps = torch.zeros(2, 4, 32, 32)
    pred = torch.ones(2, 4, 32, 32)
    masks = torch.stack([_mask(), torch.ones(128, 128)])
    assert masked_diffusion_loss(pred, eps, masks).item() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        masked_diffusion_loss(pred, eps, torch.ones(3, 128, 128))
    with pytest.raises(ValueError):
        masked_diffusion_loss(pred, eps[:1], masks)


def test_total_loss_weights_and_ablations():
    a, b, c = torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0)
    assert total_loss(a, b, c).item() == 7.0
    assert total_loss(a, b, c, LossWeights(0.5, 0.25, 2.0)).item() == pytest.approx(0.5 + 0.5 + 8.0)
    assert total_loss(a, b, c, {"masked": 0.0}).item() == 3.0
    assert total_loss(a, None, c, (1.0, 1.0, 0.5)).item() == 3.0
    with pytest.raises(ValueError):
        total_loss(None, None, None)
    with pytest.raises(ValueError):
        total_loss(a, b, c, (1.0, 2.0))
