"""Identity bench: metrics, pair sampling and the report block (no real data needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tfgnet_desk.faces.bench import (
    BEGIN,
    END,
    eer,
    format_markdown,
    make_pairs,
    roc_auc,
    tar_at_far,
    write_markdown,
)


def test_auc_eer_tar_on_known_distributions():
    g, i = np.array([0.9, 0.8, 0.7, 0.6]), np.array([0.5, 0.4, 0.3, 0.2])
    assert roc_auc(g, i) == 1.0
    e, t = eer(g, i)
    assert e == 0.0 and 0.5 <= t <= 0.6
    assert roc_auc(i, g) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.5  # ties count half
    rng = np.random.default_rng(0)
    g, i = rng.normal(1.0, 1.0, 20000), rng.normal(0.0, 1.0, 20000)
    assert roc_auc(g, i) == pytest.approx(0.760, abs=0.01)  # Phi(1/sqrt(2))
    e, t = eer(g, i)
    assert e == pytest.approx(0.309, abs=0.01) and t == pytest.approx(0.5, abs=0.05)  # Phi(-0.5)
    tar, thr = tar_at_far(g, i, 0.01)
    assert thr == pytest.approx(2.326, abs=0.08) and tar == pytest.approx(0.091, abs=0.02)


@dataclass
class Rec:
    identity: str
    file: str

    @property
    def key(self) -> str:
        return f"celeba10k/{self.file}"


def test_pairs_are_genuine_and_impostor_as_promised():
    recs = [Rec(str(k // 3), f"{k:06d}.jpg") for k in range(90)]  # 30 identities x 3 photos = 90 pairs
    genuine, impostor = make_pairs(recs, 50, seed=1)
    assert len(genuine) == 50 and len(set((a.file, b.file) for a, b in genuine)) == 50
    assert all(a.identity == b.identity and a.file != b.file for a, b in genuine)
    assert len(impostor) >= 48 and all(a.identity != b.identity for a, b in impostor)
    assert {a.file for a, _ in impostor} <= {a.file for a, _ in genuine}
    again, _ = make_pairs(recs, 50, seed=1)
    assert [(a.file, b.file) for a, b in again] == [(a.file, b.file) for a, b in genuine]
    with pytest.raises(ValueError, match="only 90 genuine pairs"):
        make_pairs(recs, 91, seed=1)


def _fake_results() -> dict:
    stats = {"mean": 0.5, "std": 0.1, "p05": 0.3, "p50": 0.5, "p95": 0.7}
    cond = {
        s: {
            "genuine": stats,
            "impostor": stats,
            "auc": 0.9,
            "eer": 0.1,
            "eer_threshold": 0.4,
            "tar_at_far1": 0.5,
            "far1_threshold": 0.6,
        }
        for s in ("raw", "centred")
    }
    return {
        "date": "2026-01-01 00:00 UTC",
        "machine": "test",
        "backend": "dlib-resnet",
        "calibration": "centred-cosine",
        "n_genuine": 10,
        "n_impostor": 10,
        "pairs_from": "x",
        "seed": 0,
        "wall_s": 60.0,
        "clean": {**cond, "missing_pairs": 0},
        "degraded": {**cond, "missing_pairs": 1},
        "methods": {"clean": {"hog": 9, "cnn": 1}},
        "time_ms": {"clean": {"detect": 10.0, "embed": 100.0, "faces": 10}},
    }


def test_report_block_replaces_only_its_own_section(tmp_path):
    doc = tmp_path / "identity.md"
    doc.write_text(f"# Title\n\nbefore\n\n{BEGIN}\nold figures\n{END}\n\nafter\n")
    write_markdown(_fake_results(), doc)
    text = doc.read_text()
    assert "old figures" not in text and text.startswith("# Title\n\nbefore") and text.endswith("after\n")
    assert text.count(BEGIN) == 1 and "| clean | raw |" in text and "hog 9" in text
    assert format_markdown(_fake_results()) in text
