"""Resume is exact on CPU; an interrupted checkpoint write leaves the previous checkpoint intact."""

from __future__ import annotations

import pytest
import torch

from tests.train_helpers import run, small_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _weights(folder):
    from tfgnet_desk.train.checkpoint import load_checkpoint

    ck = load_checkpoint(folder)
    return ck["step"], ck["model"], ck["optimizer"]["state"]


@pytest.mark.parametrize("stage", ["vae", "clip"])
def test_n_straight_equals_half_resume_half(stage, tmp_path):
    # cosine schedule with warm-up: the scheduler state must be restored too
    cfg = small_config(stage, max_steps=4, schedule="cosine", warmup_steps=1)
    run(cfg, tmp_path / "straight")
    run(cfg, tmp_path / "split", stop_step=2)
    assert _weights(tmp_path / "split" / stage)[0] == 2
    run(cfg, tmp_path / "split", resume=True)
    step_a, model_a, opt_a = _weights(tmp_path / "straight" / stage)
    step_b, model_b, opt_b = _weights(tmp_path / "split" / stage)
    assert step_a == step_b == 4
    assert model_a.keys() == model_b.keys()
    for k in model_a:
        assert torch.equal(model_a[k], model_b[k]), k
    for k in opt_a:
        assert torch.equal(opt_a[k]["exp_avg"], opt_b[k]["exp_avg"])
    # and the run really trained: weights moved from the step-2 state
    import csv

    rows = list(csv.DictReader(open(tmp_path / "split" / stage / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]


def test_interrupted_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    from tfgnet_desk.train import checkpoint as C

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    C.save_checkpoint(tmp_path, step=1, elapsed=1.0, model=model, optimizer=opt, scheduler=sched, config={})
    before = C.load_checkpoint(tmp_path)

    real_save = torch.save

    def crash(obj, fh, *a, **kw):
        real_save(obj, fh, *a, **kw)
        fh.truncate(10)  # a half-written file ...
        raise KeyboardInterrupt("killed while writing")  # ... and the process dies

    with torch.no_grad():
        model.weight.add_(1.0)
    monkeypatch.setattr(C.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        C.save_checkpoint(
            tmp_path, step=2, elapsed=2.0, model=model, optimizer=opt, scheduler=sched, config={}
        )
    monkeypatch.setattr(C.torch, "save", real_save)
    after = C.load_checkpoint(tmp_path)
    assert after["step"] == 1
    assert torch.equal(after["model"]["weight"], before["model"]["weight"])
    assert (tmp_path / "checkpoint.pt.tmp").exists()  # the torn file is the temporary, never the checkpoint


def test_time_budget_and_stop_step(tmp_path):
    cfg = small_config("vae", max_steps=50)
    res = run(cfg, tmp_path, stop_step=3)
    assert res.step == 3
    res = run(cfg, tmp_path / "b", time_budget_min=0.0)
    assert res.step == 1  # stops after the first step once over budget, checkpoint written
    assert (tmp_path / "b" / "vae" / "checkpoint.pt").is_file()


def test_sigint_saves_and_exits(tmp_path):
    import os
    import signal
    import threading

    from tfgnet_desk.train.data import SyntheticFaces

    class Interrupting(SyntheticFaces):
        def sample(self, seed, step, batch_size):
            if step == 2:
                os.kill(os.getpid(), signal.SIGINT)
            return super().sample(seed, step, batch_size)

    assert threading.current_thread() is threading.main_thread()
    cfg = small_config("vae", max_steps=50)
    res = run(cfg, tmp_path, source=Interrupting(n=8, size=32))
    assert res.interrupted and res.step == 3
    assert _weights(tmp_path / "vae")[0] == 3
    assert (tmp_path / "vae" / "export" / "vae.safetensors").is_file()
