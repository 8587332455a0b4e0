"""The ops of the TF.js graph executor (``tfjs_graph.py``): each takes a GraphDef node and its input values
and returns a value. Four-dimensional activations travel as NCHW (``Val.nchw``); ops that care about axes
translate TF's NHWC axes, everything else sees TF's own layout. ``OPS`` maps TF op names to them.

TF's ``SAME`` padding is asymmetric when the total padding is odd: the extra pixel goes bottom/right.
``_pad_same`` reproduces that exactly, so outputs match TF's to float precision.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


class GraphError(ValueError):
    """The graph uses something this executor does not implement, or its files are inconsistent."""


def attr(node: Mapping, key: str, default: Any = None) -> Any:
    """The value of a GraphDef attr in its JSON form (strings are base64)."""
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "s" in a:
        return base64.b64decode(a["s"]).decode("ascii")
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    if "list" in a:
        lst = a["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(v).decode("ascii") for v in lst["s"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        return []
    if "type" in a:
        return a["type"]
    return default


# --- values: 4-D activations travel as NCHW ------------------------------------------------------


@dataclass
class Val:
    t: torch.Tensor
    nchw: bool = False  # True: a 4-D tensor held as NCHW that TF sees as NHWC

    def tf(self) -> torch.Tensor:
        return self.t.permute(0, 2, 3, 1) if self.nchw else self.t


_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


def _broadcast_partner(const: torch.Tensor) -> torch.Tensor:
    """A TF-layout operand that broadcasts against an NHWC activation, rearranged for NCHW."""
    if const.dim() == 0:
        return const
    if const.dim() == 4:
        return const.permute(0, 3, 1, 2)
    if const.dim() == 1:
        return const.view(1, -1, 1, 1)
    if const.dim() in (2, 3):  # (W, C) or (H, W, C): right-aligned against (H, W, C)
        c = const.reshape((1,) * (4 - const.dim()) + tuple(const.shape))
        return c.permute(0, 3, 1, 2)
    raise GraphError(f"cannot broadcast a {const.dim()}-D operand against an activation")


def _binary(a: Val, b: Val, fn: Any) -> Val:
    if a.nchw and b.nchw:
        return Val(fn(a.t, b.t), True)
    if a.nchw:
        return Val(fn(a.t, _broadcast_partner(b.t)), True)
    if b.nchw:
        return Val(fn(_broadcast_partner(a.t), b.t), True)
    return Val(fn(a.t, b.t), False)


def _pad_same(x: torch.Tensor, kh: int, kw: int, sh: int, sw: int, dh: int = 1, dw: int = 1) -> torch.Tensor:
    """TF 'SAME' padding of an NCHW tensor (the odd pixel goes bottom/right)."""
    h, w = x.shape[-2:]

    def total(size: int, k: int, s: int, d: int) -> int:
        out = -(-size // s)
        return max((out - 1) * s + (k - 1) * d + 1 - size, 0)

    ph, pw = total(h, kh, sh, dh), total(w, kw, sw, dw)
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def _strides(node: Mapping, key: str = "strides") -> tuple[int, int]:
    s = attr(node, key, [1, 1, 1, 1])
    if attr(node, "data_format", "NHWC") != "NHWC":
        raise GraphError(f"{node['name']}: only NHWC graphs are supported")
    return int(s[1]), int(s[2])


def _activation(x: torch.Tensor, op: str, node: Mapping, extra: list[torch.Tensor]) -> torch.Tensor:
    if op == "Relu":
        return F.relu(x)
    if op == "Relu6":
        return torch.clamp(x, 0.0, 6.0)
    if op == "LeakyRelu":
        return F.leaky_relu(x, float(attr(node, "leakyrelu_alpha", 0.2)))
    if op == "Elu":
        return F.elu(x)
    if op == "Sigmoid":
        return torch.sigmoid(x)
    if op == "Tanh":
        return torch.tanh(x)
    if op == "Prelu":
        alpha = _broadcast_partner(extra[0]) if x.dim() == 4 else extra[0]
        return torch.where(x >= 0, x, x * alpha)
    raise GraphError(f"{node['name']}: unsupported fused activation {op!r}")


def _conv2d(node: Mapping, args: list[Val], fused: bool = False) -> Val:
    x, k = args[0], args[1].t
    if not x.nchw:
        raise GraphError(f"{node['name']}: convolution input is not an image")
    sh, sw = _strides(node)
    dil = attr(node, "dilations", [1, 1, 1, 1])
    dh, dw = int(dil[1]), int(dil[2])
    kh, kw = k.shape[0], k.shape[1]
    weight = k.permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
    t, pad = _padded(node, x.t, kh, kw, sh, sw, dh, dw)
    t = t.contiguous(memory_format=torch.channels_last)  # oneDNN's fast path on CPU
    y = F.conv2d(t, weight, stride=(sh, sw), padding=pad, dilation=(dh, dw))
    return _fused_tail(node, y, args) if fused else Val(y, True)


def _depthwise(node: Mapping, args: list[Val], fused: bool = False) -> Val:
    x, k = args[0], args[1].t
    sh, sw = _strides(node)
    dil = attr(node, "dilations", [1, 1, 1, 1])
    dh, dw = int(dil[1]), int(dil[2])
    kh, kw, cin, mult = k.shape
    weight = k.reshape(kh, kw, cin * mult).permute(2, 0, 1).unsqueeze(1).contiguous()
    t, pad = _padded(node, x.t, kh, kw, sh, sw, dh, dw)
    t = t.contiguous(memory_format=torch.channels_last)
    y = F.conv2d(t, weight, stride=(sh, sw), padding=pad, dilation=(dh, dw), groups=int(cin))
    return _fused_tail(node, y, args) if fused else Val(y, True)


def _padded(
    node: Mapping, t: torch.Tensor, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int
) -> tuple[torch.Tensor, tuple[int, int]]:
    """(input, symmetric padding for conv2d): symmetric padding is left to the convolution (fast path);
    TF's asymmetric 'SAME' remainder is padded explicitly."""
    padding = attr(node, "padding", "VALID")
    if padding == "SAME":
        h, w = t.shape[-2:]
        ph = max((-(-h // sh) - 1) * sh + (kh - 1) * dh + 1 - h, 0)
        pw = max((-(-w // sw) - 1) * sw + (kw - 1) * dw + 1 - w, 0)
        if ph % 2 == 0 and pw % 2 == 0:
            return t, (ph // 2, pw // 2)
        return _pad_same(t, kh, kw, sh, sw, dh, dw), (0, 0)
    if padding == "EXPLICIT":
        p = attr(node, "explicit_paddings", [])
        return F.pad(t, (p[4], p[5], p[2], p[3])), (0, 0)
    if padding == "VALID":
        return t, (0, 0)
    raise GraphError(f"{node['name']}: padding {padding!r}")


def _fused_tail(node: Mapping, y: torch.Tensor, args: list[Val]) -> Val:
    ops = attr(node, "fused_ops", [])
    extra = [a.t for a in args[2:]]
    for op in ops:
        if op == "BiasAdd":
            y = y + _broadcast_partner(extra.pop(0)) if y.dim() == 4 else y + extra.pop(0)
        elif op == "FusedBatchNorm":
            raise GraphError(f"{node['name']}: FusedBatchNorm inside a fused op is not supported")
        else:
            y = _activation(y, op, node, extra)
    return Val(y, y.dim() == 4)


def _matmul(node: Mapping, args: list[Val], fused: bool = False) -> Val:
    a, b = args[0].tf(), args[1].tf()
    if attr(node, "transpose_a", False):
        a = a.transpose(-1, -2)
    if attr(node, "transpose_b", False):
        b = b.transpose(-1, -2)
    y = a @ b
    return _fused_tail(node, y, args) if fused else Val(y)


def _reduce(fn: Any) -> Any:
    def op(node: Mapping, args: list[Val]) -> Val:
        x, axes = args[0], args[1].t.reshape(-1).tolist()
        keep = bool(attr(node, "keep_dims", False))
        if x.nchw:
            axes = [_NHWC_TO_NCHW_AXIS[a % 4] for a in axes]
            y = fn(x.t, axes, keep)
            return Val(y, keep)
        ndim = x.t.dim()
        return Val(fn(x.t, [a % ndim for a in axes], keep))

    return op


def _max_reduce(t: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    for a in sorted(axes, reverse=True):
        t = t.amax(dim=a, keepdim=keep)
    return t


def _maxpool(node: Mapping, args: list[Val]) -> Val:
    x = args[0]
    k = attr(node, "ksize", [1, 1, 1, 1])
    sh, sw = _strides(node)
    t = x.t
    if attr(node, "padding", "VALID") == "SAME":
        # TF ignores padded cells in max pooling: pad with -inf, not zeros.
        t = _pad_same_value(t, k[1], k[2], sh, sw, float("-inf"))
    return Val(F.max_pool2d(t, (k[1], k[2]), (sh, sw)), True)


def _pad_same_value(x: torch.Tensor, kh: int, kw: int, sh: int, sw: int, value: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph = max((-(-h // sh) - 1) * sh + kh - h, 0)
    pw = max((-(-w // sw) - 1) * sw + kw - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)


def _pad(node: Mapping, args: list[Val]) -> Val:
    x, p = args[0], args[1].t.reshape(-1, 2).tolist()
    value = float(args[2].t) if len(args) > 2 else 0.0
    if x.nchw:
        (n0, n1), (h0, h1), (w0, w1), (c0, c1) = p
        return Val(F.pad(x.t, (w0, w1, h0, h1, c0, c1, n0, n1), value=value), True)
    flat: list[int] = []
    for before, after in reversed(p):
        flat += [before, after]
    return Val(F.pad(x.t, flat, value=value))


def _reshape(node: Mapping, args: list[Val]) -> Val:
    shape = [int(s) for s in args[1].t.reshape(-1).tolist()]
    return Val(args[0].tf().reshape(shape))


def _squeeze(node: Mapping, args: list[Val]) -> Val:
    t = args[0].tf()
    dims = attr(node, "squeeze_dims", []) or [i for i, s in enumerate(t.shape) if s == 1]
    for d in sorted((d % t.dim() for d in dims), reverse=True):
        t = t.squeeze(d)
    return Val(t)


def _unary(fn: Any) -> Any:
    return lambda node, args: Val(fn(args[0].t), args[0].nchw)


def _softmax(node: Mapping, args: list[Val]) -> Val:
    x = args[0]
    return Val(torch.softmax(x.t, dim=1 if x.nchw else -1), x.nchw)


def _bias_add(node: Mapping, args: list[Val]) -> Val:
    return _binary(args[0], args[1], torch.add)


def _concat(node: Mapping, args: list[Val]) -> Val:
    axis = int(args[-1].t.reshape(-1)[0])
    parts = args[:-1]
    if all(p.nchw for p in parts):
        return Val(torch.cat([p.t for p in parts], dim=_NHWC_TO_NCHW_AXIS[axis % 4]), True)
    ts = [p.tf() for p in parts]
    return Val(torch.cat(ts, dim=axis % ts[0].dim()))


OPS: dict[str, Any] = {
    "Conv2D": _conv2d,
    "_FusedConv2D": lambda n, a: _conv2d(n, a, fused=True),
    "DepthwiseConv2dNative": _depthwise,
    "FusedDepthwiseConv2dNative": lambda n, a: _depthwise(n, a, fused=True),
    "MatMul": _matmul,
    "_FusedMatMul": lambda n, a: _matmul(n, a, fused=True),
    "BiasAdd": _bias_add,
    "Add": lambda n, a: _binary(a[0], a[1], torch.add),
    "AddV2": lambda n, a: _binary(a[0], a[1], torch.add),
    "Sub": lambda n, a: _binary(a[0], a[1], torch.sub),
    "Mul": lambda n, a: _binary(a[0], a[1], torch.mul),
    "RealDiv": lambda n, a: _binary(a[0], a[1], torch.div),
    "Maximum": lambda n, a: _binary(a[0], a[1], torch.maximum),
    "Minimum": lambda n, a: _binary(a[0], a[1], torch.minimum),
    "Relu": _unary(F.relu),
    "Relu6": _unary(lambda t: torch.clamp(t, 0.0, 6.0)),
    "Sigmoid": _unary(torch.sigmoid),
    "Tanh": _unary(torch.tanh),
    "Abs": _unary(torch.abs),
    "Square": _unary(torch.square),
    "Sqrt": _unary(torch.sqrt),
    "Rsqrt": _unary(torch.rsqrt),
    "Neg": _unary(torch.neg),
    "Identity": _unary(lambda t: t),
    "Softmax": _softmax,
    "Mean": _reduce(lambda t, axes, keep: t.mean(dim=axes, keepdim=keep)),
    "Sum": _reduce(lambda t, axes, keep: t.sum(dim=axes, keepdim=keep)),
    "Max": _reduce(_max_reduce),
    "MaxPool": _maxpool,
    "Pad": _pad,
    "PadV2": _pad,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "ConcatV2": _concat,
}

SUPPORTED_OPS = frozenset(OPS) | {"Const", "Placeholder"}
