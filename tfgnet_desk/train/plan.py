"""``python -m tfgnet_desk.train.plan``: every training stage in order, one prepared command.

A plan (``configs/tiny/plan.json``) names the cache parts to build and the stages to run, each with its
config, a time budget in minutes and the number of processes (2 single-thread processes nearly double
throughput on a 2-core CPU; DESIGN.md). For each stage the runner:

- skips it when ``<out>/<stage>/export`` holds a finished export (``plan_done.json``, written here
  after the stage returned normally), so a rerun continues where an interruption left off;
- otherwise runs ``python -m tfgnet_desk.train STAGE --config ... --resume`` (``torchrun`` with
  ``processes`` > 1), which resumes from the stage's checkpoint when there is one;
- records steps, wall minutes and CPU seconds (all processes) in ``plan_done.json``.

Then it assembles the model (``train.assemble``: ``training.json`` with every stage's figures) into
``--model-out``. One stage at a time, nothing else heavy beside it: the figures assume the CPU was free.
On a GPU: ``--device cuda --batch-scale 4`` (global batches x4, same schedules), processes 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DONE = "plan_done.json"


@dataclass
class PlanStage:
    stage: str
    config: Path
    minutes: float | None = None
    processes: int = 1
    max_steps: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: Path) -> PlanStage:
        cfg = Path(d["config"])
        return cls(
            stage=str(d["stage"]),
            config=cfg if cfg.is_absolute() else base / cfg,
            minutes=None if d.get("minutes") is None else float(d["minutes"]),
            processes=int(d.get("processes", 1)),
            max_steps=None if d.get("max_steps") is None else int(d["max_steps"]),
        )


def load_plan(path: Path) -> tuple[list[str], list[PlanStage], dict[str, Any]]:
    """(cache parts, stages, assemble options) of a plan file; config paths relative to the repo."""
    plan = json.loads(Path(path).read_text())
    base = Path(plan.get("base", "."))
    stages = [PlanStage.from_dict(s, base) for s in plan["stages"]]
    return list(plan.get("cache", [])), stages, dict(plan.get("assemble", {}))


def stage_command(s: PlanStage, args: argparse.Namespace, batch: int | None) -> list[str]:
    """The command line that trains one stage (resuming when a checkpoint exists)."""
    if s.processes > 1:
        head = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(s.processes)]
    else:
        head = [sys.executable]
    cmd = [*head, "-m", "tfgnet_desk.train", s.stage, "--config", str(s.config), "--out", str(args.out)]
    cmd += ["--cache", str(args.cache), "--resume", "--quiet", "--device", args.device]
    if args.data is not None:
        cmd += ["--data", str(args.data)]
    if args.synthetic:
        cmd.append("--synthetic")
    if s.minutes is not None:
        cmd += ["--time-budget", str(s.minutes * args.time_scale)]
    if s.max_steps is not None:
        cmd += ["--max-steps", str(s.max_steps)]
    if batch is not None:
        cmd += ["--batch-size", str(batch)]
    if s.processes == 1 and args.threads:
        cmd += ["--threads", str(args.threads)]
    return cmd


def _last_log(folder: Path) -> dict[str, str]:
    import csv

    log = folder / "log.csv"
    if not log.exists():
        return {}
    rows = list(csv.DictReader(open(log)))
    return rows[-1] if rows else {}


def run_stage(s: PlanStage, args: argparse.Namespace) -> dict[str, Any]:
    folder = args.out / s.stage
    done = folder / "export" / DONE
    if done.exists():
        print(f"[plan] {s.stage}: already done ({done})", flush=True)
        return json.loads(done.read_text())
    batch = None
    if args.batch_scale != 1:
        batch = int(json.loads(s.config.read_text())["batch_size"] * args.batch_scale)
    cmd = stage_command(s, args, batch)
    print(f"[plan] {s.stage}: {' '.join(cmd)}", flush=True)
    env = dict(os.environ)
    if s.processes > 1:
        env["OMP_NUM_THREADS"] = "1"
    t0 = time.time()
    rc = subprocess.call(cmd, env=env)
    if rc != 0:
        raise SystemExit(f"[plan] {s.stage} failed (exit {rc}); rerun the same command to resume")
    last = _last_log(folder)
    record = {
        "stage": s.stage,
        "config": str(s.config),
        "processes": s.processes,
        "steps": int(last.get("step", 0) or 0),
        "wall_minutes_this_run": round((time.time() - t0) / 60, 1),
        "cpu_seconds": float(last["cpu_s"]) if last.get("cpu_s") else None,
        "device": args.device,
    }
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(record, indent=1) + "\n")
    return record


def build_cache(parts: list[str], args: argparse.Namespace) -> None:
    """The facecache parts the plan needs, each only when its file is missing."""
    files = {
        "faces": "faces-128.npy",
        "lq": "lq-128.npy",
        "lq-surveillance": "lq-128-surveillance.npy",
        "teacher": "teacher.npz",
    }
    for part in parts:
        target = args.cache / files.get(part, f"{part}.npz")
        if target.exists() and part != "identity":
            continue
        if args.data is None:
            raise SystemExit(f"[plan] cache part {part!r} missing in {args.cache}: give --data")
        cmd = [sys.executable, "-m", "tfgnet_desk.train.facecache", part, "--data", str(args.data)]
        print(f"[plan] cache: {' '.join(cmd)}", flush=True)
        if subprocess.call([*cmd, "--out", str(args.cache)]) != 0:
            raise SystemExit(f"[plan] cache part {part} failed")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tfgnet_desk.train.plan", description=__doc__.split("\n")[0])
    ap.add_argument("--plan", type=Path, default=Path("configs/tiny/plan.json"))
    ap.add_argument("--out", type=Path, default=Path("runs/tiny"), help="run folder (one per stage)")
    ap.add_argument("--model-out", type=Path, default=None, help="assemble the model here when done")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=Path(".cache/train"))
    ap.add_argument("--synthetic", action="store_true", help="synthetic faces (smoke runs, tests)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch-scale", type=float, default=1.0, help="multiply every global batch (GPU)")
    ap.add_argument("--time-scale", type=float, default=1.0, help="multiply every stage's minutes")
    ap.add_argument("--only", default=None, help="comma-separated stages to run (default: all)")
    args = ap.parse_args(argv)
    parts, stages, assemble = load_plan(args.plan)
    if args.only:
        wanted = set(args.only.split(","))
        stages = [s for s in stages if s.stage in wanted]
    if not args.synthetic:
        build_cache(parts, args)
    records = [run_stage(s, args) for s in stages]
    (args.out / "plan.json").write_text(json.dumps({"plan": str(args.plan), "stages": records}, indent=1))
    if args.model_out is not None:
        from tfgnet_desk.train.assemble import assemble as do_assemble

        restorer = assemble.get("restorer")
        folder = do_assemble(args.out, args.model_out, args.out / restorer if restorer else None)
        print(f"[plan] model assembled in {folder}", flush=True)
    total = sum(r.get("cpu_seconds") or 0 for r in records)
    print(f"[plan] done: {len(records)} stages, {total / 3600:.2f} CPU-hours recorded", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
