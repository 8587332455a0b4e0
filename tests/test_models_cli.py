"""`tfgnet-desk models`: the registry, list / verify / import on model folders made in the test."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tfgnet_desk import cli
from tfgnet_desk.model_folders import registry
from tfgnet_desk.model_folders.manifest import MANIFEST_NAME, verify_folder


@pytest.fixture(scope="module")
def random_tiny(tmp_path_factory) -> Path:
    import torch

    torch.set_num_threads(1)
    from tfgnet_desk.model.testing import save_random_model

    return save_random_model(tmp_path_factory.mktemp("src") / "tiny")


def run(capsys, *argv: str) -> tuple[int, str]:
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out + out.err


def _copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


# ------------------------------------------------------------------------------------------- registry
def test_registry_entries_are_complete_and_unique():
    names = [c.name for c in registry.COMPONENTS]
    assert len(names) == len(set(names))
    for c in registry.COMPONENTS:
        assert c.title and c.licence and c.source and c.accepts and c.files, c.name
        assert any(f.required for f in c.files), c.name
        for d in c.downloads:
            assert d.url.startswith("https://"), d.url
    for needed in (
        "tiny",
        "sdxl-base-1.0",
        "clip-vit-large-patch14",
        "restorer-full",
        "fusion-full",
        "buffalo_l",
        "antelopev2",
        "vgg19",
        "clip-vit-base-patch32",
        "dino-vits16",
        "lpips-alex",
        "inception-fid",
    ):
        assert needed in registry.BY_NAME
    with pytest.raises(KeyError, match="known"):
        registry.get("no-such-model")


def test_registry_locations_match_what_the_loaders_read():
    """The folders the registry fills are the ones the other modules look in."""
    from tfgnet_desk.evaluate.metrics import backbones as bb
    from tfgnet_desk.faces import arcface_backend as af
    from tfgnet_desk.model.perceptual import VGG19_FILE
    from tfgnet_desk.model.tfgnet import DIFFUSERS_WEIGHTS, WEIGHTS

    get = registry.get
    assert get("clip-vit-base-patch32").folder == f"metrics/{bb.CLIP_DIR}"
    assert get("dino-vits16").folder == f"metrics/{bb.DINO_DIR}"
    assert get("lpips-alex").folder == f"metrics/{bb.LPIPS_DIR}"
    assert {f.path for f in get("lpips-alex").files} == set(bb.LPIPS_FILES)
    assert get("inception-fid").files[0].path == bb.INCEPTION_FILE
    for pack in af.PACKS:
        comp = get(pack)
        assert Path(comp.folder) == Path("insightface/models") / pack
        assert comp.files[0].path == af.RECOGNITION_FILES[pack]
    vgg = get("vgg19")
    assert Path(vgg.folder) / vgg.files[0].path == VGG19_FILE
    sdxl = {f.path for f in get("sdxl-base-1.0").files}
    assert f"unet/{DIFFUSERS_WEIGHTS}" in sdxl and f"text_encoder_2/{WEIGHTS}" in sdxl
    assert f"restorer/{WEIGHTS}" in {f.path for f in get("restorer-full").files}
    assert f"fusion/{WEIGHTS}" in {f.path for f in get("fusion-full").files}


# ------------------------------------------------------------------------------------------------ list
def test_list_shows_tiny_verified_and_full_parts_missing_with_instructions(tmp_path, random_tiny, capsys):
    models = tmp_path / "models"
    _copy_tree(random_tiny, models / "tiny")
    rc, out = run(capsys, "models", "--models-dir", str(models), "list")
    assert rc == 0
    lines = out.splitlines()
    rows = {line.split()[1]: line for line in lines if line.startswith("  ") and not line.startswith("   ")}
    assert "verified" in rows["tiny"]
    for part in ("sdxl-base-1.0", "restorer-full", "fusion-full"):
        line = rows[part]
        assert "missing" in line
    assert "tfgnet-desk models import PATH" in out
    assert "codeformer.pth" in out and "photomaker-v1.bin" in out
    assert "tfgnet-desk models download sdxl-base-1.0" in out

    rc, out = run(capsys, "models", "--models-dir", str(models), "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["tiny"]["state"] == "verified"
    assert rows["full"]["state"] == "missing" and "sdxl-base-1.0" in rows["full"]["instructions"]
    assert rows["restorer-full"]["licence"].startswith("S-Lab")


def test_verify_detects_a_changed_byte(tmp_path, random_tiny, capsys):
    models = tmp_path / "models"
    tiny = _copy_tree(random_tiny, models / "tiny")
    rc, out = run(capsys, "models", "--models-dir", str(models), "verify", "tiny")
    assert rc == 0 and "verified" in out
    weights = tiny / "fusion" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    rc, out = run(capsys, "models", "--models-dir", str(models), "verify", "tiny")
    assert rc == 1 and "failed" in out and "fusion/model.safetensors" in out
    rc, out = run(capsys, "models", "--models-dir", str(models), "verify", "restorer-full")
    assert rc == 1 and "missing" in out


# ---------------------------------------------------------------------------------------------- import
def test_import_model_folder_as_tiny(tmp_path, random_tiny, capsys):
    models = tmp_path / "models"
    rc, out = run(capsys, "models", "--models-dir", str(models), "import", str(random_tiny), "--as", "tiny")
    assert rc == 0, out
    assert verify_folder(models / "tiny").ok
    rc, out = run(capsys, "models", "--models-dir", str(models), "verify", "tiny")
    assert rc == 0


def _onnx_bytes(tag: str) -> bytes:
    """A minimal valid ONNX model (one Identity node), distinct per ``tag``."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"], name=tag)],
        f"fake_{tag}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _fake_pack(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for i, n in enumerate(names):
        data = _onnx_bytes(n.split(".")[0]) if n.endswith(".onnx") else bytes([i]) * (100 + i)
        (folder / n).write_bytes(data)
    return folder


def test_import_insightface_pack_folder_and_zip(tmp_path, capsys):
    models = tmp_path / "models"
    src = _fake_pack(tmp_path / "dl" / "buffalo_l", ["w600k_r50.onnx", "det_10g.onnx", "readme.txt"])
    rc, out = run(capsys, "models", "--models-dir", str(models), "import", str(src))
    assert rc == 0, out
    dest = models / "insightface" / "models" / "buffalo_l"
    assert (dest / "w600k_r50.onnx").read_bytes() == (src / "w600k_r50.onnx").read_bytes()
    assert not (dest / "readme.txt").exists()
    assert verify_folder(dest).ok
    rc, out = run(capsys, "models", "--models-dir", str(models), "verify", "buffalo_l")
    assert rc == 0 and "verified" in out and "MANIFEST.json" in out and "ONNX files parse" in out

    z = tmp_path / "antelopev2.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("antelopev2/glintr100.onnx", _onnx_bytes("g"))
        zf.writestr("antelopev2/scrfd_10g_bnkps.onnx", _onnx_bytes("s"))
        zf.writestr("../../evil.onnx", b"x")
    rc, out = run(capsys, "models", "--models-dir", str(models), "import", str(z))
    assert rc == 0, out
    dest = models / "insightface" / "models" / "antelopev2"
    assert (dest / "glintr100.onnx").read_bytes() == _onnx_bytes("g")
    assert not (tmp_path / "evil.onnx").exists() and not (models / "evil.onnx").exists()
    assert (dest / MANIFEST_NAME).is_file()


def test_a_pickle_renamed_onnx_is_refused_and_never_called_verified(tmp_path, capsys):
    """Issue 17 item 7: a zip holding a pickle renamed ``w600k_r50.onnx`` imported as buffalo_l and
    ``models verify`` called it verified."""
    import pickle

    models = tmp_path / "models"
    z = tmp_path / "buffalo_l.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("buffalo_l/w600k_r50.onnx", pickle.dumps({"not": "a network"}))
    rc, out = run(capsys, "models", "--models-dir", str(models), "import", str(z))
    assert rc != 0 and "not an ONNX model" in out and "Traceback" not in out
    dest = models / "insightface" / "models" / "buffalo_l"
    assert not (dest / "w600k_r50.onnx").exists()
    # placed by hand with a manifest over it: the hashes match, but it is not a usable network
    from tfgnet_desk.model_folders.manifest import write_manifest

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "w600k_r50.onnx").write_bytes(pickle.dumps({"not": "a network"}))
    write_manifest(dest, licence="test", source="test")
    rc, out = run(capsys, "models", "--models-dir", str(models), "verify", "buffalo_l")
    assert rc != 0 and "not an ONNX model" in out and "verified" not in out.split("buffalo_l", 1)[1][:40]
    truncated = _onnx_bytes("w600k_r50")[:-7]  # starts like ONNX, does not parse
    (dest / "w600k_r50.onnx").write_bytes(truncated)
    write_manifest(dest, licence="test", source="test")
    rc, out = run(capsys, "models", "--models-dir", str(models), "verify", "buffalo_l")
    assert rc != 0 and "not a valid ONNX model" in out


def test_import_hf_cache_snapshot_of_a_metric_backbone(tmp_path, capsys):
    """A Hugging Face cache repo folder resolves to its snapshot; symlinked blobs are copied as files."""
    repo = tmp_path / "hub" / "models--facebook--dino-vits16"
    blobs, snap = repo / "blobs", repo / "snapshots" / "abc123"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (blobs / "1").write_text(json.dumps({"model_type": "vit", "patch_size": 16, "hidden_size": 384}))
    (blobs / "2").write_bytes(b"\0" * 64)
    (snap / "config.json").symlink_to(blobs / "1")
    (snap / "model.safetensors").symlink_to(blobs / "2")
    models = tmp_path / "models"
    rc, out = run(capsys, "models", "--models-dir", str(models), "import", str(repo))
    assert rc == 0, out
    dest = models / "metrics" / "dino-vits16"
    assert (dest / "model.safetensors").is_file() and not (dest / "model.safetensors").is_symlink()
    assert verify_folder(dest).ok


def test_import_refuses_what_it_does_not_know(tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    rc, out = run(capsys, "models", "--models-dir", str(tmp_path / "m"), "import", str(junk))
    assert rc == 1 and "import failed" in out
    rc, out = run(capsys, "models", "--models-dir", str(tmp_path / "m"), "import", str(tmp_path / "nope"))
    assert rc == 1 and "does not exist" in out
    folder = tmp_path / "empty"
    folder.mkdir()
    rc, out = run(
        capsys, "models", "--models-dir", str(tmp_path / "m"), "import", str(folder), "--as", "dino-vits16"
    )
    assert rc == 1 and "lacks" in out


def test_partial_full_profile_and_metric_folders_show_what_is_still_needed(tmp_path, capsys):
    import torch

    models = tmp_path / "models"
    alex, lin = tmp_path / "alexnet-owt-7be5be79.pth", tmp_path / "alex.pth"
    torch.save({"features.0.weight": torch.ones(2, 3, 1, 1), "classifier.1.bias": torch.zeros(2)}, alex)
    torch.save({"lin0.model.1.weight": torch.ones(1, 2, 1, 1)}, lin)
    rc, out = run(capsys, "models", "--models-dir", str(models), "import", str(alex))
    assert rc == 0, out
    rows = {
        r["name"]: r
        for r in json.loads(run(capsys, "models", "--models-dir", str(models), "list", "--json")[1])
    }
    assert (
        rows["lpips-alex"]["state"] == "incomplete"
        and "lpips_lin.safetensors" in rows["lpips-alex"]["detail"]
    )
    rc, out = run(capsys, "models", "--models-dir", str(models), "import", str(lin))
    assert rc == 0, out
    rc, out = run(capsys, "models", "--models-dir", str(models), "verify", "lpips-alex")
    assert rc == 0 and "verified" in out

    (models / "full" / "restorer").mkdir(parents=True)
    rows = {
        r["name"]: r
        for r in json.loads(run(capsys, "models", "--models-dir", str(models), "list", "--json")[1])
    }
    assert rows["full"]["state"] == "incomplete"
    assert "sdxl-base-1.0" in rows["full"]["detail"] and "fusion-full" in rows["full"]["detail"]


def test_vgg19_checkpoint_is_checked_against_the_perceptual_trunk(tmp_path, capsys):
    import torch

    src = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save({"features.0.weight": torch.ones(64, 3, 3, 3), "classifier.0.weight": torch.ones(1, 1)}, src)
    rc, out = run(capsys, "models", "--models-dir", str(tmp_path / "m"), "import", str(src))
    assert rc == 1 and "31 missing" in out and "features.0.bias" in out
    assert not (tmp_path / "m" / "vgg19" / "model.safetensors").exists()
