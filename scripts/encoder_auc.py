"""Identity ROC AUC of the ID image encoder on the val pool (issue 15: "at least 0.90").

The encoder is a CLIP vision tower or the faceres ID encoder (``model/id_encoder.py``).

For every pair of val-pool CelebA faces in the training cache (``.cache/train``, built by
``python -m tfgnet_desk.train.facecache``), "same" when both photos show one identity: the AUC of the
centred cosine of the projected image embeddings (the vector the fusion MLP reads), clean vs clean and
degraded (A.1 bank, version 0) vs clean. The teacher's own AUC (faceres features from ``teacher.npz``)
is printed beside it as the ceiling a distilled encoder can approach.

    python scripts/encoder_auc.py --model models/tiny
    python scripts/encoder_auc.py --encoder runs/r9/clip/export     # a clip-stage export
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from tfgnet_desk.faces.bench import roc_auc
from tfgnet_desk.model import embed as E
from tfgnet_desk.train.data import CachedFaces, to_tensor


def pair_auc(a: np.ndarray, b: np.ndarray, ident: np.ndarray, same_set: bool) -> float:
    """ROC AUC of the cosine between rows of ``a`` and ``b`` (unit-norm), same vs different identity.
    A photo is never paired with itself (nor, for two views of one set, counted twice):
    ``same_set`` keeps the upper triangle, otherwise every off-diagonal pair."""
    sim = a @ b.T
    same = ident[:, None] == ident[None, :]
    n = len(ident)
    keep = np.triu(np.ones((n, n), bool), 1) if same_set else ~np.eye(n, dtype=bool)
    return roc_auc(sim[same & keep], sim[~same & keep])


def centred_unit(x: np.ndarray, centre: np.ndarray) -> np.ndarray:
    y = x - centre
    return y / np.linalg.norm(y, axis=1, keepdims=True).clip(1e-8)


def load_encoder(model: Path | None, encoder: Path | None):
    from tfgnet_desk.train.checkpoint import load_component

    if model is not None:  # a CLIP vision tower or the faceres ID encoder, as the folder's config says
        from tfgnet_desk.model.config import TFGNetConfig

        enc = E.build_image_encoder(TFGNetConfig.from_json(model / "config.json").clip)
        load_component(enc, model / "image_encoder" / "model.safetensors")
        return enc.float().eval()

    spec = E.EncoderSpec.from_dict(json.loads((encoder / "encoders.json").read_text()))
    enc = E.build_image_encoder(spec)
    load_component(enc, encoder / "image_encoder.safetensors")
    return enc.eval()


@torch.no_grad()
def embed_all(enc, faces: np.ndarray, batch: int = 64) -> np.ndarray:
    out = [
        E.encode_images(enc, to_tensor(np.array(faces[i : i + batch]))).numpy()
        for i in range(0, len(faces), batch)
    ]
    return np.concatenate(out).astype(np.float64)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", type=Path, help="a model folder (its image_encoder/)")
    src.add_argument("--encoder", type=Path, help="a clip-stage export folder")
    ap.add_argument("--cache", type=Path, default=Path(".cache/train"))
    ap.add_argument(
        "--data", type=Path, default=None, help="face data (default: ../shared/data or TFGNET_DATA)"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    from tfgnet_desk.data import resolve_data_root

    torch.manual_seed(0)
    teacher = "faceres" if (args.cache / "teacher.npz").exists() else "dlib"
    val = CachedFaces(
        args.cache, resolve_data_root(args.data), pools=("val",), flip=False, identity_teacher=teacher
    )
    rows = np.flatnonzero(val.identity >= 0)
    ident = val.identity[rows]
    clean = val.faces[val.rows_all[rows]]
    lq = val.lq_banks[0][0][val.rows_all[rows]]
    enc = load_encoder(args.model, args.encoder)
    e_clean, e_lq = embed_all(enc, clean), embed_all(enc, lq)
    centre = e_clean.mean(0)
    c, d = centred_unit(e_clean, centre), centred_unit(e_lq, centre)
    out = {
        "faces": int(len(rows)),
        "identities": int(len(set(ident.tolist()))),
        "clean_vs_clean": pair_auc(c, c, ident, True),
        "degraded_vs_clean": pair_auc(d, c, ident, False),
    }
    if teacher == "faceres" and val.has_desc[rows].all():
        t = val.desc[rows].astype(np.float64)
        t = centred_unit(t, t.mean(0))
        out["teacher_faceres_clean_vs_clean"] = pair_auc(t, t, ident, True)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
