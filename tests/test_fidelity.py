"""The restorer's fidelity weight w end to end: model default, request, pipeline, GUI control, reproduce;
the fidelity stage's w schedule; training on more than one degradation tier; the sharpness figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tfgnet_desk.model.config import TFGNetConfig
from tfgnet_desk.model.testing import save_random_model
from tfgnet_desk.pipeline import GenerationRequest, TFGNetPipeline

torch.set_num_threads(1)


def _crop(seed: int = 0, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(small, np.ones((size // 6, size // 6, 1), dtype=np.uint8)))


def test_config_fidelity_round_trips_and_old_configs_mean_codebook_only():
    cfg = TFGNetConfig.tiny()
    cfg.fidelity = 0.7
    again = TFGNetConfig.from_dict(json.loads(cfg.to_json()))
    assert again.fidelity == pytest.approx(0.7)
    old = cfg.to_dict()
    del old["fidelity"]
    assert TFGNetConfig.from_dict(old).fidelity == 0.0  # what models before the CFT stage ran at
    with pytest.raises(ValueError, match="fidelity"):
        TFGNetConfig.from_dict({**cfg.to_dict(), "fidelity": 1.5})


def test_request_rejects_fidelity_outside_0_1():
    req = GenerationRequest(images=[_crop()], prompt="a man", fidelity=1.2)
    with pytest.raises(ValueError, match="fidelity"):
        req.validate()
    GenerationRequest(images=[_crop()], prompt="a man", fidelity=1.0).validate()


@pytest.fixture(scope="module")
def pipe(tmp_path_factory) -> TFGNetPipeline:
    folder = save_random_model(tmp_path_factory.mktemp("fid") / "tiny", seed=0)
    p = TFGNetPipeline.from_pretrained(folder, device="cpu", identity_encoder=None)
    p.model.config.fidelity = 0.5  # as a trained model's config.json would say
    # a random model's fuse blocks start as the identity; give them weight so that w shows
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for block in p.model.restorer.fuse_convs_dict.values():
            for seq in (block.scale, block.shift):
                seq[2].weight.copy_(0.2 * torch.randn(seq[2].weight.shape, generator=g))
    return p


def test_pipeline_uses_and_records_the_fidelity(pipe: TFGNetPipeline):
    base = dict(
        images=[_crop()], prompt="a man", n_candidates=1, seed=3, steps=2, face_boxes=[(0, 0, 96, 96)]
    )
    default = pipe(GenerationRequest(**base))
    assert default.provenance["request"]["fidelity"] == 0.5  # the model's measured default, recorded
    zero = pipe(GenerationRequest(**base, fidelity=0.0))
    one = pipe(GenerationRequest(**base, fidelity=1.0))
    assert zero.provenance["request"]["fidelity"] == 0.0 and one.provenance["request"]["fidelity"] == 1.0
    diff = np.abs(zero.restored[0].astype(int) - one.restored[0].astype(int)).mean()
    assert diff > 1.0  # w reaches the restorer
    again = pipe(GenerationRequest(**base, fidelity=0.5))
    np.testing.assert_array_equal(again.restored[0], default.restored[0])


def test_reproduce_repeats_the_recorded_fidelity_and_old_runs_at_zero():
    from tfgnet_desk.request import GenerationRequest

    def fidelity(record, resolved=None):
        return GenerationRequest.from_record(record, images=[], prompt="a man", resolved=resolved).fidelity

    assert fidelity({"seed": 1}) == 0.0
    assert fidelity({"fidelity": None}, {"fidelity": 0.8}) == 0.8  # 'model default': the value resolved
    assert fidelity({"fidelity": 0.3}, {"fidelity": 0.3}) == 0.3


def test_fidelity_stage_draws_w_from_its_list_per_step(tmp_path: Path):
    from tfgnet_desk.train.stages.fidelity import FidelityStage

    stage = FidelityStage.__new__(FidelityStage)
    stage.w_choices = [0.0, 0.5, 1.0, 1.0]
    draws = [stage.w_at(0, s) for s in range(400)]
    assert set(draws) == {0.0, 0.5, 1.0}
    assert draws == [stage.w_at(0, s) for s in range(400)]  # a function of (seed, step)
    assert 0.35 < np.mean([d == 1.0 for d in draws]) < 0.65
    stage.w_choices = [1.0]
    assert {stage.w_at(0, s) for s in range(20)} == {1.0}


def test_training_draws_from_every_degradation_bank(tmp_path: Path):
    from tfgnet_desk.train.data import CachedFaces
    from tfgnet_desk.train.facecache import lq_file

    n, size = 8, 16
    faces = np.full((n, size, size, 3), 128, np.uint8)
    np.save(tmp_path / f"faces-{size}.npy", faces)
    keys = [f"celeba10k/{i:06d}.jpg" for i in range(n)]
    meta = {"size": size, "keys": keys, "pools": ["train"] * n, "split_seed": 0}
    (tmp_path / f"faces-{size}.json").write_text(json.dumps(meta))
    np.save(tmp_path / lq_file(size, "a1"), np.full((1, n, size, size, 3), 10, np.uint8))
    np.save(tmp_path / lq_file(size, "surveillance"), np.full((1, n, size, size, 3), 240, np.uint8))
    src = CachedFaces(tmp_path, None, size=size, flip=False, masks="ellipse")
    assert src.lq_tiers == ["a1", "surveillance"]
    batch = src.rows(np.arange(n).repeat(4), np.random.default_rng(0))
    seen = {round(float(v), 2) for v in batch.lq.mean(dim=(1, 2, 3))}
    assert len(seen) == 2  # both banks were drawn (values 10 and 240 map to two levels)
    with pytest.raises(ValueError, match="tier"):
        lq_file(size, "fog")


def test_sharpness_falls_with_blur_and_is_zero_on_flat_faces():
    from PIL import Image, ImageFilter

    from tfgnet_desk.evaluate.metrics.analyst import face_sharpness, sharpness

    rng = np.random.default_rng(0)
    img = (rng.random((128, 128, 3)) * 255).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(2)))
    assert face_sharpness(img) > 3 * face_sharpness(blurred) > 0
    assert face_sharpness(np.full((128, 128, 3), 90, np.uint8)) == 0.0
    big = np.asarray(Image.fromarray(img).resize((256, 256), Image.Resampling.NEAREST))
    assert face_sharpness(big) == pytest.approx(face_sharpness(img), rel=1e-6)  # judged at 128 px
    assert sharpness([img, blurred])["sharp_face"] == pytest.approx(
        (face_sharpness(img) + face_sharpness(blurred)) / 2
    )


def test_run_controls_fidelity_box(qtbot):
    from tfgnet_desk.gui.widgets.run_controls import FIDELITY_DEFAULT_TEXT, RunControls

    rc = RunControls()
    qtbot.addWidget(rc)
    assert rc.parameters().fidelity is None and rc.fidelity.text() == FIDELITY_DEFAULT_TEXT
    rc.fidelity.setValue(0.7)
    assert rc.parameters().fidelity == 0.7
    rc.fidelity.setValue(0.0)
    assert rc.parameters().fidelity == 0.0
    rc.set_running(True)
    assert not rc.fidelity.isEnabled()


def test_assemble_from_a_base_model_swaps_the_restorer_and_records_the_fidelity(tmp_path: Path):
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.model_folders.manifest import verify_folder
    from tfgnet_desk.train.assemble import assemble
    from tfgnet_desk.train.checkpoint import save_component

    base = save_random_model(tmp_path / "base", seed=0)
    (base / "training.json").write_text(json.dumps({"joint": {"steps": 7}}))
    model = TFGNet.from_pretrained(base)
    with torch.no_grad():
        model.restorer.fuse_convs_dict["32"].scale[2].bias.fill_(0.25)
    run = tmp_path / "run"
    (run / "fidelity").mkdir(parents=True)
    save_component(model.restorer, run / "restorer.safetensors")
    (run / "fidelity" / "log.csv").write_text("step,elapsed_s,cpu_s,lr,loss\n5,60.0,110.0,0.001,0.5\n")
    out = assemble(run, tmp_path / "out", run / "restorer.safetensors", base=base, fidelity=0.8)
    assert verify_folder(out).ok
    again = TFGNet.from_pretrained(out)
    assert again.config.fidelity == 0.8
    bias = again.restorer.fuse_convs_dict["32"].scale[2].bias.float()
    assert torch.allclose(bias, torch.full_like(bias, 0.25))
    training = json.loads((out / "training.json").read_text())
    assert training["joint"] == {"steps": 7} and training["fidelity"]["steps"] == 5
    with pytest.raises(ValueError, match="fidelity"):
        assemble(run, tmp_path / "bad", base=base, fidelity=2.0)


def test_sample_sheet_with_data_set_images_never_goes_into_the_repository(tmp_path: Path):
    from tfgnet_desk.train.samples import safe_for_inputs

    repo = tmp_path / "repo"
    assert not safe_for_inputs(repo / "docs" / "samples" / "x.png", repo)
    assert not safe_for_inputs(repo / "x.png", repo)
    assert safe_for_inputs(repo / ".cache" / "samples" / "x.png", repo)
    assert safe_for_inputs(repo / "runs" / "x.png", repo)
    assert safe_for_inputs(tmp_path / "elsewhere" / "x.png", repo)


@pytest.mark.data
def test_a_val_pool_set_uses_val_identities_only(tmp_path: Path, data_root: Path):
    from tfgnet_desk.data import Splits
    from tfgnet_desk.data.benchmark import build_benchmark

    root = data_root
    written = build_benchmark(root, tmp_path / "val", cases=3, seed=0, pool="val")
    splits = Splits.load()
    val, bench = set(splits.val), set(splits.benchmark)
    for case in written:
        meta = json.loads((case / "meta.json").read_text())
        assert meta["split"]["pool"] == "val"
        keys = {f"celeba10k/{meta['input_file']}", f"celeba10k/{meta['target_file']}"}
        assert keys <= val and not keys & bench
    with pytest.raises(ValueError, match="pool"):
        build_benchmark(root, tmp_path / "x", cases=1, pool="train")
