"""Patch discriminator and adversarial losses for codebook learning (paper 3.1, eq. 1).

The discriminator is VQGAN's NLayerDiscriminator (CodeFormer's ``VQGANDiscriminator``): a stack of
stride-2 4x4 convolutions with BatchNorm and LeakyReLU ending in a one-channel map of per-patch
real/fake logits. Its parameters live under ``main.N`` as in the published model.

Losses: the paper's eq. 1 is the standard GAN objective ``log D(I_h) + log(1 - D(I_re))``; with logits
that is ``softplus(-real) + softplus(fake)`` for D and the non-saturating ``softplus(-fake)`` for the
generator (``kind="nonsaturating"``, the default). VQGAN/CodeFormer's hinge form is available as
``kind="hinge"``. :func:`adaptive_weight` is VQGAN's balance between reconstruction and adversarial
gradients at the decoder's last layer. For reference, CodeFormer's stage-1 config
(VQGAN_512_ds32_nearest_stage1.yml) uses hinge, the adaptive weight, Adam 7e-5 for G and D, and only
starts the discriminator after 30k iterations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAN_KINDS = ("nonsaturating", "hinge")


class PatchDiscriminator(nn.Module):
    """NLayerDiscriminator: (B, nc, H, W) -> (B, 1, h, w) patch logits.

    ``PatchDiscriminator(nc=3, ndf=64, n_layers=4)`` has CodeFormer's published shapes; for the tiny
    128x128 profile ``ndf=32, n_layers=3`` is enough (receptive field 70 px).
    """

    def __init__(self, nc: int = 3, ndf: int = 64, n_layers: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False),
            nn.BatchNorm2d(ndf * mult),
            nn.LeakyReLU(0.2, True),
        ]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x)


def _check(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise ValueError(f"GAN loss kind must be one of {GAN_KINDS}, not {kind!r}")


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, kind: str = "nonsaturating") -> Tensor:
    """Loss for D: real patches towards "real", reconstructed (detach them first) towards "fake"."""
    _check(kind)
    if kind == "hinge":
        return 0.5 * (F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean())
    return 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())


def generator_adversarial_loss(fake_logits: Tensor, kind: str = "nonsaturating") -> Tensor:
    """Adversarial term for the autoencoder: make D call the reconstruction real."""
    _check(kind)
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()


def adaptive_weight(
    rec_loss: Tensor, adv_loss: Tensor, last_layer_weight: Tensor, max_weight: float = 1e4, eps: float = 1e-4
) -> Tensor:
    """VQGAN's adaptive adversarial weight ``|grad rec| / (|grad adv| + eps)`` at the decoder's last layer.

    Both losses must still be attached to the graph; the result is detached and clamped to
    ``[0, max_weight]``. Multiply it by the configured adversarial weight.
    """
    rec_grad = torch.autograd.grad(rec_loss, last_layer_weight, retain_graph=True)[0]
    adv_grad = torch.autograd.grad(adv_loss, last_layer_weight, retain_graph=True)[0]
    weight = rec_grad.norm() / (adv_grad.norm() + eps)
    return weight.clamp(0.0, max_weight).detach()
