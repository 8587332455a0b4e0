"""The backend worker: one long-lived QThread that owns the generation engine and the run's records.

The GUI thread never waits on model work. It puts a :class:`GenerationJob` on the worker's queue; the
worker (its ``run()`` serves the queue on the QThread) forwards the job to the engine child process
(:mod:`tfgnet_desk.engine`), which loads the models once and runs the pipeline, and relays the child's
events as typed signals, emitted on the GUI thread through :class:`~tfgnet_desk.gui.relay.EventRelay`:
``progress``, ``candidate_ready``, ``finished``, ``failed``, ``cancelled``
(plus ``model_state``). Model work never runs in the window's process, so neither dlib (which keeps the
GIL for the length of a descriptor) nor the UNet's Python can stall the window, and a crash of the model
cannot take the window with it.

The run is written to the case store as it happens (``cases.recorder.RunRecorder``): ``start`` before
the engine starts, one ``add_candidate`` per candidate as it arrives (a crash loses nothing that
arrived), ``finish`` with the outcome (a finished run keeps its restored face, ``cases/restored.py``).
Cancel is a shared event that the pipeline checks between diffusion steps.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from tfgnet_desk.engine import EngineDied, EngineProcess
from tfgnet_desk.engine import protocol as P
from tfgnet_desk.gui.messages import UserMessage, engine_stopped_message, explain, missing_model_message
from tfgnet_desk.gui.relay import EventRelay
from tfgnet_desk.request import GenerationRequest
from tfgnet_desk.settings import Settings

ENGINE_NICE = 2  # the engine child runs at a slightly lower CPU priority than the window


@dataclass
class GenerationJob:
    """One run of the window: the request (the one request type, ``request.GenerationRequest``) with where
    it goes. Built on the GUI thread, consumed on the worker thread."""

    token: int  # the window's id for this run (signals carry it)
    settings: Settings  # profile/device/model folder as chosen for this run
    request: GenerationRequest
    case_id: int | None = None  # when set, the run and its candidates go into the case store
    evidence_ids: list[int] = field(default_factory=list)
    reference_id: int | None = None  # the reference photo's evidence id in the store

    def parameters(self) -> dict[str, Any]:
        """What the case store records (``GenerationRequest.to_record``, the one definition)."""
        return self.request.to_record()


@dataclass
class CandidateEvent:
    """A candidate as it arrives: the pipeline's Candidate and where the store put it (if anywhere)."""

    token: int
    candidate: Any  # pipeline.Candidate: index, seed, image, scores
    stored_file: Path | None = None
    candidate_id: int | None = None  # its row in the case store


@dataclass
class RunOutcome:
    """The end of a run: the pipeline's result (None when cancelled or failed) and the stored run id."""

    token: int
    result: Any
    run_id: int | None
    candidates: list[Any]
    seconds: float
    message: UserMessage | None = None


class BackendWorker(QThread):
    """Serves generation jobs on its own QThread; the models live in an engine child process."""

    progress = Signal(object, str, int, int)  # token (a large int), stage, step, total
    run_started = Signal(object, object)  # token, store run id (None without a case)
    candidate_ready = Signal(object)  # CandidateEvent
    finished = Signal(object)  # RunOutcome
    failed = Signal(object)  # RunOutcome with .message
    cancelled = Signal(object)  # RunOutcome
    model_state = Signal(str, str)  # state (loading | ready | missing | error), text for the status bar

    def __init__(
        self, store: Any = None, pipeline_factory: str | None = None, engine: EngineProcess | None = None
    ) -> None:
        super().__init__()
        self.setObjectName("tfgnet-backend")
        self.store = store
        self.engine = engine
        self._owns_engine = engine is None
        self._factory = pipeline_factory
        self._cancel = threading.Event()
        self._busy = threading.Event()
        self._stopping = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._relay = EventRelay(self)  # created here, on the GUI thread, where it emits the signals

    # GUI-thread API --------------------------------------------------------------------------------
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
        if self.engine is not None:
            self.engine.cancel()

    def is_busy(self) -> bool:
        return self._busy.is_set()

    def is_alive(self) -> bool:
        return self.isRunning()

    def stop(self, timeout_ms: int = 15_000) -> bool:
        """Cancel any run, end the worker thread (and the engine it owns) and wait for both."""
        self._stopping.set()
        self.cancel()
        if not self.isRunning():
            return True
        self._queue.put(("stop", None))
        return bool(self.wait(timeout_ms))

    # The QThread ------------------------------------------------------------------------------------
    def run(self) -> None:  # noqa: D102 - QThread entry point
        if self.engine is None:
            self.engine = EngineProcess("tfgnet-engine", factory=self._factory, nice=ENGINE_NICE)
        try:
            self.engine.start()
            while True:
                kind, payload = self._queue.get()
                if kind == "stop":
                    return
                if kind == "run":
                    self._run(payload)
                elif kind == "preload" and not self._stopping.is_set():
                    self._preload(payload)
        finally:
            if self._owns_engine:
                self.engine.stop()

    # Worker thread ---------------------------------------------------------------------------------
    def _ensure_engine(self) -> EngineProcess:
        if not self.engine.is_alive():
            self.engine.start()  # the previous one died; the next load happens in the new child
        return self.engine

    def _preload(self, settings: Settings) -> None:
        if not model_present(settings):
            self._post("model_state", "missing", str(settings.model_path()))
            return
        try:
            engine = self._ensure_engine()
            engine.preload(settings)
            while not self._stopping.is_set():
                event = engine.receive(0.2)
                if event is not None and event[0] == P.MODEL_STATE:
                    self._post("model_state", event[1], event[2])
                    if event[1] in ("ready", "error"):
                        return
        except EngineDied as exc:
            self._post("model_state", "error", str(exc))

    def _run(self, job: GenerationJob) -> None:
        run = _RunRecord(self, job)
        try:
            if not model_present(job.settings):
                self._post("model_state", "missing", str(job.settings.model_path()))
                run.start()
                self._end_failed(run, missing_model_message(str(job.settings.model_path())), "model missing")
                return
            run.start()
            self._post("run_started", job.token, run.run_id)
            engine = self._ensure_engine()
            engine.run(job.token, job.settings, job.request)
            if self._cancel.is_set():  # pressed between submit and the engine's start
                engine.cancel()
            self._follow(engine, run)
        except EngineDied as exc:
            self._post("model_state", "error", "the generation engine stopped; it restarts on the next run")
            self._end_failed(run, engine_stopped_message(exc.exitcode), str(exc))
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message in the window
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._end_failed(run, explain(exc, "generation"), detail)
        finally:
            self._busy.clear()

    def _follow(self, engine: EngineProcess, run: _RunRecord) -> None:
        """Relay the engine's events for ``run`` until the run ends."""
        token = run.job.token
        while True:
            event = engine.receive(0.2)
            if event is None:
                if self._stopping.is_set():
                    engine.cancel()
                continue
            kind = event[0]
            if kind == P.MODEL_STATE:
                self._post("model_state", event[1], event[2])
                continue
            if event[1] != token:
                continue  # a late event of an earlier run
            if kind == P.PROGRESS:
                self._post("progress", token, *event[2:])
            elif kind == P.CANDIDATE:
                self._post("candidate_ready", run.add(event[2]))
            elif kind == P.FINISHED:
                result = event[2]
                for cand in result.candidates:  # a pipeline that does not announce each one
                    if all(c.index != cand.index for c in run.arrived):
                        self._post("candidate_ready", run.add(cand))
                run.finish("done", provenance=result.provenance, restored=getattr(result, "restored", None))
                self._end("finished", run.outcome(result, run.store_problem))
                return
            elif kind == P.CANCELLED:
                run.finish("cancelled", error="cancelled by the analyst")
                self._end("cancelled", run.outcome(None))
                return
            elif kind == P.FAILED:
                exc = P.rebuild_exception(event[2])
                if not model_present(run.job.settings):
                    message = missing_model_message(str(run.job.settings.model_path()))
                else:
                    message = explain(exc, "generation")
                self._end_failed(run, message, P.describe(event[2]))
                return

    def _post(self, signal_name: str, *args: Any) -> None:
        """Emit a typed signal on the GUI thread (see :mod:`tfgnet_desk.gui.relay`)."""
        self._relay.post(signal_name, *args)

    def _end(self, signal_name: str, outcome: RunOutcome) -> None:
        """Mark the worker idle *before* announcing the end, so the GUI never sees a finished run on a
        worker that still says busy."""
        self._busy.clear()
        self._post(signal_name, outcome)

    def _end_failed(self, run: _RunRecord, message: UserMessage, detail: str) -> None:
        try:
            run.finish("failed", error=detail)
        except Exception:  # noqa: BLE001 - the store problem must not hide the original one
            pass
        self._end("failed", run.outcome(None, message))


class _RunRecord:
    """One run of the window: :class:`~tfgnet_desk.cases.recorder.RunRecorder` (the recorder ``generate
    --case`` uses too) when the run belongs to a case, plus what the window needs: the candidates that
    arrived, and a labelled copy under ``home/pending/`` when the store refuses one."""

    def __init__(self, worker: BackendWorker, job: GenerationJob) -> None:
        self.worker, self.job = worker, job
        self.store = worker.store if job.case_id is not None else None
        self.recorder = None
        self.arrived: list[Any] = []
        self.store_problem: UserMessage | None = None
        self.t0 = time.perf_counter()

    @property
    def run_id(self) -> int | None:
        return self.recorder.run_id if self.recorder is not None else None

    def start(self) -> None:
        if self.store is None or self.recorder is not None:
            return
        from tfgnet_desk.cases.recorder import RunRecorder

        job = self.job
        model_hash = ""
        try:
            from tfgnet_desk.model_folders.manifest import manifest_hash

            model_hash = manifest_hash(job.settings.model_path()) or ""
        except Exception:  # noqa: BLE001 - a missing model has no hash; the run is still recorded
            model_hash = ""
        recorder = RunRecorder(
            self.store,
            job.case_id,
            job.evidence_ids,
            prompt=job.request.prompt,
            parameters=job.parameters(),
            profile=job.settings.profile,
            device=job.settings.device,
            model_hash=model_hash,
            reference_id=job.reference_id,
        )
        recorder.start()
        self.recorder = recorder

    def add(self, cand: Any) -> CandidateEvent:
        """Store ``cand`` at once (a crash later loses nothing); on a store problem keep a labelled copy
        under ``home/pending/`` and say so at the end of the run."""
        self.arrived.append(cand)
        event = CandidateEvent(self.job.token, cand)
        if self.store is None:
            return event
        try:
            if self.recorder is None:
                raise RuntimeError("the run was not recorded")
            cid = self.recorder.add_candidate(cand)
            event.candidate_id, event.stored_file = cid, self.store.candidates.path(cid)
        except Exception as exc:  # noqa: BLE001 - the candidate must not be lost
            event.stored_file = _pending_copy(Path(self.store.home), self.job.token, cand)
            self.store_problem = explain(exc, "storing a candidate")
        return event

    def finish(
        self, status: str, provenance: dict | None = None, error: str | None = None, restored: Any = None
    ) -> None:
        if self.recorder is not None:
            self.recorder.finish(status, provenance, error, restored=restored)

    def outcome(self, result: Any, message: UserMessage | None = None) -> RunOutcome:
        candidates = list(result.candidates) if result is not None else list(self.arrived)
        seconds = time.perf_counter() - self.t0
        return RunOutcome(self.job.token, result, self.run_id, candidates, seconds, message)


def model_present(settings: Settings) -> bool:
    """A model folder with a manifest exists for the settings' profile (loading still verifies it)."""
    folder = settings.model_path()
    return folder.is_dir() and (folder / "MANIFEST.json").is_file()


def pending_folder(home: Path, token: int) -> Path:
    """Where candidates go when the store cannot take them (left for the analyst, reported at start)."""
    return home / "pending" / f"run-{int(token)}"


def _pending_copy(home: Path, token: int, cand: Any) -> Path | None:
    try:
        from tfgnet_desk.cases.evidence import encode_png, provenance_text

        folder = pending_folder(home, token)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"candidate-{int(cand.index):02d}-seed-{int(cand.seed)}.png"
        text = provenance_text(f"pending-{token}", int(cand.index), int(cand.seed), "")
        path.write_bytes(encode_png(np.asarray(cand.image, dtype=np.uint8), text))
        return path
    except Exception:  # noqa: BLE001 - nothing more can be done; the card still shows it
        return None
