"""Benchmark the tiny TFGNet pipeline: 1 crop -> 4 scored candidates, p50/p95 over 10 runs.

    .venv/bin/python bench/bench_pipeline.py [--model FOLDER] [--runs 10] [--threads 2] [--json OUT]

Uses ``models/tiny`` (or the settings' tiny model) when present, else a random-weight model of the tiny
preset written to a temporary folder (the timing does not depend on the weights' values; the report
says which was used). Restoration, embedding, generation and identity scoring (dlib-resnet) are all
inside the timed call. Also measures, in the same process, the UNet's achieved FLOP/s (FLOPs counted by
``torch.utils.flop_counter`` for one guided call, times the calls, over the time spent inside the UNet)
as a fraction of a large fp32 matmul's FLOP/s on the same threads.

Besides wall time it records the process CPU time per call: on a machine shared with other jobs, the
wall time measures the sharing; CPU time (summed over threads) bounds what an idle machine would take.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other jobs, spinning threads made
# 2-thread convolutions ~80x slower here. Must be set before torch loads; recorded in the output.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def matmul_flops(threads: int, n: int = 1024, seconds: float = 3.0) -> tuple[float, float]:
    """fp32 matmul FLOP/s per wall second and per CPU second (CPU time summed over threads)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    reps, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    flops = 2 * n**3 * reps
    return flops / (time.perf_counter() - t0), flops / max(time.process_time() - c0, 1e-9)


def evidence_crop() -> tuple[np.ndarray, str]:
    """An A.1-degraded real face from the shared data when present (read, never copied), else synthetic."""
    from tfgnet_desk.settings import default_data_dir

    root = default_data_dir()
    if root is not None:
        images = sorted((root / "celeba10k" / "images").glob("*.jpg"))[:1]
        if images:
            from tfgnet_desk.data.crops import load_face
            from tfgnet_desk.degrade import degrade

            hq = load_face(images[0], size=512, dataset="celeba10k")
            lq, _ = degrade(hq, 0)
            return lq, f"celeba10k/{images[0].name}, A.1-degraded (seed 0), {lq.shape[1]}x{lq.shape[0]}"
    rng = np.random.default_rng(0)
    img = np.kron(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), np.ones((16, 16, 1), dtype=np.uint8))
    return img, "synthetic 128x128 block image (no shared data found)"


def model_folder(arg: str | None) -> tuple[Path, str]:
    from tfgnet_desk.settings import Settings

    if arg:
        return Path(arg), f"{arg}"
    folder = Settings().model_path("tiny")
    if (folder / "MANIFEST.json").is_file():
        return folder, f"trained tiny model ({folder})"
    from tfgnet_desk.model.config import TFGNetConfig
    from tfgnet_desk.model.tfgnet import TFGNet

    tmp = Path(tempfile.mkdtemp(prefix="tfgnet-bench-"))
    TFGNet.random(TFGNetConfig.tiny(), seed=0).save_pretrained(tmp / "tiny", licence="random", source="bench")
    return tmp / "tiny", "RANDOM weights of the tiny preset (models/tiny not present yet)"


def unet_flops_per_call(pipe, cond, batch: int) -> float:
    """FLOPs of one guided UNet call as the pipeline makes it: ``batch`` candidates x (uncond, cond)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    gen = pipe.model.generator
    size = pipe.model.config.image_size // gen.vae_scale_factor
    x = torch.zeros(batch, 4, size, size)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        gen.guided_noise(x, torch.tensor(500), cond, 5.0)
    return float(counter.get_total_flops())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--strength", type=float, default=0.6)
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from tfgnet_desk.pipeline import GenerationRequest, TFGNetPipeline

    folder, model_note = model_folder(args.model)
    crop, crop_note = evidence_crop()
    pipe = TFGNetPipeline.from_pretrained(folder, device="cpu")
    request = GenerationRequest(
        images=[crop],
        prompt="a woman with brown hair",
        n_candidates=4,
        seed=0,
        steps=args.steps,
        strength=args.strength,
    )

    unet_time = [0.0]
    unet_cpu = [0.0]
    unet_calls = [0]
    starts: list[float] = []
    unet = pipe.model.unet
    h1 = unet.register_forward_pre_hook(
        lambda m, a: starts.append((time.perf_counter(), time.process_time()))
    )

    def post(m, a, o):
        t0, c0 = starts.pop()
        unet_time[0] += time.perf_counter() - t0
        unet_cpu[0] += time.process_time() - c0
        unet_calls[0] += 1

    h2 = unet.register_forward_hook(post)
    pipe(request)  # warm-up: first-call allocations, dlib model loading
    unet_time[0], unet_cpu[0], unet_calls[0] = 0.0, 0.0, 0
    totals, cpu, stages = [], [], []
    for i in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        res = pipe(request)
        totals.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        stages.append(res.provenance["timings_s"])
        print(
            f"run {i + 1}/{args.runs}: {totals[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU",
            file=sys.stderr,
            flush=True,
        )
    h1.remove()
    h2.remove()
    cond, _ = pipe.model.condition(request.prompt, torch.zeros(1, 3, 128, 128))
    flops_call = unet_flops_per_call(pipe, cond, request.n_candidates)
    achieved = flops_call * unet_calls[0] / max(unet_time[0], 1e-9)
    achieved_cpu = flops_call * unet_calls[0] / max(unet_cpu[0], 1e-9)
    peak, peak_cpu = matmul_flops(args.threads)
    q = statistics.quantiles(totals, n=20, method="inclusive")
    out = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "processor": _cpu_name(),
            "load_average_1m": os.getloadavg()[0],
        },
        "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "model": model_note,
        "input": crop_note,
        "request": {
            "n_candidates": 4,
            "steps": args.steps,
            "strength": args.strength,
            "guidance": 5.0,
            "diffusion_steps_run": round(args.steps * args.strength),
        },
        "runs": args.runs,
        "p50_s": round(statistics.median(totals), 3),
        "p95_s": round(q[18], 3),
        "min_s": round(min(totals), 3),
        "cpu_p50_s": round(statistics.median(cpu), 3),
        "cpu_p95_s": round(statistics.quantiles(cpu, n=20, method="inclusive")[18], 3),
        "stage_median_s": {
            k: round(statistics.median(s[k] for s in stages), 3)
            for k in ("restore", "embed", "generate", "score")
        },
        "unet": {
            "gflop_per_call_4_candidates_x_2": round(flops_call / 1e9, 3),
            "calls": unet_calls[0],
            "seconds": round(unet_time[0], 3),
            "cpu_seconds": round(unet_cpu[0], 3),
            "achieved_gflops": round(achieved / 1e9, 2),
            "achieved_gflops_per_cpu_second": round(achieved_cpu / 1e9, 2),
        },
        "matmul_gflops": round(peak / 1e9, 2),
        "unet_fraction_of_matmul": round(achieved / peak, 3),
        "matmul_gflops_per_cpu_second": round(peak_cpu / 1e9, 2),
        "unet_fraction_of_matmul_cpu_time": round(achieved_cpu / peak_cpu, 3),
        "candidates_have_scores": all(bool(c.scores) for c in res.candidates),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
