"""A sample grid of generated candidates for the docs: ``python -m tfgnet_desk.train.samples``.

For a few faces of the split's ``val`` pool (never trained on), the clean crop is degraded with paper
A.1 (seeded), and the model folder runs through ``TFGNetPipeline`` with the face's templated caption.
Each row of the grid holds ONLY model outputs: the restored face, then ``n`` candidates at strength 0.6,
then ``n`` at strength 1.0 (pure noise, as in the paper). The evidence and the real photo are not drawn,
so the committed PNG contains no copy of the data set's images. The prompts and parameters are written
beside the grid as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def build_grid(
    model: Path,
    data: Path,
    out: Path,
    faces: int = 4,
    n: int = 4,
    steps: int = 20,
    guidance: float = 3.0,
    seed: int = 0,
) -> Path:
    import torch

    from tfgnet_desk.data import Splits, caption_for, load_face
    from tfgnet_desk.data.datasets import load_records
    from tfgnet_desk.degrade import degrade
    from tfgnet_desk.pipeline import GenerationRequest, TFGNetPipeline

    torch.set_num_threads(max(1, torch.get_num_threads()))
    splits = Splits.load()
    val = set(splits.val)
    recs = [r for r in load_records(data, "celeba10k") if r.key in val]
    rng = np.random.default_rng(seed)
    chosen = [recs[i] for i in rng.choice(len(recs), size=faces, replace=False)]
    pipe = TFGNetPipeline.from_pretrained(model, identity_encoder=None)
    rows, meta = [], []
    for k, rec in enumerate(chosen):
        hq = load_face(rec, 128)
        lq, params = degrade(hq, np.random.default_rng([seed, k]), lq_size=128)
        prompt = caption_for(rec, np.random.default_rng([seed, k, 1]))
        row = []
        for strength in (0.6, 1.0):
            req = GenerationRequest(
                images=[lq],
                prompt=prompt,
                n_candidates=n,
                seed=seed + 100 * k,
                steps=steps,
                guidance=guidance,
                strength=strength,
            )
            res = pipe(req)
            if not row:
                row.append(res.restored[0])
            row.extend(c.image for c in res.candidates)
        rows.append(np.concatenate(row, axis=1))
        meta.append(
            {
                "row": k,
                "prompt": prompt,
                "degradation": params.to_dict(),
                "seeds": [seed + 100 * k + i for i in range(n)],
            }
        )
    grid = np.concatenate(rows, axis=0)
    from PIL import Image, PngImagePlugin

    out.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "SYNTHETIC: tfgnet-desk generated candidates (not photographs of real people)")
    Image.fromarray(grid).save(out, pnginfo=info)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "model": str(model),
                "columns": ["restored"]
                + [f"strength 0.6, seed +{i}" for i in range(n)]
                + [f"strength 1.0, seed +{i}" for i in range(n)],
                "steps": steps,
                "guidance": guidance,
                "rows": meta,
            },
            indent=1,
        )
        + "\n"
    )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("models/tiny"))
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("docs/samples/tiny_candidates.png"))
    ap.add_argument("--faces", type=int, default=4)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from tfgnet_desk.data import resolve_data_root

    path = build_grid(
        args.model,
        resolve_data_root(args.data),
        args.out,
        args.faces,
        args.n,
        args.steps,
        args.guidance,
        args.seed,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
