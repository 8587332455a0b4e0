"""Perceptual loss (paper eq. 1, L_per = ||Phi(I_h) - Phi(I_re)||^2) with a pluggable feature network.

Phi is VGG19's convolutional trunk when its weights are in the model folder
(``<model folder>/vgg19/model.safetensors``, torchvision key names ``features.N.weight``/``.bias``;
other keys such as ``classifier.*`` are ignored). torchvision is not importable here, so the trunk is
defined below with the same indices. Nothing is ever downloaded.

When the weights are absent, the loss says so (a ``UserWarning`` and ``backend =
'none: VGG19 weights not found in <path>'``) and falls back to a labelled, weight-free substitute
(``fallback = 'pyramid-sobel-l1'``): L1 over a 4-level average-pooled image pyramid plus L1 between
Sobel gradient maps at each level. It is not a perceptual loss in the learned-feature sense, but it
rewards edges and local structure, so tiny training works with no downloaded weights.

Any other feature network can be plugged in via ``feature_net`` (a module returning a list of feature
maps); its layer weights are then ``layer_weights`` in order.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# torchvision's vgg19 'E' configuration: channel counts, "M" = max-pool
VGG19_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
)
# basicsr names -> index of that conv in ``features`` (features are taken before the ReLU)
VGG19_LAYERS = {"conv1_2": 2, "conv2_2": 7, "conv3_4": 16, "conv4_4": 25, "conv5_4": 34}
# basicsr's usual VGG19 perceptual weights (Real-ESRGAN configs); CodeFormer's own configs use LPIPS
DEFAULT_LAYER_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_FILE = Path("vgg19") / "model.safetensors"
FALLBACK_NAME = "pyramid-sobel-l1"


class VGG19Features(nn.Module):
    """VGG19's ``features`` trunk (torchvision key names) returning the conv outputs at ``taps``.

    Only the layers up to the deepest tap are run. Inputs are images in [-1, 1]; ImageNet
    normalisation happens inside.
    """

    def __init__(self, taps: Sequence[int] = tuple(VGG19_LAYERS.values())) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(ch, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                ch = int(v)
        self.features = nn.Sequential(*layers)
        self.taps = sorted(taps)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = ((x + 1.0) * 0.5 - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
                if i == self.taps[-1]:
                    break
        return out


def load_vgg19(path: Path, taps: Sequence[int] = tuple(VGG19_LAYERS.values())) -> VGG19Features:
    """Load ``features.*`` from a safetensors file into :class:`VGG19Features`; clear error on mismatch."""
    from safetensors.torch import load_file

    net = VGG19Features(taps)
    tensors = load_file(str(path))
    state = {k: v for k, v in tensors.items() if k.startswith("features.")}
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path} is not a torchvision-layout VGG19: missing {missing[:4]}, unexpected {unexpected[:4]}, "
            f"wrong shapes {wrong[:4]}"
        )
    net.load_state_dict(state, strict=True)
    return net


def sobel_gradients(x: Tensor) -> Tensor:
    """Per-channel horizontal and vertical Sobel responses, (B, 2C, H, W)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    kernel = torch.stack([kx, kx.t()]).unsqueeze(1)  # 2, 1, 3, 3
    c = x.shape[1]
    kernel = kernel.repeat(c, 1, 1, 1)  # 2C, 1, 3, 3
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)


def pyramid_sobel_l1(pred: Tensor, target: Tensor, levels: int = 4) -> Tensor:
    """Weight-free fallback: mean over pyramid levels of L1(image) + L1(Sobel gradients)."""
    total = pred.new_zeros(())
    for level in range(levels):
        if level:
            if min(pred.shape[-2:]) < 2:
                break
            pred, target = F.avg_pool2d(pred, 2), F.avg_pool2d(target, 2)
        total = total + F.l1_loss(pred, target) + F.l1_loss(sobel_gradients(pred), sobel_gradients(target))
    return total / levels


class PerceptualLoss(nn.Module):
    """``loss(pred, target)`` on images in [-1, 1]; see the module docstring for the backends.

    ``backend`` is ``'vgg19: <file>'``, ``'custom: <class>'`` or ``'none: VGG19 weights not found in
    <path>'``; in the last case ``fallback`` names the substitute loss actually computed.
    ``criterion`` is ``'l2'`` (the paper's squared L2 on features) or ``'l1'`` (basicsr's default).
    """

    def __init__(
        self,
        model_dir: Path | str | None = None,
        *,
        feature_net: nn.Module | None = None,
        layer_weights: dict[str, float] | Sequence[float] | None = None,
        criterion: str = "l2",
        warn: bool = True,
    ) -> None:
        super().__init__()
        if criterion not in ("l1", "l2"):
            raise ValueError(f"criterion must be 'l1' or 'l2', not {criterion!r}")
        self.criterion = criterion
        self.fallback: str | None = None
        self.net: nn.Module | None = None
        if feature_net is not None:
            self.net = feature_net
            self.backend = f"custom: {type(feature_net).__name__}"
            self.weights = (
                list(layer_weights or [])
                if not isinstance(layer_weights, dict)
                else list(layer_weights.values())
            )
        else:
            named = dict(DEFAULT_LAYER_WEIGHTS if layer_weights is None else layer_weights)
            unknown = set(named) - set(VGG19_LAYERS)
            if unknown:
                raise ValueError(f"unknown VGG19 layers {sorted(unknown)}; known: {sorted(VGG19_LAYERS)}")
            ordered = sorted(named, key=VGG19_LAYERS.__getitem__)
            self.weights = [named[k] for k in ordered]
            path = Path(model_dir) / VGG19_FILE if model_dir is not None else None
            if path is not None and path.is_file():
                self.net = load_vgg19(path, [VGG19_LAYERS[k] for k in ordered])
                self.backend = f"vgg19: {path}"
            else:
                where = path if path is not None else "<no model folder given>"
                self.backend = f"none: VGG19 weights not found in {where}"
                self.fallback = FALLBACK_NAME
                if warn:
                    warnings.warn(
                        f"Perceptual loss: {self.backend}; using the weight-free fallback "
                        f"'{FALLBACK_NAME}' (L1 on an image pyramid and Sobel gradients) instead of VGG19.",
                        UserWarning,
                        stacklevel=2,
                    )
        if self.net is not None:
            self.net.eval()
            for p in self.net.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """The feature network always stays in eval mode."""
        super().train(mode)
        if self.net is not None:
            self.net.eval()
        return self

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if self.net is None:
            return pyramid_sobel_l1(pred, target)
        feats_pred = self.net(pred)
        with torch.no_grad():
            feats_target = self.net(target)
        weights = self.weights or [1.0] * len(feats_pred)
        if len(weights) != len(feats_pred):
            raise ValueError(f"{len(feats_pred)} feature maps but {len(weights)} layer weights")
        dist = F.mse_loss if self.criterion == "l2" else F.l1_loss
        total = pred.new_zeros(())
        for w, fp, ft in zip(weights, feats_pred, feats_target, strict=True):
            total = total + w * dist(fp, ft)
        return total
