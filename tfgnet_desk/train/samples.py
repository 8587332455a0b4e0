"""A sample sheet of the model for the docs: ``python -m tfgnet_desk.train.samples``.

For a few faces of the split's ``val`` pool (never trained on), the clean crop is degraded (paper A.1 or
the surveillance tier, seeded) and run through ``TFGNetPipeline`` at the app's defaults (strength,
steps, guidance, fusion, the model's fidelity) with the face's templated caption. Each row holds:

    restored | 4 candidates | per flip attribute: without it | with it

The flip pairs are the evaluation's (``evaluate.flip``): the caption with the attribute stated and removed,
same seed, candidate 0 of each. The data set's terms forbid copying its images into the repository, so the
committed sheet holds **model outputs only**; ``--show-inputs`` adds the clean photo and the low-quality
input in front of each row, for a person to look at, and must be written outside the repository
(e.g. ``.cache/samples/``, ignored). Prompts and parameters are written beside the sheet as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

TIERS = ("a1", "surveillance")


def _degrade(hq: np.ndarray, tier: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    from tfgnet_desk.degrade import degrade, degrade_surveillance

    if tier == "a1":
        lq, params = degrade(hq, rng, lq_size=128)
    else:
        lq, params = degrade_surveillance(hq, rng, lq_size=128)
    return lq, params.to_dict()


def build_sheet(
    model: Path,
    data: Path,
    out: Path,
    faces: int = 4,
    n: int = 4,
    seed: int = 0,
    tier: str = "a1",
    show_inputs: bool = False,
) -> Path:
    import torch

    from tfgnet_desk.data import Splits, caption_for, load_face
    from tfgnet_desk.data.captions import find_class_word
    from tfgnet_desk.data.datasets import load_records
    from tfgnet_desk.evaluate.flip import flip_texts
    from tfgnet_desk.evaluate.metrics.analyst import stated_gender
    from tfgnet_desk.pipeline import GenerationRequest, TFGNetPipeline
    from tfgnet_desk.score_labels import candidate_label

    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}, not {tier!r}")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    val = set(Splits.load().val)
    recs = [r for r in load_records(data, "celeba10k") if r.key in val]
    rng = np.random.default_rng(seed)
    pipe = TFGNetPipeline.from_pretrained(model, identity_encoder=None)
    defaults = GenerationRequest(images=[], prompt="")
    chosen, prompts = [], []
    for i in rng.permutation(len(recs)):  # seeded val faces whose caption has a class word
        rec = recs[int(i)]
        prompt = caption_for(rec, np.random.default_rng([seed, len(chosen), 1]))
        if find_class_word(prompt) is None:
            continue
        chosen.append(rec)
        prompts.append(prompt)
        if len(chosen) == faces:
            break
    rows, meta, columns = [], [], []
    for k, (rec, prompt) in enumerate(zip(chosen, prompts, strict=True)):
        hq = load_face(rec, 128)
        lq, params = _degrade(hq, tier, np.random.default_rng([seed, k]))
        base = dict(images=[lq], seed=seed + 100 * k)
        res = pipe(GenerationRequest(prompt=prompt, n_candidates=n, **base))
        row = ([hq, lq] if show_inputs else []) + [res.restored[0]] + [c.image for c in res.candidates]
        cols = (["clean photo", "low-quality input"] if show_inputs else []) + ["restored"]
        cols += [f"candidate {candidate_label(i)}" for i in range(n)]
        flips = {}
        for attr, (added, removed) in flip_texts(prompt, stated_gender(prompt)).items():
            pair = []
            for text in (removed, added):
                pair.append(pipe(GenerationRequest(prompt=text, n_candidates=1, **base)).candidates[0].image)
            row += pair
            flips[attr] = {"without": removed, "with": added}
        blank = np.full_like(res.restored[0], 255)
        while len(row) < len(cols) + 6:  # rows without beard keep the sheet rectangular
            row.append(blank)
        rows.append(np.concatenate(row, axis=1))
        if not columns:
            columns = cols
        meta.append(
            {
                "row": k,
                "prompt": prompt,
                "degradation": {"tier": tier, **params},
                "seeds": [seed + 100 * k + i for i in range(n)],
                "flip_pairs (candidate 0, same seed)": flips,
            }
        )
    columns += ["eyeglasses: without", "eyeglasses: with", "smiling: without", "smiling: with"]
    columns += ["beard: without (male captions)", "beard: with"]
    sheet = np.concatenate(rows, axis=0)
    from PIL import Image, PngImagePlugin

    out.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    note = "SYNTHETIC: tfgnet-desk generated faces (not photographs of real people)"
    if show_inputs:
        note = "CONTAINS DATA SET IMAGES (clean photo, low-quality input): do not commit or share"
    info.add_text("Comment", note)
    Image.fromarray(sheet).save(out, pnginfo=info)
    used = pipe.resolve_defaults(defaults)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "model": str(model),
                "columns": columns,
                "app_defaults": {
                    "strength": used.strength,
                    "steps": used.steps,
                    "guidance": used.guidance,
                    "fidelity": used.fidelity,
                    "restore_fusion": used.restore_fusion,
                    "candidate_fusion": used.candidate_fusion,
                },
                "rows": meta,
            },
            indent=1,
        )
        + "\n"
    )
    return out


def safe_for_inputs(out: Path, repo: Path | None = None) -> bool:
    """Whether a sheet with data set images may go to ``out``: outside ``repo`` (default: the working
    folder) or under its ignored ``.cache/`` or ``runs/``."""
    repo = (repo or Path.cwd()).resolve()
    parents = list(out.resolve().parents)
    if repo not in parents:
        return True
    return any(p.parent == repo and p.name in (".cache", "runs") for p in parents)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("models/tiny"))
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("docs/samples/tiny_candidates.png"))
    ap.add_argument("--faces", type=int, default=4)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tier", choices=TIERS, default="a1")
    ap.add_argument(
        "--show-inputs",
        action="store_true",
        help="add the clean photo and the low-quality input (data set images: write outside the repo)",
    )
    args = ap.parse_args(argv)
    from tfgnet_desk.data import resolve_data_root

    if args.show_inputs and not safe_for_inputs(args.out):
        raise SystemExit("--show-inputs writes data set images: put --out under .cache/ or outside the repo")
    path = build_sheet(
        args.model,
        resolve_data_root(args.data),
        args.out,
        args.faces,
        args.n,
        args.seed,
        args.tier,
        args.show_inputs,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
