"""``python -m tfgnet_desk.data``: split file, benchmark builder and A.1 degradation from the command line.

    python -m tfgnet_desk.data splits [--data DIR] [--seed 0] [--out FILE] [--check FILE]
    python -m tfgnet_desk.data build-benchmark --source celeba10k --cases 500 --seed 0 --out DIR [--data DIR]
        [--tier {a1,surveillance}]
    python -m tfgnet_desk.data degrade IN OUT --seed N [--lq-size 128] [--hq-size 512]

The data folder comes from ``--data``, else ``TFGNET_DATA``, else ``../shared/data`` beside the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tfgnet_desk.data.datasets import DataError, resolve_data_root
from tfgnet_desk.data.splits import DEFAULT_SPLIT_FILE, Splits, check_disjoint, make_splits
from tfgnet_desk.faces.models import FaceModelError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def _cmd_splits(args: argparse.Namespace) -> int:
    root = resolve_data_root(args.data)
    if args.check:
        splits = Splits.load(args.check)
        check_disjoint(splits, root)
        print(f"{args.check}: pools {splits.to_dict()['counts']}; no file or identity in two pools")
        return 0
    splits = make_splits(root, seed=args.seed, benchmark_identities=args.benchmark_identities)
    check_disjoint(splits, root)
    out = Path(args.out) if args.out else DEFAULT_SPLIT_FILE.with_name(f"splits_seed{args.seed}.json")
    splits.save(out)
    counts = splits.to_dict()["counts"]
    ids = {p: len(splits.identities(p, root)) for p in splits.pools}
    print(f"wrote {out}: images {counts}, CelebA identities {ids}")
    return 0


def _cmd_build_benchmark(args: argparse.Namespace) -> int:
    from tfgnet_desk.data.benchmark import build_benchmark

    root = resolve_data_root(args.data)
    t0 = time.perf_counter()
    written = build_benchmark(
        root,
        args.out,
        source=args.source,
        cases=args.cases,
        seed=args.seed,
        split_file=args.splits,
        target_size=args.target_size,
        overwrite=args.overwrite,
        progress=not args.quiet,
        tier=args.tier,
        pool=args.pool,
    )
    print(f"wrote {len(written)} {args.tier} cases to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _centre_square(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return img[y0 : y0 + s, x0 : x0 + s]


def _cmd_degrade(args: argparse.Namespace) -> int:
    from tfgnet_desk.degrade import degrade
    from tfgnet_desk.imaging import ImageLoadError, load_image, save_png

    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise DataError(f"{src} does not exist")
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {src}")
        dst.mkdir(parents=True, exist_ok=True)
        targets = [dst / (p.stem + ".png") for p in files]
    else:
        files = [src]
        targets = [dst if dst.suffix.lower() == ".png" else dst / (src.stem + ".png")]
    record: dict[str, dict] = {}
    failed = 0
    items = list(zip(files, targets, strict=True))
    if len(items) > 1 and not args.quiet:
        from tqdm import tqdm

        items = tqdm(items, desc="degrade", unit="img")
    for i, (f, t) in enumerate(items):
        try:
            img = _centre_square(load_image(f))
        except ImageLoadError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            failed += 1
            continue
        rng = np.random.default_rng([args.seed, i]) if len(files) > 1 else np.random.default_rng(args.seed)
        lq, params = degrade(img, rng, lq_size=args.lq_size, hq_size=args.hq_size)
        save_png(lq, t, text={"tfgnet-degradation": json.dumps(params.to_dict()), "source": f.name})
        record[t.name] = {"source": f.name, "seed": args.seed, **params.to_dict()}
    sidecar = (dst if src.is_dir() else targets[0].parent) / (
        "degradation.json" if src.is_dir() else targets[0].stem + ".degradation.json"
    )
    if record:
        sidecar.write_text(json.dumps(record, indent=2) + "\n")
    print(f"degraded {len(record)} image(s) into {dst}" + (f", {failed} skipped" if failed else ""))
    return 0 if record else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tfgnet_desk.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("splits", help="write the identity-disjoint train/val/benchmark split file")
    p.add_argument("--data", help="face data folder (default: TFGNET_DATA or ../shared/data)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--benchmark-identities", type=int, default=600)
    p.add_argument("--out", help="split file to write (default: the package's resources/splits_seed<N>.json)")
    p.add_argument("--check", metavar="FILE", help="only verify that FILE's pools are disjoint")
    p.set_defaults(func=_cmd_splits)

    p = sub.add_parser("build-benchmark", help="write a T2F500-style benchmark of case folders")
    p.add_argument("--source", default="celeba10k", choices=["celeba10k"])
    p.add_argument("--cases", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--data", help="face data folder (default: TFGNET_DATA or ../shared/data)")
    p.add_argument("--splits", default=str(DEFAULT_SPLIT_FILE), help="split file (default: shipped seed 0)")
    p.add_argument("--target-size", type=int, default=256)
    p.add_argument(
        "--tier",
        choices=["a1", "surveillance"],
        default="a1",
        help="degradation of the LQ input: a1 = the paper's A.1 (default, the original benchmark); "
        "surveillance = CCTV-like, face 12-32 px wide, noise and JPEG, enlarged back to the 128 px frame "
        "(same pairs and texts as a1 for the same seed)",
    )
    p.add_argument(
        "--pool",
        choices=["benchmark", "val"],
        default="benchmark",
        help="identities from the split's benchmark pool (default: the figures of record) or its val pool "
        "(for choosing settings and learning curves without tuning on the benchmark)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace case folders already in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_build_benchmark)

    p = sub.add_parser("degrade", help="apply the paper's A.1 degradation to an image or a folder")
    p.add_argument("input", metavar="IN", help="image file or folder")
    p.add_argument("output", metavar="OUT", help="output .png file, or folder")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--lq-size", type=int, default=128)
    p.add_argument("--hq-size", type=int, default=512)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_degrade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataError, FileExistsError, FaceModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
