"""Restorer alone at several fidelity weights w, on benchmark cases: the learning-curve probe of the
``fidelity`` stage and the measurement behind a model's default w (``config.fidelity``).

    python scripts/restorer_sweep.py --model models/tiny --benchmark .cache/bench500 --limit 100
        [--restorer runs/X/fidelity/export/restorer.safetensors] [--w 0,0.5,1] [--data ../shared/data]

For each w: mean centred dlib Face Sim of the restored face (fusion off) to the target and to the evidence,
and the face-region sharpness (``evaluate.metrics.analyst.face_sharpness``), beside the bicubic input
and the clean source, with the evaluation's own framing, landmarks and encoders. The full evaluation
(``python -m tfgnet_desk.evaluate``) stays the figure of record; this is the quick probe.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("models/tiny"))
    ap.add_argument("--restorer", type=Path, default=None, help="restorer.safetensors to swap in")
    ap.add_argument("--benchmark", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--w", default="0,0.5,1", help="comma-separated fidelity weights")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--fusion", type=float, default=0.0, help="also score each w with this low-frequency fusion sigma"
    )
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too")
    ap.add_argument("--data", type=Path, default=None, help="face data folder (for the clean-source row)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from tfgnet_desk.evaluate.cases import list_cases, load_case
    from tfgnet_desk.evaluate.methods import Bicubic, CleanSource, ReferenceData
    from tfgnet_desk.evaluate.metrics.suite import BENCHMARK_FACE_BOX
    from tfgnet_desk.evaluate.probe import ProbeRows
    from tfgnet_desk.evidence_fusion import lowfreq_fusion
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.pipeline import prepare_face, to_tensor, to_uint8
    from tfgnet_desk.train.assemble import swap_restorer

    model = TFGNet.from_pretrained(args.model, device="cpu")
    if args.restorer is not None:
        swap_restorer(model, args.restorer)
    model.restorer.float()
    ws = [float(x) for x in args.w.split(",")]
    probe = ProbeRows()

    t0 = time.time()
    cases = list_cases(args.benchmark)[: args.limit]
    bicubic = Bicubic()
    clean = CleanSource(ReferenceData(args.data)) if args.data is not None else None
    for folder in cases:
        case = load_case(folder)
        probe.case(case)
        probe.add("bicubic", bicubic.run(case))
        if clean is not None:
            probe.add("clean-source", clean.run(case))
        size = model.config.restorer.img_size
        box = tuple(round(f * case.lq.shape[0]) for f in BENCHMARK_FACE_BOX)
        face = prepare_face(np.asarray(case.lq), size, model.config.face_frame, box, None)
        lq = to_tensor(face.lq).float()
        for w in ws:
            restored = to_uint8(model.restorer.restore(lq, w=w))
            probe.add(f"restorer w={w:g}", restored)
            if args.fusion > 0:
                fused = lowfreq_fusion(restored, face.lq, args.fusion)
                probe.add(f"w={w:g} fusion {args.fusion:g}", fused)
    probe.report(
        f"{len(cases)} cases of {args.benchmark} in {time.time() - t0:.0f} s; model {args.model}", args.json
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
