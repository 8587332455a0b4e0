"""A long evaluation split with ``--start`` and combined by ``evaluate.paired``: the split runs score
each case as the whole run does, and the paired figures are the arithmetic the docs quote."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_eval_cli import make_benchmark

from tfgnet_desk.evaluate.paired import PairingError, main, paired


def _evaluate(bench: Path, out: Path, *extra: str) -> None:
    from tfgnet_desk.evaluate.__main__ import main as evaluate

    args = ["--benchmark", str(bench), "--methods", "bicubic", "--out", str(out), "--no-faceres"]
    args += ["--data", str(out / "no-data"), "--model", str(out / "no-model"), "--no-progress"]
    assert evaluate([*args, "--identity", "dlib-resnet", "--threads", "1", *extra]) == 0


def test_split_runs_score_each_case_as_the_whole_run(tmp_path):
    bench = make_benchmark(tmp_path / "bench")  # case_0001, case_0002 good; 0003, 0004 broken
    _evaluate(bench, tmp_path / "whole")
    _evaluate(bench, tmp_path / "first", "--limit", "1")
    _evaluate(bench, tmp_path / "rest", "--start", "1")
    assert [p.name for p in (tmp_path / "first" / "cases").iterdir()] == ["case_0001.json"]
    assert [p.name for p in (tmp_path / "rest" / "cases").iterdir()] == ["case_0002.json"]
    for part, case in (("first", "case_0001"), ("rest", "case_0002")):
        whole = (tmp_path / "whole" / "cases" / f"{case}.json").read_text()
        assert (tmp_path / part / "cases" / f"{case}.json").read_text() == whole
    md = (tmp_path / "rest" / "results.md").read_text()
    assert "1 cases scored of 3 listed (2 skipped; the first 1 skipped by --start)" in md
    assert json.loads((tmp_path / "rest" / "run.json").read_text())["cases_start"] == 1
    with pytest.raises(SystemExit):  # argparse refuses it before anything runs
        _evaluate(bench, tmp_path / "bad", "--start", "-1")
    assert not (tmp_path / "bad").exists()
    # the split runs together are the whole run, case by case
    same = paired([tmp_path / "first", tmp_path / "rest"], "bicubic", [tmp_path / "whole"], metric="ssim")
    assert same.n == 2 and same.diff == 0 and same.only_a == same.only_b == 0


def _record(run: Path, case: str, scores: dict[str, dict[str, float | None]]) -> None:
    (run / "cases").mkdir(parents=True, exist_ok=True)
    (run / "cases" / f"{case}.json").write_text(json.dumps({"case": case, "scores": scores}))


def test_paired_difference_interval_and_share(tmp_path, capsys):
    run = tmp_path / "run"
    key = "face_cal_dlib-resnet"
    for i, (a, b) in enumerate([(61.0, 60.0), (52.0, 50.0), (40.0, 42.0)]):
        _record(run, f"case_{i}", {"tfgnet": {key: a}, "bicubic": {key: b}})
    _record(run, "case_3", {"tfgnet": {key: None}, "bicubic": {key: 70.0}})  # no face found for A
    p = paired([run], "tfgnet", b_method="bicubic")
    d = [1.0, 2.0, -2.0]
    sd = math.sqrt(sum((x - 1 / 3) ** 2 for x in d) / 2)
    assert p.n == 3 and p.only_b == 1 and p.only_a == 0
    assert p.mean_a == pytest.approx(51.0) and p.mean_b == pytest.approx(152 / 3)
    assert p.diff == pytest.approx(1 / 3) and p.ci95 == pytest.approx(1.96 * sd / math.sqrt(3))
    assert p.a_higher == pytest.approx(2 / 3)
    assert main([str(run), "--b-method", "bicubic"]) == 0
    out = capsys.readouterr().out
    assert "A - B: +0.33 (+-" in out and "A higher in 67 % of cases" in out and "1 on side B only" in out
    assert main([str(run), "--b-method", "bicubic", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 3


def test_what_cannot_be_paired_is_refused_with_the_reason(tmp_path, capsys):
    key = "face_cal_dlib-resnet"
    one, two = tmp_path / "one", tmp_path / "two"
    _record(one, "case_0", {"tfgnet": {key: 50.0}})
    _record(two, "case_0", {"tfgnet": {key: 51.0}})  # the same case scored differently
    with pytest.raises(PairingError, match="case_0 is scored 50.0 and 51.0"):
        paired([one, two], "tfgnet", [one], "tfgnet")
    with pytest.raises(PairingError, match="same method of the same runs"):
        paired([one], "tfgnet")
    with pytest.raises(PairingError, match="no case has"):
        paired([one], "tfgnet", b_method="bicubic")
    assert main([str(tmp_path / "missing"), "--b-method", "bicubic"]) == 2
    assert "no per-case records" in capsys.readouterr().err
