"""The analyst's metrics: identity against the evidence, best of K, attribute / gender / age agreement,
diversity, the flip test and the report, with fake faceres, probes and encoders (numbers by hand)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from analyst_fakes import FakeEnc, FakeLocator, FakeNet, FakeProbes, fake_face, fake_landmarks

from tfgnet_desk.evaluate.metrics import analyst as an


# ------------------------------------------------------------------------------------------- judgements
def test_attribute_gender_and_age_agreement_by_hand():
    text = "a smiling young man with a beard, wearing glasses"
    faces = [
        fake_face({"eyeglasses": 0.9, "beard": 0.2, "smiling": 0.7, "young": 0.8}, p_male=0.8, age=25),
        fake_face({"eyeglasses": 0.6, "beard": 0.7, "smiling": 0.1, "young": 0.3}, p_male=0.3, age=45),
        fake_face({"eyeglasses": 0.1, "beard": 0.9, "smiling": 0.2, "young": 0.6}, p_male=0.5, age=39.9),
        None,  # a candidate without a face is not judged
    ]
    j = an.judge(text, faces, ("eyeglasses", "beard", "smiling", "young", "male"))
    assert j["attr_eyeglasses"] == pytest.approx(200 / 3)  # 0.9, 0.6 agree; 0.1 does not
    assert j["attr_beard"] == pytest.approx(200 / 3)
    assert j["attr_smiling"] == pytest.approx(100 / 3)
    assert j["attr_young"] == pytest.approx(200 / 3)
    assert j["attr_all"] == pytest.approx(100 * 7 / 12) and j["attr_all_judged"] == 12
    assert j["gender_agree"] == pytest.approx(200 / 3)  # p_male 0.5 counts as male
    assert j["age_agree"] == pytest.approx(200 / 3)  # 25 and 39.9 are < 40
    assert "attr_male" not in j  # gender is judged by faceres's own head, not the probe

    older = an.judge("an older woman, clean-shaven", faces[:2], ("beard", "young"))
    assert older["attr_beard"] == pytest.approx(50.0)  # stated absent: 0.2 agrees, 0.7 does not
    assert older["attr_young"] == pytest.approx(50.0)  # stated not young: 0.3 agrees
    assert older["gender_agree"] == pytest.approx(50.0)  # female: p_male 0.3 agrees
    assert older["age_agree"] == pytest.approx(50.0)  # 45 >= 40 agrees
    assert "age_agree" not in an.judge("a person", faces[:1], ("young",))  # no age words: not counted
    assert "gender_agree" not in an.judge("a person", faces[:1], ())  # no gendered class word
    assert an.judge("a man", [None], ("beard",)) == {}


def test_identity_against_evidence_and_best_of_k():
    enc = FakeEnc(mean=(0.0, 0.0))
    cands = [{"id": np.array([1.0, 0.0])}, {"id": np.array([0.0, 1.0])}, {"id": None}]
    s = an.identity_scores(cands, {"id": np.array([1.0, 1.0])}, {"id": np.array([0.0, 2.0])}, {"id": enc})
    assert s["face_ev_sim_id"] == pytest.approx(100 / np.sqrt(2))  # both at 45 degrees
    assert s["face_ev_cal_id"] == pytest.approx(100 / np.sqrt(2))
    assert s["face_cal_best_id"] == pytest.approx(100.0)  # the second candidate is the target
    shifted = an.identity_scores(
        cands, {"id": np.array([1.0, 1.0])}, {"id": None}, {"id": FakeEnc((1.0, 0.0))}
    )
    # centred on (1, 0): candidate 0 is the zero vector (cosine 0), candidate 1 -> (-1, 1) vs (0, 1)
    assert shifted["face_ev_cal_id"] == pytest.approx((0.0 + 100 / np.sqrt(2)) / 2)
    assert shifted["face_cal_best_id"] is None  # no target embedding
    none = an.identity_scores(cands, {"id": None}, {"id": None}, {"id": enc})
    assert none["face_ev_sim_id"] is None and none["face_ev_cal_id"] is None


def test_diversity_of_identical_and_of_different_candidates():
    enc = {"id": FakeEnc()}
    img = np.full((8, 8, 3), 100, np.uint8)
    same = an.diversity([img, img.copy()], [{"id": np.array([1.0, 2.0])}] * 2, enc)
    assert same == {"div_px": 0.0, "div_id_id": pytest.approx(0.0, abs=1e-12)}
    imgs = [np.full((8, 8, 3), v, np.uint8) for v in (0, 10, 40)]
    embs = [{"id": np.array(e)} for e in ([1.0, 0.0], [0.0, 1.0], [-1.0, 0.0])]
    d = an.diversity(imgs, embs, enc)
    assert d["div_px"] == pytest.approx((10 + 40 + 30) / 3)
    assert d["div_id_id"] == pytest.approx((1 + 2 + 1) / 3)  # 1 - cos: 90, 180, 90 degrees
    assert an.diversity(imgs[:1], embs[:1], enc) == {}  # one candidate: n/a


def test_faceres_scores_use_centred_cosine():
    net = FakeNet()
    net.mean = np.array([1.0, 0.0, 0.0])
    cands = [fake_face({}, identity=(2.0, 1.0, 0.0)), None]
    out = an.faceres_scores(cands, fake_face({}, identity=(1.0, 1.0, 0.0)), None, net)
    assert out["faceres_cal"] == pytest.approx(100 / np.sqrt(2))  # (1, 1, 0) vs (0, 1, 0)
    assert out["faceres_ev_cal"] is None


def test_aggregate_pools_judgements_and_averages_attributes():
    per_case = [
        {"scores": {"m": {"attr_beard": 100.0, "attr_all": 50.0, "attr_all_judged": 2, "div_px": 4.0}}},
        {"scores": {"m": {"attr_smiling": 0.0, "attr_all": 100.0, "attr_all_judged": 6}}},
        {"scores": {"m": {"attr_beard": 50.0}}, "target_check": {"gender_agree": 100.0}},
    ]
    s, c = an.aggregate(per_case, ["m"])
    assert s["m"]["attr_beard"] == pytest.approx(75.0) and c["m"]["attr_beard"] == 2
    assert s["m"]["attr_all"] == pytest.approx((50 * 2 + 100 * 6) / 8) and c["m"]["attr_all_judged"] == 8
    assert s["m"]["attr_macro"] == pytest.approx((75.0 + 0.0) / 2)
    assert s["m"]["div_px"] == 4.0 and c["m"]["div_px"] == 1
    assert s[an.TARGET_ROW] == {"gender_agree": 100.0}


# ------------------------------------------------------------------------------------------- flip test
class _TextMethod:
    """Generates an image whose colour encodes the words of the text (red: glasses, green: beard, blue:
    smiling); ``deaf`` ignores the text."""

    def __init__(self, name: str, deaf: bool = False) -> None:
        self.name, self.deaf, self.calls = name, deaf, []

    def generate_text(self, case, text):
        self.calls.append(text)
        rgb = [40, 40, 40]
        if not self.deaf:
            for i, word in enumerate(("glasses", "beard", "smiling")):
                if word in text:
                    rgb[i] = 200
        return np.tile(np.asarray(rgb, np.uint8), (64, 64, 1))


@dataclass
class _Case:
    text: str
    gender: str | None = None
    target: np.ndarray = None  # type: ignore[assignment]


def test_flip_bookkeeping_with_a_fake_probe():
    from tfgnet_desk.evaluate.flip import aggregate_flip, flip_texts, run_flip

    analysis = an.FaceAnalysis(net=FakeNet(), probes=FakeProbes())
    locate = FakeLocator().locate
    follows, deaf = _TextMethod("tfgnet"), _TextMethod("text-only", deaf=True)
    timed: list[str] = []

    @contextmanager
    def timer(name):
        timed.append(name)
        yield

    man = _Case("a man with brown hair, wearing glasses")
    res_man = run_flip(man, [follows, deaf], analysis, locate, (128, 128), timer=timer)
    assert set(res_man["tfgnet"]) == {"eyeglasses", "beard", "smiling"} and timed == ["tfgnet", "text-only"]
    e = res_man["tfgnet"]["eyeglasses"]
    assert e["added"] == man.text and e["removed"] == "a man with brown hair"
    assert e["p_added"] == pytest.approx(200 / 255, abs=0.01) and e["p_removed"] == pytest.approx(
        40 / 255, abs=0.01
    )
    # the case's own text is generated once, though it is the added eyeglasses and the removed beard/smile
    assert len(follows.calls) == len(set(follows.calls)) == 4
    woman = _Case("a young woman", gender="female")
    res_woman = run_flip(woman, [follows, deaf], analysis, locate, (128, 128))
    assert set(res_woman["tfgnet"]) == {"eyeglasses", "smiling"}  # beard only for male class words
    assert flip_texts("a person", "male").keys() == {"eyeglasses", "beard", "smiling"}  # meta's gender

    per_case = [{"flip": res_man}, {"flip": res_woman}, {}]
    s, c = aggregate_flip(per_case, ["tfgnet", "text-only", "bicubic"])
    shift = 100 * 160 / 255
    assert s["tfgnet"]["flip_eyeglasses"] == 100.0 and c["tfgnet"]["flip_eyeglasses"] == 2
    assert s["tfgnet"]["flip_beard"] == 100.0 and c["tfgnet"]["flip_beard"] == 1
    assert s["tfgnet"]["flip_shift_all"] == pytest.approx(shift, abs=0.5) and c["tfgnet"]["flip_all"] == 5
    assert s["text-only"]["flip_all"] == 0.0 and s["text-only"]["flip_shift_all"] == pytest.approx(0.0)
    assert c["tfgnet"]["flip_cases"] == 2 and "bicubic" not in s  # flip n/a for other rows
    assert run_flip(man, [follows], an.FaceAnalysis(net=FakeNet()), locate, (64, 64)) == {}  # no probes


def test_flip_success_needs_a_visible_move_not_just_the_sign():
    """A 2-point move counts for the sign test only; success needs 10 points; the decision needs the
    probe to say present for the added text and absent for the removed one."""
    from tfgnet_desk.evaluate.flip import aggregate_flip

    def case(p_added, p_removed):
        return {"flip": {"tfgnet": {"smiling": {"p_added": p_added, "p_removed": p_removed}}}}

    per_case = [case(0.52, 0.50), case(0.70, 0.40), case(0.30, 0.35), case(0.45, 0.30)]
    s, c = aggregate_flip(per_case, ["tfgnet"])
    assert s["tfgnet"]["flip_sign_smiling"] == 75.0  # 3 of 4 moved the stated way at all
    assert s["tfgnet"]["flip_smiling"] == 50.0  # 2 of 4 by at least 10 points
    assert s["tfgnet"]["flip_decision_smiling"] == 25.0  # only 0.70 / 0.40 crosses 0.5 the right way
    assert s["tfgnet"]["flip_shift_smiling"] == pytest.approx(100 * (0.02 + 0.30 - 0.05 + 0.15) / 4)
    assert c["tfgnet"]["flip_smiling"] == 4 and s["tfgnet"]["flip_all"] == 50.0


# ------------------------------------------------------------------------------------- one whole case
class _DetEnc(FakeEnc):
    """Encoder that embeds from a detection (the image's mean colour, centred on grey)."""

    def __init__(self) -> None:
        super().__init__(mean=(100.0, 100.0, 100.0))
        self.calls = 0

    def embed_detection(self, img, det):
        self.calls += 1
        return np.asarray(img, dtype=np.float64).reshape(-1, 3).mean(0) + np.array([1.0, 2.0, 3.0])


def _scorer(evidence: str | None):
    from tfgnet_desk.evaluate.metrics.suite import MetricSuite
    from tfgnet_desk.evaluate.scoring import CaseScorer

    enc = _DetEnc()
    scorer = CaseScorer(
        MetricSuite(identity={"id": enc}), an.FaceAnalysis(net=FakeNet(), probes=FakeProbes())
    )
    scorer.locator = FakeLocator(evidence)
    return scorer, enc


def _bench_case(text: str = "a smiling man with a beard"):
    from tfgnet_desk.evaluate.cases import BenchmarkCase

    rng = np.random.default_rng(0)
    lq = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    target = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    return BenchmarkCase("case_0001", Path("."), lq, target, text, {"gender": "male"})


def test_a_case_whose_evidence_has_no_face_is_counted_not_crashed():
    scorer, _ = _scorer(evidence=None)
    case = _bench_case()
    outputs = {"a": [case.target.copy()], "b": [case.lq.copy(), case.target.copy()]}
    rec = scorer.score(case, outputs)
    assert rec["evidence"] == {"source": "none", "embedded": {"id": False}, "faceres": False}
    assert rec["scores"]["a"]["face_ev_cal_id"] is None and rec["scores"]["a"]["faceres_ev_cal"] is None
    assert rec["scores"]["a"]["face_cal_id"] == pytest.approx(100.0)  # the target metrics still stand
    assert rec["scores"]["a"]["face_cal_best_id"] == pytest.approx(100.0)
    ev = an.evidence_summary([rec, {**rec, "case": "case_0002", "evidence": {"source": "meta-landmarks"}}])
    assert ev["sources"] == {"none": 1, "meta-landmarks": 1} and ev["not_embedded"] == {"id": ["case_0001"]}


def test_a_case_embeds_each_image_once_and_batches_faceres():
    scorer, enc = _scorer(evidence="meta-landmarks")
    case = _bench_case()
    outputs = {"a": [case.lq.copy()], "b": [case.target.copy(), case.lq.copy(), case.target.copy()]}
    rec = scorer.score(case, outputs)
    assert enc.calls == 2 + 4  # target, evidence, 4 candidates
    assert scorer.analysis.net.batches == [6]  # one faceres batch per case
    a, b = rec["scores"]["a"], rec["scores"]["b"]
    assert a["face_ev_cal_id"] == pytest.approx(100.0) and rec["candidates"] == {"a": 1, "b": 3}
    assert b["face_cal_best_id"] == pytest.approx(100.0)
    assert b["face_cal_id"] == pytest.approx(np.mean([100.0, a["face_cal_id"], 100.0]))  # mean over K
    assert b["div_px"] == pytest.approx(2 / 3 * np.abs(case.lq.astype(float) - case.target).mean())
    assert "div_px" not in a
    assert b["faceres_cal"] is not None and b["gender_agree"] is not None
    assert set(rec["target_check"]) >= {"attr_smiling", "attr_beard", "gender_agree"}


# ------------------------------------------------------------------------------------------ the locator
def test_evidence_landmarks_come_from_meta_json_else_the_framing_box():
    from tfgnet_desk.evaluate.metrics.faces import FaceLocator, meta_landmarks

    lm = fake_landmarks()
    img = np.zeros((128, 128, 3), np.uint8)
    det, source = FaceLocator(face_box=(0.05, 0.05, 0.93, 0.93)).locate_evidence(
        img, {"landmarks68": lm.tolist()}
    )
    assert source == "meta-landmarks" and np.allclose(det.landmarks68, lm, atol=1e-4)
    assert det.landmarks5.shape == (5, 2)
    assert meta_landmarks({"landmarks68": [[1, 2]] * 67}, img.shape) is None  # malformed: not used
    assert meta_landmarks({"landmarks68": (lm + 1000).tolist()}, img.shape) is None  # outside the image
    assert meta_landmarks({}, img.shape) is None


# ------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    from tfgnet_desk.model.testing import save_random_model

    return save_random_model(tmp_path_factory.mktemp("model") / "random")


def test_cli_writes_the_analyst_tables(tmp_path, random_model, monkeypatch):
    import torch
    from test_eval_cli import make_benchmark

    from tfgnet_desk.evaluate.__main__ import main

    torch.set_num_threads(1)
    monkeypatch.setattr(
        an,
        "load_face_analysis",
        lambda folder=None, models_dir=None: an.FaceAnalysis(FakeNet(), FakeProbes()),
    )
    bench = make_benchmark(tmp_path / "bench")
    for c in ("case_0001", "case_0002"):
        (bench / c / "text.txt").write_text("a smiling young man with brown hair, wearing glasses\n")
    lm = fake_landmarks().tolist()
    meta = json.loads((bench / "case_0001" / "meta.json").read_text())
    (bench / "case_0001" / "meta.json").write_text(
        json.dumps({**meta, "tier": "surveillance", "landmarks68": lm})
    )
    args = ["--benchmark", str(bench), "--model", str(random_model), "--methods", "bicubic,text-only,tfgnet"]
    args += ["--steps", "1", "--candidates", "2", "--flip-cases", "1", "--identity", "dlib-resnet"]
    args += ["--data", str(tmp_path / "no-data"), "--no-progress", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    out = tmp_path / "out"
    run = json.loads((out / "run.json").read_text())
    assert run["flip"] == {"methods": ["text-only", "tfgnet"], "cases_requested": 1, "cases_run": 1}
    assert run["candidates"] == {"bicubic": 1, "text-only": 1, "tfgnet": 2}
    assert run["evidence"]["sources"] == {"meta-landmarks": 1, "framing-box": 1}
    assert run["counts"]["tfgnet"]["flip_eyeglasses"] == 1 and run["counts"]["tfgnet"]["attr_eyeglasses"] == 2
    assert run["summary"]["tfgnet"]["div_px"] > 0 and "div_px" not in run["summary"]["bicubic"]
    case = json.loads((out / "cases" / "case_0001.json").read_text())
    assert case["tier"] == "surveillance" and case["evidence"]["source"] == "meta-landmarks"
    assert set(case["flip"]["tfgnet"]) == {"eyeglasses", "beard", "smiling"}
    rows = (out / "analyst.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["target", "bicubic", "text-only", "tfgnet"]
    md = (out / "results.md").read_text()
    for title in ("identity against the evidence", "Does the face show", "Flip test", "Diversity"):
        assert title in md
    assert md.count("faceres — possible training teacher") >= 3
    assert "flip:tfgnet:" in md and "faceres:" in md  # per-case timing lines
    blocks: list[list[str]] = [[]]
    for line in md.splitlines():
        if line.startswith("|"):
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    for block in [b for b in blocks if b]:  # every table row has as many cells as its header
        assert len({line.count("|") for line in block}) == 1, block[0]
