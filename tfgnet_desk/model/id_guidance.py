"""Identity guidance: steer each denoising step towards the evidence's identity (sampling only).

At every step the sampler predicts the clean latent ``x0 = (z_t - sqrt(1 - a_t) eps) / sqrt(a_t)``. The
guide decodes it, embeds it with the model's own image encoder (faceres identity features for the
embedded model), and moves ``x0`` a small step down the gradient of ``1 - cos(features(x0), reference)``,
where the reference is the restored face's embedding; the sampler then continues from the noise
``eps`` that agrees with the moved ``x0``. This is classifier guidance in x0 space ("universal guidance",
Bansal et al. 2023, forward variant; the identity form is used by face restorers such as DiffBIR and
PGDiff), applied to the stacked-ID sampler of the paper without changing its training.

Why the embedded model needs it (measured, models/tiny/MODEL_CARD.md): its UNet denoising is what loses
the evidence's identity; the ID embedding is too weak a condition after minutes of CPU training to pull
the sample back. The guide uses only the model's image encoder, never the evaluation's dlib ruler.

The step is normalised: ``x0 <- x0 - scale * g / rms(g)``, so ``scale`` is in units of the latent's own
spread per step and does not depend on the loss's magnitude. ``scale = 0`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# profile -> default identity-guidance scale when a request leaves it unset (chosen by measurement,
# MODEL_CARD.md). Profiles not listed get 0 (off): the full profile's CLIP encoder is not an identity model.
DEFAULT_SCALES: dict[str, float] = {"tiny": 0.05}


def default_scale(profile: str) -> float:
    return DEFAULT_SCALES.get(profile, 0.0)


@dataclass
class IdentityGuide:
    """``guide(x0) -> x0'``: one normalised gradient step of identity loss against ``reference``.

    ``decode`` maps scaled latents to images in [-1, 1] (with gradients); ``embed`` maps images to
    identity features (with gradients); ``reference`` is (1, D) or (N, D) features of the evidence's face.
    """

    decode: Callable[[torch.Tensor], torch.Tensor]
    embed: Callable[[torch.Tensor], torch.Tensor]
    reference: torch.Tensor
    scale: float

    def loss(self, x0: torch.Tensor) -> torch.Tensor:
        """Per-sample ``1 - cos`` between the decoded ``x0`` and the reference (B,)."""
        feats = F.normalize(self.embed(self.decode(x0)).float(), dim=-1)
        ref = F.normalize(self.reference.float().to(feats.device), dim=-1)
        return 1.0 - (feats * ref).sum(-1)

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        if self.scale <= 0:
            return x0
        with torch.enable_grad():
            x = x0.detach().float().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.loss(x).sum(), x)
        rms = grad.pow(2).mean(dim=tuple(range(1, grad.dim())), keepdim=True).sqrt().clamp_min(1e-12)
        return (x0.float() - self.scale * grad / rms).to(x0.dtype)


def guided_eps(scheduler, latents: torch.Tensor, eps: torch.Tensor, t, guide: IdentityGuide) -> torch.Tensor:
    """The noise prediction that agrees with ``guide``'s moved ``x0`` (epsilon-prediction schedulers)."""
    a = scheduler.alphas_cumprod.to(latents.device)[int(t)].float()
    sa, s1a = a.sqrt(), (1.0 - a).sqrt()
    x0 = (latents.float() - s1a * eps.float()) / sa
    return (latents.float() - sa * guide(x0).float()) / s1a


def build_identity_guide(model, reference_images: torch.Tensor, scale: float) -> IdentityGuide | None:
    """The guide for a :class:`~tfgnet_desk.model.tfgnet.TFGNet` and the restored face(s), or ``None``
    when ``scale`` is 0."""
    from tfgnet_desk.model import embed

    if scale <= 0:
        return None
    enc = model.image_encoder

    def features(images: torch.Tensor) -> torch.Tensor:
        return embed.image_features(enc, images.to(model.device))[0]

    with torch.no_grad():
        ref = features(reference_images.to(model.device, model.dtype)).mean(0, keepdim=True)
    return IdentityGuide(
        decode=model.generator.decode_differentiable, embed=features, reference=ref, scale=float(scale)
    )
