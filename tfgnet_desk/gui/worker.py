"""The backend worker: one long-lived QObject whose thread owns the TFGNet pipeline.

The GUI thread never waits on model work. It puts a :class:`GenerationJob` on the worker's queue;
the worker loads the models lazily (on its own thread, the first time they are needed or when asked to
preload), runs the pipeline, stores every candidate in the case store as it arrives and reports through
typed signals: ``progress``, ``candidate_ready``, ``finished``, ``failed``, ``cancelled``.

Cancel is a ``threading.Event`` set from the GUI thread (no queued call: the worker's thread is busy);
the pipeline checks it between diffusion steps and the progress callback checks it between stages, so a
cancel takes effect within one step. Failed and cancelled runs are recorded too (with the candidates
that had arrived), so nothing generated is lost.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from tfgnet_desk.gui.messages import UserMessage, explain, missing_model_message
from tfgnet_desk.settings import Settings


@dataclass
class GenerationJob:
    """Everything one run needs; built on the GUI thread, consumed on the worker thread."""

    token: int  # the window's id for this run (signals carry it)
    settings: Settings  # profile/device/model folder as chosen for this run
    images: list[np.ndarray]
    prompt: str
    n_candidates: int = 4
    seed: int = 0
    steps: int = 25
    guidance: float = 5.0
    strength: float = 0.6
    face_boxes: list[tuple[int, int, int, int] | None] | None = None
    reference: np.ndarray | None = None
    case_id: int | None = None  # when set, the run and its candidates go into the case store
    evidence_ids: list[int] = field(default_factory=list)

    def parameters(self) -> dict[str, Any]:
        return {
            "n_candidates": self.n_candidates,
            "seed": self.seed,
            "steps": self.steps,
            "guidance": self.guidance,
            "strength": self.strength,
            "face_boxes": [list(b) if b else None for b in (self.face_boxes or [])],
            "reference": self.reference is not None,
        }


@dataclass
class CandidateEvent:
    """A candidate as it arrives: the pipeline's Candidate plus where the store put it (if anywhere)."""

    token: int
    candidate: Any  # pipeline.Candidate: index, seed, image, scores
    stored_file: Path | None = None


@dataclass
class RunOutcome:
    """The end of a run: the pipeline's result (None when cancelled or failed) and the stored run id."""

    token: int
    result: Any
    run_id: int | None
    candidates: list[Any]
    seconds: float
    message: UserMessage | None = None


class _PartialResult:
    """What record_run needs from a run that did not finish (cancelled or failed)."""

    def __init__(self, candidates: list[Any], provenance: dict[str, Any]) -> None:
        self.candidates = candidates
        self.provenance = provenance


class BackendWorker(QObject):
    """Owns the pipeline; its work runs on ``self.thread`` after :meth:`start`; signals go to the GUI."""

    progress = Signal(object, str, int, int)  # token (a large int), stage, step, total
    candidate_ready = Signal(object)  # CandidateEvent
    finished = Signal(object)  # RunOutcome
    failed = Signal(object)  # RunOutcome with .message
    cancelled = Signal(object)  # RunOutcome
    model_state = Signal(str, str)  # state (loading | ready | missing | error), text for the status bar

    def __init__(self, store: Any = None, pipeline_factory=None) -> None:
        super().__init__()
        self.store = store
        self._pipeline_factory = pipeline_factory or _default_pipeline_factory
        self._pipeline = None
        self._pipeline_key: tuple | None = None
        self._cancel = threading.Event()
        self._busy = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None

    # GUI-thread API --------------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        """Start the long-lived worker thread (call once, from the GUI thread).

        It is a Python thread serving a job queue, not a QThread event loop: dlib's pybind11 calls that
        release and re-take the GIL deadlocked (reproducibly, within a few runs) when made from a slot
        that PySide dispatched on a QThread. Signals emitted here reach QObjects on the GUI thread queued,
        exactly as from a QThread.
        """
        thread = threading.Thread(target=self._serve, name="tfgnet-backend", daemon=True)
        thread.start()
        self.thread = thread
        return thread

    def submit(self, job: GenerationJob) -> None:
        self._cancel.clear()
        self._busy.set()
        self._queue.put(("run", job))

    def preload(self, settings: Settings) -> None:
        """Load the models in the background so that the first Generate starts at once."""
        self._queue.put(("preload", settings))

    def cancel(self) -> None:
        """Thread-safe: the running job stops at its next diffusion step."""
        self._cancel.set()

    def is_busy(self) -> bool:
        return self._busy.is_set()

    def is_alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel any run, end the worker thread and wait for it (the window calls this only after the
        run has ended, so the wait is for an idle thread)."""
        self.cancel()
        if self.thread is None:
            return True
        self._queue.put(("stop", None))
        self.thread.join(timeout_ms / 1000)
        ok = not self.thread.is_alive()
        self.thread = None
        return ok

    def _serve(self) -> None:
        while True:
            kind, payload = self._queue.get()
            if kind == "stop":
                return
            if kind == "run":
                self._run(payload)
            elif kind == "preload":
                self._preload(payload)

    # Worker-thread slots ---------------------------------------------------------------------------
    def _ensure_pipeline(self, settings: Settings):
        folder = settings.model_path()
        key = (str(folder), settings.profile, settings.device, settings.identity_backend)
        if self._pipeline is not None and self._pipeline_key == key:
            return self._pipeline
        self._pipeline = None
        if not folder.is_dir() or not (folder / "MANIFEST.json").is_file():
            raise _MissingModel(str(folder))
        self.model_state.emit("loading", f"loading {settings.profile} model…")
        t0 = time.perf_counter()
        self._pipeline = self._pipeline_factory(folder, settings)
        self._pipeline_key = key
        self.model_state.emit("ready", f"model ready ({time.perf_counter() - t0:.1f} s)")
        return self._pipeline

    def _preload(self, settings: Settings) -> None:
        try:
            self._ensure_pipeline(settings)
        except _MissingModel as exc:
            self.model_state.emit("missing", str(exc))
        except Exception as exc:  # noqa: BLE001 - reported in the window
            self.model_state.emit("error", explain(exc, "loading the model").as_text())

    def _run(self, job: GenerationJob) -> None:
        t0 = time.perf_counter()
        started = _utc_now()
        arrived: list[Any] = []
        cancel = self._cancel
        try:
            pipe = self._ensure_pipeline(job.settings)
            from tfgnet_desk.pipeline import Cancelled, GenerationRequest

            def on_progress(event: Any) -> None:
                if cancel.is_set():
                    raise Cancelled("cancelled by the analyst")
                self.progress.emit(job.token, str(event.stage), int(event.step), int(event.total))

            def on_candidate(cand: Any) -> None:
                arrived.append(cand)
                self.candidate_ready.emit(
                    CandidateEvent(job.token, cand, self._store_candidate_file(job.token, cand))
                )

            request = GenerationRequest(
                images=job.images,
                prompt=job.prompt,
                n_candidates=job.n_candidates,
                seed=job.seed,
                steps=job.steps,
                guidance=job.guidance,
                strength=job.strength,
                face_boxes=job.face_boxes,
                reference=job.reference,
            )
            try:
                result = pipe(request, progress=on_progress, cancel=cancel, on_candidate=on_candidate)
            except Exception as exc:
                if not _is_cancel(exc):
                    raise
                run_id = self._record(job, None, arrived, started, "cancelled", "cancelled by the analyst")
                self._end(
                    self.cancelled, RunOutcome(job.token, None, run_id, arrived, time.perf_counter() - t0)
                )
                return
            candidates = list(result.candidates)
            for cand in candidates:  # a pipeline that does not call on_candidate still fills the grid
                if not any(c is cand for c in arrived):
                    arrived.append(cand)
                    self.candidate_ready.emit(CandidateEvent(job.token, cand, None))
            run_id = self._record(job, result, candidates, started, "done", None)
            self._end(
                self.finished, RunOutcome(job.token, result, run_id, candidates, time.perf_counter() - t0)
            )
        except _MissingModel as exc:
            self.model_state.emit("missing", str(exc))
            self._fail(job, arrived, started, t0, missing_model_message(str(exc)), exc)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message in the window
            message = explain(exc, "generation")
            self._fail(job, arrived, started, t0, message, exc)
        finally:
            self._busy.clear()

    # Helpers (worker thread) -----------------------------------------------------------------------
    def _end(self, signal, outcome: RunOutcome) -> None:
        """Mark the worker idle *before* announcing the end, so the GUI never sees a finished run on a
        worker that still says busy."""
        self._busy.clear()
        signal.emit(outcome)

    def _fail(self, job, arrived, started, t0, message: UserMessage, exc: BaseException) -> None:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            run_id = self._record(job, None, arrived, started, "failed", detail)
        except Exception:  # noqa: BLE001 - the store problem must not hide the original one
            run_id = None
        self._end(
            self.failed, RunOutcome(job.token, None, run_id, arrived, time.perf_counter() - t0, message)
        )

    def _store_candidate_file(self, token: int, cand: Any) -> Path | None:
        """Write the candidate at once to ``home/pending/run-<token>/`` (labelled synthetic), so that a
        crash mid-run loses nothing; the case store's own copy and rows follow when the run is recorded,
        and the pending copy is then removed."""
        if self.store is None:
            return None
        try:
            from tfgnet_desk.cases.evidence import encode_png, provenance_text

            folder = pending_folder(Path(self.store.home), token)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"candidate-{int(cand.index):02d}-seed-{int(cand.seed)}.png"
            text = provenance_text(f"pending-{token}", int(cand.index), int(cand.seed), "")
            path.write_bytes(encode_png(np.asarray(cand.image, dtype=np.uint8), text))
            return path
        except Exception:  # noqa: BLE001 - record_run still stores it; this copy is only a safety net
            return None

    def _record(
        self, job: GenerationJob, result, candidates, started: str, status: str, error: str | None
    ) -> int | None:
        if self.store is None or job.case_id is None:
            return None
        params = job.parameters()
        if result is None:
            result = _PartialResult(candidates, {"prompt": job.prompt, "parameters": params})
        model_hash = None
        try:
            from tfgnet_desk.weights import manifest_hash

            model_hash = manifest_hash(job.settings.model_path())
        except Exception:  # noqa: BLE001 - a missing model has no hash; the run is still recorded
            model_hash = None
        run_id = self.store.record_run(
            job.case_id,
            job.evidence_ids,
            result,
            prompt=job.prompt,
            parameters=params,
            profile=job.settings.profile,
            device=job.settings.device,
            model_hash=model_hash or None,
            started_at=started,
            status=status,
            error=error,
        )
        shutil.rmtree(pending_folder(Path(self.store.home), job.token), ignore_errors=True)
        return run_id


class _MissingModel(Exception):
    pass


def _is_cancel(exc: BaseException) -> bool:
    """The pipeline's ``Cancelled`` (or the generator's, which it may re-raise) ends a run as cancelled."""
    return type(exc).__name__ == "Cancelled"


def _utc_now() -> str:
    from tfgnet_desk.cases.audit import utc_now

    return utc_now()


def pending_folder(home: Path, token: int) -> Path:
    """Where a run's candidates wait until the run is recorded (left behind only by a crash)."""
    return home / "pending" / f"run-{int(token)}"


def _default_pipeline_factory(folder: Path, settings: Settings):
    from tfgnet_desk.pipeline import TFGNetPipeline

    return TFGNetPipeline.from_pretrained(folder, settings)
