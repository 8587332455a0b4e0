"""Benchmark the full profile on a CUDA GPU: 4 candidates at 1024x1024, 8 and 30 steps, fp16.

    python bench/gpu_full.py [--candidates 4] [--steps 8 30] [--runs 2] [--json OUT]

Builds TFGNet's full profile (SDXL-size UNet and VAE, both SDXL text encoders, CLIP ViT-L/14 ID
encoder, PhotoMaker-shaped fusion, CodeFormer-size restorer) with random weights directly on the GPU:
speed does not depend on the weights' values, so no download is needed. Times the whole generation
path of the pipeline on the GPU (restore 512x512 -> ID embedding -> prompt + stacked ID conditioning ->
guided diffusion -> VAE decode of every candidate) and reports the median latency per step count and the
peak GPU memory (``torch.cuda.max_memory_allocated``, i.e. tensors; the CUDA context adds ~0.5 GB).
Refuses on a machine without CUDA. Record the figures with the card's name in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = "a man with short black hair and thick eyebrows, wearing glasses"


def build_full(device: str, dtype):
    """The full profile with default-initialised random weights, built on the GPU (no CPU copy)."""
    import torch

    from tfgnet_desk.model.config import TFGNetConfig
    from tfgnet_desk.model.tfgnet import TFGNet

    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise in fp16 at once: no fp32 copy (fits 12-16 GB cards)
    try:
        with torch.device(device):
            model = TFGNet(TFGNetConfig.full())
    finally:
        torch.set_default_dtype(previous)
    model.to(dtype=dtype).eval()
    # CodeFormer-like restorer and the VAE decoder stay as the pipeline runs them; the SDXL VAE's
    # force_upcast is honoured by the generator (fp32 decode), as in diffusers.
    return model


def generate_once(model, n: int, steps: int, seed: int = 0) -> dict[str, float]:
    """One request: restore -> embed -> condition -> diffuse -> decode; per-stage seconds (synchronised)."""
    import torch

    dev, dt_ = model.device, model.dtype
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)  # CPU: tests of this path
    g = torch.Generator(device="cpu").manual_seed(seed)
    lq = (torch.rand(1, 3, 128, 128, generator=g) * 2 - 1).to(dev, dt_)
    times: dict[str, float] = {}
    with torch.no_grad():
        sync()
        t0 = time.perf_counter()
        restored = model.restorer.restore(lq)
        sync()
        times["restore"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cond, _ = model.condition(PROMPT, restored)
        sync()
        times["embed"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        images = model.generator.sample(
            cond,
            [seed + i for i in range(n)],
            steps=steps,
            guidance=5.0,
            strength=1.0,
            image_size=model.config.image_size,
        )
        sync()
        times["generate"] = time.perf_counter() - t0
    if tuple(images.shape) != (n, 3, model.config.image_size, model.config.image_size):
        raise RuntimeError(f"unexpected output shape {tuple(images.shape)}")
    times["total"] = sum(times.values())
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidates", type=int, default=4)
    ap.add_argument("--steps", type=int, nargs="+", default=[8, 30])
    ap.add_argument("--runs", type=int, default=2, help="timed runs per step count (after one warm-up)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    args = ap.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print(
            "bench/gpu_full.py needs a CUDA GPU: torch.cuda.is_available() is False on this machine "
            f"(torch {torch.__version__}). Install the CUDA build of torch (docs/gpu.md) and run it on "
            "a machine with an NVIDIA GPU; there is nothing to measure on a CPU.",
            file=sys.stderr,
        )
        return 2
    dtype = torch.float16
    name = torch.cuda.get_device_name(0)
    total_gb = torch.cuda.get_device_properties(0).total_memory / 2**30
    t0 = time.perf_counter()
    model = build_full("cuda", dtype)
    build_s = time.perf_counter() - t0
    counts = model.parameter_counts()
    weights_gb = torch.cuda.memory_allocated() / 2**30
    print(
        f"{name} ({total_gb:.0f} GiB), torch {torch.__version__}; full profile built in {build_s:.1f} s: "
        f"{sum(counts.values()) / 1e9:.2f} B parameters, {weights_gb:.2f} GiB of fp16 weights",
        flush=True,
    )
    results = []
    for steps in args.steps:
        generate_once(model, args.candidates, steps)  # warm-up (cuDNN autotune, allocator)
        torch.cuda.reset_peak_memory_stats()
        runs = [generate_once(model, args.candidates, steps, seed=r + 1) for r in range(args.runs)]
        peak = torch.cuda.max_memory_allocated() / 2**30
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        row = {
            "steps": steps,
            "candidates": args.candidates,
            "size": model.config.image_size,
            "latency_s": round(med["total"], 3),
            "per_step_s": round(med["generate"] / steps, 4),
            "stages_s": {k: round(v, 3) for k, v in med.items()},
            "peak_gib": round(peak, 2),
            "runs": args.runs,
        }
        results.append(row)
        print(
            f"{steps:>3} steps, {args.candidates} x {row['size']}px: {row['latency_s']:.2f} s "
            f"({row['per_step_s']:.3f} s/step for the batch), peak {peak:.2f} GiB",
            flush=True,
        )
    report = {
        "device": name,
        "device_memory_gib": round(total_gb, 1),
        "dtype": "float16",
        "torch": torch.__version__,
        "platform": platform.platform(),
        "build_s": round(build_s, 1),
        "parameters": counts,
        "weights_gib": round(weights_gb, 2),
        "results": results,
        "date": time.strftime("%Y-%m-%d"),
    }
    print("\n| card | steps | candidates | size | latency (s) | peak memory (GiB) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {name} | {r['steps']} | {r['candidates']} | {r['size']} | {r['latency_s']:.2f} | "
            f"{r['peak_gib']:.2f} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
