"""Assemble a shippable model folder from a training run: ``python -m tfgnet_desk.train.assemble``.

Reads the joint stage's exported TFGNet (``<run>/joint/export/model``), optionally swaps in a restorer
exported later by the ``transformer`` stage (it can keep training while the joint stage runs, since the
joint stage uses the restorer frozen), casts to fp16 and writes the folder with ``TFGNet.save_pretrained``
(config, one sub-folder per component, MANIFEST.json with licence and source per file). The per-stage
figures for the model card (steps, wall time, final losses) are collected into ``training.json``.

``--base MODEL_DIR`` starts from a shipped model folder instead of the joint export: a run that retrained
only some stages (say the restorer's ``fidelity`` stage) updates those stages' figures in the base's
``training.json`` and keeps the rest. ``--fidelity W`` records the restorer's default fidelity weight
(``config.fidelity``), chosen by measurement. A joint stage that fine-tuned a model folder
(``base_model`` in its config) keeps that folder's ``training.json`` history the same way.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from tfgnet_desk.train.config import STAGES

LICENCE = (
    "derived from UTKFace and CelebA: non-commercial research only "
    "(see MODEL_CARD.md; the training images' own terms apply)"
)
SOURCE = (
    "trained by tfgnet-desk (python -m tfgnet_desk.train) on ../shared/data (utkface, celeba10k train split)"
)


def stage_summary(run: Path) -> dict[str, dict]:
    """Steps, wall time and the last logged losses of each stage folder under ``run``."""
    out: dict[str, dict] = {}
    for stage in STAGES:
        log = run / stage / "log.csv"
        if not log.exists():
            continue
        rows = list(csv.DictReader(open(log)))
        if not rows:
            continue
        last = rows[-1]
        tail = rows[-10:]
        means = {}
        for k in last:
            if k in ("step", "elapsed_s", "cpu_s", "lr"):
                continue
            vals = [float(r[k]) for r in tail if r.get(k) not in (None, "")]
            if vals:
                means[k] = round(sum(vals) / len(vals), 4)
        cfg_path = run / stage / "config.json"
        out[stage] = {
            "steps": int(last["step"]),
            "wall_minutes": round(float(last["elapsed_s"]) / 60, 1),
            "cpu_seconds": round(float(last["cpu_s"])) if last.get("cpu_s") else None,
            "final_losses_mean_last_10_logged": means,
        }
        if cfg_path.exists():
            out[stage]["config"] = json.loads(cfg_path.read_text())
    return out


def merge_history(run: Path, base: Path | None = None) -> dict[str, dict]:
    """``training.json`` for the assembled folder: the history of ``base`` (or of the model the run's
    joint stage fine-tuned, its ``base_model``) with this run's stages on top. A stage trained again
    keeps its earlier record under ``earlier`` (steps and time spent on a model are never dropped)."""
    new = stage_summary(run)
    joint_cfg = new.get("joint", {}).get("config", {})
    origin = base if base is not None else joint_cfg.get("params", {}).get("base_model")
    summary: dict[str, dict] = {}
    if origin is not None and (Path(origin) / "training.json").exists():
        summary = json.loads((Path(origin) / "training.json").read_text())
    for stage, record in new.items():
        if stage in summary and summary[stage].get("config") != record.get("config"):
            record = {**record, "earlier": summary[stage]}
        summary[stage] = record
    return summary


def swap_restorer(model, restorer: Path) -> None:
    """Load exported restorer weights into ``model``; when the ``restorer.json`` beside them describes a
    different architecture (say a fuse level the fidelity stage added), rebuild the restorer to it and
    record it in ``model.config``."""
    from tfgnet_desk.model.restorer import CodeFormerRestorer, RestorerConfig
    from tfgnet_desk.train.checkpoint import load_component

    sidecar = Path(restorer).parent / "restorer.json"
    if sidecar.exists():
        rcfg = RestorerConfig.from_dict(json.loads(sidecar.read_text()))
        if rcfg != model.config.restorer:
            old = next(model.restorer.parameters())
            model.config.restorer = rcfg
            model.restorer = CodeFormerRestorer(rcfg).to(device=old.device, dtype=old.dtype)
    load_component(model.restorer, Path(restorer))


def swap_vae(model, vae: Path) -> None:
    """Load exported VAE weights into ``model``. Only a VAE of the same sizes and latent scaling factor
    (a decoder fine-tune, stage ``vae`` with ``decoder_only``) fits the UNet already trained on the
    model's latents; anything else is refused."""
    from tfgnet_desk.train.checkpoint import load_component

    sidecar = Path(vae).parent / "vae.json"
    if sidecar.exists():
        new = json.loads(sidecar.read_text())
        old = json.loads(json.dumps(dict(model.vae.config)))  # tuples as lists, as in the sidecar
        differs = sorted(k for k, v in new.items() if not k.startswith("_") and k in old and old[k] != v)
        if differs:
            raise ValueError(f"{vae}: the VAE differs from the model's in {differs}; retrain the UNet on it")
    load_component(model.vae, Path(vae))


def assemble(
    run: Path,
    out: Path,
    restorer: Path | None = None,
    base: Path | None = None,
    fidelity: float | None = None,
    vae: Path | None = None,
) -> Path:
    import torch

    from tfgnet_desk.model.tfgnet import TFGNet

    model = TFGNet.from_pretrained(base if base is not None else run / "joint" / "export" / "model")
    if restorer is not None:
        swap_restorer(model, restorer)
    if vae is not None:
        swap_vae(model, vae)
    if fidelity is not None:
        if not 0.0 <= fidelity <= 1.0:
            raise ValueError(f"fidelity must be in [0, 1], got {fidelity}")
        model.config.fidelity = float(fidelity)
    summary = merge_history(run, base)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp, dtype=torch.float16, licence=LICENCE, source=SOURCE)
    (tmp / "training.json").write_text(json.dumps(summary, indent=1) + "\n")
    keep = [p for p in ("MODEL_CARD.md",) if (out / p).exists()]
    for name in keep:
        shutil.copy2(out / name, tmp / name)
    write_manifest(tmp, licence=LICENCE, source=SOURCE)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def write_manifest(folder: Path, licence: str = LICENCE, source: str = SOURCE) -> None:
    """(Re)write MANIFEST.json over every file, the model card and training.json included. A faceres ID
    encoder's files name the pretrained network's licences beside the training data's."""
    from tfgnet_desk.model_folders.manifest import save_manifest
    from tfgnet_desk.model_folders.manifest import write_manifest as _write

    manifest = _write(folder, licence=licence, source=source)
    enc = folder / "image_encoder" / "config.json"
    if not (enc.is_file() and json.loads(enc.read_text()).get("backbone") == "faceres"):
        return
    from tfgnet_desk.faces.faceres import faceres_dir

    net = json.loads((faceres_dir() / "config.json").read_text())
    for entry in manifest["files"]:
        if entry["path"].startswith("image_encoder/"):
            entry["licence"] = f"faceres network weights: {net['licence']}; centre and projection: {licence}"
            entry["source"] = f"{net['source']} (HSE FaceRec MobileNet); projection fitted by {SOURCE}"
    save_manifest(folder, manifest["files"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/tiny"))
    ap.add_argument("--out", type=Path, default=Path("models/tiny"))
    ap.add_argument("--restorer", type=Path, default=None, help="a later restorer.safetensors to ship")
    ap.add_argument(
        "--base", type=Path, default=None, help="start from this model folder instead of the joint export"
    )
    ap.add_argument(
        "--vae", type=Path, default=None, help="a decoder fine-tune's vae.safetensors (same latent space)"
    )
    ap.add_argument("--fidelity", type=float, default=None, help="the restorer's default w, in [0, 1]")
    ap.add_argument("--manifest-only", action="store_true", help="re-hash an edited folder (model card)")
    args = ap.parse_args(argv)
    if args.manifest_only:
        write_manifest(args.out)
        print(f"rewrote {args.out / 'MANIFEST.json'}")
        return
    folder = assemble(args.run, args.out, args.restorer, args.base, args.fidelity, args.vae)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"wrote {folder} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
