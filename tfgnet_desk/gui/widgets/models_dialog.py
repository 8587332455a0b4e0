"""File > Models…: the model folders and components the app knows, verification, and import.

The list is the registry's (``model_folders``): the embedded ``tiny`` model, the ``full`` profile and its
parts, the identity packs and the metric backbones, each with its state in the settings' model folder
(verified, present, incomplete, missing, failed), where it is, and what to do when it is missing.
"Verify" hashes the chosen component's files against its ``MANIFEST.json`` with a progress bar (minutes
for a full-profile folder); "Import folder…" and "Import checkpoint…" go through the same importer as
``tfgnet-desk models import`` (recognise, check, convert pickles to safetensors, place, write the
manifest, assemble the full profile when its last part arrives). A bad input is refused with the
importer's reason; nothing is downloaded.

Listing, verification and import run on a worker thread; their results reach the dialog on the GUI thread
through :class:`~tfgnet_desk.gui.relay.EventRelay`. Only one job runs at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from tfgnet_desk.gui.relay import EventRelay

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow

AUTO = "recognise automatically"
CHECKPOINT_FILTER = (
    "Checkpoints and packs (*.pth *.pt *.bin *.ckpt *.safetensors *.onnx *.zip *.tgz *.tar.gz *.tar);;"
    "All files (*)"
)
COLUMNS = ("Component", "State", "What it is", "Where / details")


@dataclass(frozen=True)
class ModelRow:
    """One component as the dialog shows it."""

    name: str
    group: str
    title: str
    state: str  # verified | present | incomplete | missing | failed
    folder: str
    detail: str
    todo: str  # what to do when it is not usable ("" when it is)


def how_to_add(comp: Any) -> str:
    """What the analyst does to provide a missing component, in the window's terms."""
    if comp.how:
        return comp.how
    return f"Get it from {comp.source}, then import it here ({comp.accepts})."


def model_rows(
    models_dir: Path,
    check_hashes: bool = False,
    names: list[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[ModelRow]:
    """The registry's components and their state in ``models_dir`` (shipped ones fall back to the
    application's own copies); ``check_hashes`` hashes every file (``progress`` per file)."""
    from tfgnet_desk.model_folders import status
    from tfgnet_desk.settings import SHIPPED_MODELS

    statuses = status.all_status(
        models_dir, check_hashes=check_hashes, shipped_dir=SHIPPED_MODELS, names=names, progress=progress
    )
    return [
        ModelRow(
            s.component.name,
            s.component.group,
            s.component.title,
            s.state,
            str(s.folder),
            s.detail,
            "" if s.ok else how_to_add(s.component),
        )
        for s in statuses
    ]


def import_error_text(exc: BaseException) -> str:
    """The importer's reason, as one sentence for the dialog (no traceback)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    if type(exc).__name__ in ("WeightsError", "ImportError_") or isinstance(exc, (KeyError, OSError)):
        return str(text)
    return f"{type(exc).__name__}: {text}"


class ModelsDialog(QDialog):
    """Lists, verifies and imports model components (modeless; one job at a time)."""

    models_changed = Signal()  # an import placed something: the window checks its model again
    # Posted by the worker thread through the relay (emitted on the GUI thread):
    listed = Signal(object, str)  # rows (None on error), error text
    verified = Signal(object, str)  # rows of the verified component (None on error), error text
    imported = Signal(object, object, str)  # ImportResult (None on error), rows after it, error text
    progressed = Signal(int, int, str)  # done, total (0: unknown), text

    def __init__(self, models_dir: Path, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Models")
        self.models_dir = Path(models_dir)
        self.rows: list[ModelRow] = []
        self.result_text = ""  # the last finished job's outcome, as shown
        self._relay = EventRelay(self)
        self._thread: threading.Thread | None = None
        self._running = False  # a job started and its result not shown yet
        self.folder_label = QLabel(objectName="modelsFolder", wordWrap=True)
        self.table = QTableWidget(0, len(COLUMNS), objectName="modelsTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.verify_button = QPushButton("Verify", objectName="verifyComponent")
        self.verify_button.setToolTip("Hash every file of the selected component against its MANIFEST.json")
        self.verify_button.clicked.connect(lambda: self.verify(self.selected_name() or ""))
        self.as_name = QComboBox(objectName="importAs")
        self.as_name.setToolTip("What the import is; recognised from the files unless you choose")
        self.import_folder_button = QPushButton("Import folder…", objectName="importFolder")
        self.import_folder_button.clicked.connect(self.choose_folder)
        self.import_file_button = QPushButton("Import checkpoint…", objectName="importCheckpoint")
        self.import_file_button.clicked.connect(self.choose_checkpoint)
        self.refresh_button = QPushButton("Refresh", objectName="refreshModels")
        self.refresh_button.clicked.connect(self.refresh)
        close = QPushButton("Close", objectName="closeModels")
        close.clicked.connect(self.close)
        self.progress = QProgressBar(objectName="modelsProgress")
        self.progress.hide()
        self.status = QLabel(objectName="modelsStatus", wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel(objectName="modelsError", wordWrap=True)
        self.error.setStyleSheet("color: #b3261e;")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        actions = QHBoxLayout()
        actions.addWidget(self.verify_button)
        actions.addStretch(1)
        actions.addWidget(QLabel("Import as:"))
        actions.addWidget(self.as_name)
        actions.addWidget(self.import_folder_button)
        actions.addWidget(self.import_file_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.refresh_button)
        bottom.addStretch(1)
        bottom.addWidget(close)
        col = QVBoxLayout(self)
        col.addWidget(self.folder_label)
        col.addWidget(self.table, 1)
        col.addLayout(actions)
        col.addWidget(self.progress)
        col.addWidget(self.status)
        col.addWidget(self.error)
        col.addLayout(bottom)
        self.listed.connect(self._listed)
        self.verified.connect(self._verified)
        self.imported.connect(self._imported)
        self.progressed.connect(self._progressed)
        self.resize(900, 520)
        self.set_models_dir(self.models_dir)

    # Public ----------------------------------------------------------------------------------------
    def set_models_dir(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)
        self.folder_label.setText(
            f"Model folder: {self.models_dir} (from Settings). Components that ship with the application "
            "are read from its own copies until one is imported here."
        )
        self.refresh()

    def busy(self) -> bool:
        return self._running

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()].name if rows and rows[0].row() < len(self.rows) else None

    def select(self, name: str) -> None:
        for i, row in enumerate(self.rows):
            if row.name == name:
                self.table.selectRow(i)

    def refresh(self) -> None:
        """List every component (sizes checked; the small tiny model is hashed)."""
        folder = self.models_dir
        self._start(
            "listed", "Checking the model folder…", lambda: self._post_rows("listed", model_rows(folder))
        )

    def verify(self, name: str) -> None:
        """Hash ``name``'s files against its manifest, with progress."""
        if not name:
            return
        folder = self.models_dir

        def work() -> None:
            def progress(done: int, total: int, path: str) -> None:
                self._relay.post("progressed", done, total, f"Verifying {name}: {path} ({done + 1}/{total})")

            self._post_rows(
                "verified", model_rows(folder, check_hashes=True, names=[name], progress=progress)
            )

        self._start("verified", f"Verifying {name}…", work)

    def import_path(self, src: Path, as_name: str | None = None) -> None:
        """Import ``src`` (a folder or a checkpoint file) as ``as_name`` (None: recognised)."""
        folder = Path(src)
        models_dir = self.models_dir

        def work() -> None:
            from tfgnet_desk.model_folders.importer import import_path

            def log(line: str) -> None:
                self._relay.post("progressed", 0, 0, str(line).strip())

            try:
                result = import_path(folder, models_dir, as_name=as_name, log=log)
            except Exception as exc:  # noqa: BLE001 - every refusal is a sentence in the dialog
                self._relay.post("imported", None, None, import_error_text(exc))
                return
            self._relay.post("imported", result, model_rows(models_dir), "")

        self._start("imported", f"Importing {folder.name}…", work)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a model folder", str(Path.home()))
        if path:
            self.import_path(Path(path), self._as_name())

    def choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a checkpoint or pack", str(Path.home()), CHECKPOINT_FILTER
        )
        if path:
            self.import_path(Path(path), self._as_name())

    # Jobs ------------------------------------------------------------------------------------------
    def _as_name(self) -> str | None:
        text = self.as_name.currentText()
        return None if text in ("", AUTO) else text

    def _post_rows(self, signal: str, rows: list[ModelRow]) -> None:
        self._relay.post(signal, rows, "")

    def _start(self, signal: str, text: str, work: Callable[[], None]) -> None:
        """Run ``work`` on the worker thread; an exception it raises arrives as ``signal``'s error."""
        if self.busy():
            self.status.setText("Wait until the current job has finished.")
            return

        def run() -> None:
            try:
                work()
            except Exception as exc:  # noqa: BLE001 - shown in the dialog, never raised into Qt
                nones = (None, None) if signal == "imported" else (None,)
                self._relay.post(signal, *nones, import_error_text(exc))

        self.error.hide()
        self.status.setText(text)
        self.progress.setRange(0, 0)  # busy until the first file's progress arrives
        self.progress.show()
        self._set_enabled(False)
        self._running = True
        self._thread = threading.Thread(target=run, name="tfgnet-models", daemon=True)
        self._thread.start()

    def _done(self, text: str, error: str = "") -> None:
        self._thread, self._running = None, False
        self.progress.hide()
        self._set_enabled(True)
        self.status.setText(text)
        self.result_text = error or text
        self.error.setText(error)
        self.error.setVisible(bool(error))

    def _set_enabled(self, enabled: bool) -> None:
        for button in (self.import_folder_button, self.import_file_button, self.refresh_button):
            button.setEnabled(enabled)
        self.verify_button.setEnabled(enabled and self.selected_name() is not None)

    def _update_buttons(self) -> None:
        self.verify_button.setEnabled(not self.busy() and self.selected_name() is not None)

    # Results (GUI thread) --------------------------------------------------------------------------
    def _progressed(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        if text:
            self.status.setText(text)

    def _listed(self, rows: list[ModelRow] | None, error: str) -> None:
        if rows is None:
            self._done("", f"The model folder could not be read: {error}")
            return
        selected = self.selected_name()
        self._show_rows(rows)
        if selected:
            self.select(selected)
        usable = sum(r.state in ("verified", "present") for r in rows)
        self._done(f"{usable} of {len(rows)} components present in {self.models_dir}.")

    def _verified(self, rows: list[ModelRow] | None, error: str) -> None:
        if not rows:
            self._done("", f"Verification failed: {error}")
            return
        row = rows[0]
        self._show_rows([row if r.name == row.name else r for r in self.rows])
        self.select(row.name)
        text = f"{row.name}: {row.state}. {row.detail}".strip()
        self._done(text, text if row.state in ("failed", "incomplete") else "")

    def _imported(self, result: Any, rows: list[ModelRow] | None, error: str) -> None:
        if result is None:
            self._done("", f"Import failed: {error}")
            return
        if rows is not None:
            self._show_rows(rows)
            self.select(result.component)
        notes = " ".join(str(n) for n in getattr(result, "notes", []))
        written = ", ".join(str(p) for p in result.written)
        self._done(f"Imported {result.component} into {written}. {notes}".strip())
        self.models_changed.emit()

    def _show_rows(self, rows: list[ModelRow]) -> None:
        self.rows = list(rows)
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            where = (
                row.folder + (f"\n{row.detail}" if row.detail else "") + (f"\n{row.todo}" if row.todo else "")
            )
            for j, value in enumerate((row.name, row.state, row.title, where)):
                item = QTableWidgetItem(value)
                item.setToolTip(where if j == 3 else value)
                self.table.setItem(i, j, item)
        self.table.resizeRowsToContents()
        current = self._as_name() or AUTO
        self.as_name.blockSignals(True)
        self.as_name.clear()
        self.as_name.addItems([AUTO, *(r.name for r in rows)])
        self.as_name.setCurrentText(current)
        self.as_name.blockSignals(False)
        self._update_buttons()


def open_models_dialog(w: MainWindow) -> ModelsDialog:
    """Show the window's Models dialog (one per window, following the settings' model folder); an
    import makes the window check its model again."""
    dialog = getattr(w, "_models_dialog", None)
    if dialog is None:
        dialog = ModelsDialog(w.settings.models_dir, w)
        dialog.models_changed.connect(lambda: _model_may_have_changed(w))
        w._models_dialog = dialog
    elif dialog.models_dir != w.settings.models_dir and not dialog.busy():
        dialog.set_models_dir(w.settings.models_dir)
    dialog.show()
    dialog.raise_()
    return dialog


def _model_may_have_changed(w: MainWindow) -> None:
    if w._check_model() and w._preload and w.backend is not None:
        w.backend.preload(w.settings)
