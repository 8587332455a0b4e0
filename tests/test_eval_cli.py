"""``python -m tfgnet_desk.evaluate`` end to end on a tiny synthetic benchmark (no real faces needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tfgnet_desk.imaging import save_png


def _face_like(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth synthetic image (an ellipse on a gradient) so that every metric has structure to see."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([xx, yy, 1 - xx], -1) * 120 + 60
    face = ((xx - 0.5) ** 2 / 0.09 + (yy - 0.45) ** 2 / 0.16) < 1
    base[face] = rng.integers(150, 230, 3)
    base += rng.normal(0, 6, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def make_benchmark(root: Path) -> Path:
    """4 cases: two good, one with a corrupt LQ image, one without its target."""
    rng = np.random.default_rng(0)
    for i in range(1, 5):
        case = root / f"case_{i:04d}"
        case.mkdir(parents=True)
        save_png(_face_like(rng, 128)[::2, ::2].repeat(2, 0).repeat(2, 1), case / "lq.png")
        save_png(_face_like(rng, 256), case / "target.png")
        (case / "text.txt").write_text("a young woman with brown hair\n")
        (case / "meta.json").write_text(json.dumps({"gender": "female", "identity": str(i)}))
    (root / "case_0003" / "lq.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (root / "case_0004" / "target.png").unlink()
    return root


def _run(args: list[str]) -> int:
    from tfgnet_desk.evaluate.__main__ import main

    return main(args)


def test_evaluate_reports_broken_cases_and_reruns_identically(tmp_path):
    bench = make_benchmark(tmp_path / "bench")
    common = [
        "--benchmark",
        str(bench),
        "--methods",
        "bicubic",
        "--data",
        str(tmp_path / "no-data"),
        "--model",
        str(tmp_path / "no-model"),
        "--identity",
        "dlib-resnet",
        "--no-faceres",
        "--no-progress",
        "--threads",
        "1",
    ]
    assert _run([*common, "--out", str(tmp_path / "a")]) == 0
    assert _run([*common, "--out", str(tmp_path / "b")]) == 0
    a, b = tmp_path / "a", tmp_path / "b"

    skipped = json.loads((a / "skipped.json").read_text())
    reasons = {s["case"]: s["reason"] for s in skipped["skipped_cases"]}
    assert set(reasons) == {"case_0003", "case_0004"}
    assert "lq.png" in reasons["case_0003"] and "target.png" in reasons["case_0004"]
    # no data folder: the reference rows are reported as unavailable, not silently dropped
    assert set(skipped["unavailable_methods"]) == {"clean-source", "random-same-gender"}

    assert (a / "results.csv").read_bytes() == (b / "results.csv").read_bytes()
    for case in ("case_0001", "case_0002"):
        assert (a / "cases" / f"{case}.json").read_text() == (b / "cases" / f"{case}.json").read_text()
    rows = (a / "results.csv").read_text().splitlines()
    assert rows[0].startswith("method,cases,face_sim_dlib-resnet")
    assert rows[1].startswith("bicubic,2,")

    md = (a / "results.md").read_text()
    assert "2 cases scored of 4 listed (2 skipped)" in md
    assert "n/a" in md and "DINO ViT-S/16 weights not found" in md  # an n/a with its reason
    run = json.loads((a / "run.json").read_text())
    for key in ("seed", "commit", "manifest_hash", "machine", "date", "columns"):
        assert key in run
    from PIL import Image

    fig = Image.open(a / "comparison.png")
    assert fig.size[0] == 128 * 4  # input | text | bicubic | target


def test_unknown_method_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        _run(["--benchmark", str(tmp_path), "--methods", "bicubic,magic", "--out", str(tmp_path / "o")])


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    from tfgnet_desk.model.testing import save_random_model

    return save_random_model(tmp_path_factory.mktemp("model") / "random")


def test_model_methods_on_a_random_tiny_model(tmp_path, random_model):
    import torch

    torch.set_num_threads(1)
    bench = make_benchmark(tmp_path / "bench")
    common = [
        "--benchmark",
        str(bench),
        "--model",
        str(random_model),
        "--methods",
        "bicubic,restorer,text-only,tfgnet",
        "--strength",
        "1.0,0.6",
        "--steps",
        "2",
        "--ablations",
        f"no-masked-loss={random_model}",
        "--identity",
        "dlib-resnet",
        "--data",
        str(tmp_path / "no-data"),
        "--no-faceres",
        "--candidates",
        "2",
        "--no-progress",
        "--limit",
        "3",
    ]
    assert _run([*common, "--out", str(tmp_path / "a")]) == 0
    assert _run([*common, "--out", str(tmp_path / "b")]) == 0
    a = tmp_path / "a"
    rows = [r.split(",") for r in (a / "results.csv").read_text().splitlines()]
    assert [r[0] for r in rows[1:]] == [
        "bicubic",
        "restorer",
        "text-only",
        "tfgnet s=1",
        "tfgnet s=0.6",
        "no-masked-loss",
    ]
    assert all(r[1] == "2" for r in rows[1:])  # --limit 3: case_0003 is corrupt, so 2 scored
    assert (a / "results.csv").read_bytes() == (tmp_path / "b" / "results.csv").read_bytes()
    cols = {c["key"]: c for c in json.loads((a / "run.json").read_text())["columns"]}
    # no reference CLIP/LPIPS/Inception weights here: the model's own tiny CLIP, labelled so
    assert cols["clip_t"]["label"] == "CLIP-T (tiny-CLIP) %" and cols["clip_t"]["available"]
    assert cols["lpips"]["label"].startswith("LPIPS (tiny-CLIP") and cols["fid"]["label"] == "FID (tiny-CLIP)"
    assert not cols["dino"]["available"]
    md = (a / "results.md").read_text()
    assert "Table 3 shape" in md and "| no-masked-loss | ✓ | ✓ | ✓ | ✗ |" in md
    assert "Fidelity knob" in md
    run = json.loads((a / "run.json").read_text())
    assert run["candidates"]["tfgnet s=0.6"] == 2 and run["candidates"]["text-only"] == 1
    assert run["faceres"]["missing"] == "--no-faceres" and run["flip"]["cases_run"] == 0


def test_restorer_row_equals_the_pipelines_restored_face(tmp_path, random_model):
    """The restore-only path must stay the pipeline's restore stage, byte for byte."""
    from tfgnet_desk.evaluate.cases import load_case
    from tfgnet_desk.evaluate.metrics.suite import BENCHMARK_FACE_BOX
    from tfgnet_desk.evaluate.model_methods import GenerationSettings, ModelRunner

    bench = make_benchmark(tmp_path / "bench")
    case = load_case(bench / "case_0001")
    runner = ModelRunner(random_model, None, GenerationSettings(seed=3, steps=1, face_box=BENCHMARK_FACE_BOX))
    from tfgnet_desk.pipeline import GenerationRequest

    own = runner.restore(case).copy()
    req = GenerationRequest(
        images=[case.lq],
        prompt=case.text,
        steps=1,
        face_boxes=[runner._box(case)],
        restore_fusion=runner.restore_fusion,
        candidate_fusion=runner.candidate_fusion,
        fidelity=runner.fidelity,
        identity_guidance=runner.identity_guidance,
    )
    assert np.array_equal(runner.pipe(req).restored[0], own)
    # text-only differs from the whole method (no stacked ID embedding) but is as deterministic
    t1, t2 = runner.generate_text_only(case, 1.0), runner.generate_text_only(case, 1.0)
    assert np.array_equal(t1, t2) and not np.array_equal(t1, runner.generate(case, 1.0)[0])


def test_time_budget_stops_between_cases_and_says_so(tmp_path):
    from tfgnet_desk.evaluate.methods import Bicubic
    from tfgnet_desk.evaluate.metrics.suite import MetricSuite
    from tfgnet_desk.evaluate.report import markdown_report
    from tfgnet_desk.evaluate.runner import run_evaluation

    bench = make_benchmark(tmp_path / "bench")
    suite = MetricSuite()
    full = run_evaluation(bench, [Bicubic()], suite, progress=False)
    assert len(full.per_case) == 2 and full.stopped_early is None
    assert full.summary["bicubic"]["ssim"] is not None
    cut = run_evaluation(bench, [Bicubic()], MetricSuite(), progress=False, time_budget_s=0.0)
    assert cut.per_case == [] and "after 0 of 4 cases" in cut.stopped_early
    assert "Stopped early" in markdown_report(cut, MetricSuite().columns(), {}, [], [])


def test_batched_flip_generation_is_the_pipelines_whole_method(tmp_path, random_model):
    """The flip test generates all texts of a case in one batch outside the pipeline: with one text it
    must be the pipeline's candidate 0, byte for byte (so the replica of its stages cannot drift)."""
    import torch

    from tfgnet_desk.evaluate.cases import load_case
    from tfgnet_desk.evaluate.metrics.suite import BENCHMARK_FACE_BOX
    from tfgnet_desk.evaluate.model_methods import GenerationSettings, ModelRunner

    torch.set_num_threads(1)
    case = load_case(make_benchmark(tmp_path / "bench") / "case_0001")
    runner = ModelRunner(random_model, None, GenerationSettings(seed=3, steps=2, face_box=BENCHMARK_FACE_BOX))
    for strength in (0.6, 1.0):
        own = runner.generate_batch(case, strength, [case.text], stacked_id=True)[0]
        assert np.array_equal(own, runner.generate(case, strength, n=1)[0]), strength
    single = runner.generate_batch(case, 0.6, [case.text], stacked_id=True)[0]
    pair = runner.generate_batch(case, 0.6, [case.text, "a man wearing glasses"], stacked_id=True)
    assert np.abs(pair[0].astype(int) - single).max() <= 2  # batching changes float rounding only
    assert not np.array_equal(pair[0], pair[1])
    text_only = runner.generate_batch(case, 0.6, [case.text, case.text], stacked_id=False)
    assert np.array_equal(text_only[0], text_only[1])  # same seed, same text
    assert np.abs(text_only[0].astype(int) - runner.generate_text_only(case, 0.6)).max() <= 2
