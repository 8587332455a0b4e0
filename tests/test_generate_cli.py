"""``tfgnet-desk generate`` on a folder written by save_pretrained (random tiny weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from identity_fakes import HashIdentityEncoder
from PIL import Image

from tfgnet_desk.cli import main
from tfgnet_desk.model.testing import save_random_model


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return save_random_model(tmp_path_factory.mktemp("cli") / "tiny", seed=0)


@pytest.fixture()
def crop(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    img = np.kron(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), np.ones((12, 12, 1), dtype=np.uint8))
    path = tmp_path / "crop.png"
    Image.fromarray(img).save(path)
    return path


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TFGNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TFGNET_MODELS", str(tmp_path / "models"))


def test_generate_writes_candidates_restored_and_result(folder: Path, crop: Path, tmp_path: Path):
    def argv(out: Path) -> list[str]:
        return [
            "generate",
            "--image",
            str(crop),
            "--image",
            str(crop),
            "--text",
            "a woman with long hair",
            "--n",
            "2",
            "--seed",
            "3",
            "--steps",
            "2",
            "--strength",
            "1.0",
            "--out",
            str(out),
            "--model",
            str(folder),
            "--box",
            "0,0,96,96",
            "--box",
            "0,0,96,96",
            "--threads",
            "1",
        ]

    out = tmp_path / "out"
    assert main(argv(out)) == 0
    result = json.loads((out / "result.json").read_text())
    assert [c["seed"] for c in result["candidates"]] == [3, 4]
    assert result["provenance"]["request"]["prompt"] == "a woman with long hair"
    assert result["provenance"]["conditioning"]["n_id_images"] == 2
    assert len(result["provenance"]["model"]["manifest_hash"]) == 64
    for name in result["files"]["candidates"] + result["files"]["restored"]:
        with Image.open(out / name) as im:
            assert im.size == (128, 128)
            assert im.text.get("Synthetic") == "true" and "SYNTHETIC" in im.text.get("Description", "")
    assert (out / "mask.png").is_file()
    # the same command again gives byte-identical candidates (CPU determinism)
    out2 = tmp_path / "out2"
    assert main(argv(out2)) == 0
    for name in result["files"]["candidates"]:
        a = np.asarray(Image.open(out / name))
        b = np.asarray(Image.open(out2 / name))
        assert np.array_equal(a, b)


def test_missing_model_folder_is_a_clear_message(crop: Path, tmp_path: Path, capsys):
    rc = main(
        [
            "generate",
            "--image",
            str(crop),
            "--text",
            "a man",
            "--out",
            str(tmp_path / "o"),
            "--model",
            str(tmp_path / "no-model"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "no model folder" in err and "no-model" in err and "Traceback" not in err


def test_prompt_without_class_word_is_refused(folder: Path, crop: Path, tmp_path: Path, capsys):
    rc = main(
        [
            "generate",
            "--image",
            str(crop),
            "--text",
            "blurry face",
            "--out",
            str(tmp_path / "o"),
            "--model",
            str(folder),
            "--threads",
            "1",
        ]
    )
    assert rc == 2
    assert "class word" in capsys.readouterr().err


def test_result_json_scores_candidates_against_the_evidence(
    folder: Path, crop: Path, tmp_path: Path, monkeypatch, capsys
):
    """result.json: each candidate's 'evidence' score (against the face in the first --image) and
    'reference' score, no score against the restored face; the restored face's own score vs evidence.
    The backend is the settings' (recorded with every score), not a name written into the code."""
    from tfgnet_desk import faces
    from tfgnet_desk.imaging import load_image
    from tfgnet_desk.settings import Settings

    enc, asked = HashIdentityEncoder(), []
    monkeypatch.setattr(
        faces, "get_identity_encoder", lambda name, models_dir=None: asked.append(name) or enc
    )
    reference = tmp_path / "known.png"
    Image.fromarray(np.asarray(Image.open(crop))[::-1].copy()).save(reference)
    out = tmp_path / "scored"
    argv = ["generate", "--image", str(crop), "--text", "a man", "--n", "2", "--steps", "1"]
    argv += ["--box", "0,0,96,96", "--reference", str(reference), "--out", str(out)]
    assert main([*argv, "--model", str(folder), "--threads", "1"]) == 0
    assert asked == [Settings.load().identity_backend]
    result = json.loads((out / "result.json").read_text())
    evidence = load_image(crop)
    for c in result["candidates"]:
        assert set(c["scores"]) == {"evidence", "reference"}
        image = np.asarray(Image.open(out / c["file"]).convert("RGB"))
        assert c["scores"]["evidence"]["raw"] == pytest.approx(enc.expected(image, evidence))
        assert c["scores"]["evidence"]["backend"] == "fake-hash"
    restored = np.asarray(Image.open(out / result["restored_faces"][0]["file"]).convert("RGB"))
    assert result["restored_faces"][0]["scores"]["evidence"]["raw"] == pytest.approx(
        enc.expected(restored, evidence)
    )
    assert result["scored_against"] == {"evidence": str(crop), "reference": str(reference)}
    assert result["provenance"]["restored_scores"] == [result["restored_faces"][0]["scores"]]
    assert "best identity score vs evidence: #" in capsys.readouterr().out


def test_help_says_what_the_scores_compare(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "vs the evidence" in text and "restored input" not in text


def test_generate_case_records_the_run_as_the_window_does(folder: Path, crop: Path, tmp_path: Path, capsys):
    """Issue 17 item 10 / issue 16: ``generate --case`` imports the evidence, records the run and each
    candidate through the window's recorder, with the audit log; an unknown case is one line, exit 2."""
    from tfgnet_desk.cases import CaseStore
    from tfgnet_desk.settings import Settings

    settings = Settings.load()
    with CaseStore(settings, actor="tester") as store:
        cid = store.create_case("Headless case", reference="H-1")
    out = tmp_path / "out"
    argv = [
        "generate",
        "--image",
        str(crop),
        "--text",
        "a man with short hair",
        "--n",
        "2",
        "--steps",
        "2",
        "--out",
        str(out),
        "--model",
        str(folder),
        "--box",
        "0,0,96,96",
        "--threads",
        "1",
        "--fidelity",
        "0.5",
    ]
    assert main([*argv, "--case", "H-1"]) == 0
    assert "recorded as run" in capsys.readouterr().err
    result = json.loads((out / "result.json").read_text())
    with CaseStore(settings) as store:
        runs = store.runs.of_case(cid)
        assert len(runs) == 1 and runs[0]["status"] == "done" and runs[0]["prompt"] == "a man with short hair"
        assert runs[0]["parameters"]["fidelity"] == 0.5 and runs[0]["parameters"]["n_candidates"] == 2
        assert runs[0]["provenance"]["request"]["fidelity"] == 0.5
        cands = store.candidates.of_run(runs[0]["id"])
        assert [c["seed"] for c in cands] == [c["seed"] for c in result["candidates"]]
        for c, name in zip(cands, result["files"]["candidates"], strict=True):
            stored = np.asarray(Image.open(store.candidates.path(c["id"])).convert("RGB"))
            assert np.array_equal(stored, np.asarray(Image.open(out / name).convert("RGB")))
        actions = [e.action for e in store.audit_trail(cid)]
        assert "run.start" in actions and "run.finish" in actions and "evidence.import" in actions
        assert store.verify().ok
    assert main([*argv, "--case", "no-such-case"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len([x for x in err.splitlines() if x.strip()]) == 1
