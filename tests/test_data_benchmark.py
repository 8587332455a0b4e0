"""The T2F500-style benchmark builder on a small slice of the real data, through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfgnet_desk.data import FaceRecord, Splits, find_class_word, load_face, load_records
from tfgnet_desk.data.__main__ import main
from tfgnet_desk.data.benchmark import benchmark_pairs
from tfgnet_desk.data.captions import CLASS_WORD_GENDER
from tfgnet_desk.degrade import DegradationParams, apply_degradation
from tfgnet_desk.imaging import load_image

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def bench(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    rc = main(
        [
            "build-benchmark",
            "--source",
            "celeba10k",
            "--cases",
            "5",
            "--seed",
            "0",
            "--out",
            str(out),
            "--data",
            str(data_root),
            "--quiet",
        ]
    )
    assert rc == 0
    return out


def test_layout(bench):
    cases = sorted(p.name for p in bench.iterdir() if p.is_dir())
    assert cases == [f"case_{i:04d}" for i in range(1, 6)]
    for c in cases:
        files = sorted(p.name for p in (bench / c).iterdir())
        assert files == ["lq.png", "meta.json", "target.png", "text.txt"]
        assert load_image(bench / c / "lq.png").shape == (128, 128, 3)
        assert load_image(bench / c / "target.png").shape == (256, 256, 3)
    index = json.loads((bench / "benchmark.json").read_text())
    assert index["cases"] == 5 and index["seed"] == 0 and index["split"]["pool"] == "benchmark"


def test_cases_are_true_pairs_from_the_benchmark_pool(bench, data_root):
    splits = Splits.load()
    train_val = splits.identities("train", data_root) | splits.identities("val", data_root)
    by_file = {r.file: r for r in load_records(data_root, "celeba10k")}
    bench_keys = set(splits.benchmark)
    identities = []
    for case in sorted(bench.glob("case_*")):
        meta = json.loads((case / "meta.json").read_text())
        a, b = by_file[meta["input_file"]], by_file[meta["target_file"]]
        assert a.file != b.file and a.identity == b.identity == meta["identity"]
        assert a.key in bench_keys and b.key in bench_keys
        assert f"celeba10k:{meta['identity']}" not in train_val
        assert meta["gender"] == b.gender
        text = (case / "text.txt").read_text().strip()
        assert text == meta["text"]
        assert CLASS_WORD_GENDER[find_class_word(text)] == b.gender
        np.testing.assert_array_equal(load_image(case / "target.png"), load_face(b, 256))
        identities.append(meta["identity"])
    assert len(set(identities)) == len(identities)


def test_lq_reproducible_from_meta(bench, data_root):
    by_file = {r.file: r for r in load_records(data_root, "celeba10k")}
    for case in sorted(bench.glob("case_*"))[:2]:
        meta = json.loads((case / "meta.json").read_text())
        params = DegradationParams.from_dict(meta["degradation"])
        assert 1 <= params.blur_sigma <= 10 and 30 <= params.jpeg_quality <= 90
        hq = load_face(by_file[meta["input_file"]], meta["hq_size"])
        np.testing.assert_array_equal(apply_degradation(hq, params), load_image(case / "lq.png"))


def test_rebuild_is_identical_and_refuses_to_overwrite(bench, data_root, tmp_path, capsys):
    other = tmp_path / "again"
    argv = ["build-benchmark", "--cases", "5", "--out", str(other), "--data", str(data_root), "--quiet"]
    assert main(argv) == 0
    for name in ("case_0001/lq.png", "case_0005/target.png", "case_0003/meta.json", "case_0002/text.txt"):
        assert (bench / name).read_bytes() == (other / name).read_bytes()
    assert main(argv) == 2
    assert "already holds" in capsys.readouterr().err


def test_pairs_use_each_identity_once():
    recs = [FaceRecord("celeba10k", f"{i:06d}.jpg", None, str(i // 3), "male") for i in range(30)]  # type: ignore
    pairs = benchmark_pairs(recs, 10, seed=4)
    assert len({a.identity for a, _ in pairs}) == 10
    assert all(a.identity == b.identity and a.file != b.file for a, b in pairs)
    with pytest.raises(ValueError, match="11 requested"):
        benchmark_pairs(recs, 11, seed=4)
