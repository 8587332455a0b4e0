"""Importing a large JPEG into the desktop window: peak memory and time to a result (issue 14 item 1).

    .venv/bin/python bench/bench_gui_large_image.py [--side 8000] [--no-preload] [--models-dir D] [--json F]

The app runs in a fresh interpreter (offscreen), as the analyst starts it: the real window, the real
detector child (dlib), and, unless ``--no-preload``, the engine child with the embedded tiny model
loaded (the window preloads it at start). An ``--side`` x ``--side`` JPEG (quality 90) is written first
by another process: a textured scene with a face a third of its width, the first CelebA photo of the
shared data when present (read, never copied), else a drawn face. Then:

1. Import: the image is dropped into a new case (``add_evidence_files``, as a drop does) and the time
   until the window shows the crop with its face box, or a refusal in the message bar, is taken; a
   10 ms heartbeat on the GUI thread gives the window's longest stall meanwhile.
2. Quit during a detection: the same image is dropped into a second case (analysed again there) and the
   window is closed once it says "Finding the face in ..."; the time ``close()`` takes is taken.

Memory: this script samples, every 50 ms, the resident set (VmRSS) of the app's process and of all its
descendants and reports the peak of their sum during the import (an upper bound: pages shared between
processes count twice), the idle figure before the drop, and each process's share at the peak.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MAKE_IMAGE = """
import sys
import numpy as np
from PIL import Image
from tfgnet_desk.gui.testing import synthetic_face
from tfgnet_desk.settings import default_data_dir
side, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
scene = rng.integers(60, 200, (side // 64, side // 64, 3), dtype=np.uint8)  # coarse texture
img = Image.fromarray(scene).resize((side, side), Image.Resampling.BICUBIC)
root = default_data_dir()
photos = sorted((root / "celeba10k" / "images").glob("*.jpg"))[:1] if root is not None else []
if photos:  # a real photo (read, never copied into the repository), enlarged into the scene
    face, what = Image.open(photos[0]).convert("RGB"), f"celeba10k/{photos[0].name}"
else:
    face, what = Image.fromarray(synthetic_face(512, seed=3, blur=False)), "a drawn face"
face = face.resize((side // 3, round(side / 3 * face.height / face.width)), Image.Resampling.BICUBIC)
img.paste(face, (side // 3, side // 4))
img.save(out, "JPEG", quality=90)
print(what)
"""

APP = """
import json, sys, time
from pathlib import Path
from PySide6.QtWidgets import QApplication
from tfgnet_desk.gui.testing import Heartbeat, open_window
from tfgnet_desk.settings import Settings

home, image, preload, models = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]

def say(event, **kw):
    print(json.dumps({"event": event, "t": time.time(), **kw}), flush=True)

def wait(cond, timeout):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)
    return cond()

settings = Settings(home=home / "home", models_dir=Path(models) if models else home / "models", data_dir=None)
w = open_window(settings, preload=preload)
app = QApplication.instance()
detector = w.analysis.detector
wait(lambda: detector.engine.is_alive(), 60)
if preload:
    wait(lambda: w.model_label.text().startswith("model ready"), 300)
wait(lambda: False, 2.0)  # settle
engine = w.backend.engine
say("ready", model=w.model_label.text(), pids={"window": __import__("os").getpid(),
    "detector child": detector.engine.pid, "engine child": engine.pid if engine else None})

w.create_case("Large image")
beat = Heartbeat().start()
t0 = time.perf_counter()
say("drop")
w.add_evidence_files([image])
refused = lambda: w.message_bar.message is not None and w.message_bar.message.kind == "bad-file"
wait(lambda: len(w.evidence.items) == 1 or refused(), 600)
seconds = time.perf_counter() - t0
gaps = beat.stop()
item = next(iter(w.evidence.items.values()), None)
outcome = (
    f"shown, face box {item.box} ({item.method or 'none'})" if item is not None
    else f"refused: {w.message_bar.message.text if w.message_bar.message else 'nothing shown'}"
)
say("shown", seconds=seconds, outcome=outcome, stall_ms=max(gaps or [0]))
wait(lambda: not w.evidence.analysis_bar.isVisible(), 30)

w.create_case("Quit while detecting")
w.add_evidence_files([image])
wait(lambda: "Finding the face" in w.evidence.analysis_bar.label.text(), 600)
say("detecting")
t0 = time.perf_counter()
w.close()
app.processEvents()
say("closed", seconds=time.perf_counter() - t0, detector_alive=detector.engine.is_alive())
"""


def tree_rss(root: int) -> dict[int, int]:
    """VmRSS in bytes of ``root`` and every descendant, by pid (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    out = {}
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        out[pid] = int(line.split()[1]) * 1024
        except OSError:
            continue
    return out


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if "resource_tracker" in cmd:
        return "multiprocessing resource tracker"
    return "child" if "multiprocessing" in cmd else cmd[:40]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8000)
    parser.add_argument("--no-preload", action="store_true", help="no engine model loaded (detector only)")
    parser.add_argument(
        "--models-dir", type=Path, default=None, help="model folder (default: the shipped models/tiny)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_WAIT_POLICY="PASSIVE")
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / f"large-{args.side}.jpg"
        made = subprocess.run(
            [sys.executable, "-c", MAKE_IMAGE, str(args.side), str(image)],
            check=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        face = made.stdout.strip().splitlines()[-1]
        jpeg_mb = image.stat().st_size / 1e6
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                APP,
                tmp,
                str(image),
                "0" if args.no_preload else "1",
                str(args.models_dir or ""),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        events: dict[str, dict] = {}
        samples: list[tuple[float, dict[int, int]]] = []

        def read() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                if line.startswith("{"):
                    event = json.loads(line)
                    events[event["event"]] = event

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        seen: dict[int, str] = {}  # pid -> what its command line says, read while it lives
        while proc.poll() is None:
            rss = tree_rss(proc.pid)
            samples.append((time.time(), rss))
            for pid in rss.keys() - seen.keys():
                seen[pid] = process_name(pid)
            time.sleep(0.05)
        reader.join(5)
        stderr = proc.stderr.read() if proc.stderr else ""  # type: ignore[union-attr]
        if proc.returncode != 0 or "shown" not in events:
            print(stderr[-3000:], file=sys.stderr)
            print(f"app exited {proc.returncode}; events: {sorted(events)}", file=sys.stderr)
            return 1
        names = {pid: role for role, pid in events["ready"]["pids"].items() if pid}
        names = {pid: names.get(pid, seen.get(pid, "other child")) for _t, s in samples for pid in s}

    def total(s: dict[int, int]) -> int:
        return sum(s.values())

    t_drop, t_shown = events["drop"]["t"], events["shown"]["t"]
    during = [s for t, s in samples if t_drop <= t <= t_shown + 0.1]
    idle = [total(s) for t, s in samples if events["ready"]["t"] - 1.5 <= t <= t_drop]
    peak = max(during, key=total)
    result = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPU, {platform.platform()}, Python {platform.python_version()}",
        "load_average": os.getloadavg(),
        "image": f"{args.side}x{args.side} JPEG ({jpeg_mb:.1f} MB, quality 90), {face} a third of its width",
        "model_preloaded": not args.no_preload,
        "model_state": events["ready"].get("model", ""),
        "outcome": events["shown"]["outcome"],
        "seconds_to_result": round(events["shown"]["seconds"], 2),
        "longest_gui_stall_ms": events["shown"]["stall_ms"],
        "idle_mb": round(max(idle or [0]) / 2**20),
        "peak_mb": round(total(peak) / 2**20),
        "peak_by_process_mb": {f"{names.get(p, '?')} {p}": round(v / 2**20) for p, v in sorted(peak.items())},
        "close_while_detecting_s": round(events.get("closed", {}).get("seconds", float("nan")), 2),
        "detector_alive_after_close": events.get("closed", {}).get("detector_alive"),
        "traceback_on_exit": "Traceback" in stderr,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
