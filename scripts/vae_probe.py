"""What the latent autoencoder's round trip costs the candidates: the restored face (the app's start
point for generation) and the clean target, each encoded and decoded by the model's VAE, scored like the
evaluation scores a candidate.

    python scripts/vae_probe.py --benchmark .cache/val150_a1 --limit 100 [--model models/tiny]
        [--vae runs/X/vae/export/vae.safetensors] [--json out.json]

Rows: bicubic input, restored face (as the app makes it: default w, restore fusion), its VAE round trip,
the clean target's round trip; centred dlib Face Sim to the target and to the evidence, and face-region
sharpness (``evaluate.metrics.analyst.face_sharpness``). A candidate can keep no more of the face than
the decoder gives back, so the round trip is the ceiling of the generator's identity and sharpness.
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
    ap.add_argument("--vae", type=Path, default=None, help="vae.safetensors to swap in (same config)")
    ap.add_argument("--benchmark", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from tfgnet_desk.evaluate.cases import list_cases, load_case
    from tfgnet_desk.evaluate.methods import Bicubic
    from tfgnet_desk.evaluate.metrics.suite import BENCHMARK_FACE_BOX
    from tfgnet_desk.evaluate.probe import ProbeRows
    from tfgnet_desk.evidence_fusion import default_sigmas, lowfreq_fusion
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.pipeline import prepare_face, to_tensor, to_uint8
    from tfgnet_desk.train.checkpoint import load_component

    model = TFGNet.from_pretrained(args.model, device="cpu")
    if args.vae is not None:
        load_component(model.vae, args.vae)
    model.restorer.float()
    model.vae.float()
    gen = model.generator
    w = float(model.config.fidelity)
    sigma = default_sigmas(model.config.profile)[0]
    probe = ProbeRows()

    def round_trip(img: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return to_uint8(gen.decode(gen.encode(to_tensor(img).float())))

    t0 = time.time()
    cases = list_cases(args.benchmark)[: args.limit]
    bicubic = Bicubic()
    size = model.config.restorer.img_size
    for folder in cases:
        case = load_case(folder)
        probe.case(case)
        probe.add("bicubic", bicubic.run(case))
        box = tuple(round(f * case.lq.shape[0]) for f in BENCHMARK_FACE_BOX)
        face = prepare_face(np.asarray(case.lq), size, model.config.face_frame, box, None)
        with torch.no_grad():
            restored = to_uint8(model.restorer.restore(to_tensor(face.lq).float(), w=w))
        restored = lowfreq_fusion(restored, face.lq, sigma)
        probe.add("restored", restored)
        probe.add("vae(restored)", round_trip(restored))
        target = np.asarray(case.target)
        if target.shape[0] != size:
            from PIL import Image

            target = np.asarray(Image.fromarray(target).resize((size, size), Image.BICUBIC))
        probe.add("target", target)
        probe.add("vae(target)", round_trip(target))
    probe.report(
        f"{len(cases)} cases of {args.benchmark} in {time.time() - t0:.0f} s; vae {args.vae or args.model}",
        args.json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
