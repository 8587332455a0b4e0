"""The compare view's upscaled tile, behind the widget: compute once per evidence item, record, show.

:class:`EnhanceSession` (one per window, on the GUI thread) gives each compare view an
:class:`~tfgnet_desk.gui.widgets.enhancement_panel.EnhancementPanel` for the evidence shown there. When
the analyst asks for the tile it takes the evidence's face square (``compare_dialog.face_square``, the
image the before/after tab shows), bounds it (``enhance/evidence_upscale.py``: at most 128 px a side) and
looks for that exact input (by its image hash) in its memory cache, then among the case's recorded
enhancements whose stored PNG is intact (``cases/enhancements.py``); only when neither has it does the
upscale worker compute it in a child process (``gui/upscale_worker.py``). Each time the tile shows an
image, the case records it with its provenance (once per input, output and run on screen).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject

from tfgnet_desk.enhance.evidence_upscale import UpscaleInput, prepare_input
from tfgnet_desk.gui.upscale_worker import UpscaleWorker
from tfgnet_desk.gui.widgets.enhancement_panel import EnhancementPanel
from tfgnet_desk.hashing import pixel_sha256

BUSY_TEXT = (
    "Upscaling the evidence's face with Real-ESRGAN x4plus in a separate process (about 6-12 s for a "
    "128 px face on a 2-core CPU; the window stays usable)…"
)


@dataclass
class EnhanceContext:
    """What a compare view shows: the evidence crop, its face box, and where to record."""

    image: np.ndarray
    box: tuple[int, int, int, int] | None
    evidence_id: int | None = None
    case_id: int | None = None
    run_id: int | None = None


@dataclass
class _Job:
    panel: EnhancementPanel
    ctx: EnhanceContext
    inp: UpscaleInput
    key: str


class EnhanceSession(QObject):
    """``store``: the case store (or None); ``upscaler``: the worker's upscaler (None: the child)."""

    def __init__(self, parent: QObject | None = None, store: Any = None, upscaler: Any = None) -> None:
        super().__init__(parent)
        self.store = store
        self.worker = UpscaleWorker(upscaler)
        self.worker.progress.connect(self._progress)
        self.worker.finished.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(self._cancelled)
        self.cache: dict[
            str, tuple[np.ndarray, dict[str, Any]]
        ] = {}  # input image hash -> (output, provenance)
        self.computed = 0  # upscales computed (not taken from a cache): what the tests count
        self._jobs: dict[int, _Job] = {}
        self._tokens = itertools.count(1)

    def panel(self, ctx: EnhanceContext) -> EnhancementPanel:
        """A new tile for ``ctx``'s evidence (disabled, saying why, without the wheel)."""
        from tfgnet_desk.enhance.realesrgan_wheel import unavailable_reason

        panel = EnhancementPanel(unavailable_reason())
        panel.requested.connect(lambda p=panel, c=ctx: self.request(p, c))
        panel.cancel_requested.connect(lambda p=panel: self.cancel(p))
        return panel

    def request(self, panel: EnhancementPanel, ctx: EnhanceContext) -> None:
        from tfgnet_desk.gui.widgets.compare_dialog import face_square

        try:
            inp = prepare_input(face_square(ctx.image, ctx.box))
        except ValueError as exc:
            panel.show_failed(str(exc))
            return
        key = pixel_sha256(inp.image)
        if key not in self.cache and self.store is not None and ctx.case_id is not None:
            from tfgnet_desk.cases.enhancements import PROVENANCE_KEYS, find_enhancement

            found = find_enhancement(self.store, ctx.case_id, key)
            if found is not None:
                rec, image = found
                self.cache[key] = (image, {k: rec.get(k) for k in PROVENANCE_KEYS})
        if key in self.cache:
            self._show(_Job(panel, ctx, inp, key), *self.cache[key])
            return
        for token, job in list(self._jobs.items()):  # one at a time: an older view's job gives way
            if job.panel is not panel:
                self.worker.cancel(token)
        token = next(self._tokens)
        if not self.worker.submit(token, inp.image):
            panel.show_failed("Another upscale is still ending; tick the box again in a moment.")
            return
        self._jobs[token] = _Job(panel, ctx, inp, key)
        panel.show_busy(BUSY_TEXT)

    def cancel(self, panel: EnhancementPanel | None = None) -> None:
        """Cancel the upscale for ``panel`` (None: any); the panel hears of it when the child is gone."""
        for token, job in list(self._jobs.items()):
            if panel is None or job.panel is panel:
                self.worker.cancel(token)

    def stop(self) -> None:
        self.worker.stop()

    # Worker signals ---------------------------------------------------------------------------------
    def _progress(self, token: int, done: int, total: int) -> None:
        job = self._jobs.get(token)
        if job is not None:
            job.panel.show_progress(done, total)

    def _finished(self, token: int, image: np.ndarray, provenance: dict[str, Any]) -> None:
        job = self._jobs.pop(token, None)
        if job is None:
            return
        self.computed += 1
        self.cache[job.key] = (image, provenance)
        self._show(job, image, provenance)

    def _failed(self, token: int, text: str) -> None:
        job = self._jobs.pop(token, None)
        if job is not None:
            job.panel.show_failed(text)

    def _cancelled(self, token: int) -> None:
        job = self._jobs.pop(token, None)
        if job is not None:
            job.panel.show_cancelled()

    # Showing is recording ---------------------------------------------------------------------------
    def _show(self, job: _Job, image: np.ndarray, provenance: dict[str, Any]) -> None:
        job.panel.show_result(image, f"{job.inp.note} {self._record(job, image, provenance)}")

    def _record(self, job: _Job, image: np.ndarray, provenance: dict[str, Any]) -> str:
        """Record what the tile shows; returns the sentence saying where (or why not)."""
        ctx, store = job.ctx, self.store
        model = f"{provenance.get('model')} ({provenance.get('package')} {provenance.get('package_version')})"
        if store is None or ctx.case_id is None:
            return f"Model: {model}. Not recorded: no case is open."
        from tfgnet_desk.cases.enhancements import record_enhancement

        try:
            evidence_sha = store.evidence.get(ctx.evidence_id)["sha256"] if ctx.evidence_id else ""
            run_uid = store.runs.get(ctx.run_id)["uid"] if ctx.run_id is not None else None
            rec = record_enhancement(
                store,
                ctx.case_id,
                evidence_sha256=evidence_sha or "not in the case store",
                face_box=ctx.box,
                input_image=job.inp.image,
                input_note=job.inp.note,
                output_image=image,
                provenance=provenance,
                run_uid=run_uid,
            )
        except Exception as exc:  # noqa: BLE001 - shown, with the reason, rather than lost
            return f"Model: {model}. NOT recorded in the case ({type(exc).__name__}: {exc})."
        weights = str(provenance.get("weights_sha256", ""))[:16]
        return (
            f"Model: {model}, weights sha256 {weights}…; recorded in the case's audit log (entry {rec.seq})."
        )
