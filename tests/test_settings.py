from __future__ import annotations

from pathlib import Path

import pytest

from tfgnet_desk.settings import Settings


def test_env_overrides(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("TFGNET_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("TFGNET_MODELS", str(tmp_path / "m"))
    monkeypatch.setenv("TFGNET_DATA", str(tmp_path / "d"))
    s = Settings()
    assert s.home == tmp_path / "h"
    assert s.models_dir == tmp_path / "m"
    assert s.data_dir == tmp_path / "d"
    assert s.cases_db == tmp_path / "h" / "cases.db"


def test_roundtrip_and_validation(tmp_path: Path):
    s = Settings(home=tmp_path, models_dir=tmp_path / "models", profile="full", device="cuda")
    s.save()
    loaded = Settings.load(tmp_path)
    assert loaded.profile == "full" and loaded.device == "cuda"
    with pytest.raises(ValueError, match="profile"):
        Settings(home=tmp_path, profile="huge")
    with pytest.raises(ValueError, match="identity backend"):
        s.with_(identity_backend="eigenfaces")


def test_tiny_falls_back_to_shipped(tmp_path: Path):
    s = Settings(home=tmp_path, models_dir=tmp_path / "models")
    assert s.model_path("tiny").name == "tiny"
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    assert s.model_path("tiny") == tmp_path / "models" / "tiny"


def test_models_dir_follows_given_home(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("TFGNET_MODELS", raising=False)
    assert Settings(home=tmp_path).models_dir == tmp_path / "models"
    Settings(home=tmp_path, profile="full").save()
    assert Settings.load(tmp_path).models_dir == tmp_path / "models"
