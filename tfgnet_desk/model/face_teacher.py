"""faceres as a training teacher: identity loss, perceptual loss on its features, attribute logits.

Face restorers of the field train with an identity loss from a pretrained recognition network and a
perceptual loss from a pretrained CNN. Here both come from faceres (``tfgnet_desk.faces.faceres``):

- **identity loss**: ``1 - cos(faceres(pred), faceres(target))`` on the 1024-d identity features, the
  target's features held fixed;
- **perceptual loss (faceres features)**: mean squared distance of intermediate MobileNet activations
  (``conv_pw_{1,3,5,11,13}``), each divided by the target activation's mean square so that the layers
  weigh alike; named for what it is, it is not the paper's VGG19 loss (whose weights are not available
  offline);
- **attribute logits** of the probes (``tfgnet_desk.faces.attributes``), for an auxiliary text signal.

Rule (DESIGN.md): a network that teaches the model never grades it. Whatever this module teaches is
reported as a faceres figure; dlib stays the Face Sim of record.

Images are in the project's training frame (``tfgnet_desk.data.crops``: eye midpoint at (0.491, 0.300)
of the side, inter-ocular distance 0.393 of the side), values in [-1, 1]. They are warped differentiably
(``affine_grid`` / ``grid_sample``) onto faceres's ArcFace-template crop at ``size`` px; pixels from
outside the frame are zero (black), as in ``align_face(..., border="constant")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfgnet_desk.data.crops import EYE_MIDPOINT, INTER_OCULAR
from tfgnet_desk.faces.align import arcface_template

DEFAULT_TAPS: tuple[str, ...] = tuple(f"conv_pw_{i}_relu/clip_by_value" for i in (1, 3, 5, 11, 13))


def crop_to_arcface_theta(
    eye_midpoint: tuple[float, float] = EYE_MIDPOINT, inter_ocular: float = INTER_OCULAR
) -> Tensor:
    """``affine_grid`` theta (1, 2, 3) taking faceres's crop (output) to the training frame (input).

    Fitted on the two eye centres (a similarity: rotation, scale, shift), in normalised coordinates of
    ``align_corners=False``, so it holds for any input and output size.
    """
    arc = arcface_template(1.0).astype(np.float64)  # fractions of the side
    out1, out2 = complex(*arc[0]), complex(*arc[1])
    mx, my = eye_midpoint
    in1, in2 = complex(mx - inter_ocular / 2, my), complex(mx + inter_ocular / 2, my)
    a = (in2 - in1) / (out2 - out1)
    b = in1 - a * out1
    one = complex(1, 1)  # normalised n = 2 z - (1 + i) on both axes at once
    c = a * one + 2 * b - one  # n_in = a n_out + a (1 + i) + 2 b - (1 + i)
    theta = [[a.real, -a.imag, c.real], [a.imag, a.real, c.imag]]
    return torch.tensor([theta], dtype=torch.float32)


def warp_to_arcface(x: Tensor, theta: Tensor, size: int) -> Tensor:
    """Training-frame images (N, 3, H, W) in [-1, 1] -> faceres's ArcFace crop (N, 3, size, size) in [0, 1]
    (``theta`` from :func:`crop_to_arcface_theta`; black outside the frame)."""
    theta = theta.to(dtype=x.dtype).expand(x.shape[0], 2, 3)
    grid = F.affine_grid(theta, [x.shape[0], 3, size, size], align_corners=False)
    return F.grid_sample((x + 1) / 2, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class FaceResTeacher(nn.Module):
    """Frozen faceres on training-frame images in [-1, 1]; see the module docstring.

    ``size``: the side faceres sees (224 as published; smaller is cheaper and loses identity detail:
    measure before lowering it).
    """

    def __init__(
        self,
        net=None,
        *,
        size: int = 224,
        taps: Sequence[str] = DEFAULT_TAPS,
        layer_weights: Sequence[float] | None = None,
        probes=None,
    ) -> None:
        super().__init__()
        if net is None:
            from tfgnet_desk.faces.faceres import FaceResNet

            net = FaceResNet.load()
        self.graph = net.graph
        self.graph.requires_grad_(False)
        self.graph.eval()
        self.size = int(size)
        self.taps = tuple(taps)
        weights = list(layer_weights) if layer_weights is not None else [1.0] * len(self.taps)
        if len(weights) != len(self.taps):
            raise ValueError(f"{len(self.taps)} taps but {len(weights)} layer weights")
        self.layer_weights = weights
        self.probes = probes
        self.register_buffer("theta", crop_to_arcface_theta(), persistent=False)

    def train(self, mode: bool = True) -> FaceResTeacher:
        """The teacher always stays in eval mode."""
        super().train(mode)
        self.graph.eval()
        return self

    def align(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) in [-1, 1], training frame -> (N, 3, size, size) in [0, 1], ArcFace crop."""
        return warp_to_arcface(x, self.theta, self.size)

    def features(self, x: Tensor, taps: Sequence[str] = ()) -> dict[str, Tensor]:
        """``identity`` (N, 1024) and the tap activations (NHWC) of training-frame images."""
        out = self.graph((self.align(x) * 255.0).permute(0, 2, 3, 1), taps=tuple(taps))
        out["identity"] = out["global_pooling/Mean"]
        return out

    def identity_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Mean of ``1 - cos`` between the identity features of ``pred`` and (fixed) ``target``."""
        return self(pred, target, perceptual=False)["identity"]

    def forward(self, pred: Tensor, target: Tensor, perceptual: bool = True) -> dict[str, Tensor]:
        """One pass for both losses: ``{"identity": ..., "perceptual": ...}`` (scalars)."""
        taps = self.taps if perceptual else ()
        fp = self.features(pred, taps)
        with torch.no_grad():
            ft = self.features(target, taps)
        out = {"identity": (1 - F.cosine_similarity(fp["identity"], ft["identity"], dim=-1)).mean()}
        if perceptual:
            total = pred.new_zeros(())
            for w, name in zip(self.layer_weights, self.taps, strict=True):
                scale = ft[name].pow(2).mean().clamp_min(1e-6)
                total = total + w * F.mse_loss(fp[name], ft[name]) / scale
            out["perceptual"] = total
        return out

    def weighted_terms(
        self, pred: Tensor, target: Tensor, weights: dict[str, float]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``weights['identity'] * identity + weights['perceptual'] * perceptual`` (the perceptual pass
        only when its weight is positive) and the logged parts ``id_faceres`` / ``perceptual_faceres``."""
        taught = self(pred, target, perceptual=weights.get("perceptual", 0.0) > 0)
        loss = weights.get("identity", 0.0) * taught["identity"]
        parts = {"id_faceres": taught["identity"].detach()}
        if "perceptual" in taught:
            loss = loss + weights["perceptual"] * taught["perceptual"]
            parts["perceptual_faceres"] = taught["perceptual"].detach()
        return loss, parts

    def attribute_logits(self, x: Tensor) -> Tensor:
        """(N, A) probe logits (``probes.attributes`` order) of training-frame images."""
        if self.probes is None:
            raise ValueError("no attribute probes given to the teacher")
        return self.probes.logits_torch(self.features(x)["identity"])
