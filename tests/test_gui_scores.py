"""Identity scores in the window: a run's candidates show their score vs the evidence (and vs the
reference photo), the restored face shows its own score vs the evidence, the compare view uses the same
words, and an old run's scores against the restored face are labelled as what they are.

No model is needed: the run's signals are delivered to the window's run session as the backend worker
delivers them (on the GUI thread).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tfgnet_desk.faces import IdentityScore
from tfgnet_desk.gui.testing import synthetic_face
from tfgnet_desk.gui.worker import CandidateEvent, RunOutcome


@pytest.fixture()
def window(window):
    """The shared window (conftest.py) with a case open."""
    window.create_case("Scores")
    return window


def _score(cal: float, raw: float) -> IdentityScore:
    return IdentityScore(raw=raw, calibrated=cal, backend="dlib-resnet", threshold=0.39)


def _texts(w) -> list[str]:
    return [w.candidates.list.item(i).text() for i in range(w.candidates.list.count())]


def test_window_shows_scores_vs_evidence_and_the_restored_faces_own(qtbot, window):
    w = window
    token = w.runs.token = w.next_token()
    cands = [
        SimpleNamespace(
            index=i,
            seed=7 + i,
            image=synthetic_face(128, seed=i),
            scores={"evidence": _score(0.12 + i / 10, 0.86), "reference": _score(-0.05, 0.80)},
        )
        for i in range(2)
    ]
    for c in cands:
        w.runs._candidate(CandidateEvent(token, c))
    result = SimpleNamespace(
        candidates=cands,
        restored=[synthetic_face(128, seed=9)],
        restored_scores=[{"evidence": _score(0.31, 0.90)}],
        provenance={},
    )
    w.runs._finished(RunOutcome(token, result, None, cands, 1.0))
    texts = _texts(w)
    assert texts[0].startswith("#2  seed 8")  # sorted by the score vs evidence, numbering kept
    assert "vs evidence 0.22 (raw 0.86)" in texts[0] and "vs reference photo -0.05 (raw 0.80)" in texts[0]
    assert not any("input" in t or "restored" in t for t in texts)
    assert w.candidates.restored_score.text() == "vs evidence\n0.31 (raw 0.90)"
    assert "dlib-resnet" in w.candidates.backend.text()
    w.runs.compare(*w.candidates.ordered_keys()[:2])
    dialog = w.runs._compare
    scores = dialog.findChild(type(w.candidates.restored_score), "compareScores1").text()
    assert "vs evidence: 0.22 (raw 0.86) [dlib-resnet]" in scores and "vs reference photo:" in scores
    restored = dialog.findChild(type(w.candidates.restored_score), "compareRestoredScore").text()
    assert restored == "vs evidence: 0.31 (raw 0.90) [dlib-resnet]"
    dialog.close()


def test_a_candidate_without_an_evidence_score_says_n_a(qtbot, window):
    w = window
    token = w.runs.token = w.next_token()
    cand = SimpleNamespace(index=0, seed=1, image=synthetic_face(128), scores={})
    w.runs._candidate(CandidateEvent(token, cand))
    result = SimpleNamespace(candidates=[cand], restored=[synthetic_face(128, seed=4)], provenance={})
    w.runs._finished(RunOutcome(token, result, None, [cand], 1.0))
    assert _texts(w) == ["#1  seed 1\nvs evidence n/a"]
    assert w.candidates.restored_score.text() == "vs evidence\nn/a"  # no face found to score


def test_an_old_run_shows_its_restored_face_scores_as_old(qtbot, window, tmp_path):
    """A run recorded before the change holds 'restored' scores: shown as "vs restored face (old runs)",
    never as a score vs evidence; sorting by it is offered only while such a run is shown."""
    from tfgnet_desk.gui.testing import write_synthetic_face

    w = window
    store = w.store
    eid = store.evidence.import_file(w.case_id, write_synthetic_face(tmp_path / "e.png"))
    old = {"restored": {"raw": 0.93, "calibrated": 0.61, "backend": "dlib-resnet"}}
    cands = [
        SimpleNamespace(index=i, seed=3 + i, image=synthetic_face(128, seed=20 + i), scores=dict(old))
        for i in range(2)
    ]
    prov = {"request": {"prompt": "a man", "n_candidates": 2, "seed": 3}, "device": "cpu"}
    rid = store.runs.record(w.case_id, [eid], SimpleNamespace(candidates=cands, provenance=prov))
    w.runs.show_run(rid)
    texts = _texts(w)
    assert len(texts) == 2 and all("vs restored face (old runs) 0.61 (raw 0.93)" in t for t in texts)
    assert not any("vs evidence" in t for t in texts)
    sorts = [w.candidates.sort.itemText(i) for i in range(w.candidates.sort.count())]
    assert "score vs restored face (old runs)" in sorts and sorts[0] == "score vs evidence"
    assert w.candidates.restored_image is None and w.candidates.restored_score.text() == ""
    w.candidates.clear()
    assert "score vs restored face (old runs)" not in [
        w.candidates.sort.itemText(i) for i in range(w.candidates.sort.count())
    ]
