"""The paper's generator-side losses: the masked diffusion loss (eq. 9) and L_total (eq. 10).

``L_codebook`` and ``L_transformer`` are computed by the restorer's modules (vq.py, restorer.py); this
module weights them together with ``L_masked`` for joint training (paper 3.6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    """lambda_1..lambda_3 of eq. (10). The paper tunes them empirically; 1.0 each is our default."""

    codebook: float = 1.0
    transformer: float = 1.0
    masked: float = 1.0


def latent_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bring an image-space mask ((H, W), (B, H, W) or (B, 1, H, W), values in [0, 1]) to ``size``.

    Area averaging when shrinking: a latent cell's weight is the fraction of its pixels inside the mask,
    so a cell that sees only background gets exactly 0 (no gradient from outside the identity region).
    """
    if mask.dim() == 2:
        mask = mask[None, None]
    elif mask.dim() == 3:
        mask = mask[:, None]
    mask = mask.float()
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    if mask.shape[-2] >= size[0] and mask.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(mask, size)
    return F.interpolate(mask, size=size, mode="nearest")


def masked_diffusion_loss(
    eps_pred: torch.Tensor, eps: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Eq. (9): mean over the identity region of ||eps - eps_theta||^2.

    ``eps_pred`` and ``eps`` are (B, C, h, w) latents; ``mask`` is an image-space mask that is resized to
    the latent (see :func:`latent_mask`). Each sample is normalised by its mask area (times C), then the
    batch is averaged, so small faces weigh as much as large ones. ``mask=None`` gives the plain MSE
    (the ``--no-masked-loss`` ablation).
    """
    if eps_pred.shape != eps.shape:
        raise ValueError(f"eps_pred {tuple(eps_pred.shape)} and eps {tuple(eps.shape)} differ in shape")
    err = (eps_pred.float() - eps.float()) ** 2
    if mask is None:
        return err.mean()
    m = latent_mask(mask.to(err.device), tuple(err.shape[-2:]))
    if m.shape[0] == 1 and err.shape[0] > 1:
        m = m.expand(err.shape[0], -1, -1, -1)
    if m.shape[0] != err.shape[0]:
        raise ValueError(f"mask batch {m.shape[0]} does not match the latent batch {err.shape[0]}")
    weighted = (err * m).sum(dim=(1, 2, 3))
    area = m.sum(dim=(1, 2, 3)) * err.shape[1]
    return (weighted / area.clamp_min(1e-8)).mean()


def total_loss(
    l_codebook: torch.Tensor | None,
    l_transformer: torch.Tensor | None,
    l_masked: torch.Tensor | None,
    lambdas: LossWeights | Mapping[str, float] | Sequence[float] = LossWeights(),
) -> torch.Tensor:
    """Eq. (10): lambda_1 L_codebook + lambda_2 L_transformer + lambda_3 L_masked.

    A term passed as ``None`` is left out (an ablation or a frozen stage); at least one must be given.
    """
    if isinstance(lambdas, LossWeights):
        w = (lambdas.codebook, lambdas.transformer, lambdas.masked)
    elif isinstance(lambdas, Mapping):
        w = (lambdas.get("codebook", 1.0), lambdas.get("transformer", 1.0), lambdas.get("masked", 1.0))
    else:
        w = tuple(float(x) for x in lambdas)
        if len(w) != 3:
            raise ValueError(f"need three lambda weights, got {len(w)}")
    terms = [
        lam * term
        for lam, term in zip(w, (l_codebook, l_transformer, l_masked), strict=True)
        if term is not None
    ]
    if not terms:
        raise ValueError("total_loss needs at least one loss term")
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out
