"""The TF.js graph executor against numpy implementations of TensorFlow's semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.tfjs_fakes import conv2d_nhwc, depthwise_nhwc, manifest, node
from tfgnet_desk.faces.tfjs_graph import GraphError, TFJSGraph, decode_weights


def _run(nodes, weights, x, outputs, quantize=None):
    man, blob = manifest(weights, quantize)
    decoded = decode_weights(man, lambda p: blob)
    graph = TFJSGraph([node("x", "Placeholder"), *nodes], decoded, ["x"], outputs)
    with torch.no_grad():
        out = graph(torch.from_numpy(x.astype(np.float32)))
    return {k: v.numpy() for k, v in out.items()}, decoded


def test_decode_weights_float32_float16_uint8_int32():
    w = {
        "a": np.array([[1.5, -2.25]], np.float32),
        "b": np.array([0.1, 0.2, 0.3], np.float32),
        "c": np.linspace(-1, 1, 7).astype(np.float32),
        "d": np.array([1, 2], np.int32),
    }
    man, blob = manifest(w, quantize={"b": "float16", "c": "uint8"})
    out = decode_weights(man, lambda p: blob)
    np.testing.assert_array_equal(out["a"], w["a"])
    np.testing.assert_allclose(out["b"], w["b"], atol=1e-3)
    np.testing.assert_allclose(out["c"], w["c"], atol=2 / 255)
    assert out["d"].dtype == np.int32 and out["d"].tolist() == [1, 2]
    man[0]["weights"][0]["shape"] = [1, 3]  # the manifest now describes more bytes than the shard holds
    with pytest.raises((GraphError, ValueError)):
        decode_weights(man, lambda p: blob)


@pytest.mark.parametrize("size,stride", [(6, 2), (7, 2), (5, 1), (8, 2)])
def test_conv2d_same_padding_matches_tensorflow(size, stride):
    """Odd total padding (6 px, stride 2) puts the extra pixel bottom/right, as TF does."""
    rng = np.random.default_rng(size)
    x = rng.normal(size=(2, size, size, 3))
    k = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    out, _ = _run(
        [node("k", "Const"), node("y", "Conv2D", ["x", "k"], padding="SAME", strides=[1, stride, stride, 1])],
        {"k": k},
        x,
        ["y"],
    )
    np.testing.assert_allclose(out["y"], conv2d_nhwc(x, k, stride, "SAME"), rtol=1e-4, atol=1e-4)


def test_asymmetric_padding_differs_from_symmetric():
    """Guard against a symmetric-padding implementation: it would shift the output by a pixel."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 6, 6, 1))
    k = rng.normal(size=(3, 3, 1, 1)).astype(np.float32)
    tf_like = conv2d_nhwc(x, k, 2, "SAME")
    sym = conv2d_nhwc(np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), k, 2, "VALID")[:, :3, :3]
    assert not np.allclose(tf_like, sym)
    out, _ = _run(
        [node("k", "Const"), node("y", "Conv2D", ["x", "k"], padding="SAME", strides=[1, 2, 2, 1])],
        {"k": k},
        x,
        ["y"],
    )
    np.testing.assert_allclose(out["y"], tf_like, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride,mult", [(1, 1), (2, 1), (2, 2)])
def test_depthwise_matches_tensorflow(stride, mult):
    rng = np.random.default_rng(stride + mult)
    x = rng.normal(size=(2, 7, 7, 3))
    k = rng.normal(size=(3, 3, 3, mult)).astype(np.float32)
    out, _ = _run(
        [
            node("k", "Const"),
            node("y", "DepthwiseConv2dNative", ["x", "k"], padding="SAME", strides=[1, stride, stride, 1]),
        ],
        {"k": k},
        x,
        ["y"],
    )
    np.testing.assert_allclose(out["y"], depthwise_nhwc(x, k, stride), rtol=1e-4, atol=1e-4)


def test_mobilenet_block_ops():
    """BN as Mul/Add with per-channel constants, ReLU6 as Relu/Minimum/Maximum, global mean, fused
    matmul with bias and ReLU, sigmoid and softmax heads: the faceres op set."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 5, 4)) * 4
    w = {
        "scale": rng.normal(size=(4,)).astype(np.float32),
        "shift": rng.normal(size=(4,)).astype(np.float32),
        "six": np.array(6.0, np.float32),
        "zero": np.array(0.0, np.float32),
        "axes": np.array([1, 2], np.int32),
        "fc": rng.normal(size=(4, 3)).astype(np.float32),
        "fcb": rng.normal(size=(3,)).astype(np.float32),
    }
    nodes = [node(k, "Const") for k in w] + [
        node("m", "Mul", ["x", "scale"]),
        node("a", "Add", ["m", "shift"]),
        node("r", "Relu", ["a"]),
        node("mn", "Minimum", ["r", "six"]),
        node("mx", "Maximum", ["mn", "zero"]),
        node("pool", "Mean", ["mx", "axes"]),
        node("fcr", "_FusedMatMul", ["pool", "fc", "fcb"], fused_ops=["BiasAdd", "Relu"]),
        node("sig", "Sigmoid", ["fcr"]),
        node("soft", "Softmax", ["fcr"]),
    ]
    out, _ = _run(nodes, w, x, ["sig", "soft", "pool"])
    act = np.clip(x * w["scale"] + w["shift"], 0, 6)
    pool = act.mean(axis=(1, 2))
    fc = np.maximum(pool @ w["fc"] + w["fcb"], 0)
    np.testing.assert_allclose(out["pool"], pool, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["sig"], 1 / (1 + np.exp(-fc)), rtol=1e-5, atol=1e-6)
    e = np.exp(fc - fc.max(1, keepdims=True))
    np.testing.assert_allclose(out["soft"], e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_reshape_squeeze_pad_maxpool_see_tensorflow_layout():
    x = np.arange(2 * 4 * 4 * 3, dtype=np.float64).reshape(2, 4, 4, 3)
    w = {"shape": np.array([2, -1], np.int32), "pads": np.array([[0, 0], [1, 0], [0, 1], [0, 0]], np.int32)}
    nodes = [node(k, "Const") for k in w] + [
        node("flat", "Reshape", ["x", "shape"]),
        node("padded", "Pad", ["x", "pads"]),
        node("pool", "MaxPool", ["x"], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID"),
    ]
    out, _ = _run(nodes, w, x, ["flat", "padded", "pool"])
    np.testing.assert_array_equal(out["flat"], x.reshape(2, -1))
    np.testing.assert_array_equal(out["padded"], np.pad(x, ((0, 0), (1, 0), (0, 1), (0, 0))))
    np.testing.assert_array_equal(out["pool"], x.reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4)))


def test_unknown_op_and_missing_input_are_refused():
    with pytest.raises(GraphError, match="not implemented"):
        TFJSGraph([node("x", "Placeholder"), node("y", "Erf", ["x"])], {}, ["x"], ["y"])
    with pytest.raises(GraphError, match="unknown node"):
        TFJSGraph([node("x", "Placeholder"), node("y", "Relu", ["nope"])], {}, ["x"], ["y"])


def test_gradients_reach_the_input():
    rng = np.random.default_rng(0)
    k = rng.normal(size=(3, 3, 2, 2)).astype(np.float32)
    man, blob = manifest({"k": k, "axes": np.array([1, 2], np.int32)})
    graph = TFJSGraph(
        [
            node("x", "Placeholder"),
            node("k", "Const"),
            node("axes", "Const"),
            node("c", "Conv2D", ["x", "k"], padding="SAME", strides=[1, 2, 2, 1]),
            node("m", "Mean", ["c", "axes"]),
        ],
        decode_weights(man, lambda p: blob),
        ["x"],
        ["m"],
    )
    x = torch.randn(1, 6, 6, 2, requires_grad=True)
    graph(x)["m"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in graph.parameters())
