"""``python -m tfgnet_desk.train STAGE --config FILE [...]`` (also under ``accelerate launch -m``).

Examples (tiny profile, this machine)::

    python -m tfgnet_desk.train.facecache identity --data ../shared/data   # once: dlib descriptors
    python -m tfgnet_desk.train.facecache faces --data ../shared/data      # once: 128 px crops
    python -m tfgnet_desk.train.facecache lq --data ../shared/data         # once: A.1-degraded crops
    python -m tfgnet_desk.train clip --config configs/tiny/clip.json --out runs/tiny
    accelerate launch --num_processes 2 -m tfgnet_desk.train joint --config configs/full/joint.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfgnet_desk.train.config import STAGES, TrainConfig

ABLATIONS = {
    "no_codebook": "--no-codebook",
    "no_transformer": "--no-transformer",
    "no_stacked_id": "--no-stacked-id",
    "no_masked_loss": "--no-masked-loss",
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m tfgnet_desk.train", description="Train a TFGNet stage.")
    ap.add_argument("stage", choices=STAGES)
    ap.add_argument("--config", type=Path, required=True, help="configs/<profile>/<stage>.json")
    ap.add_argument("--data", type=Path, default=None, help="face data folder (default: settings)")
    ap.add_argument("--cache", type=Path, default=Path(".cache/train"), help="training cache folder")
    ap.add_argument("--synthetic", action="store_true", help="synthetic faces (smoke tests, no data)")
    ap.add_argument(
        "--out", type=Path, default=Path("runs/tiny"), help="run folder (one sub-folder per stage)"
    )
    ap.add_argument("--resume", action="store_true", help="continue from <out>/<stage>/checkpoint.pt")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this step (schedule unchanged)")
    ap.add_argument("--time-budget", type=float, default=None, metavar="MIN", help="stop after MIN minutes")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--batch-size", type=int, default=None, help="override the global batch size")
    ap.add_argument("--quiet", action="store_true")
    for dest, flag in ABLATIONS.items():
        ap.add_argument(flag, dest=dest, action="store_true", help=f"ablation (paper Table 3): {flag[5:]}")
    return ap


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig.load(args.config)
    if cfg.stage != args.stage:
        raise SystemExit(f"{args.config} is a '{cfg.stage}' config, not '{args.stage}'")
    if args.seed is not None:
        cfg.seed = args.seed
    if args.batch_size is not None:
        cfg.batch_size = args.batch_size
    for dest in ABLATIONS:
        if getattr(args, dest):
            cfg.params[dest] = True
    return cfg


def make_source(args: argparse.Namespace, cfg: TrainConfig):
    from tfgnet_desk.train.data import CachedFaces, SyntheticFaces

    if args.synthetic:
        return SyntheticFaces(n=int(cfg.params.get("synthetic_n", 64)), size=cfg.image_size, seed=cfg.seed)
    if not (args.cache / f"faces-{cfg.image_size}.json").exists():
        raise SystemExit(
            f"no training cache in {args.cache}: build it first with "
            "'python -m tfgnet_desk.train.facecache faces --data DIR' (and identity, lq)"
        )
    from tfgnet_desk.data import resolve_data_root

    root = resolve_data_root(args.data)
    return CachedFaces(
        args.cache,
        root,
        pools=("train",),
        size=cfg.image_size,
        identity_teacher=str(cfg.params.get("identity_teacher", "dlib")),
        masks=str(cfg.params.get("masks", "landmarks")),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    from tfgnet_desk.train.loop import RunOptions, run_training

    source = make_source(args, cfg)
    opts = RunOptions(
        out_root=args.out,
        device=args.device,
        resume=args.resume,
        time_budget_min=args.time_budget,
        stop_step=args.max_steps,
        threads=args.threads,
        quiet=args.quiet,
    )
    run_training(cfg, source, opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
