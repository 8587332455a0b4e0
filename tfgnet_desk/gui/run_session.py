"""Runs as the window sees them: start a generation, follow its signals into the candidate grid, show
earlier runs from the case store, and send picks and notes back to the store.

Split from the main window so that each file keeps one job: this one knows the backend worker's
signals and the store's run/candidate rows; the window knows the layout. The session sees the window
only as a ``gui/run_host.py`` ``RunHost``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Slot

from tfgnet_desk.gui import messages
from tfgnet_desk.gui.run_host import RunHost
from tfgnet_desk.gui.widgets.candidate_grid import CandidateCard
from tfgnet_desk.gui.worker import BackendWorker, CandidateEvent, GenerationJob, RunOutcome
from tfgnet_desk.request import GenerationRequest

CANCELLED = "cancelled"  # the message kind saying that the run in progress was cancelled


class RunSession(QObject):
    """A QObject living on the GUI thread: the worker's signals reach its slots queued, on this thread
    (a plain Python callable would run on the emitting worker thread)."""

    def __init__(self, window: RunHost) -> None:
        super().__init__(window)  # type: ignore[arg-type]  # the window is a QObject too
        self.w = window
        self.token: int | None = None  # the run in progress
        self.run_case: Any = None  # its case (None: the open one) and, once stored, its run id
        self.run_id: Any = None
        self._run_title = ""
        self._n_candidates = 0  # of the run in progress (progress reads "candidate k of n")
        self.shown_run: Any = None  # the store run id whose candidates the grid shows
        self._pending_marks: dict[str, dict[str, Any]] = {}  # picks/notes made before the run was stored
        self._compare = None
        self.enhance = None  # gui/enhance_session.py: the compare view's upscaled tile (made when needed)
        self.last_outcome: RunOutcome | None = None
        self._ended_run: Any = None  # the stored run whose end the message bar may be telling
        g = window.candidates
        g.pick_toggled.connect(self._pick)
        g.note_changed.connect(self._note)
        g.compare_requested.connect(self.compare)
        window.controls.generate_requested.connect(self.generate)
        window.controls.cancel_requested.connect(self.cancel)
        window.history.run_selected.connect(self.show_run)
        window.history.export_requested.connect(lambda: window.export_pdf())

    def connect_backend(self, backend: BackendWorker) -> None:
        backend.progress.connect(self._progress)
        backend.run_started.connect(self._started)
        backend.candidate_ready.connect(self._candidate)
        backend.finished.connect(self._finished)
        backend.failed.connect(self._failed)
        backend.cancelled.connect(self._cancelled)

    # Starting and stopping -------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.token is not None

    def generate(self) -> bool:
        """Validate and start a run; returns whether one started."""
        w = self.w
        if self.is_running() or w.backend is None:
            return False
        w.description.flush()
        problem = w.controls.generate_blocker()
        problem = problem or w.description.validate()
        items = w.evidence.used_items()
        if problem is None and not items:
            problem = "Add at least one evidence crop."
        if problem:
            w.show_message(
                messages.UserMessage(
                    messages.INVALID_INPUT,
                    "Cannot generate yet",
                    problem,
                    "Correct this and press Generate (Ctrl+Return) again.",
                    "warning",
                )
            )
            return False
        p = w.controls.parameters()
        settings = w.settings.with_(profile=p.profile, device=p.device)
        from tfgnet_desk.evidence_fusion import default_sigmas

        # recorded with the run; unticked "keep the evidence's coarse shape and colour" turns it off
        restore_fusion, candidate_fusion = default_sigmas(p.profile) if p.anchor else (0.0, 0.0)
        self.token = w.next_token()
        request = GenerationRequest(
            images=[it.image for it in items],
            prompt=w.description.text().strip(),
            n_candidates=p.n_candidates,
            seed=p.seed,
            steps=p.steps,
            guidance=p.guidance,
            strength=p.strength,
            face_boxes=[it.box for it in items],
            reference=w.evidence.reference,
            restore_fusion=restore_fusion,
            candidate_fusion=candidate_fusion,
            fidelity=p.fidelity,
        )
        job = GenerationJob(
            token=self.token,
            settings=settings,
            request=request,
            case_id=w.case_id,
            evidence_ids=[it.store_id for it in items if it.store_id is not None],
            reference_id=w.reference_id if w.evidence.reference is not None else None,
        )
        w.candidates.clear()
        self.follow(self.token)
        self._pending_marks.clear()
        w.controls.set_running(True)
        if w.message_bar.kind() not in (None, messages.NO_FACE):
            w.message_bar.clear()
        self._n_candidates = p.n_candidates
        w.statusBar().showMessage(f"Generating {p.n_candidates} candidates…")
        w.backend.submit(job)
        return True

    def follow(self, token: int) -> None:
        """The worker's signals for ``token`` are the run in progress, of the open case."""
        w = self.w
        self.token, self.run_case, self.shown_run, self.run_id = token, w.case_id, None, None
        self._run_title = w.store.get_case(w.case_id)["title"] if w.store and w.case_id is not None else ""

    def cancel(self) -> None:
        if self.is_running() and self.w.backend is not None:
            self.w.backend.cancel()
            self.w.controls.show_cancelling()

    def shows_run_case(self) -> bool:
        """Whether the open case is the one of the run in progress (True when no run is going)."""
        return self.run_case is None or self.run_case == self.w.case_id

    def _grid_follows_run(self) -> bool:
        """The grid fills with the run in progress: a stored run cannot be shown in its place."""
        return self.is_running() and self.shows_run_case()

    # Worker signals --------------------------------------------------------------------------------
    @Slot(object, str, int, int)
    def _progress(self, token: int, stage: str, step: int, total: int) -> None:
        if token == self.token:
            where = "" if self.shows_run_case() else f"case '{self._run_title}'"
            self.w.controls.show_progress(stage, step, total, where, self._n_candidates)

    @Slot(object, object)
    def _started(self, token: int, run_id: Any) -> None:
        """The run is in the case store from its start: list it (status 'running') in the history."""
        if token == self.token and run_id is not None:
            self.run_id = run_id
            if self.shows_run_case():
                self.show_history(select=run_id)

    @Slot(object)
    def _candidate(self, ev: CandidateEvent) -> None:
        if ev.token != self.token or not self.shows_run_case():
            return
        c = ev.candidate
        key = f"t{ev.token}-{int(c.index)}"
        if key in self.w.candidates.cards:  # already shown from the store (the case was reopened)
            return
        card = CandidateCard(key, int(c.index), int(c.seed), c.image, dict(c.scores or {}))
        card.store_id = ev.candidate_id  # stored as it arrived: picks and notes go straight to the store
        self.w.candidates.add_card(card)

    def _end(self, outcome: RunOutcome, text: str) -> bool:
        if outcome.token != self.token:
            return False
        shown = self.shows_run_case()
        self.token = self.run_case = self.run_id = None
        self.last_outcome = outcome
        self._ended_run = outcome.run_id
        w = self.w
        w.controls.set_running(False)
        w.update_blocker()
        if not shown:  # the analyst is looking at another case: its own status line comes back
            self.describe_run(self.shown_run)
            w.statusBar().showMessage(f"Run in case '{self._run_title}' ended: {text}", 8000)
            w.refresh_cases()
        else:
            w.controls.show_done(text)
        if shown and outcome.run_id is not None:
            self._attach_store_ids(outcome.run_id)
            self.show_history(select=outcome.run_id)
            w.refresh_cases()
        if w.close_pending:
            w.close_pending = False
            w.close()
        return True

    @Slot(object)
    def _finished(self, outcome: RunOutcome) -> None:
        restored = getattr(outcome.result, "restored", None)
        if restored and outcome.token == self.token and self.shows_run_case():
            scores = getattr(outcome.result, "restored_scores", None) or [{}]
            self.w.candidates.set_restored(restored[0], scores[0])
        n = len(outcome.candidates)
        shown = self.shows_run_case()
        if self._end(outcome, f"Done: {n} candidates in {outcome.seconds:.1f} s") and shown:
            self.w.statusBar().showMessage(f"Run finished: {n} candidates ({outcome.seconds:.1f} s)", 8000)

    @Slot(object)
    def _failed(self, outcome: RunOutcome) -> None:
        if self._end(outcome, "Failed"):
            self.w.show_message(outcome.message or messages.explain(RuntimeError("unknown failure")))

    @Slot(object)
    def _cancelled(self, outcome: RunOutcome) -> None:
        shown = self.shows_run_case()
        n = len(outcome.candidates)
        if self._end(outcome, f"Cancelled: {n} of {self._n_candidates} candidates kept") and shown:
            self.w.show_message(
                messages.UserMessage(
                    CANCELLED,
                    "Run cancelled",
                    f"{n} candidate(s) had arrived; they are kept with the run.",
                    "Change the inputs if needed and press Generate (Ctrl+Return) again.",
                    "info",
                )
            )

    # Store ids, picks, notes -----------------------------------------------------------------------
    def _attach_store_ids(self, run_id: Any) -> None:
        store = self.w.store
        if store is None:
            return
        by_idx = {row["idx"]: row for row in store.candidates.of_run(run_id)}
        for card in self.w.candidates.cards.values():
            row = by_idx.get(card.index)
            if row is None:
                continue
            card.store_id = row["id"]
            marks = self._pending_marks.pop(card.key, {})
            if "picked" in marks:
                store.candidates.set_pick(card.store_id, marks["picked"])
            if "note" in marks:
                store.candidates.annotate(card.store_id, marks["note"])
        self.shown_run = run_id

    def _pick(self, key: str, picked: bool) -> None:
        self._mark(key, "picked", picked)

    def _note(self, key: str, note: str) -> None:
        self._mark(key, "note", note)

    def _mark(self, key: str, field: str, value: Any) -> None:
        card = self.w.candidates.cards.get(key)
        if card is None:
            return
        if card.store_id is None or self.w.store is None:
            self._pending_marks.setdefault(key, {})[field] = value  # applied once the run is stored
            return
        try:
            if field == "picked":
                self.w.store.candidates.set_pick(card.store_id, bool(value))
            else:
                self.w.store.candidates.annotate(card.store_id, str(value))
        except Exception as exc:  # noqa: BLE001
            self.w.show_message(messages.explain(exc, "saving the candidate mark"))

    # History ---------------------------------------------------------------------------------------
    def last_prompt(self, case_id: Any) -> str:
        store = self.w.store
        runs = store.runs.of_case(case_id) if store is not None else []
        return runs[-1]["prompt"] if runs else ""

    def show_history(self, select: Any = None, select_last: bool = False) -> None:
        """List the open case's runs; show ``select`` (or with ``select_last`` the newest run; the run
        in progress when it is this case's) in the grid."""
        from tfgnet_desk.gui.store_views import run_rows

        w = self.w
        if w.store is None or w.case_id is None:
            w.history.set_runs([])
            return
        runs = w.store.runs.of_case(w.case_id)
        counts = {r["id"]: len(w.store.candidates.of_run(r["id"])) for r in runs}
        if select_last and self._grid_follows_run():
            select = self.run_id
            if self.shown_run is None and self.run_id is not None:
                self._load(self.run_id, f"t{self.token}")  # what the run stored while the case was shut
        elif select_last and runs:
            select = runs[-1]["id"]
        w.history.set_runs(run_rows(runs, counts), current=select)
        if select is not None and select != self.shown_run and not self._grid_follows_run():
            self.show_run(select)

    def show_run(self, run_id: Any) -> None:
        """Show a stored run's candidates (from the store's files) and its restored face in the grid, and
        say which run it is in the status line; a message about another run's end goes."""
        if self._grid_follows_run() or self.w.store is None:
            return
        bar = self.w.message_bar
        if bar.message and bar.message.kind == CANCELLED and run_id != self._ended_run:
            bar.clear()
        self._load(run_id, f"r{run_id}")
        self.describe_run(run_id)

    def _load(self, run_id: Any, prefix: str) -> None:
        from tfgnet_desk.cases.restored import load_restored_face
        from tfgnet_desk.imaging import load_image

        w = self.w
        w.candidates.clear()
        run = w.store.runs.get(run_id)
        face = load_restored_face(w.store.home, run)  # kept with runs that finished (cases/restored.py)
        if face is not None:
            recorded = (run.get("provenance") or {}).get("restored_scores")
            scores = recorded[0] if isinstance(recorded, list) and recorded else {}
            w.candidates.set_restored(face, scores if isinstance(scores, dict) else {})
        for row in w.store.candidates.of_run(run_id):
            try:
                image = load_image(w.store.candidates.path(row["id"]))
            except Exception:  # noqa: BLE001 - a missing file is reported by store verification
                continue
            card = CandidateCard(
                f"{prefix}-{row['idx']}",
                int(row["idx"]),
                int(row["seed"]),
                image,
                dict(row.get("scores") or {}),
                bool(row.get("picked")),
                row.get("note") or "",
                store_id=row["id"],
            )
            w.candidates.add_card(card)
        self.shown_run = run_id

    def describe_run(self, run_id: Any) -> None:
        """The status line for a stored run of the open case ("Run 1: cancelled, 2 candidates"); the idle
        state when no run is shown. While a run is in progress the line is its progress."""
        w = self.w
        if self.is_running():
            return
        runs = w.store.runs.of_case(w.case_id) if w.store is not None and w.case_id is not None else []
        found = [(n, r) for n, r in enumerate(runs, start=1) if r["id"] == run_id]
        if run_id is None or not found:
            w.controls.reset_status()
            return
        number, run = found[0]
        n = len(w.store.candidates.of_run(run_id))
        wanted = int((run.get("parameters") or {}).get("n_candidates", 0) or 0)
        status = str(run.get("status") or "")
        percent = 100 if status == "done" else (100 * n // wanted if wanted else 0)
        w.controls.show_status(f"Run {number}: {status}, {n} candidate{'s' if n != 1 else ''}", percent)

    # Compare ---------------------------------------------------------------------------------------
    def compare(self, key_a: str, key_b: str = "") -> None:
        """Open the compare view on two candidates side by side, or (``key_b`` empty) one candidate
        against the evidence's face (before/after); every candidate of the grid can be chosen there."""
        from tfgnet_desk.gui.widgets.compare_dialog import CompareDialog

        w = self.w
        cards = w.candidates.cards
        if key_a not in cards or (key_b and key_b not in cards):
            return
        current = w.evidence.current_item() or (w.evidence.used_items() or [None])[0]
        if self._compare is not None:
            self._compare.close()
        panel = self._enhancement_panel(current)
        self._compare = CompareDialog(
            cards[key_a],
            cards[key_b] if key_b else None,
            current.image if current else None,
            w.candidates.restored_image,  # the shown run's (kept with runs that finished)
            w,
            restored_scores=w.candidates.restored_scores,
            cards=[cards[k] for k in w.candidates.ordered_keys()],
            evidence_box=current.box if current else None,
            enhancement=panel,
        )
        if panel is not None:  # closing the view (or the window) ends its upscale
            self._compare.finished.connect(lambda _r, p=panel: self.enhance.cancel(p))
        self._compare.show()

    def _enhancement_panel(self, item: Any):
        """The upscaled tile for the evidence ``item`` shown in the compare view (None: no evidence)."""
        from tfgnet_desk.gui.enhance_session import EnhanceContext, EnhanceSession

        if item is None or item.image is None:
            return None
        if self.enhance is None:
            self.enhance = EnhanceSession(self)
        self.enhance.store = self.w.store
        run = self.shown_run if self.shown_run is not None else self.run_id
        return self.enhance.panel(EnhanceContext(item.image, item.box, item.store_id, self.w.case_id, run))

    def compare_selected(self) -> None:
        """Ctrl+K: the selected candidate(s), or the first two of the grid."""
        keys = self.w.candidates.selected_keys()
        if not keys:
            keys = self.w.candidates.ordered_keys()[:2]
        if keys:
            self.compare(keys[0], keys[1] if len(keys) > 1 else "")
