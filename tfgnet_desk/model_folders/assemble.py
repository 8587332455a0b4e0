"""Assembling the full profile: the imported parts in ``<models_dir>/full`` -> one loadable TFGNet folder.

Once SDXL base 1.0, the CodeFormer restorer and PhotoMaker's ID encoder + fusion are all in
``<models_dir>/full`` (placed there by :mod:`importer`, in any order), :func:`assemble_full`
fuses PhotoMaker's LoRA into the SDXL UNet, initialises the training-only pseudo-text MLP, writes
``config.json`` and the folder's MANIFEST.json (every file keeps its own licence and source, from the
part's manifest), and verifies the result, so that ``TFGNet.from_pretrained(<models_dir>/full)`` loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfgnet_desk.model_folders import convert, registry, status
from tfgnet_desk.model_folders.import_detect import ImportError_
from tfgnet_desk.model_folders.manifest import MANIFEST_NAME, read_manifest, verify_folder, write_manifest

Log = Callable[[str], None]
LORA_FUSED = "PhotoMaker v1 LoRA fused"  # in the UNet manifest's source: the LoRA is fused only once


def assemble_full(models_dir: Path, tfg_config=None, log: Log = print) -> Path | None:
    """When every part is in ``<models_dir>/full``, make it a loadable TFGNet folder; else None."""
    from tfgnet_desk.model.config import TFGNetConfig

    cfg = tfg_config or TFGNetConfig.full()
    full_dir = Path(models_dir) / "full"
    missing = status.full_parts_missing(full_dir)
    if missing:
        log(f"full profile not complete yet: still needs {', '.join(missing)}")
        return None
    lora = full_dir / "photomaker_lora" / convert.WEIGHTS
    unet_dir = full_dir / "unet"
    if lora.is_file() and LORA_FUSED not in status.manifest_source(unet_dir):
        weights = unet_dir / "diffusion_pytorch_model.safetensors"
        # fuse_lora writes a new file and renames it over this path: a symlink to the user's own copy is
        # replaced, never written through
        n = convert.fuse_lora(weights, convert.read_lora(lora), weights)
        write_manifest(
            unet_dir,
            licence=f"{registry.SDXL_LICENCE}; LoRA: {convert.PHOTOMAKER_LICENCE}",
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
    """The pseudo-text MLP (trained only in stage 2), seeded so that every assembly writes the same one."""
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
    from tfgnet_desk.model_folders.manifest import save_manifest, sha256_file

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
    return save_manifest(folder, entries)
