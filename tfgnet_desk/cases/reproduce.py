"""``verify-run``: repeat a recorded run from its recorded inputs and compare the output hashes.

DESIGN.md: re-running a recorded run on the same device reproduces the same output hashes on CPU. The
run's evidence comes from the store's read-only copies, its prompt, parameters and per-candidate seeds
from the run row, and the model from the folder whose manifest hash the run recorded (a different model
is refused before anything runs). Candidates are compared by the hash of their decoded pixels, so the
PNG metadata (which names the run) plays no part. Identity scores are computed again and shown next to
the recorded ones ("vs evidence"; "vs reference photo", the run being repeated with the stored copy of its
reference photo); they are reported, not part of the bit-for-bit verdict. Runs recorded before scores were
taken against the evidence hold a 'restored' score instead (against the model's own restored face); it is
shown as recorded, labelled "vs restored face (old runs)", and never recomputed. The regenerating function
is injectable.

Both hashes a run recorded for each candidate are compared, each under its own definition: the store
row's ``pixel_sha256`` (always :func:`tfgnet_desk.hashing.pixel_sha256`) and the run's provenance
``outputs[i].sha256`` under the definition the provenance names (``image_hash``; a run recorded before it
named one used :func:`tfgnet_desk.hashing.legacy_provenance_sha256`). A run whose rows predate pixel
hashes is still repeated when its provenance holds output hashes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfgnet_desk.hashing import (
    LEGACY_IMAGE_HASH,
    legacy_provenance_sha256,
    pixel_sha256,
    provenance_image_hash,
)
from tfgnet_desk.score_labels import EVIDENCE, OLD_RESTORED, REFERENCE, score_label

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
    reference: np.ndarray | None = None  # the run's reference photo (stored copy), when it has one
    recorded_scores: tuple[str, ...] = ()  # score names the run's candidates recorded ("evidence", ...)


@dataclass
class CandidateCheck:
    index: int
    seed: int
    recorded: str | None  # the store row's pixel_sha256 (None: recorded before rows held one)
    regenerated: str | None  # pixel_sha256 of the image made now (None: none was made)
    provenance_recorded: str | None = None  # the run's provenance outputs[i].sha256, when it has one
    provenance_regenerated: str | None = None  # the image made now, under the provenance's definition
    legacy_hash: bool = False  # the provenance uses the definition of runs recorded before issue 16
    reference_recorded: float | None = None  # raw 'reference' identity score, as recorded
    reference_regenerated: float | None = None  # and as computed again
    evidence_recorded: float | None = None  # raw 'evidence' identity score, as recorded
    evidence_regenerated: float | None = None  # and as computed again
    restored_recorded: float | None = None  # raw 'restored' score of an old run: shown, never recomputed

    @property
    def match(self) -> bool:
        """Every hash the run recorded for this candidate equals the same hash of the image made now."""
        pairs = [(self.recorded, self.regenerated), (self.provenance_recorded, self.provenance_regenerated)]
        held = [(was, now) for was, now in pairs if was is not None]
        return bool(held) and all(was == now for was, now in held)

    def provenance_text(self) -> str:
        """``; provenance hash same`` (naming the old definition when the run used it), '' without one."""
        if self.provenance_recorded is None:
            return ""
        same = self.provenance_recorded == self.provenance_regenerated
        how = f" ({LEGACY_IMAGE_HASH})" if self.legacy_hash else ""
        return f"; provenance hash{how} {'same' if same else 'DIFFERENT'}"

    @property
    def reference_match(self) -> bool:
        """The reference scores agree (to 1e-5), or neither run has one."""
        return _same(self.reference_recorded, self.reference_regenerated)

    @property
    def evidence_match(self) -> bool:
        """The scores vs evidence agree (to 1e-5), or neither run has one."""
        return _same(self.evidence_recorded, self.evidence_regenerated)

    def score_text(self) -> str:
        """``; score vs evidence recorded 0.4123 now 0.4123 same`` ... for the scores there are."""
        out = ""
        for name, rec, now in (
            (EVIDENCE, self.evidence_recorded, self.evidence_regenerated),
            (OLD_RESTORED, self.restored_recorded, None),
            (REFERENCE, self.reference_recorded, self.reference_regenerated),
        ):
            if name == OLD_RESTORED and rec is not None:
                out += f"; score {score_label(name)} recorded {_fmt(rec)} (not recomputed)"
            elif rec is None and now is not None:
                out += f"; score {score_label(name)} not recorded, now {_fmt(now)}"
            elif rec is not None:
                verdict = "same" if _same(rec, now) else "DIFFERENT"
                out += f"; score {score_label(name)} recorded {_fmt(rec)} now {_fmt(now)} {verdict}"
        return out


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
            was = (c.recorded or "none")[:16]
            line = f"  candidate {c.index} (seed {c.seed}): recorded {was}  now {got}  {mark}"
            out.append(line + c.provenance_text() + c.score_text())
        return out


def _same(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-5)


def _fmt(v: float | None) -> str:
    return "none" if v is None else f"{v:.4f}"


def _raw_scores(scores: Any) -> dict[str, float]:
    """Name -> raw score of a candidate's scores (dicts, or ``IdentityScore`` objects), where numeric."""
    from tfgnet_desk.cases.rows import jsonable

    out = {}
    for name, s in (jsonable(scores or {}) if scores else {}).items():
        raw = s.get("raw") if isinstance(s, dict) else s
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            out[str(name)] = float(raw)
    return out


Regenerate = Callable[[RunSpec], Any]


def recorded_request(spec: RunSpec) -> dict[str, Any]:
    """The run's provenance ``request`` (the values the pipeline resolved and used), or {}."""
    provenance = spec.run.get("provenance") or {}
    request = provenance.get("request") if isinstance(provenance, dict) else None
    return request if isinstance(request, dict) else {}


def pipeline_regenerate(spec: RunSpec) -> Any:
    """Repeat the run with the real pipeline (``tfgnet_desk.pipeline``), on the recorded device."""
    from tfgnet_desk import pipeline as pl

    device = spec.device.split(":")[0]  # a recorded "cuda:0" is the settings' "cuda"
    settings = spec.settings.with_(device=device) if hasattr(spec.settings, "with_") else spec.settings
    loaded = pl.TFGNetPipeline.from_pretrained(spec.model_folder, settings, device=spec.device)
    # Pixels are what is compared; the identity model is loaded again only to recompute scores the run
    # recorded (vs evidence, vs its reference photo). An old run's 'restored' scores are not recomputed.
    rescore = spec.reference is not None or EVIDENCE in spec.recorded_scores
    encoder = "auto" if rescore else None
    pipe = pl.TFGNetPipeline(loaded.model, settings, identity_encoder=encoder)
    request = pl.GenerationRequest.from_record(
        spec.parameters,
        images=spec.images,
        prompt=spec.prompt,
        reference=spec.reference,
        resolved=recorded_request(spec),
    )
    return pipe(request)


def _candidates_of(output: Any) -> dict[int, tuple[np.ndarray, dict[str, float]]]:
    """Index -> (image, raw scores by name) of what the regenerating function produced."""
    cands = getattr(output, "candidates", output)
    out = {}
    for i, c in enumerate(cands):
        if isinstance(c, tuple):
            out[int(c[0])] = (np.asarray(c[1]), _raw_scores(c[2]) if len(c) > 2 else {})
        else:
            out[int(getattr(c, "index", i))] = (np.asarray(c.image), _raw_scores(getattr(c, "scores", None)))
    return out


def provenance_outputs(run: dict[str, Any]) -> dict[int, str]:
    """Candidate index -> the hash the run's provenance recorded for it (``outputs``), if any."""
    provenance = run.get("provenance")
    outputs = provenance.get("outputs") if isinstance(provenance, dict) else None
    out = {}
    for o in outputs if isinstance(outputs, list) else []:
        if isinstance(o, dict) and isinstance(o.get("index"), int) and isinstance(o.get("sha256"), str):
            out[o["index"]] = o["sha256"]
    return out


def _check(
    c: dict[str, Any],
    produced: dict[int, tuple[np.ndarray, dict[str, float]]],
    outputs: dict[int, str],
    image_hash: Callable[[np.ndarray], str],
) -> CandidateCheck:
    """One recorded candidate against what was produced for its index: its row's pixel hash, and its
    provenance hash (``outputs``) under the run's own definition (``image_hash``)."""
    image, now = produced.get(c["idx"], (None, {}))
    was = _raw_scores(c["scores"])
    prov = outputs.get(c["idx"])
    return CandidateCheck(
        c["idx"],
        c["seed"],
        c["pixel_sha256"],
        pixel_sha256(image) if image is not None else None,
        provenance_recorded=prov,
        provenance_regenerated=image_hash(image) if prov is not None and image is not None else None,
        legacy_hash=image_hash is legacy_provenance_sha256,
        reference_recorded=was.get(REFERENCE),
        reference_regenerated=now.get(REFERENCE),
        evidence_recorded=was.get(EVIDENCE),
        evidence_regenerated=now.get(EVIDENCE),
        restored_recorded=was.get(OLD_RESTORED),
    )


def verify_run(
    store: CaseStore,
    run_id: int,
    regenerate: Regenerate | None = None,
    model_folder: Path | str | None = None,
    device: str | None = None,
) -> RunCheck:
    """Repeat run ``run_id`` and compare pixel hashes; records a ``run.verify`` audit entry.

    ``regenerate(spec)`` returns a GenerationResult-like object (``.candidates`` with ``.index`` and
    ``.image``, ``.scores``) or a list of ``(index, image[, scores])``; by default the real pipeline. A
    run with a reference photo gets it as ``spec.reference``. ``model_folder`` defaults
    to the settings' folder of the run's profile; it must have the recorded manifest hash.
    """
    run = store.runs.get(run_id)
    recorded = store.candidates.of_run(run_id)
    if not recorded:
        return RunCheck(run_id, False, f"run {run_id} has no recorded candidates to compare")
    outputs = provenance_outputs(run)
    if any(c["pixel_sha256"] is None and c["idx"] not in outputs for c in recorded):
        return RunCheck(run_id, False, f"run {run_id} was recorded before pixel hashes were stored")
    try:
        image_hash = provenance_image_hash(run.get("provenance"))
    except ValueError as exc:
        return RunCheck(run_id, False, f"run {run_id} cannot be compared: {exc}")
    folder = Path(model_folder) if model_folder else Path(store.settings.model_path(run["profile"] or None))
    have = None
    if regenerate is None or model_folder is not None:
        from tfgnet_desk.model_folders.manifest import WeightsError, manifest_hash

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
        images=[store.evidence.load_image(e) for e in run["evidence_ids"]],
        prompt=run["prompt"],
        parameters=dict(run["parameters"]),
        model_folder=folder,
        device=device or run["device"] or "cpu",
        settings=store.settings,
        reference=store.evidence.load_image(run["reference_id"]) if run.get("reference_id") else None,
        recorded_scores=tuple(sorted({name for c in recorded for name in _raw_scores(c["scores"])})),
    )
    produced = _candidates_of((regenerate or pipeline_regenerate)(spec))
    checks = [_check(c, produced, outputs, image_hash) for c in recorded]
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
        **(
            {"reference_scores_same": sum(c.reference_match for c in checks)}
            if spec.reference is not None
            else {}
        ),
        **(
            {"evidence_scores_same": sum(c.evidence_match for c in checks)}
            if EVIDENCE in spec.recorded_scores
            else {}
        ),
    )
    return RunCheck(run_id, ok, msg, checks, have)
