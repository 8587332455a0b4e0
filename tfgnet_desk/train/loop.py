"""The training loop shared by every stage, on Hugging Face Accelerate.

One optimiser step = one global batch of ``batch_size`` faces, split over the processes of a
data-parallel run (``accelerate launch``; DDP underneath, gloo on CPU, NCCL on GPU) and, within each
process, over ``grad_accum`` micro-batches (``accelerator.accumulate``). Mixed precision on GPU comes from
``Accelerator(mixed_precision=...)``.

Reproducibility: the faces, flips, captions, noises and timesteps of step ``s`` are drawn for the whole
global batch from generators seeded by (seed, s) and then sliced, so one process and two processes see
the same samples, and ``--resume`` continues bit-exactly on CPU. The learning-rate scheduler is stepped
once per optimiser step by this loop (not by Accelerate, which would step it once per process).

Around the loop: a tqdm bar (loss, it/s, ETA), ``log.csv``, sample grids every ``sample_every`` steps,
atomic checkpoints every ``checkpoint_minutes``, ``--time-budget``, and SIGINT that saves and exits.
"""

from __future__ import annotations

import csv
import json
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfgnet_desk.train.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from tfgnet_desk.train.config import TrainConfig
from tfgnet_desk.train.data import Batch, FaceSource, slice_batch


class StepRandom:
    """Random draws for the samples ``[start, stop)`` of a global batch of ``total`` at one step.

    Each call draws for the whole global batch from a generator seeded by (seed, step, call number) and
    returns this micro-batch's slice: the values a sample gets do not depend on how the batch is split.
    """

    def __init__(self, seed: int, step: int, start: int, stop: int, total: int) -> None:
        self.seed, self.step, self.start, self.stop, self.total = seed, step, start, stop, total
        self.calls = 0

    def _gen(self) -> torch.Generator:
        self.calls += 1
        g = torch.Generator()
        g.manual_seed(int(np.random.default_rng([self.seed, self.step, 1000 + self.calls]).integers(2**62)))
        return g

    def randn(self, *shape: int, device: torch.device | str = "cpu") -> torch.Tensor:
        x = torch.randn((self.total, *shape), generator=self._gen())
        return x[self.start : self.stop].to(device)

    def rand(self, *shape: int, device: torch.device | str = "cpu") -> torch.Tensor:
        x = torch.rand((self.total, *shape), generator=self._gen())
        return x[self.start : self.stop].to(device)

    def randint(self, high: int, device: torch.device | str = "cpu") -> torch.Tensor:
        x = torch.randint(0, high, (self.total,), generator=self._gen())
        return x[self.start : self.stop].to(device)


def lr_lambda(cfg: TrainConfig):
    def f(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return f


@dataclass
class RunOptions:
    out_root: Path
    device: str = "cpu"
    resume: bool = False
    time_budget_min: float | None = None
    stop_step: int | None = None  # --max-steps: stop here; the LR schedule keeps cfg.max_steps
    threads: int | None = None
    quiet: bool = False


@dataclass
class RunResult:
    step: int
    elapsed: float
    last_logs: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    folder: Path | None = None


class _Stop:
    """SIGINT -> finish the current step, save, export and exit cleanly (a second SIGINT aborts)."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> _Stop:
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not in the main thread (tests)
            self._old = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nSIGINT: saving a checkpoint after this step, then exiting", flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _save_grid(img: np.ndarray, path: Path) -> None:
    from PIL import Image, PngImagePlugin

    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "tfgnet-desk training samples: generated/restored images are synthetic")
    Image.fromarray(img).save(path, pnginfo=info)


def run_training(cfg: TrainConfig, source: FaceSource, opts: RunOptions) -> RunResult:
    """Train ``cfg.stage`` on ``source``; writes ``<out_root>/<stage>/``: checkpoint, log, samples, export."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    from tfgnet_desk.train.stages import build_stage

    if opts.threads:
        torch.set_num_threads(opts.threads)
    cpu = opts.device == "cpu"
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision="no" if cpu else cfg.mixed_precision,
        gradient_accumulation_steps=cfg.grad_accum,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    rank, world = accelerator.process_index, accelerator.num_processes
    if cfg.batch_size % (world * cfg.grad_accum):
        raise ValueError(
            f"batch_size {cfg.batch_size} must divide by processes x grad_accum ({world} x {cfg.grad_accum})"
        )
    folder = Path(opts.out_root) / cfg.stage
    torch.manual_seed(cfg.seed)  # identical initial weights in every process
    stage = build_stage(cfg, source, Path(opts.out_root))
    optimizer = torch.optim.AdamW(
        stage.param_groups(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    step, elapsed0, cpu0 = 0, 0.0, 0.0
    if opts.resume:
        ckpt = load_checkpoint(folder)
        if ckpt is not None:
            stage.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            set_rng_state(ckpt["rng"])
            step, elapsed0 = int(ckpt["step"]), float(ckpt["elapsed"])
            cpu0 = float(ckpt.get("cpu_seconds", 0.0))
            if accelerator.is_main_process and not opts.quiet:
                print(f"resumed {cfg.stage} from step {step} ({elapsed0 / 60:.1f} min so far)")
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
    if accelerator.is_main_process and not opts.quiet:
        print(
            f"{cfg.stage}: {world} process(es) on {accelerator.device}, global batch {cfg.batch_size} = "
            f"{world} x {cfg.grad_accum} x {cfg.batch_size // world // cfg.grad_accum}, from step {step}",
            flush=True,
        )
    model, optimizer = accelerator.prepare(stage, optimizer)
    device = accelerator.device

    main = accelerator.is_main_process
    log_path = folder / "log.csv"
    log_file = None
    writer = None
    fixed = source.fixed(8) if main else None
    per_rank = cfg.batch_size // world
    micro = per_rank // cfg.grad_accum
    t_start = time.time()
    c_start = time.process_time()
    last_ckpt = t_start

    def cpu_seconds() -> float:
        """CPU seconds of the stage so far, all processes (what a shared machine cannot inflate)."""
        mine = torch.tensor([time.process_time() - c_start], device=device)
        if world > 1:
            mine = accelerator.reduce(mine, reduction="sum")
        return cpu0 + float(mine.item())

    logs: dict[str, float] = {}
    interrupted = False
    with_cpu = True

    cpu_logged = [cpu0]  # CPU seconds at the last log step (a collective; checkpoints only read it)

    def checkpoint() -> None:
        cpu = cpu_logged[0]
        if main:
            save_checkpoint(
                folder,
                step=step,
                elapsed=elapsed0 + time.time() - t_start,
                cpu_seconds=cpu,
                model=accelerator.unwrap_model(model),
                optimizer=optimizer,
                scheduler=scheduler,
                config=cfg.to_dict(),
            )

    def samples() -> None:
        if main and fixed is not None:
            unwrapped = accelerator.unwrap_model(model)
            unwrapped.eval()
            with torch.no_grad():
                img = unwrapped.sample_grid(fixed.to(device))
            unwrapped.train()
            if img is not None:
                _save_grid(img, folder / "samples" / f"step_{step:06d}.png")

    from tqdm.auto import tqdm

    last = min(cfg.max_steps, opts.stop_step) if opts.stop_step is not None else cfg.max_steps
    bar = tqdm(total=last, initial=step, disable=not main or opts.quiet, desc=cfg.stage, dynamic_ncols=True)
    with _Stop() as stop:
        model.train()
        while step < last:
            batch: Batch = source.sample(cfg.seed, step, cfg.batch_size)
            local = slice_batch(batch, rank, world)
            torch.manual_seed(int(np.random.default_rng([cfg.seed, step, 7, rank]).integers(2**62)))
            step_logs: dict[str, float] = {}
            for k in range(cfg.grad_accum):
                mb = local.slice(k * micro, (k + 1) * micro).to(device)
                start = rank * per_rank + k * micro
                rand = StepRandom(cfg.seed, step, start, start + micro, cfg.batch_size)
                with accelerator.accumulate(model):
                    loss, parts = model(mb, rand)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and cfg.grad_clip:
                        accelerator.clip_grad_norm_(
                            [p for p in model.parameters() if p.requires_grad], cfg.grad_clip
                        )
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                for name, v in {"loss": loss, **parts}.items():
                    step_logs[name] = step_logs.get(name, 0.0) + float(v.detach()) / cfg.grad_accum
            scheduler.step()
            step += 1
            if world > 1:
                vals = torch.tensor(list(step_logs.values()), device=device)
                vals = accelerator.reduce(vals, reduction="mean")
                step_logs = dict(zip(step_logs, vals.tolist(), strict=True))
            logs = step_logs
            if main:
                if writer is None:
                    new = not log_path.exists() or not opts.resume
                    # a log begun before CPU seconds were logged keeps its columns
                    with_cpu = new or "cpu_s" in log_path.read_text().split("\n", 1)[0].split(",")
                    log_path.parent.mkdir(parents=True, exist_ok=True)
                    log_file = open(log_path, "w" if new else "a", newline="")  # noqa: SIM115
                    writer = csv.writer(log_file)
                    columns = list(logs)
                    if new:
                        writer.writerow(["step", "elapsed_s", "cpu_s", "lr", *columns])
            if step % cfg.log_every == 0 or step == last:
                cpu = cpu_logged[0] = cpu_seconds()  # same steps on every rank: a safe collective
                if main:
                    writer.writerow(
                        [
                            step,
                            round(elapsed0 + time.time() - t_start, 2),
                            *([round(cpu, 3)] if with_cpu else []),
                            f"{scheduler.get_last_lr()[0]:.3e}",
                            *(f"{logs[c]:.5f}" if c in logs else "" for c in columns),
                        ]
                    )
                    log_file.flush()
            if main:
                bar.set_postfix({k: f"{v:.4f}" for k, v in list(logs.items())[:4]}, refresh=False)
                bar.update(1)
                if cfg.sample_every and step % cfg.sample_every == 0:
                    samples()
            budget = opts.time_budget_min
            over_budget = budget is not None and time.time() - t_start > 60 * budget
            flag = torch.tensor([float(stop.requested or over_budget)], device=device)
            if world > 1:
                flag = accelerator.reduce(flag, reduction="sum")
            if flag.item() > 0:
                interrupted = stop.requested
                break
            if time.time() - last_ckpt > 60 * cfg.checkpoint_minutes:
                checkpoint()
                last_ckpt = time.time()
        bar.close()
        cpu_logged[0] = cpu_seconds()
        checkpoint()
        samples()
        accelerator.wait_for_everyone()
        if main:
            accelerator.unwrap_model(model).export(folder / "export")
        if log_file is not None:
            log_file.close()
    elapsed = elapsed0 + time.time() - t_start
    if main and not opts.quiet:
        status = "interrupted" if interrupted else "stopped"
        print(
            f"{cfg.stage}: {status} at step {step} after {elapsed / 60:.1f} min; "
            + ", ".join(f"{k} {v:.4f}" for k, v in logs.items())
        )
    accelerator.end_training()
    return RunResult(step=step, elapsed=elapsed, last_logs=logs, interrupted=interrupted, folder=folder)
