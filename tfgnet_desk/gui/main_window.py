"""The main window: case list | evidence with face box | description and run controls | candidates |
run history, a message bar for every error, and the status bar '[profile: tiny | cpu]'.

The window only arranges widgets and routes intents: cases and picks go to the case store (fast SQLite
calls), evidence import and face detection go to the analysis thread, generation goes to the backend
worker. Nothing here waits on model work or spins the event loop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import (
    QDialog,
    QInputDialog,
    QMainWindow,
)

from tfgnet_desk.gui import evidence_intake, messages, new_case, recovery
from tfgnet_desk.gui.actions import build_actions
from tfgnet_desk.gui.analysis import AnalysisWorker, EvidenceRequest, LoadedEvidence
from tfgnet_desk.gui.case_view import can_add_evidence, case_blocker, show_case, update_case_actions
from tfgnet_desk.gui.close_case import close_case_asked, reopen_case
from tfgnet_desk.gui.evidence_removal import EVIDENCE_REMOVED, EvidenceRemoval
from tfgnet_desk.gui.export import export_case_report
from tfgnet_desk.gui.layout import build_layout, default_size
from tfgnet_desk.gui.run_session import RunSession
from tfgnet_desk.gui.store_views import case_rows, load_draft, save_draft
from tfgnet_desk.gui.worker import model_present
from tfgnet_desk.gui.workspace import Workspace
from tfgnet_desk.settings import Settings


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: Settings,
        store: Any = None,
        pipeline_factory: str | None = None,
        detector=None,
        preload: bool = True,
        engine: Any = None,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("tfgnet-desk")
        self.settings = settings
        self.workspace = Workspace(settings, store)  # the data folder: case store, lock, recovery
        self._pipeline_factory = pipeline_factory  # "package.module:function", built in the engine
        self._engine = engine  # a running EngineProcess to share (tests); None: the window starts its own
        self._detector = detector
        self._preload = preload
        self.case_id: int | None = None
        self.reference_id: int | None = None  # the current reference photo's evidence id
        self.case_uid: str | None = None
        self.case_left = False  # the open case was closed: case-bound actions wait for another case
        self.case_closed = False  # the case shown is closed: shown read-only until reopened
        self._tokens = 0
        self.close_pending = False
        self._closed = False
        self.backend = None
        self.analysis: AnalysisWorker | None = None
        self._build()
        self.runs = RunSession(self)
        self.actions = build_actions(self)
        update_case_actions(self)
        self._update_status()
        self.update_blocker()
        self.resize(default_size())

    # Layout ----------------------------------------------------------------------------------------
    def _build(self) -> None:
        build_layout(self)
        self.controls.set_profile_device(self.settings.profile, self.settings.device)
        self.case_list.case_selected.connect(self.open_case)
        self.case_list.new_requested.connect(self.new_case_dialog)
        self.case_list.rename_requested.connect(self.rename_case_dialog)
        self.case_list.close_requested.connect(lambda case_id: close_case_asked(self, case_id))
        self.case_list.reopen_requested.connect(lambda case_id: reopen_case(self, case_id))
        self.case_list.search_changed.connect(lambda text: self.refresh_cases(search=text))
        self.evidence.files_dropped.connect(self.add_evidence_files)
        self.evidence.image_data_dropped.connect(lambda data: self.add_evidence_data(data, "dropped image"))
        self.evidence.open_requested.connect(lambda: evidence_intake.open_evidence_dialog(self))
        self.evidence.reference_requested.connect(lambda: evidence_intake.open_reference_dialog(self))
        self.evidence.box_changed.connect(lambda key, box: evidence_intake.save_face_box(self, key, box))
        self.evidence.reference_cleared.connect(lambda: setattr(self, "reference_id", None))
        self.evidence.selection_changed.connect(self.update_blocker)
        self.removal = EvidenceRemoval(self)
        self.setAcceptDrops(True)  # a crop dropped anywhere in the window is evidence, not only on its panel
        self.evidence.remove_requested.connect(self.removal.removed)
        self.description.autosave.connect(self._save_description)
        self.description.validity_changed.connect(lambda _v: self.update_blocker())
        self.controls.profile_changed.connect(lambda p: self.apply_settings(self.settings.with_(profile=p)))
        self.controls.device_changed.connect(lambda d: self.apply_settings(self.settings.with_(device=d)))
        self.message_bar.action_requested.connect(self._message_action)

    # Backend ---------------------------------------------------------------------------------------
    def start_backend(self) -> None:
        """Open the case store and start the two worker threads (after the window is shown)."""
        from tfgnet_desk.gui.worker import BackendWorker

        try:
            self.workspace.open()
        except Exception as exc:  # noqa: BLE001 - the window still opens; the message says what to do
            self.show_message(messages.explain(exc, "opening the case store"))
        self.backend = BackendWorker(self.store, self._pipeline_factory, engine=self._engine)
        self.runs.connect_backend(self.backend)
        self.backend.model_state.connect(self._model_state)
        self.backend.start()
        kwargs = {"detector": self._detector} if self._detector else {}
        self.analysis = AnalysisWorker(self.store, **kwargs)
        self.analysis.loaded.connect(self._evidence_loaded)
        self.analysis.load_failed.connect(self._evidence_failed)
        self.analysis.busy.connect(self.evidence.analysis_bar.set_busy)
        self.evidence.analysis_bar.cancel_requested.connect(self.analysis.cancel)
        self.analysis.start()
        self.refresh_cases()
        self._check_model()
        self._report_interrupted_runs()
        if self._preload and model_present(self.settings):
            QTimer.singleShot(200, lambda: self.backend and self.backend.preload(self.settings))

    @property
    def store(self) -> Any:
        """The open data folder's case store (None when it could not be opened)."""
        return self.workspace.store

    def _report_interrupted_runs(self) -> None:
        recovery.report_interrupted_runs(self)  # the workspace claims the data folder's lock first

    def next_token(self) -> int:
        self._tokens += 1
        return int(time.time() * 1000) * 100 + self._tokens % 100

    # Messages and status ---------------------------------------------------------------------------
    def show_message(self, message: messages.UserMessage) -> None:
        label = "Models…" if message.kind == messages.MISSING_WEIGHTS else ""
        self.message_bar.show_message(message, label)
        self.statusBar().showMessage(message.title, 8000)

    def _message_action(self, kind: str) -> None:
        if kind == messages.MISSING_WEIGHTS:
            self.open_models()
        elif kind == EVIDENCE_REMOVED:
            self.removal.undo()

    def _update_status(self) -> None:
        self.profile_label.setText(f"[profile: {self.settings.profile} | {self.settings.device}]")

    @Slot(str, str)
    def _model_state(self, state: str, text: str) -> None:
        text = messages.for_the_window(text)
        self.model_label.setText(text if state != "missing" else "model missing")
        if state == "missing":
            self.show_message(messages.missing_model_message(text))
        elif state == "error":
            self.show_message(
                messages.UserMessage(
                    messages.MISSING_WEIGHTS,
                    "Model could not be loaded",
                    text,
                    messages.MODELS_HINT,
                )
            )
        self.update_blocker()

    def _check_model(self) -> bool:
        present = model_present(self.settings)
        if not present:
            self.model_label.setText("model missing")
            self.show_message(messages.missing_model_message(str(self.settings.model_path())))
        elif self.message_bar.kind() == messages.MISSING_WEIGHTS:
            self.message_bar.clear()
            self.model_label.setText("model found")
        self.update_blocker()
        return present

    def update_blocker(self) -> None:
        reason = None
        if not model_present(self.settings):
            reason = "Model missing: import one with File > Models…, or choose a folder in Settings."
        elif case_blocker(self):
            reason = case_blocker(self)
        elif not self.evidence.used_items():
            reason = "Add at least one evidence crop (drop, Ctrl+O or Ctrl+V) and tick it."
        elif unboxed := [it.name for it in self.evidence.used_items() if it.box is None]:
            reason = f"Draw the face box on {unboxed[0]} (no face was found), or untick it."
        else:
            reason = self.description.validate()
        self.controls.set_blocker(reason)

    # Cases -----------------------------------------------------------------------------------------
    def refresh_cases(self, search: str | None = None) -> None:
        if self.store is None:
            return
        text = search if search is not None else self.case_list.search.text()
        rows = case_rows(self.store.list_cases(search=text or None))
        self.case_list.set_cases(rows, current=self.case_id)

    def create_case(self, title: str) -> int | None:
        if self.store is None:
            return None
        try:
            case_id = self.store.create_case(title, analyst=self.settings.analyst)
        except Exception as exc:  # noqa: BLE001
            self.show_message(messages.explain(exc, "creating the case"))
            return None
        self.case_list.search.clear()
        self.open_case(case_id)
        return case_id

    def new_case_dialog(self) -> None:
        new_case.new_case_dialog(self)  # asks the analyst's name too while the settings have none

    def rename_case(self, case_id: int, title: str) -> None:
        try:
            self.store.rename_case(case_id, title)
        except Exception as exc:  # noqa: BLE001
            self.show_message(messages.explain(exc, "renaming the case"))
        self.refresh_cases()

    def rename_case_dialog(self, case_id: int | None = None) -> None:
        case_id = case_id if case_id is not None else self.case_id
        if case_id is None or self.store is None:
            return
        old = self.store.get_case(case_id)["title"]
        title, ok = QInputDialog.getText(self, "Rename case", "Case title:", text=old)
        if ok and title.strip():
            self.rename_case(case_id, title.strip())

    def close_case(self, case_id: int | None = None) -> None:
        """Mark the case closed (kept, searchable, read-only in spirit); it stays listed in grey."""
        case_id = case_id if case_id is not None else self.case_id
        if case_id is None or self.store is None:
            return
        try:
            self.store.close_case(case_id)
        except Exception as exc:  # noqa: BLE001
            self.show_message(messages.explain(exc, "closing the case"))
        else:
            if case_id == self.case_id:  # the window leaves it: no case open until one is opened
                self.description.flush()
                self.case_left = True
                show_case(self, None)
                self.update_blocker()
        self.refresh_cases()

    def open_case(self, case_id: int) -> None:
        if self.store is None:
            return
        self.description.flush()
        case = self.store.get_case(case_id)
        self.case_left = False
        show_case(self, case, load_draft(self.settings.home, case["uid"], self.runs.last_prompt(case_id)))
        rows = [r for r in self.store.evidence.of_case(case_id) if r.get("excluded_at") is None]
        references = [r for r in rows if r.get("kind") == "reference"]
        for row in [r for r in rows if r.get("kind") != "reference"] + references[-1:]:
            self.request_stored_evidence(case_id, row["id"], row.get("original_name", ""), row.get("kind"))
        self.refresh_cases()
        self.runs.show_history(select_last=True)
        self.update_blocker()

    def request_stored_evidence(
        self, case_id: int, evidence_id: int, name: str, kind: str | None = None
    ) -> None:
        """Analyse a crop (or reference photo) of the case store and show it when ready."""
        purpose = "reference" if kind == "reference" else "evidence"
        self.analysis.request(
            EvidenceRequest(self.next_token(), case_id, evidence_id=evidence_id, name=name, purpose=purpose)
        )

    def _ensure_case(self) -> int | None:
        """The open case; at start (no case closed yet) a new one; None after a case was closed or while
        a closed case is shown (read-only)."""
        if not can_add_evidence(self):
            return None
        if self.case_id is None:
            return self.create_case(time.strftime("Case %Y-%m-%d %H:%M"))
        return self.case_id

    def _save_description(self, text: str) -> None:
        if self.case_uid is not None:
            try:
                save_draft(self.settings.home, self.case_uid, text)
            except OSError as exc:
                self.show_message(messages.explain(exc, "saving the description"))

    # Evidence --------------------------------------------------------------------------------------
    def add_evidence_files(self, paths: list[Path]) -> None:
        case_id = self._ensure_case()
        if case_id is None:
            return
        for path in paths:
            self.analysis.request(EvidenceRequest(self.next_token(), case_id, path=Path(path)))
        self.statusBar().showMessage(f"Importing {len(paths)} file(s)…", 3000)

    def add_evidence_data(self, data: bytes, name: str = "pasted image") -> None:
        case_id = self._ensure_case()
        if case_id is not None:
            self.analysis.request(EvidenceRequest(self.next_token(), case_id, data=data, name=name))

    def add_reference(self, path: Path) -> None:
        case_id = self._ensure_case()
        if case_id is not None:
            self.analysis.request(EvidenceRequest(self.next_token(), case_id, path=path, purpose="reference"))

    @Slot(object, object)
    def _evidence_failed(self, _token: object, message: messages.UserMessage) -> None:
        self.show_message(message)

    @Slot(object)
    def _evidence_loaded(self, ev: LoadedEvidence) -> None:
        if self._closed:  # an analysis that finished while the window closed: its store is gone
            return
        evidence_intake.show_loaded(self, ev)
        self.update_blocker()

    # Settings, report, dialogs ---------------------------------------------------------------------
    def apply_settings(self, new: Settings, save: bool = True) -> None:
        home_changed = new.home != self.settings.home
        if home_changed:
            self.description.flush()  # saved under the old data folder, with its case
        self.settings = new
        new_case.analyst_changed(self, new)
        if save:
            try:
                new.save()
            except OSError as exc:
                self.show_message(messages.explain(exc, "saving the settings"))
        self.controls.set_profile_device(new.profile, new.device)
        self._update_status()
        if home_changed and self.store is not None and not self.runs.is_running():
            self.backend.store = self.analysis.store = self.workspace.switch(new)
            self._report_interrupted_runs()  # claims the new folder's lock
            self.case_left = False  # a fresh data folder: as at start
            show_case(self, None)
            self.refresh_cases()
        if self._check_model() and self._preload and self.backend is not None:
            self.backend.preload(new)

    def open_settings(self) -> None:
        from tfgnet_desk.gui.widgets.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            self.apply_settings(dialog.result_settings())

    def open_models(self) -> None:
        from tfgnet_desk.gui.widgets.models_dialog import open_models_dialog

        open_models_dialog(self)

    def export_pdf(self, out: Path | None = None) -> Path | None:
        return export_case_report(self, out)

    # Closing ---------------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.evidence.acceptDrops():
            self.evidence.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.evidence.dropEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.description.flush()
        self.candidates.flush_note()
        if self.runs.is_running():
            # Closing during a run cancels it; the window closes when the worker confirms (within a step).
            self.close_pending = True
            self.backend.cancel()
            self.statusBar().showMessage("Cancelling the run before closing…")
            event.ignore()
            return
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for dialog in self.findChildren(QDialog):  # compare, about, shortcuts: they go with the window
            dialog.close()
        for worker in (self.backend, self.analysis):
            if worker is not None:
                worker.stop()
        self.workspace.close()
