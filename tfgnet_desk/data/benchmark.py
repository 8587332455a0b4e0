"""Build a T2F500 / Face500-style benchmark: (degraded photo, target photo of the same person, text).

Layout written to ``out``::

    out/benchmark.json            # how it was made: source, cases, seed, split file and its sha256, sizes
    out/case_0001/lq.png          # the input: photo A of the identity, A.1-degraded, lq_size (128) square
    out/case_0001/target.png      # the target: photo B of the same identity, clean square crop, 256
    out/case_0001/text.txt        # a description of the target (always with a gender class word)
    out/case_0001/meta.json       # identity, gender, source files, degradation parameters, seeds, text

How a case is made (paper 4.1 "T2F500" and A.1): identities come only from the split's **benchmark**
pool (never in train/val), each used once; two different photos (distinct content hashes) are drawn;
photo A is cut with the shared face crop (:func:`tfgnet_desk.data.load_face`) at ``hq_size`` (512) and
degraded with A.1 from a per-case generator ``default_rng([seed, case_index])``, giving the 128x128 LQ
input; photo B is cut with the same crop at ``target_size`` (default 256: CelebA here is 89x109 with a
~49 px face box, so a larger target would only add interpolated pixels). Everything is deterministic in
``seed`` and the split file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfgnet_desk.data.captions import caption_for
from tfgnet_desk.data.crops import CROP_BOXES, load_face
from tfgnet_desk.data.datasets import FaceRecord
from tfgnet_desk.data.splits import DEFAULT_SPLIT_FILE, Splits
from tfgnet_desk.degrade import DEFAULT_HQ_SIZE, DEFAULT_LQ_SIZE, degrade
from tfgnet_desk.imaging import save_png

BENCHMARK_FORMAT = 1


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def benchmark_pairs(records: list[FaceRecord], cases: int, seed: int) -> list[tuple[FaceRecord, FaceRecord]]:
    """Pick ``cases`` identities (each once) and two different photos of each: (input, target)."""
    by_id: dict[str, list[FaceRecord]] = {}
    for r in records:
        if r.identity is not None:
            by_id.setdefault(r.identity, []).append(r)
    ids = sorted((i for i, rs in by_id.items() if len(rs) >= 2), key=lambda s: (len(s), s))
    if len(ids) < cases:
        raise ValueError(f"the benchmark pool has {len(ids)} identities with two photos; {cases} requested")
    rng = np.random.default_rng(seed)
    chosen = [ids[i] for i in rng.choice(len(ids), size=cases, replace=False)]
    pairs = []
    for ident in chosen:
        photos = sorted(by_id[ident], key=lambda r: r.file)
        a, b = rng.choice(len(photos), size=2, replace=False)
        pairs.append((photos[int(a)], photos[int(b)]))
    return pairs


def build_benchmark(
    root: Path | str,
    out: Path | str,
    source: str = "celeba10k",
    cases: int = 500,
    seed: int = 0,
    split_file: Path | str = DEFAULT_SPLIT_FILE,
    target_size: int = 256,
    lq_size: int = DEFAULT_LQ_SIZE,
    hq_size: int = DEFAULT_HQ_SIZE,
    overwrite: bool = False,
    progress: bool | Callable[[int, int], None] = False,
) -> list[Path]:
    """Write ``cases`` case folders under ``out`` (see the module docstring); returns their paths.

    Refuses to write into a folder that already holds case folders unless ``overwrite``.
    ``progress``: True for a tqdm bar, or a callback ``(done, total)``.
    """
    if source != "celeba10k":
        raise ValueError("only 'celeba10k' has identities with two photos; UTKFace has no identities")
    root, out, split_file = Path(root), Path(out), Path(split_file)
    splits = Splits.load(split_file)
    pool = splits.records("benchmark", root)
    pool = [r for r in pool if r.dataset == source]
    pairs = benchmark_pairs(pool, cases, seed)

    out.mkdir(parents=True, exist_ok=True)
    old = sorted(out.glob("case_*"))
    if old and not overwrite:
        raise FileExistsError(
            f"{out} already holds {len(old)} case folders; choose an empty folder or pass --overwrite"
        )
    for d in old:
        shutil.rmtree(d)

    split_info = {
        "file": split_file.name,
        "sha256": _sha256(split_file),
        "seed": splits.seed,
        "pool": "benchmark",
    }
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs), desc="benchmark cases", unit="case")
    written = []
    for i, (inp, tgt) in enumerate(pairs):
        name = f"case_{i + 1:04d}"
        case_dir = out / name
        case_rng = np.random.default_rng([seed, i])
        hq = load_face(inp, hq_size)
        lq, params = degrade(hq, case_rng, lq_size=lq_size, hq_size=hq_size)
        target = load_face(tgt, target_size)
        text = caption_for(tgt, case_rng)
        case_dir.mkdir()
        save_png(lq, case_dir / "lq.png", compress_level=1)
        save_png(target, case_dir / "target.png", compress_level=1)
        (case_dir / "text.txt").write_text(text + "\n")
        meta = {
            "case": name,
            "source": source,
            "identity": tgt.identity,
            "gender": tgt.gender,
            "input_file": inp.file,
            "target_file": tgt.file,
            "text": text,
            "target_attributes": sorted(k for k, v in tgt.attrs.items() if v),
            "degradation": params.to_dict(),
            "seed": seed,
            "case_seed": [seed, i],
            "crop_box": dict(zip(("x0", "y0", "side"), CROP_BOXES[source], strict=True)),
            "lq_size": lq_size,
            "hq_size": hq_size,
            "target_size": target_size,
            "split": split_info,
        }
        (case_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        written.append(case_dir)
        if bar is not None:
            bar.update(1)
        elif callable(progress):
            progress(i + 1, len(pairs))
    if bar is not None:
        bar.close()
    index = {
        "format": BENCHMARK_FORMAT,
        "kind": "T2F500-style (paper 4.1): degraded photo A, target photo B of the same identity, text of B",
        "source": source,
        "cases": len(written),
        "seed": seed,
        "split": split_info,
        "lq_size": lq_size,
        "hq_size": hq_size,
        "target_size": target_size,
        "identities": [p[1].identity for p in pairs],
    }
    (out / "benchmark.json").write_text(json.dumps(index, indent=2) + "\n")
    return written
