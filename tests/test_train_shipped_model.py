"""The shipped models/tiny: verified folder within the size budget, non-commercial licence recorded,
loads and generates a face-sized image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

MODEL = Path(__file__).resolve().parent.parent / "models" / "tiny"


@pytest.fixture(scope="module")
def folder() -> Path:
    if not (MODEL / "MANIFEST.json").exists():
        pytest.skip("models/tiny has not been trained yet")
    return MODEL


def test_manifest_size_and_licence(folder):
    from tfgnet_desk.model_folders.manifest import verify_folder

    report = verify_folder(folder)
    assert report.ok, report.message()
    files = json.loads((folder / "MANIFEST.json").read_text())["files"]
    assert sum(f["size"] for f in files) <= 60_000_000
    assert all("non-commercial" in f["licence"] for f in files)
    assert (folder / "MODEL_CARD.md").is_file() and (folder / "training.json").is_file()


def test_loads_and_generates(folder):
    from tfgnet_desk.model.tfgnet import TFGNet

    torch.set_num_threads(1)
    model = TFGNet.from_pretrained(folder)
    assert sum(model.parameter_counts().values()) <= 30_000_000
    restored = model.restorer.restore(torch.zeros(1, 3, 128, 128))
    cond, info = model.condition("a photo of a woman", restored)
    assert info["stacked_tokens"] == 77
    img = model.generator.sample(cond, [0], steps=2, guidance=3.0)
    assert img.shape == (1, 3, model.config.image_size, model.config.image_size)
    assert float(img.std()) > 0.01  # not a constant image
