"""The prepared training command: stages in order, skipped when done, resumed, CPU seconds recorded."""

from __future__ import annotations

import json

from tests.train_helpers import small_config
from tfgnet_desk.train.plan import PlanStage, load_plan, main, stage_command


def _configs(tmp_path):
    cb = small_config("codebook", max_steps=2)
    tr = small_config("transformer", max_steps=2, init={"vq": "codebook/export/vq.safetensors"})
    paths = {}
    for cfg in (cb, tr):
        paths[cfg.stage] = tmp_path / f"{cfg.stage}.json"
        paths[cfg.stage].write_text(json.dumps(cfg.to_dict()))
    plan = {
        "stages": [
            {"stage": "codebook", "config": str(paths["codebook"]), "minutes": 5},
            {"stage": "transformer", "config": str(paths["transformer"])},
        ]
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    return tmp_path / "plan.json"


def test_plan_runs_stages_in_order_records_cpu_and_skips_done_ones(tmp_path, capsys):
    plan = _configs(tmp_path)
    out = tmp_path / "run"
    args = ["--plan", str(plan), "--out", str(out), "--synthetic", "--threads", "1"]
    assert main(args) == 0
    summary = json.loads((out / "plan.json").read_text())
    assert [s["stage"] for s in summary["stages"]] == ["codebook", "transformer"]
    assert all(s["steps"] == 2 and s["cpu_seconds"] > 0 for s in summary["stages"])
    assert (out / "transformer" / "export" / "restorer.safetensors").is_file()
    capsys.readouterr()
    assert main(args) == 0  # everything done: nothing runs again
    assert capsys.readouterr().out.count("already done") == 2


def test_stage_command_uses_torchrun_budgets_and_batch(tmp_path):
    import argparse

    args = argparse.Namespace(
        out=tmp_path,
        cache=tmp_path / "c",
        device="cpu",
        data=None,
        synthetic=False,
        time_scale=0.5,
        threads=2,
    )
    one = stage_command(PlanStage("vae", tmp_path / "v.json", minutes=20), args, None)
    assert one[1:3] == ["-m", "tfgnet_desk.train"] and "--resume" in one
    assert one[one.index("--time-budget") + 1] == "10.0" and one[one.index("--threads") + 1] == "2"
    two = stage_command(PlanStage("joint", tmp_path / "j.json", processes=2), args, 64)
    assert "torch.distributed.run" in two and two[two.index("--nproc_per_node") + 1] == "2"
    assert two[two.index("--batch-size") + 1] == "64" and "--threads" not in two


def test_shipped_plan_names_existing_configs():
    parts, stages, assemble = load_plan("configs/tiny/plan.json")
    assert parts and all(s.config.is_file() for s in stages)
    assert [s.stage for s in stages].index("transformer") < [s.stage for s in stages].index("fidelity")
    assert stages[-1].stage == "joint" and assemble["restorer"].startswith("fidelity/")
