"""LPIPS (Zhang et al. 2018, "The unreasonable effectiveness of deep features as a perceptual metric").

The reference definition, version 0.1: inputs in [-1, 1] pass a fixed scaling layer, then a feature
network; each layer's activations are unit-normalised along channels; the squared differences are
weighted per channel by the learned linear layers ``lin0..lin4`` (1x1 conv, no bias), averaged over
space and summed over layers. LPIPS of an image with itself is 0.

``AlexNetFeatures`` is torchvision's AlexNet ``features`` (written here because torchvision cannot be
imported), tapped after relu1..relu5 as the reference does. ``lpips_from_features`` is the formula on
its own, so that a fallback backbone can use it with uniform weights (the reference's ``lpips=False``
"baseline" variant), labelled as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
ALEX_CHANNELS = (64, 192, 384, 256, 256)
EPS = 1e-10


class AlexNetFeatures(nn.Module):
    """torchvision AlexNet ``features`` with the relu1..relu5 taps LPIPS uses."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.taps = (1, 4, 7, 9, 11)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


class NetLinLayer(nn.Module):
    """The learned per-channel weight: (Dropout,) 1x1 conv to one channel, no bias (key ``model.1``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))


def normalize_tensor(x: torch.Tensor) -> torch.Tensor:
    return x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + EPS)


def lpips_from_features(
    feats0: Sequence[torch.Tensor], feats1: Sequence[torch.Tensor], lins: Sequence[nn.Module] | None = None
) -> torch.Tensor:
    """The LPIPS sum over layers; ``lins=None`` is the unweighted baseline (channel sum). -> (B,)"""
    total = None
    for k, (f0, f1) in enumerate(zip(feats0, feats1, strict=True)):
        diff = (normalize_tensor(f0) - normalize_tensor(f1)) ** 2
        weighted = lins[k].model(diff) if lins is not None else diff.sum(dim=1, keepdim=True)
        value = weighted.mean(dim=(2, 3)).flatten()
        total = value if total is None else total + value
    assert total is not None
    return total


class LPIPSAlex(nn.Module):
    """LPIPS v0.1 with AlexNet and its linear calibration layers."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE)[None, :, None, None])
        self.net = AlexNetFeatures()
        self.lins = nn.ModuleList(NetLinLayer(c) for c in ALEX_CHANNELS)

    @torch.no_grad()
    def forward(self, in0: torch.Tensor, in1: torch.Tensor) -> torch.Tensor:
        """``in0``, ``in1``: (B, 3, H, W) in [-1, 1] -> (B,) distances."""
        f0 = self.net((in0 - self.shift) / self.scale)
        f1 = self.net((in1 - self.shift) / self.scale)
        return lpips_from_features(f0, f1, list(self.lins))


def load_lpips_alex(alexnet_path: Path, lin_path: Path) -> LPIPSAlex:
    """AlexNet weights with torchvision keys (``features.N.*``; ``classifier.*`` ignored) and the LPIPS
    linear layers with the reference keys (``lin0.model.1.weight`` .. ``lin4.model.1.weight``)."""
    from safetensors.torch import load_file

    model = LPIPSAlex()
    alex = {k: v for k, v in load_file(str(alexnet_path)).items() if k.startswith("features.")}
    model.net.load_state_dict(alex, strict=True)
    lin = load_file(str(lin_path))
    for k in range(len(ALEX_CHANNELS)):
        key = f"lin{k}.model.1.weight"
        if key not in lin:
            raise ValueError(f"{lin_path}: missing {key}")
        model.lins[k].model[1].weight.data.copy_(lin[key])
    return model.eval()


def to_lpips_input(images: Sequence, size: int | None = None) -> torch.Tensor:
    """RGB uint8 images -> (B, 3, H, W) float in [-1, 1], optionally resized (bilinear)."""
    import numpy as np

    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if size is not None and x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x
