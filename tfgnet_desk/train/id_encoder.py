"""Give a model folder the faceres ID encoder (``model/id_encoder.py``).

    python -m tfgnet_desk.train.id_encoder --base models/tiny --out runs/r12/base [--faces 3000]

Reads ``--faces`` training-pool faces from the training cache (``python -m tfgnet_desk.train.facecache``),
half of them clean and half as the ID images the joint stage and the app feed the encoder (the
restorer's output on the A.1-degraded face), computes their faceres features through the encoder's own
warp, fits the centre and the principal-axes projection (``FaceResIDEncoder.fit``) and writes
``<out>/model``: the base folder's networks with the new image encoder (config ``clip.vision`` names the
backbone; the fusion config follows). The generator reads the ID embedding, so the joint stage is
re-fitted on that folder next (``base_model`` in its config); ``fit.json`` records what was done.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch


def fit_features(model, faces: np.ndarray, lq: np.ndarray, batch: int = 32) -> np.ndarray:
    """faceres features (2N, 1024) of N clean faces and of the restorer's output on their LQ versions."""
    from tfgnet_desk.train.data import to_tensor

    enc, out = model.image_encoder, []
    with torch.no_grad():
        for i in range(0, len(faces), batch):
            clean = to_tensor(np.array(faces[i : i + batch])).float()
            restored = model.restorer.restore(
                to_tensor(np.array(lq[i : i + batch])).float(), w=model.config.fidelity
            )
            out.append(enc.features(clean.clamp(-1, 1)).numpy())
            out.append(enc.features(restored.clamp(-1, 1)).numpy())
    return np.concatenate(out)


def write_history(folder: Path, base: Path, fit: dict) -> None:
    """The base folder's ``training.json`` with this step as its ``id_encoder`` record (so that the joint
    stage fine-tuned on ``folder`` and ``assemble`` keep the whole history), then the manifest again."""
    from tfgnet_desk.model_folders.manifest import write_manifest

    history = json.loads((base / "training.json").read_text()) if (base / "training.json").is_file() else {}
    history["id_encoder"] = {"what": "faceres ID encoder: centre and projection fitted", **fit}
    (folder / "training.json").write_text(json.dumps(history, indent=1) + "\n")
    write_manifest(
        folder,
        licence="see models/tiny/MODEL_CARD.md",
        source="tfgnet-desk python -m tfgnet_desk.train.id_encoder",
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=Path("models/tiny"), help="the model folder to start from")
    ap.add_argument("--out", type=Path, required=True, help="run folder: writes <out>/model and fit.json")
    ap.add_argument("--cache", type=Path, default=Path(".cache/train"))
    ap.add_argument(
        "--data", type=Path, default=None, help="face data (default: ../shared/data or TFGNET_DATA)"
    )
    ap.add_argument(
        "--faces", type=int, default=3000, help="training faces to fit on (each clean + restored)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from tfgnet_desk.data import resolve_data_root
    from tfgnet_desk.model.config import fusion_for
    from tfgnet_desk.model.embed import EncoderSpec, build_image_encoder
    from tfgnet_desk.model.id_encoder import faceres_vision_spec
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.train.data import CachedFaces

    t0, cpu0 = time.time(), time.process_time()
    base = TFGNet.from_pretrained(args.base)
    spec = EncoderSpec(
        vision=faceres_vision_spec(base.config.fusion.image_embed_dim),
        texts=base.config.clip.texts,
        text_hidden_state=base.config.clip.text_hidden_state,
    )
    config = replace(base.config, clip=spec, fusion=fusion_for(spec, base.config.fusion.pseudo_text_tokens))
    encoder = build_image_encoder(spec)
    base.image_encoder = encoder
    train = CachedFaces(args.cache, resolve_data_root(args.data), pools=("train",), flip=False)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(train.rows_all, size=min(args.faces, len(train.rows_all)), replace=False))
    feats = fit_features(base, train.faces[rows], train.lq_banks[0][0][rows])
    report = encoder.fit(feats)
    base.config = config
    folder = base.save_pretrained(
        args.out / "model",
        licence="see models/tiny/MODEL_CARD.md",
        source="tfgnet-desk python -m tfgnet_desk.train.id_encoder",
    )
    fit = {
        "base": str(args.base),
        "faces": int(len(rows)),
        "features": int(len(feats)),
        "seed": args.seed,
        "seconds": round(time.time() - t0, 1),
        "cpu_seconds": round(time.process_time() - cpu0),
        **report,
    }
    (args.out / "fit.json").write_text(json.dumps(fit, indent=1) + "\n")
    write_history(folder, args.base, fit)
    TFGNet.from_pretrained(folder)  # the folder loads (strict) before anything is trained on it
    print(json.dumps(fit, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
