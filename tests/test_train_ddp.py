"""Data-parallel training: two CPU processes (gloo, through Accelerate) match one process with the
same global batch, within tolerance."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str, repo: str) -> None:
    sys.path.insert(0, repo)
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
    )
    torch.set_num_threads(1)
    from tests.train_helpers import run, small_config

    run(small_config("vae", max_steps=3, batch_size=4), Path(out))


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    import torch.multiprocessing as mp

    from tests.train_helpers import run, small_config
    from tfgnet_desk.train.checkpoint import load_checkpoint

    repo = str(Path(__file__).resolve().parent.parent)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp"), repo), nprocs=2, join=True)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run(small_config("vae", max_steps=3, batch_size=4), tmp_path / "single")
    finally:
        torch.set_num_threads(n)
    a = load_checkpoint(tmp_path / "ddp" / "vae")["model"]
    b = load_checkpoint(tmp_path / "single" / "vae")["model"]
    assert a.keys() == b.keys()
    # Adam divides by sqrt(v): float summation-order differences in the all-reduce show up at ~1e-4
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-3, rtol=1e-3), k
    import csv

    # the two-process run logged once (rank 0) the mean loss of both halves: it equals the single run's
    la = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "ddp" / "vae" / "log.csv"))]
    lb = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "single" / "vae" / "log.csv"))]
    assert len(la) == len(lb) == 3
    assert la == pytest.approx(lb, rel=1e-3)
