"""Write an example case report from drawn demo data: ``python -m tfgnet_desk.report.example OUT_DIR``.

The evidence and the candidates are simple drawings made here (no real face, no trained model), and the
scores are illustrative placeholders; the case says so in its notes. The PDF goes through the real case
store and report code; ``--png`` also renders its first pages side by side into one PNG (pypdfium2, a
dev dependency) - that is how ``docs/report-example.png`` is made.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def draw_face(seed: int, size: int = 128) -> np.ndarray:
    """A drawn, clearly artificial face whose hair, skin, face width and eyes vary with ``seed``."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    s = size / 128
    img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(150, 220, 3)))
    d = ImageDraw.Draw(img)
    skin = tuple(int(v) for v in (rng.integers(150, 235), rng.integers(110, 190), rng.integers(80, 160)))
    hair = tuple(int(v) for v in rng.integers(20, 120, 3))
    w = rng.uniform(34, 44) * s
    cx, cy = size / 2, size * 0.55
    d.ellipse((cx - w - 6 * s, cy - 58 * s, cx + w + 6 * s, cy + 20 * s), fill=hair)
    d.ellipse((cx - w, cy - 46 * s, cx + w, cy + 46 * s), fill=skin)
    d.rectangle((cx - 14 * s, cy + 38 * s, cx + 14 * s, size), fill=skin)
    for ex in (-1, 1):
        x = cx + ex * rng.uniform(13, 17) * s
        d.ellipse((x - 6 * s, cy - 12 * s, x + 6 * s, cy - 4 * s), fill=(250, 250, 250))
        d.ellipse(
            (x - 3 * s, cy - 11 * s, x + 3 * s, cy - 5 * s),
            fill=tuple(int(v) for v in rng.integers(30, 110, 3)),
        )
        d.line((x - 8 * s, cy - 18 * s, x + 8 * s, cy - 19 * s), fill=hair, width=max(1, int(3 * s)))
    d.line((cx, cy - 6 * s, cx - 3 * s, cy + 10 * s), fill=(120, 80, 60), width=max(1, int(2 * s)))
    d.arc(
        (cx - 12 * s, cy + 12 * s, cx + 12 * s, cy + 26 * s),
        20,
        160,
        fill=(140, 50, 50),
        width=max(1, int(2 * s)),
    )
    if rng.random() < 0.5:  # a beard
        d.chord((cx - w + 4 * s, cy + 4 * s, cx + w - 4 * s, cy + 48 * s), 0, 180, fill=hair)
    return np.asarray(img)


def cctv_frame(seed: int = 7) -> np.ndarray:
    """A small, blurred, noisy 'camera frame' with a drawn face in it (the demo evidence)."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    frame = np.full((120, 160, 3), 90, np.uint8)
    frame[:, :, 2] = 110
    face = Image.fromarray(draw_face(seed, 128)).resize((20, 20), Image.Resampling.BILINEAR).resize((64, 64))
    frame[25:89, 50:114] = np.asarray(face.filter(ImageFilter.GaussianBlur(1.5)))
    noisy = frame.astype(int) + rng.normal(0, 8, frame.shape).round().astype(int)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _result(seed: int, n: int, prompt: str):
    cands = []
    for i in range(n):
        raw = round(0.25 + 0.1 * ((seed + 3 * i) % 5) / 2, 3)
        cands.append(
            SimpleNamespace(
                index=i,
                seed=seed + i,
                image=draw_face(seed + i),
                scores={
                    "evidence": {"raw": raw, "calibrated": round(raw + 0.21, 3), "backend": "dlib-resnet"}
                },
            )
        )
    prov = {  # the pipeline's provenance layout (provenance.build_provenance)
        "request": {
            "prompt": prompt,
            "n_candidates": n,
            "seed": seed,
            "steps": 25,
            "guidance": 5.0,
            "strength": 0.6,
            "face_boxes": [[50, 25, 114, 89]],
        },
        "model": {"manifest_hash": "demo-drawings-no-model", "profile": "tiny"},
        "libraries": {"tfgnet-desk": "example"},
        "device": "cpu",
        "restored_scores": [{"evidence": {"raw": 0.31, "calibrated": 0.52, "backend": "dlib-resnet"}}],
    }
    return SimpleNamespace(candidates=cands, provenance=prov)


def build_example(out_dir: Path, png: bool = False) -> Path:
    """Make the demo case in a temporary store and write ``out_dir/report-example.pdf`` (and ``.png``)."""
    from PIL import Image

    from tfgnet_desk.cases.store import CaseStore
    from tfgnet_desk.report import write_case_report
    from tfgnet_desk.settings import Settings

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        Image.fromarray(cctv_frame()).save(root / "camera3_frame0112.png")
        settings = Settings(home=root / "home", models_dir=root / "models", analyst="Example Analyst")
        with CaseStore(settings) as store:  # the actor of every audited action: the settings' analyst
            cid = store.create_case(
                "Example: kiosk robbery, Main St",
                reference="EX-2026-0001",
                analyst=settings.analyst,
                notes="Demo data: the evidence and candidates are drawings made by "
                "tfgnet_desk.report.example and the scores are illustrative placeholders, not model output.\n"
                "Conclusion: run 1 candidate #3 goes to the photo line-up review with witness W-2.",
            )
            eid = store.evidence.import_file(
                cid, root / "camera3_frame0112.png", face_box=(50, 25, 114, 89), note="frame 112 of camera 3"
            )
            r1 = store.runs.record(cid, [eid], _result(100, 4, "a man in his forties with a short beard"))
            store.runs.record(
                cid, [eid], _result(200, 4, "a man in his forties with a short beard, dark hair")
            )
            r3 = store.runs.start(
                cid,
                [eid],
                prompt="a man in his forties with a short beard, grey hoodie",
                parameters={"n_candidates": 4, "seed": 300, "steps": 25},
                profile="tiny",
                device="cpu",
                model_hash="demo-drawings-no-model",
            )
            store.runs.finish(r3, "cancelled", error="cancelled by the analyst")
            k = store.candidates.of_run(r1)[2]["id"]
            store.candidates.set_pick(k)
            store.candidates.annotate(
                k, "Closest to the description by witness W-2; show in the photo line-up review."
            )
            pdf = write_case_report(store, cid, out_dir / "report-example.pdf")
    if png:
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(str(pdf))
        pages = [doc[i].render(scale=1.0).to_pil().convert("RGB") for i in range(min(2, len(doc)))]
        sheet = Image.new(
            "RGB",
            (sum(p.width for p in pages) + 10 * (len(pages) + 1), pages[0].height + 20),
            (160, 160, 160),
        )
        x = 10
        for p in pages:
            sheet.paste(p, (x, 10))
            x += p.width + 10
        sheet.save(out_dir / "report-example.png", optimize=True)
    return pdf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument(
        "--png", action="store_true", help="also render the first two pages to report-example.png"
    )
    args = ap.parse_args(argv)
    print(build_example(args.out_dir, png=args.png))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
