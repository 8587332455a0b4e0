"""``verify-run``: repeat a recorded run from its recorded inputs and compare the output hashes.

DESIGN.md: re-running a recorded run on the same device reproduces the same output hashes on CPU. The
run's evidence comes from the store's read-only copies, its prompt, parameters and per-candidate seeds
from the run row, and the model from the folder whose manifest hash the run recorded (a different model
is refused before anything runs). Candidates are compared by the hash of their decoded pixels, so the
PNG metadata (which names the run) plays no part. The regenerating function is injectable for tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfgnet_desk.cases.evidence import pixel_sha256

if TYPE_CHECKING:
    from tfgnet_desk.cases.store import CaseStore


@dataclass
class RunSpec:
    """Everything needed to repeat a run: what the regenerating function receives."""

    run: dict[str, Any]
    images: list[np.ndarray]
    prompt: str
    parameters: dict[str, Any]
    model_folder: Path
    device: str
    settings: Any


@dataclass
class CandidateCheck:
    index: int
    seed: int
    recorded: str
    regenerated: str | None

    @property
    def match(self) -> bool:
        return self.recorded == self.regenerated


@dataclass
class RunCheck:
    """Outcome of :func:`verify_run`; ``ok`` when every recorded candidate was reproduced bit for bit."""

    run_id: int
    ok: bool
    message: str
    candidates: list[CandidateCheck] = field(default_factory=list)
    model_hash: str | None = None

    def lines(self) -> list[str]:
        out = [self.message]
        for c in self.candidates:
            mark = "same" if c.match else "DIFFERENT"
            got = c.regenerated[:16] if c.regenerated else "missing"
            out.append(
                f"  candidate {c.index} (seed {c.seed}): recorded {c.recorded[:16]}  now {got}  {mark}"
            )
        return out


Regenerate = Callable[[RunSpec], Any]


def pipeline_regenerate(spec: RunSpec) -> Any:
    """Repeat the run with the real pipeline (``tfgnet_desk.pipeline``), on the recorded device."""
    from tfgnet_desk import pipeline as pl

    device = spec.device.split(":")[0]  # a recorded "cuda:0" is the settings' "cuda"
    settings = spec.settings.with_(device=device) if hasattr(spec.settings, "with_") else spec.settings
    loaded = pl.TFGNetPipeline.from_pretrained(spec.model_folder, settings, device=spec.device)
    # Scores are not compared (only pixels are), so the identity model is not loaded again.
    pipe = pl.TFGNetPipeline(loaded.model, settings, identity_encoder=None)
    names = {f.name for f in dataclasses.fields(pl.GenerationRequest)}
    kwargs = {k: v for k, v in spec.parameters.items() if k in names and k not in ("images", "prompt")}
    if kwargs.get("face_boxes"):
        kwargs["face_boxes"] = [tuple(b) if b is not None else None for b in kwargs["face_boxes"]]
    else:
        kwargs["face_boxes"] = None  # recorded as [] or null: no boxes were given
    kwargs.pop("reference", None)  # scores only; not part of the pixels compared
    return pipe(pl.GenerationRequest(images=spec.images, prompt=spec.prompt, **kwargs))


def _candidates_of(output: Any) -> list[tuple[int, np.ndarray]]:
    cands = getattr(output, "candidates", output)
    out = []
    for i, c in enumerate(cands):
        if isinstance(c, tuple):
            out.append((int(c[0]), np.asarray(c[1])))
        else:
            out.append((int(getattr(c, "index", i)), np.asarray(c.image)))
    return out


def verify_run(
    store: CaseStore,
    run_id: int,
    regenerate: Regenerate | None = None,
    model_folder: Path | str | None = None,
    device: str | None = None,
) -> RunCheck:
    """Repeat run ``run_id`` and compare pixel hashes; records a ``run.verify`` audit entry.

    ``regenerate(spec)`` returns a GenerationResult-like object (``.candidates`` with ``.index`` and
    ``.image``) or a list of ``(index, image)``; by default the real pipeline. ``model_folder`` defaults
    to the settings' folder of the run's profile; it must have the recorded manifest hash.
    """
    run = store.get_run(run_id)
    recorded = store.list_candidates(run_id)
    if not recorded:
        return RunCheck(run_id, False, f"run {run_id} has no recorded candidates to compare")
    if any(c["pixel_sha256"] is None for c in recorded):
        return RunCheck(run_id, False, f"run {run_id} was recorded before pixel hashes were stored")
    folder = Path(model_folder) if model_folder else Path(store.settings.model_path(run["profile"] or None))
    have = None
    if regenerate is None or model_folder is not None:
        from tfgnet_desk.weights import WeightsError, manifest_hash

        try:
            have = manifest_hash(folder)
        except (WeightsError, OSError, ValueError) as exc:
            return RunCheck(run_id, False, f"the model folder {folder} cannot be checked: {exc}")
        if run["model_hash"] and have != run["model_hash"]:
            return RunCheck(
                run_id,
                False,
                f"the model in {folder} (manifest {have[:16]}) is not the recorded "
                f"model ({run['model_hash'][:16]}); the run cannot be repeated with it",
                model_hash=have,
            )
    spec = RunSpec(
        run=run,
        images=[store.load_evidence_image(e) for e in run["evidence_ids"]],
        prompt=run["prompt"],
        parameters=dict(run["parameters"]),
        model_folder=folder,
        device=device or run["device"] or "cpu",
        settings=store.settings,
    )
    produced = dict(_candidates_of((regenerate or pipeline_regenerate)(spec)))
    checks = [
        CandidateCheck(
            c["idx"],
            c["seed"],
            c["pixel_sha256"],
            pixel_sha256(produced[c["idx"]]) if c["idx"] in produced else None,
        )
        for c in recorded
    ]
    same = sum(c.match for c in checks)
    ok = same == len(checks)
    msg = f"run {run_id}: {same} of {len(checks)} candidates reproduced bit for bit on {spec.device}" + (
        "" if ok else " - NOT reproduced"
    )
    store.log_event(
        run["case_id"],
        "run.verify",
        run=run["uid"],
        reproduced=same,
        candidates=len(checks),
        ok=ok,
        device=spec.device,
    )
    return RunCheck(run_id, ok, msg, checks, have)
