"""``models import``: recognise what a user already has, check it, place it in the model folder.

Accepted inputs (see ``registry.Component.accepts``): a diffusers folder or Hugging Face cache snapshot
(SDXL base 1.0, CLIP, DINO), an insightface pack (folder or zip), a TFGNet model folder, and the public
pickle checkpoints that are converted to safetensors (``codeformer.pth``, ``photomaker-v1.bin``,
torchvision / LPIPS / pytorch-fid ``.pth``). Weights are checked tensor by tensor against the network
they are for (shapes read from safetensors headers, networks built on the meta device) before they are
copied, and every folder written gets a MANIFEST.json (sha256, size, licence, source).

Once the full profile's parts are all in ``<models_dir>/full`` (SDXL, restorer, ID encoder + fusion),
:func:`assemble_full` fuses PhotoMaker's LoRA into the UNet, initialises the training-only pseudo-text
MLP, writes ``config.json`` and the folder's MANIFEST.json (every file with its own licence and source),
so that ``TFGNet.from_pretrained(<models_dir>/full)`` loads it.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfgnet_desk import convert, registry
from tfgnet_desk.weights import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    WeightsError,
    read_manifest,
    verify_folder,
    write_manifest,
)

Log = Callable[[str], None]
SDXL_LICENCE = "CreativeML Open RAIL++-M"
LORA_FUSED = "PhotoMaker v1 LoRA fused"


class ImportError_(WeightsError):  # noqa: N801 - "ImportError" is a builtin
    """The input is not recognised, or does not match what its component must provide."""


@dataclass
class ImportResult:
    component: str
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ detect
def resolve_hf_cache(src: Path) -> Path:
    """``models--org--name`` (a Hugging Face cache repo) -> its newest snapshot; other paths unchanged."""
    snaps = src / "snapshots"
    if src.name.startswith("models--") and snaps.is_dir():
        candidates = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise ImportError_(f"{src} is a Hugging Face cache folder without snapshots")
        return candidates[-1]
    return src


def _json(path: Path) -> dict[str, Any]:
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
    if name.endswith((".pth", ".bin", ".pt", ".ckpt")):
        return _detect_checkpoint(src)
    raise ImportError_(f"{src}: not a file tfgnet-desk imports ({_accepted()})")


def _accepted() -> str:
    return "; ".join(f"{c.name}: {c.accepts}" for c in registry.COMPONENTS)


def _pack_from_names(names: list[str], src: Path) -> str:
    for pack in ("buffalo_l", "antelopev2"):
        rec = registry.get(pack).files[0].path
        if rec in names:
            return pack
    raise ImportError_(f"{src}: no insightface recognition network (w600k_r50.onnx or glintr100.onnx) in it")


def _detect_checkpoint(src: Path) -> str:
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
    index = _json(src / "model_index.json")
    if index.get("_class_name", "").startswith("StableDiffusionXL") or (
        (src / "unet").is_dir() and (src / "text_encoder_2").is_dir() and not (src / MANIFEST_NAME).is_file()
    ):
        return "sdxl-base-1.0"
    config = _json(src / "config.json")
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
    onnx = [p.name for p in src.glob("*.onnx")]
    if onnx:
        return _pack_from_names(onnx, src)
    for pack in ("buffalo_l", "antelopev2"):
        for sub in (src / pack, src / "models" / pack):
            if sub.is_dir():
                return pack
    raise ImportError_(f"{src}: folder not recognised ({_accepted()})")


# ------------------------------------------------------------------------------------------ helpers
def place(src: Path, dst: Path, link: bool = False) -> Path:
    """Copy ``src`` to ``dst`` (symlinks resolved), or symlink it when ``link``; replaces ``dst``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    real = src.resolve()
    if link:
        os.symlink(real, dst)
    else:
        tmp = dst.with_name(dst.name + ".part")
        shutil.copyfile(real, tmp)
        tmp.replace(dst)
    return dst


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from a safetensors header (no tensor data is read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as fh:
        return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}


def _pick(folder: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        if (folder / n).is_file():
            return folder / n
    return None


# --------------------------------------------------------------------------------------------- SDXL
_SDXL_WEIGHTS = {
    "unet": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"),
    "vae": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"),
    "text_encoder": ("model.safetensors", "model.fp16.safetensors"),
    "text_encoder_2": ("model.safetensors", "model.fp16.safetensors"),
}


def _sdxl_expected(tfg_config) -> dict[str, dict[str, tuple[int, ...]]]:
    from tfgnet_desk.model import embed
    from tfgnet_desk.model.generator import build_vae

    encoders = convert._meta(lambda: embed.build_text_encoders(tfg_config.clip))
    return {
        "unet": convert.unet_shapes(tfg_config),
        "vae": convert.shapes_of(convert._meta(lambda: build_vae(tfg_config.generator))),
        "text_encoder": convert.shapes_of(encoders[0]),
        "text_encoder_2": convert.shapes_of(encoders[1]),
    }


def import_sdxl(src: Path, full_dir: Path, tfg_config, link: bool, log: Log) -> list[Path]:
    expected = _sdxl_expected(tfg_config)
    written = []
    for part in registry.SDXL_PARTS:
        s, d = src / part, full_dir / part
        if not s.is_dir():
            raise ImportError_(f"{src} has no {part}/ folder (is it the full SDXL base 1.0 repository?)")
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        if part in _SDXL_WEIGHTS:
            w = _pick(s, _SDXL_WEIGHTS[part])
            if w is None:
                pickles = [p.name for p in s.glob("*.bin")]
                why = f" (only pickle files {pickles}: use the .safetensors variant)" if pickles else ""
                raise ImportError_(f"{s} has no {' or '.join(_SDXL_WEIGHTS[part])}{why}")
            shapes = safetensors_shapes(w)
            extra = [k for k in shapes if k not in expected[part] and convert.DROPPABLE.search(k)]
            convert.check_state(
                {k: _Shape(v) for k, v in shapes.items() if k not in extra}, expected[part], f"{w}"
            )
            target = d / _SDXL_WEIGHTS[part][0]
            if extra:  # rewrite without the stale buffers
                from tfgnet_desk.weights import load_safetensors, save_safetensors

                state = load_safetensors(w)
                save_safetensors({k: v for k, v in state.items() if k not in extra}, target)
            else:
                place(w, target, link)
            log(f"  {part}: {w.name} checked ({len(shapes)} tensors)")
        for f in s.iterdir():
            if f.is_file() and f.suffix in (".json", ".txt") and not (d / f.name).exists():
                place(f, d / f.name, link=False)
        write_manifest(d, licence=SDXL_LICENCE, source=f"{registry.SDXL_REPO} ({part}/), imported from {src}")
        written.append(d)
    return written


class _Shape:
    """A stand-in with ``.shape`` so that header shapes go through :func:`convert.check_state`."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape


# ----------------------------------------------------------------------------------------- CLIP L/14
def import_clip_vision(src: Path, full_dir: Path, tfg_config, link: bool, log: Log) -> list[Path]:
    from tfgnet_desk.weights import load_safetensors

    if (full_dir / "image_encoder" / MANIFEST_NAME).is_file() and "PhotoMaker" in _source_of(
        full_dir / "image_encoder"
    ):
        raise ImportError_(
            f"{full_dir / 'image_encoder'} already holds PhotoMaker's fine-tuned ID encoder; plain CLIP "
            "ViT-L/14 would replace it. Remove that folder first if that is what you want."
        )
    w = src / "model.safetensors"
    if not w.is_file():
        raise ImportError_(f"{src} has no model.safetensors (pickle .bin files are not accepted)")
    state = {k: v for k, v in load_safetensors(w).items() if k.startswith(convert.ID_ENCODER_PREFIXES)}
    expected, _ = convert.photomaker_shapes(tfg_config)
    state = convert._drop_buffers(state, expected)
    convert.check_state(state, expected, f"{w} (vision tower)")
    from transformers import CLIPVisionConfig

    vision_config = CLIPVisionConfig(**tfg_config.clip.vision).to_dict()
    out = convert._write(
        full_dir / "image_encoder",
        state,
        vision_config,
        "MIT (OpenAI CLIP)",
        f"{registry.CLIP_L_REPO}: vision tower extracted by tfgnet-desk from {src}",
    )
    log(f"  image_encoder: {len(state)} tensors from {w.name}")
    return [out]


def _source_of(folder: Path) -> str:
    try:
        files = read_manifest(folder)["files"]
    except WeightsError:
        return ""
    return " ".join(str(f.get("source", "")) for f in files[:1])


# ------------------------------------------------------------------------------------- other parts
def import_files(comp: registry.Component, src: Path, models_dir: Path, link: bool, log: Log) -> list[Path]:
    """Folders whose files are taken as they are (metric backbones in HF layout, insightface packs)."""
    dest = comp.path(models_dir)
    if src.is_file() and src.suffix.lower() == ".zip":
        return [_unzip_pack(comp, src, dest, log)]
    if src.is_dir() and not any((src / f.path).is_file() for f in comp.files):
        for sub in (src / comp.name, src / "models" / comp.name):
            if sub.is_dir():
                src = sub
    wanted = [f for f in comp.files if (src / f.path).is_file() or (src.is_file() and src.name == f.path)]
    missing = [f.path for f in comp.files if f.required and f not in wanted]
    if missing:
        raise ImportError_(f"{src} lacks {', '.join(missing)} for {comp.name}")
    for f in wanted:
        place(src if src.is_file() else src / f.path, dest / f.path, link)
    write_manifest(dest, licence=comp.licence, source=f"{comp.source}, imported from {src}")
    log(f"  {comp.name}: {len(wanted)} files into {dest}")
    return [dest]


def _unzip_pack(comp: registry.Component, src: Path, dest: Path, log: Log) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {f.path for f in comp.files}
    n = 0
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            base = Path(info.filename).name  # flattened: no path from the archive is ever used
            if base in wanted and not info.is_dir():
                tmp = dest / (base + ".part")
                with zf.open(info) as fi, open(tmp, "wb") as fo:
                    shutil.copyfileobj(fi, fo, 1 << 20)
                tmp.replace(dest / base)
                n += 1
    missing = [f.path for f in comp.files if f.required and not (dest / f.path).is_file()]
    if missing:
        raise ImportError_(f"{src} lacks {', '.join(missing)}")
    write_manifest(dest, licence=comp.licence, source=f"{comp.source}, unpacked from {src.name}")
    log(f"  {comp.name}: {n} files unpacked into {dest}")
    return dest


def import_checkpoint(
    comp: registry.Component, src: Path, models_dir: Path, tfg_config, log: Log
) -> list[Path]:
    """The pickle checkpoints: converted, never copied."""
    full_dir = models_dir / "full"
    if comp.name == "restorer-full":
        out = [convert.convert_codeformer(src, full_dir / "restorer", tfg_config.restorer)]
    elif comp.name == "fusion-full":
        out = convert.convert_photomaker(src, full_dir, tfg_config)
    elif comp.name == "vgg19":
        dest = comp.path(models_dir)
        convert.convert_vgg19(src, dest / "model.safetensors")
        write_manifest(dest, licence=comp.licence, source=convert._source("torchvision VGG19", src))
        out = [dest]
    else:
        dest = comp.path(models_dir)
        keys = set(convert.load_checkpoint(src))
        if comp.name == "lpips-alex":
            fname = (
                "lpips_lin.safetensors" if any(k.startswith("lin0.") for k in keys) else "alexnet.safetensors"
            )
        else:
            fname = comp.files[0].path
        convert.convert_plain(src, dest / fname)
        write_manifest(dest, licence=comp.licence, source=convert._source(comp.title, src))
        out = [dest]
    for p in out:
        log(f"  converted {src.name} -> {p}")
    return out


def import_model_folder(name: str, src: Path, models_dir: Path, link: bool, log: Log) -> list[Path]:
    """A folder written by ``TFGNet.save_pretrained``: verified, then copied as it is."""
    report = verify_folder(src)
    if not report.ok:
        raise ImportError_(report.message())
    dest = models_dir / name
    if dest.resolve() == src.resolve():
        return [dest]
    if dest.exists():
        shutil.rmtree(dest)
    for p in sorted(src.rglob("*")):
        if p.is_file():
            place(p, dest / p.relative_to(src), link)
    log(f"  {name}: {len(report.present)} files verified and copied to {dest}")
    return [dest]


# ------------------------------------------------------------------------------------------- assemble
def full_parts_missing(full_dir: Path) -> list[str]:
    need = {"sdxl-base-1.0", "restorer-full"}
    missing = []
    for name in sorted(need):
        comp = registry.get(name)
        if any(f.required and not (full_dir / f.path).is_file() for f in comp.files):
            missing.append(name)
    if (
        not (full_dir / "image_encoder" / "model.safetensors").is_file()
        or not (full_dir / "fusion" / "model.safetensors").is_file()
    ):
        missing.append("fusion-full")
    return missing


def assemble_full(models_dir: Path, tfg_config=None, log: Log = print) -> Path | None:
    """When every part is in ``<models_dir>/full``, make it a loadable TFGNet folder; else None."""
    from tfgnet_desk.model.config import TFGNetConfig

    cfg = tfg_config or TFGNetConfig.full()
    full_dir = Path(models_dir) / "full"
    missing = full_parts_missing(full_dir)
    if missing:
        log(f"full profile not complete yet: still needs {', '.join(missing)}")
        return None
    lora = full_dir / "photomaker_lora" / convert.WEIGHTS
    unet_dir = full_dir / "unet"
    if lora.is_file() and LORA_FUSED not in _source_of(unet_dir):
        weights = unet_dir / "diffusion_pytorch_model.safetensors"
        # fuse_lora writes a new file and renames it over this path: a symlink to the user's own copy is
        # replaced, never written through
        n = convert.fuse_lora(weights, convert.read_lora(lora), weights)
        write_manifest(
            unet_dir,
            licence=f"{SDXL_LICENCE}; LoRA: {convert.PHOTOMAKER_LICENCE}",
            source=f"{registry.SDXL_REPO} UNet with the {LORA_FUSED} (scale 1.0, {n} weights)",
        )
        log(f"  unet: PhotoMaker LoRA fused into {n} attention weights")
    pseudo = full_dir / "pseudo_text"
    if not (pseudo / convert.WEIGHTS).is_file():
        _init_pseudo_text(pseudo, cfg)
        log("  pseudo_text: initialised (seed 0; trained only by stage-2 training)")
    cfg.to_json(full_dir / "config.json")
    write_merged_manifest(full_dir)
    report = verify_folder(full_dir, check_hashes=False)
    if not report.ok:
        raise ImportError_(report.message())
    log(f"full profile assembled in {full_dir} (manifest {report.manifest_hash[:12]})")
    return full_dir


def _init_pseudo_text(folder: Path, cfg) -> None:
    import torch

    from tfgnet_desk.model.fusion import PseudoTextMLP

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mlp = PseudoTextMLP(cfg.fusion.embed_dim, cfg.fusion.embed_dim, cfg.fusion.pseudo_text_tokens)
    config = {
        "_class_name": "PseudoTextMLP",
        "in_dim": cfg.fusion.embed_dim,
        "out_dim": cfg.fusion.embed_dim,
        "num_tokens": cfg.fusion.pseudo_text_tokens,
    }
    convert._write(
        folder,
        mlp.state_dict(),
        config,
        "Apache-2.0 (tfgnet-desk)",
        "initialised by tfgnet-desk (seed 0); untrained, used only by stage-2 training",
    )


def write_merged_manifest(folder: Path) -> dict[str, Any]:
    """The folder's MANIFEST.json from its parts' manifests (each file keeps its licence and source);
    files no part lists (``config.json`` and the like) are hashed and attributed to tfgnet-desk."""
    from tfgnet_desk.weights import hash_entries, sha256_file

    entries: list[dict[str, Any]] = []
    listed: set[str] = set()
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (sub / MANIFEST_NAME).is_file():
            for e in read_manifest(sub)["files"]:
                rel = f"{sub.name}/{e['path']}"
                entries.append({**e, "path": rel})
                listed.add(rel)
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and p.name != MANIFEST_NAME and rel not in listed and not p.name.startswith("."):
            entries.append(
                {
                    "path": rel,
                    "sha256": sha256_file(p),
                    "size": p.stat().st_size,
                    "licence": "Apache-2.0 (tfgnet-desk)",
                    "source": "written by tfgnet-desk models import",
                }
            )
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "files": entries,
        "manifest_hash": hash_entries(entries),
    }
    tmp = folder / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(folder / MANIFEST_NAME)
    return manifest


# ----------------------------------------------------------------------------------------------- main
def import_path(
    src: Path | str,
    models_dir: Path | str,
    as_name: str | None = None,
    link: bool = False,
    tfg_config=None,
    log: Log = print,
) -> ImportResult:
    """Recognise ``src`` (or take ``as_name``), check it, place it, write MANIFESTs; assemble ``full``."""
    src, models_dir = Path(src).expanduser(), Path(models_dir).expanduser()
    if not src.exists():
        raise ImportError_(f"{src} does not exist")
    name = as_name or detect(src)
    comp = registry.get(name)
    if src.is_dir():
        src = resolve_hf_cache(src)
    log(f"importing {src} as {name} ({comp.title})")
    result = ImportResult(name)
    if name in ("tiny", "full") or (src.is_dir() and "profile" in _json(src / "config.json")):
        result.written = import_model_folder(name, src, models_dir, link, log)
        return result
    if comp.group == "full" or name == "vgg19":  # the networks to check against (imports torch models)
        from tfgnet_desk.model.config import TFGNetConfig

        cfg = tfg_config or TFGNetConfig.full()
    else:
        cfg = None
    if src.is_file() and src.suffix.lower() in (".pth", ".bin", ".pt", ".ckpt"):
        result.written = import_checkpoint(comp, src, models_dir, cfg, log)
    elif name == "sdxl-base-1.0":
        result.written = import_sdxl(src, models_dir / "full", cfg, link, log)
    elif name == "clip-vit-large-patch14":
        result.written = import_clip_vision(src, models_dir / "full", cfg, link, log)
    else:
        result.written = import_files(comp, src, models_dir, link, log)
    if comp.group == "full":
        assembled = assemble_full(models_dir, cfg, log)
        if assembled is not None:
            result.written.append(assembled)
            result.notes.append("full profile ready")
    return result
