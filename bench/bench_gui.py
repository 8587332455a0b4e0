"""Benchmark the desktop app: launch to an interactive window, and the GUI thread's longest stall while
the embedded model generates.

    .venv/bin/python bench/bench_gui.py [--launches 5] [--runs 4] [--candidates 4] [--steps 25] [--json OUT]

Launch: ``tfgnet-desk --print-ready`` in a fresh interpreter (offscreen), from process start to the first
timer event of the event loop, ``--launches`` times.

Stall: the real window on the real ``models/tiny`` (trained weights, ``dlib-resnet`` scoring of every
candidate, the detector child for the crop) with a 10 ms heartbeat timer on the GUI thread; the longest
gap between beats during each Generate is the stall. The first run includes the engine child loading the
model (the window preloads it; the run waits for it); later runs reuse it. The crop is an A.1-degraded
real face from the shared data when present (read, never copied), else a drawn synthetic face.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PROMPT = "a man with short dark hair and a round face"


def measure_launch(home: Path) -> float:
    code = (
        "import sys; from tfgnet_desk.gui.app import run_app; "
        f"sys.exit(run_app(['--home', {str(home)!r}, '--print-ready', '--quit-after', '300']))"
    )
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    ready = [line for line in out.stdout.splitlines() if line.startswith("tfgnet-desk ready at")]
    if out.returncode != 0 or not ready:
        raise RuntimeError(f"launch failed: {out.stderr[-2000:]}")
    return float(ready[0].split()[-1]) - t0


def measure_stalls(args, home: Path) -> list[dict]:
    from bench_pipeline import evidence_crop

    from tfgnet_desk.gui.app import ensure_application
    from tfgnet_desk.gui.main_window import MainWindow
    from tfgnet_desk.gui.testing import Heartbeat
    from tfgnet_desk.imaging import save_png
    from tfgnet_desk.settings import Settings

    app = ensure_application()
    crop, crop_text = evidence_crop()
    crop_file = home / "crop.png"
    save_png(crop, crop_file)
    settings = Settings(home=home, models_dir=ROOT / "models", threads=args.threads)
    window = MainWindow(settings)
    window.show()
    window.start_backend()
    rows: list[dict] = []

    def wait(cond, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("the window did not reach the expected state")
            app.processEvents()
            time.sleep(0.002)

    window.create_case("Benchmark")
    window.add_evidence_files([crop_file])
    wait(lambda: len(window.evidence.items) == 1, 120)
    window.description.edit.setPlainText(PROMPT)
    c = window.controls
    c.n_candidates.setValue(args.candidates)
    c.steps.setValue(args.steps)
    for i in range(args.runs):
        c.seed.setValue(i)
        heartbeat = Heartbeat(10).start()
        t0 = time.perf_counter()
        if not window.runs.generate():
            raise RuntimeError(window.message_bar.message)
        wait(lambda: not window.runs.is_running(), 600)
        seconds = time.perf_counter() - t0
        gaps = heartbeat.stop()
        outcome = window.runs.last_outcome
        gaps_sorted = sorted(gaps)
        row = {
            "run": i + 1,
            "seconds": round(seconds, 2),
            "candidates": len(outcome.candidates) if outcome else 0,
            "scored": sum(1 for cd in (outcome.candidates if outcome else []) if cd.scores),
            "beats": len(gaps),
            "longest_stall_ms": max(gaps) if gaps else None,
            "p99_gap_ms": gaps_sorted[int(0.99 * (len(gaps_sorted) - 1))] if gaps else None,
            "gaps_over_30ms": sum(1 for g in gaps if g > 30),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    window.close()
    wait(lambda: window._closed, 60)
    # Destroy the Qt objects now, not during interpreter finalization (PySide6 can crash there).
    window.deleteLater()
    app.processEvents()
    window = None
    import gc

    gc.collect()
    rows.append({"crop": crop_text})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2, help="torch threads in the engine child")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tfgnet-bench-gui-") as tmp:
        launches = [round(measure_launch(Path(tmp) / f"launch{i}"), 3) for i in range(args.launches)]
        print("launch to interactive window (s):", launches, flush=True)
        stalls = measure_stalls(args, Path(tmp) / "home") if args.runs else []
    runs = [r for r in stalls if "run" in r]
    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "load_average_1min_before": round(load_before, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "launch_s": launches,
        "launch_median_s": round(statistics.median(launches), 3) if launches else None,
        "runs": runs,
        "crop": next((r["crop"] for r in stalls if "crop" in r), None),
        "request": f"{args.candidates} candidates x {args.steps} steps, strength 0.6, guidance 5.0",
        "longest_stall_first_run_ms": runs[0]["longest_stall_ms"] if runs else None,
        "longest_stall_later_runs_ms": max((r["longest_stall_ms"] for r in runs[1:]), default=None),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
