"""Peak memory and time of face detection on hostile image shapes, each in a fresh process.

    python bench/bench_hostile_images.py            # prints a markdown table for docs/performance.md

Shapes: 4000x3, 3x4000 and 1x1 (refused before any work), 8000x8000, 2000x2000 and 640x480 noise (run on
the bounded working copy). Peak = the child's maximum resident set size (``ru_maxrss``), which includes
the interpreter, numpy, OpenCV and dlib (about 100 MB before any image).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
import numpy as np
from tfgnet_desk.faces.detect import NoFaceError, detect_faces
w, h = int(sys.argv[1]), int(sys.argv[2])
img = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
t0 = time.perf_counter()
try:
    outcome = f"ran, {len(detect_faces(img))} faces"
except NoFaceError as exc:
    outcome = "refused: " + str(exc)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"outcome": outcome, "peak_mb": peak, "seconds": seconds}))
"""

SHAPES = [(4000, 3), (3, 4000), (1, 1), (640, 480), (2000, 2000), (8000, 8000)]


def main() -> int:
    print(f"machine: {platform.platform()}, python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    print()
    print("| image (w x h, noise) | outcome | detection time (s) | peak RSS of the process (MB) |")
    print("|---|---|---|---|")
    for w, h in SHAPES:
        out = subprocess.run([sys.executable, "-c", CHILD, str(w), str(h)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"| {w} x {h} | child failed: {out.stderr.strip().splitlines()[-1][:80]} | - | - |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        outcome = r["outcome"] if len(r["outcome"]) < 70 else r["outcome"][:67] + "..."
        print(f"| {w} x {h} | {outcome} | {r['seconds']:.2f} | {r['peak_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
