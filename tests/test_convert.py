"""Converters: refusing pickled code, CodeFormer / PhotoMaker v1 checkpoints converted, and the assembly of a
full-profile folder from parts (a tiny replica of the full layout); the published layouts themselves are
checked in test_convert_layouts.py."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from tfgnet_desk.model_folders import convert
from tfgnet_desk.model_folders.importer import import_path
from tfgnet_desk.model_folders.manifest import load_safetensors, read_manifest, sha256_file, verify_folder

torch.set_num_threads(1)


class _NotAWeight:
    """A pickled object that is not a tensor: weights_only loading must refuse it."""


def test_checkpoints_holding_code_are_refused(tmp_path):
    p = tmp_path / "codeformer.pth"
    torch.save({"params_ema": {"w": torch.zeros(1)}, "x": _NotAWeight()}, p)
    with pytest.raises(convert.ConversionError, match="never unpickled"):
        convert.load_checkpoint(p)
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps({"a": 1}, protocol=2) + b"junk")
    with pytest.raises(convert.ConversionError):
        convert.load_checkpoint(raw)


# ----------------------------------------------------------------------------- conversion (reduced)
@pytest.fixture(scope="module")
def replica():
    """A random TFGNet in the full profile's layout at tiny sizes (two text encoders, projection 2)."""
    from tfgnet_desk.model.testing import full_layout_tiny_config
    from tfgnet_desk.model.tfgnet import TFGNet

    cfg = full_layout_tiny_config()
    return TFGNet.random(cfg, seed=3), cfg


def test_convert_codeformer_reduced_replica(tmp_path, replica):
    model, cfg = replica
    src = tmp_path / "codeformer.pth"
    state = model.restorer.state_dict()
    torch.save({"params_ema": state, "params": {}}, src)
    out = convert.convert_codeformer(src, tmp_path / "restorer", cfg.restorer)
    loaded = load_safetensors(out / "model.safetensors")
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    assert verify_folder(out).ok
    entry = read_manifest(out)["files"][0]
    assert sha256_file(src) in entry["source"] and entry["licence"].startswith("S-Lab")
    assert json.loads((out / "config.json").read_text())["img_size"] == cfg.restorer.img_size
    torch.save({"params_ema": {k: v for k, v in state.items() if k != "position_emb"}}, src)
    with pytest.raises(convert.ConversionError, match="position_emb"):
        convert.convert_codeformer(src, tmp_path / "bad", cfg.restorer)
    assert not (tmp_path / "bad").exists()


def _lora_for(unet_state: dict, rank: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, w in unet_state.items():
        for proj in ("to_q", "to_k", "to_v", "to_out.0"):
            if k.endswith(f".{proj}.weight") and ".attn" in k:
                path = k[: -len(f".{proj}.weight")]
                name = "to_out" if proj == "to_out.0" else proj
                p = f"unet.{path}.processor.{name}_lora"
                out[f"{p}.down.weight"] = torch.randn(rank, w.shape[1], generator=g) * 0.1
                out[f"{p}.up.weight"] = torch.randn(w.shape[0], rank, generator=g) * 0.1
    return out


def _save_st(state: dict, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def _fake_sdxl_folder(root: Path, model) -> Path:
    """A diffusers-style SDXL folder (fp16 file names, a stale position_ids buffer) from the replica."""
    from tfgnet_desk.model import embed

    (root).mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    for part, module, fname in (
        ("unet", model.unet, "diffusion_pytorch_model.fp16.safetensors"),
        ("vae", model.vae, "diffusion_pytorch_model.fp16.safetensors"),
    ):
        _save_st(module.state_dict(), root / part / fname)
        (root / part / "config.json").write_text(json.dumps({"_class_name": type(module).__name__}))
    for i, enc in enumerate(model.text_encoders):
        part = "text_encoder" if i == 0 else "text_encoder_2"
        state = dict(enc.state_dict())
        state["text_model.embeddings.position_ids"] = torch.arange(77)[None]
        _save_st(state, root / part / "model.safetensors")
        (root / part / "config.json").write_text(enc.config.to_json_string())
    vocab, merges = embed.clip_vocab_and_merges()
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "vocab.json").write_text(json.dumps(vocab))
    (root / "tokenizer" / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (root / "scheduler").mkdir()
    (root / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"_class_name": "EulerDiscreteScheduler"})
    )
    return root


def test_full_profile_assembled_from_codeformer_photomaker_and_sdxl(tmp_path, replica):
    """The three public sources of the full profile, imported in any order, give a folder that
    TFGNet.from_pretrained loads, with the LoRA fused into the UNet and every file in the manifest."""
    from tfgnet_desk.model.tfgnet import TFGNet

    model, cfg = replica
    models = tmp_path / "models"
    log: list[str] = []
    # PhotoMaker first: the LoRA waits for the UNet
    id_encoder = {**model.image_encoder.state_dict(), **model.fusion.state_dict()}
    lora = _lora_for(model.unet.state_dict())
    assert lora
    pm = tmp_path / "photomaker-v1.bin"
    torch.save({"id_encoder": id_encoder, "lora_weights": lora}, pm)
    res = import_path(pm, models, tfg_config=cfg, log=log.append)
    assert res.component == "fusion-full" and "full profile ready" not in res.notes
    assert any("still needs" in line for line in log)

    cf = tmp_path / "codeformer.pth"
    torch.save({"params_ema": model.restorer.state_dict()}, cf)
    assert import_path(cf, models, tfg_config=cfg, log=log.append).component == "restorer-full"

    sdxl = _fake_sdxl_folder(tmp_path / "sdxl", model)
    res = import_path(sdxl, models, tfg_config=cfg, log=log.append)
    assert res.component == "sdxl-base-1.0" and "full profile ready" in res.notes
    full = models / "full"
    assert verify_folder(full).ok
    manifest = read_manifest(full)["files"]
    licences = {e["path"].split("/")[0]: e["licence"] for e in manifest}
    assert licences["restorer"].startswith("S-Lab") and licences["fusion"].startswith(
        "Apache-2.0 (PhotoMaker)"
    )
    assert "RAIL" in licences["vae"] and "LoRA" in licences["unet"]

    loaded = TFGNet.from_pretrained(full)
    assert loaded.manifest_hash == verify_folder(full).manifest_hash
    pairs = convert.normalise_lora(lora)
    orig = model.unet.state_dict()
    new = loaded.unet.state_dict()
    for k, w in orig.items():
        if k in pairs:
            down, up = pairs[k]
            assert torch.allclose(new[k], w + up @ down, atol=1e-6), k
        else:
            assert torch.equal(new[k], w), k
    for a, b in zip(model.restorer.state_dict().values(), loaded.restorer.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for k, v in model.fusion.state_dict().items():
        assert torch.equal(loaded.fusion.state_dict()[k], v)

    # re-importing SDXL gives back the plain UNet, and the LoRA is fused once more (not twice)
    import_path(sdxl, models, tfg_config=cfg, log=log.append)
    again = load_safetensors(full / "unet" / "diffusion_pytorch_model.safetensors")
    k = next(iter(pairs))
    assert torch.allclose(again[k], orig[k] + pairs[k][1] @ pairs[k][0], atol=1e-6)


def test_plain_pth_conversion_keeps_keys(tmp_path):
    state = {"Conv2d_1a_3x3.conv.weight": torch.randn(4, 3, 3, 3), "fc.bias": torch.zeros(2)}
    src = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, src)
    models = tmp_path / "models"
    import_path(src, models, log=lambda s: None)
    out = models / "metrics" / "inception-fid"
    loaded = load_safetensors(out / "pt_inception-2015-12-05.safetensors")
    assert set(loaded) == set(state) and torch.equal(loaded["fc.bias"], state["fc.bias"])
    assert verify_folder(out).ok


def test_fusing_into_a_linked_unet_never_writes_the_users_file(tmp_path):
    w = {"blk.attn1.to_q.weight": torch.zeros(3, 4), "other": torch.ones(2)}
    user = tmp_path / "user" / "unet.safetensors"
    _save_st(w, user)
    before = user.read_bytes()
    link = tmp_path / "models" / "unet.safetensors"
    link.parent.mkdir()
    link.symlink_to(user)
    pairs = {"blk.attn1.to_q.weight": (torch.ones(1, 4), torch.ones(3, 1))}
    assert convert.fuse_lora(link, pairs, link) == 1
    assert not link.is_symlink() and user.read_bytes() == before
    assert torch.equal(load_safetensors(link)["blk.attn1.to_q.weight"], torch.ones(3, 4))
