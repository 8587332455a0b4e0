"""``python -m tfgnet_desk.data``: degrade, splits and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfgnet_desk.data.__main__ import main
from tfgnet_desk.degrade import DegradationParams, apply_degradation
from tfgnet_desk.imaging import load_image


def _photo(path, size=(60, 40)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_degrade_single_file(tmp_path):
    src = _photo(tmp_path / "in.jpg")
    out = tmp_path / "out.png"
    assert main(["degrade", str(src), str(out), "--seed", "7", "--hq-size", "64", "--lq-size", "32"]) == 0
    lq = load_image(out)
    assert lq.shape == (32, 32, 3)
    rec = json.loads((tmp_path / "out.degradation.json").read_text())["out.png"]
    assert rec["seed"] == 7 and rec["source"] == "in.jpg"
    img = load_image(src)[:, 10:50]  # the CLI centre-crops to a square
    np.testing.assert_array_equal(apply_degradation(img, DegradationParams.from_dict(rec)), lq)
    with Image.open(out) as im:
        assert json.loads(im.text["tfgnet-degradation"])["noise_seed"] == rec["noise_seed"]


def test_degrade_folder_skips_bad_files(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        _photo(folder / f"p{i}.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "readme.txt").write_text("ignored")
    out = tmp_path / "out"
    assert (
        main(
            ["degrade", str(folder), str(out), "--seed", "1", "--hq-size", "64", "--lq-size", "16", "--quiet"]
        )
        == 0
    )
    assert sorted(p.name for p in out.glob("*.png")) == ["p0.png", "p1.png", "p2.png"]
    meta = json.loads((out / "degradation.json").read_text())
    assert len({m["noise_seed"] for m in meta.values()}) == 3  # a different draw per file
    assert "broken.jpg" in capsys.readouterr().err


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    rc = main(
        ["build-benchmark", "--cases", "2", "--out", str(tmp_path / "b"), "--data", str(tmp_path / "no")]
    )
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.data
def test_splits_command_writes_and_checks(data_root, tmp_path):
    out = tmp_path / "s.json"
    cmd = [sys.executable, "-m", "tfgnet_desk.data", "splits", "--data", str(data_root), "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "benchmark" in res.stdout and out.is_file()
    assert main(["splits", "--data", str(data_root), "--check", str(out)]) == 0


def test_help_lists_commands():
    res = subprocess.run(
        [sys.executable, "-m", "tfgnet_desk.data", "--help"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0
    for cmd in ("splits", "build-benchmark", "degrade"):
        assert cmd in res.stdout
