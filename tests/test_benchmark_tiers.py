"""``build-benchmark --tier``: the a1 tier unchanged, the surveillance tier, landmarks in meta.json.

Tests marked ``data`` build small benchmarks from the real face data and skip without it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tfgnet_desk.data import load_face, load_records
from tfgnet_desk.data.__main__ import build_parser, main
from tfgnet_desk.data.benchmark import TIERS, build_benchmark, degrade_case
from tfgnet_desk.data.crops import EYE_MIDPOINT, INTER_OCULAR
from tfgnet_desk.degrade import (
    SURVEILLANCE_FACE_WIDTH_RANGE,
    SurveillanceParams,
    apply_surveillance,
    sample_surveillance_params,
)
from tfgnet_desk.imaging import load_image
from tfgnet_desk.selftest import synthetic_face

# sha256 over (relative path, bytes) of every file of `build-benchmark --cases 4 --seed 0`, computed with
# the builder as it was before tiers and landmarks existed. The JSON files are compared with the keys
# added since then removed (they are appended after the old keys, so the old text is reproduced exactly).
# Depends on the shared data, the shipped split file and OpenCV's resize and libjpeg.
A1_REFERENCE_SHA256 = "f0407066c6becad438d55418ed824fe6ed5afb82b65a1e02ceb98027b079e020"
NEW_META_KEYS = {
    "tier",
    "landmarks5",
    "landmarks68",
    "face_width_px",
    "inter_ocular_px",
    "jpeg_quality",
    "noise_sigma",
    "noise_seed",
    "surveillance_seed",
}
NEW_INDEX_KEYS = {"tier", "surveillance", "landmarks"}
CASES = 4


def _build(out: Path, data_root: Path, *extra: str) -> Path:
    argv = ["build-benchmark", "--cases", str(CASES), "--seed", "0", "--out", str(out)]
    assert main([*argv, "--data", str(data_root), "--quiet", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def a1(data_root, tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("a1"), data_root)


@pytest.fixture(scope="module")
def surv(data_root, tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("surv"), data_root, "--tier", "surveillance")


def _metas(bench: Path) -> list[dict]:
    return [json.loads((c / "meta.json").read_text()) for c in sorted(bench.glob("case_*"))]


def _old_json_text(path: Path, new_keys: set[str]) -> bytes:
    data = {k: v for k, v in json.loads(path.read_text()).items() if k not in new_keys}
    return (json.dumps(data, indent=2) + "\n").encode()


def _tree_sha256(bench: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in bench.rglob("*") if q.is_file()):
        if p.name == "meta.json":
            data = _old_json_text(p, NEW_META_KEYS)
        elif p.name == "benchmark.json":
            data = _old_json_text(p, NEW_INDEX_KEYS)
        else:
            data = p.read_bytes()
        h.update(str(p.relative_to(bench)).encode() + b"\0" + data)
    return h.hexdigest()


@pytest.mark.data
def test_a1_tier_is_the_original_benchmark(a1):
    assert _tree_sha256(a1) == A1_REFERENCE_SHA256
    assert json.loads((a1 / "benchmark.json").read_text())["tier"] == "a1"
    for meta in _metas(a1):
        assert meta["tier"] == "a1" and "face_width_px" not in meta
        assert set(meta["degradation"]) >= {"blur_sigma", "downsample_factor", "noise_sigma", "jpeg_quality"}


@pytest.mark.data
def test_surveillance_meta_and_ranges(surv):
    index = json.loads((surv / "benchmark.json").read_text())
    assert index["tier"] == "surveillance" and index["surveillance"]["face_width_px"] == [12, 32]
    for i, meta in enumerate(_metas(surv)):
        assert meta["tier"] == "surveillance"
        assert isinstance(meta["face_width_px"], int) and 12 <= meta["face_width_px"] <= 32
        assert meta["inter_ocular_px"] == pytest.approx(meta["face_width_px"] * INTER_OCULAR, abs=0.01)
        assert 40 <= meta["jpeg_quality"] <= 75 and 2.0 <= meta["noise_sigma"] <= 8.0
        assert meta["case_seed"] == [0, i] and meta["surveillance_seed"] == [0, i, 1]
        params = SurveillanceParams.from_dict(meta["degradation"])
        assert params.face_width_px == meta["face_width_px"] and params.noise_seed == meta["noise_seed"]


@pytest.mark.data
def test_surveillance_lq_reproducible_from_meta(surv, data_root):
    by_file = {r.file: r for r in load_records(data_root, "celeba10k")}
    for case in sorted(surv.glob("case_*"))[:2]:
        meta = json.loads((case / "meta.json").read_text())
        hq = load_face(by_file[meta["input_file"]], meta["hq_size"])
        lq = apply_surveillance(hq, SurveillanceParams.from_dict(meta["degradation"]))
        np.testing.assert_array_equal(lq, load_image(case / "lq.png"))


@pytest.mark.data
def test_surveillance_is_deterministic(surv, data_root, tmp_path):
    again = _build(tmp_path / "again", data_root, "--tier", "surveillance")
    files = sorted(p.relative_to(surv) for p in surv.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (surv / rel).read_bytes() == (again / rel).read_bytes(), rel


@pytest.mark.data
def test_tiers_are_paired_case_by_case(a1, surv):
    same = ("identity", "gender", "input_file", "target_file", "text", "target_attributes", "case_seed")
    for m_a, m_s in zip(_metas(a1), _metas(surv), strict=True):
        assert {k: m_a[k] for k in same} == {k: m_s[k] for k in same}
        assert m_a["landmarks68"] == m_s["landmarks68"]  # same photo A, same frame
    for case in sorted(a1.glob("case_*")):
        other = surv / case.name
        assert (case / "text.txt").read_bytes() == (other / "text.txt").read_bytes()
        assert (case / "target.png").read_bytes() == (other / "target.png").read_bytes()
        assert (case / "lq.png").read_bytes() != (other / "lq.png").read_bytes()
    ids = [json.loads((b / "benchmark.json").read_text())["identities"] for b in (a1, surv)]
    assert ids[0] == ids[1]


@pytest.mark.data
def test_landmarks_sit_where_the_crop_puts_the_face(a1):
    for meta in _metas(a1):
        l68, l5 = np.asarray(meta["landmarks68"]), np.asarray(meta["landmarks5"])
        assert l68.shape == (68, 2) and l5.shape == (5, 2)
        size = meta["lq_size"]
        assert l5.min() >= 0 and l5.max() < size
        assert l68.min() > -0.25 * size and l68.max() < 1.25 * size  # the jaw may leave the tight crop
        eyes = l5[:2]
        midpoint = eyes.mean(axis=0) / size
        assert np.abs(midpoint - np.asarray(EYE_MIDPOINT)).max() < 0.05
        iod = np.linalg.norm(eyes[1] - eyes[0]) / size
        assert abs(iod - INTER_OCULAR) < 0.08
        assert l5[0, 0] < l5[1, 0] and l5[2, 1] < l5[3, 1]  # image-left eye first; nose above mouth


def test_surveillance_params_cover_the_ranges():
    draws = [sample_surveillance_params(np.random.default_rng([3, i, 1])) for i in range(300)]
    widths = {p.face_width_px for p in draws}
    assert widths == set(range(SURVEILLANCE_FACE_WIDTH_RANGE[0], SURVEILLANCE_FACE_WIDTH_RANGE[1] + 1))
    assert all(40 <= p.jpeg_quality <= 75 and 2.0 <= p.noise_sigma <= 8.0 for p in draws)
    assert {p.jpeg_quality for p in draws} >= {40, 75}
    assert sample_surveillance_params(7) == sample_surveillance_params(7)


def test_apply_surveillance_is_deterministic_and_loses_detail():
    face = synthetic_face(200)
    params = {w: SurveillanceParams(w, 4.0, 60, 123) for w in (12, 32)}
    small, large = (apply_surveillance(face, params[w]) for w in (12, 32))
    assert small.shape == large.shape == (128, 128, 3) and small.dtype == np.uint8
    np.testing.assert_array_equal(small, apply_surveillance(face, params[12]))
    assert SurveillanceParams.from_dict(params[12].to_dict()) == params[12]

    def detail(img: np.ndarray) -> float:  # mean absolute horizontal gradient
        return float(np.abs(np.diff(img.astype(np.float32), axis=1)).mean())

    assert detail(small) < detail(large)


def test_unknown_tier_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown tier"):
        build_benchmark(tmp_path, tmp_path / "out", tier="cctv")
    with pytest.raises(ValueError, match="unknown tier"):
        degrade_case(synthetic_face(64), np.random.default_rng(0), "cctv", [0, 0], 128, 512)


def test_cli_tier_flag(capsys):
    parser = build_parser()
    base = ["build-benchmark", "--out", "x"]
    assert parser.parse_args(base).tier == "a1"
    assert parser.parse_args([*base, "--tier", "surveillance"]).tier == "surveillance"
    assert tuple(TIERS) == ("a1", "surveillance")
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--tier", "cctv"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        parser.parse_args(["build-benchmark", "--help"])
    out = capsys.readouterr().out
    assert "--tier" in out and "surveillance" in out and "a1" in out
