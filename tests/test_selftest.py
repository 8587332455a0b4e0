"""`tfgnet-desk --self-test`: fails clearly without the embedded model, passes on a working one."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from tfgnet_desk import cli, selftest
from tfgnet_desk import settings as settings_mod


@pytest.fixture
def no_shipped_model(tmp_path, monkeypatch):
    """Neither the user's model folder nor the shipped models/ has a tiny model."""
    monkeypatch.setattr(settings_mod, "SHIPPED_MODELS", tmp_path / "shipped")
    monkeypatch.setenv("TFGNET_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("TFGNET_HOME", str(tmp_path / "home"))
    return tmp_path


def test_without_the_embedded_model_it_fails_with_a_clear_message(no_shipped_model, capsys):
    rc = cli.main(["--self-test"])
    out = capsys.readouterr().out
    assert rc == 1
    assert out.startswith("SELF-TEST FAILED") and "embedded model is missing" in out
    assert "models/tiny" in out or "--as tiny" in out


def test_a_broken_model_folder_fails_and_says_why(no_shipped_model, capsys):
    folder = no_shipped_model / "models" / "tiny"
    folder.mkdir(parents=True)
    (folder / "MANIFEST.json").write_text("{not json")
    assert cli.main(["--self-test"]) == 1
    out = capsys.readouterr().out
    assert "SELF-TEST FAILED" in out and "MANIFEST" in out


def test_synthetic_face_is_deterministic_and_face_like():
    a, b = selftest.synthetic_face(), selftest.synthetic_face()
    assert a.dtype == np.uint8 and a.shape == (160, 160, 3) and np.array_equal(a, b)
    centre, corner = a[70:90, 70:90].mean(axis=(0, 1)), a[:10, :10].mean(axis=(0, 1))
    assert centre[0] > centre[2] and corner[2] > corner[0]  # skin is warm, the backdrop cool


@dataclass
class _Cand:
    index: int
    image: np.ndarray


@dataclass
class _Result:
    candidates: list
    restored: list = field(default_factory=lambda: [np.arange(48, dtype=np.uint8).reshape(4, 4, 3)])
    mask: np.ndarray = field(default_factory=lambda: np.ones((4, 4), np.float32))


def test_result_checks_catch_flat_identical_and_misshaped_candidates():
    rng = np.random.default_rng(0)
    good = [_Cand(i, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for i in range(2)]
    assert len(selftest.check_result(_Result(good), 8, 2)) == 2
    with pytest.raises(selftest.SelfTestFailure, match="flat"):
        selftest.check_result(_Result([good[0], _Cand(1, np.zeros((8, 8, 3), np.uint8))]), 8, 2)
    with pytest.raises(selftest.SelfTestFailure, match="identical"):
        selftest.check_result(_Result([good[0], _Cand(1, good[0].image.copy())]), 8, 2)
    with pytest.raises(selftest.SelfTestFailure, match="expected uint8"):
        selftest.check_result(_Result(good), 16, 2)
    with pytest.raises(selftest.SelfTestFailure, match="expected 3 candidates"):
        selftest.check_result(_Result(good), 8, 3)
    bad_mask = _Result(good, mask=np.full((4, 4), np.nan, np.float32))
    with pytest.raises(selftest.SelfTestFailure, match="non-finite"):
        selftest.check_result(bad_mask, 8, 2)


@pytest.mark.slow
def test_self_test_passes_on_a_random_tiny_model(no_shipped_model, capsys):
    """The whole path on a random-weight tiny model (outputs are noise, but every check applies)."""
    import torch

    torch.set_num_threads(1)
    from tfgnet_desk.model.testing import save_random_model

    save_random_model(no_shipped_model / "models" / "tiny")
    rc = cli.main(["--self-test"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.startswith("OK: self-test passed") and "2 candidates 128x128" in out and "reproducible" in out
