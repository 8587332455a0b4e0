"""Model folders: MANIFEST.json, verification, refusal of tampered, corrupted and pickled weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tfgnet_desk.model_folders.manifest import (
    MANIFEST_NAME,
    WeightsError,
    load_safetensors,
    manifest_hash,
    require_verified,
    save_safetensors,
    verify_folder,
    write_manifest,
)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    f = tmp_path / "model"
    save_safetensors(
        {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4)}, f / "unet" / "model.safetensors"
    )
    (f / "config.json").write_text('{"profile": "tiny"}')
    write_manifest(f, licence="test-licence", source="unit test")
    return f


def test_manifest_lists_every_file_with_hash_size_licence_source(folder: Path):
    m = json.loads((folder / MANIFEST_NAME).read_text())
    paths = {e["path"] for e in m["files"]}
    assert paths == {"config.json", "unet/model.safetensors"}
    for e in m["files"]:
        assert len(e["sha256"]) == 64 and e["size"] == (folder / e["path"]).stat().st_size
        assert e["licence"] == "test-licence" and e["source"] == "unit test"
    assert m["manifest_hash"] == manifest_hash(folder)
    report = verify_folder(folder)
    assert report.ok and sorted(report.present) == sorted(paths)


def test_manifest_hash_ignores_licence_wording_but_not_content(folder: Path):
    h = manifest_hash(folder)
    write_manifest(folder, licence="other words", source="elsewhere")
    assert manifest_hash(folder) == h
    (folder / "config.json").write_text('{"profile": "full"}')
    write_manifest(folder, licence="x", source="y")
    assert manifest_hash(folder) != h


def test_model_card_edits_keep_the_manifest_hash_but_are_still_verified(folder: Path):
    """A corrected model card must not change the model's identity (runs record the manifest hash), yet an
    edit that is not re-manifested is still caught file by file."""
    (folder / "MODEL_CARD.md").write_text("# card\n")
    write_manifest(folder, licence="x", source="y")
    h = manifest_hash(folder)
    (folder / "MODEL_CARD.md").write_text("# card, corrected\n")
    assert not verify_folder(folder).ok  # caught: the card's sha256 no longer matches
    write_manifest(folder, licence="x", source="y")
    assert manifest_hash(folder) == h and verify_folder(folder).ok


def test_tampered_file_is_a_mismatch(folder: Path):
    p = folder / "unet" / "model.safetensors"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    p.write_bytes(bytes(data))
    report = verify_folder(folder)
    assert not report.ok and report.mismatch == ["unet/model.safetensors"]
    with pytest.raises(WeightsError, match="tampered.*unet/model.safetensors"):
        require_verified(folder)


def test_missing_file_and_missing_manifest(folder: Path):
    (folder / "config.json").unlink()
    report = verify_folder(folder)
    assert report.missing == ["config.json"] and not report.ok
    (folder / MANIFEST_NAME).unlink()
    with pytest.raises(WeightsError, match="no MANIFEST.json"):
        require_verified(folder)
    with pytest.raises(WeightsError, match="does not exist"):
        require_verified(folder / "nowhere")
    (folder / "empty").mkdir()
    with pytest.raises(WeightsError, match="is empty"):
        require_verified(folder / "empty")


def test_pickles_are_refused(folder: Path):
    torch.save({"w": torch.zeros(1)}, folder / "unet" / "extra.bin")
    report = verify_folder(folder)
    assert report.pickles == ["unet/extra.bin"] and not report.ok
    with pytest.raises(WeightsError, match="pickle"):
        require_verified(folder)
    with pytest.raises(WeightsError, match="only .safetensors"):
        load_safetensors(folder / "unet" / "extra.bin")


def test_edited_manifest_is_detected(folder: Path):
    path = folder / MANIFEST_NAME
    m = json.loads(path.read_text())
    m["files"][0]["size"] += 1
    path.write_text(json.dumps(m))
    assert not verify_folder(folder).ok


def test_corrupted_safetensors_is_refused_with_a_clear_message(tmp_path: Path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(WeightsError, match="corrupted"):
        load_safetensors(p)


def test_fp16_save_and_shared_tensors(tmp_path: Path):
    w = torch.randn(4, 4)
    save_safetensors({"a": w, "b": w}, tmp_path / "m.safetensors", dtype=torch.float16)
    sd = load_safetensors(tmp_path / "m.safetensors")
    assert sd["a"].dtype == torch.float16 and torch.equal(sd["a"], sd["b"])
