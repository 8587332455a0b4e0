"""Settings: the analyst's name, model folder, profile, device, identity backend, data folder; and
the model view, which shows each component of the model folder as present, missing or verified, with
its licence.

The quick check (sizes) runs at once; "Verify hashes" hashes every file against MANIFEST.json on a
thread-pool thread so that the dialog stays responsive with multi-gigabyte full-profile weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tfgnet_desk.gui.messages import for_the_window
from tfgnet_desk.settings import DEVICES, IDENTITY_BACKENDS, PROFILES, Settings

ANALYST_TIP = (
    "Your name: written as the analyst of each new case and recorded with every action in the case's "
    "audit log (left empty: the computer's user name is recorded and reports say 'Analyst: -')."
)


@dataclass(frozen=True)
class ComponentRow:
    name: str
    status: str  # present | missing | verified | mismatch | refused
    files: int
    licence: str


def component_rows(folder: Path, check_hashes: bool) -> tuple[list[ComponentRow], str]:
    """Group the manifest's files by component (top folder) and give each a status; plus a summary."""
    from tfgnet_desk.model_folders.manifest import WeightsError, read_manifest, verify_folder

    report = verify_folder(folder, check_hashes=check_hashes)
    try:
        entries = read_manifest(folder)["files"]
    except WeightsError as exc:
        return [], str(exc)
    groups: dict[str, list[dict]] = {}
    for entry in entries:
        parts = Path(entry["path"]).parts
        groups.setdefault(parts[0] if len(parts) > 1 else "(top level)", []).append(entry)
    rows = []
    for name, files in sorted(groups.items()):
        paths = {f["path"] for f in files}
        if paths & set(report.pickles):
            status = "refused"
        elif paths & set(report.missing):
            status = "missing"
        elif paths & set(report.mismatch):
            status = "mismatch"
        else:
            status = "verified" if check_hashes else "present"
        licences = sorted({str(f.get("licence", "")) for f in files} - {""})
        rows.append(ComponentRow(name, status, len(files), ", ".join(licences) or "not stated"))
    return rows, report.message()


class _VerifySignals(QObject):
    done = Signal(list, str)


class _VerifyTask(QRunnable):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.signals = _VerifySignals()

    def run(self) -> None:
        try:
            rows, summary = component_rows(self.folder, check_hashes=True)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, never raised into Qt
            rows, summary = [], f"verification failed: {exc}"
        self.signals.done.emit(rows, summary)


class SettingsDialog(QDialog):
    """Edits a copy of the settings; ``result_settings()`` returns the new object after Accept."""

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self._settings = settings
        self._tasks: list[_VerifyTask] = []
        self.models_dir = QLineEdit(str(settings.models_dir), objectName="modelsDir")
        self.home = QLineEdit(str(settings.home), objectName="homeDir")
        self.data_dir = QLineEdit(str(settings.data_dir or ""), objectName="dataDir")
        self.profile = QComboBox(objectName="settingsProfile")
        self.profile.addItems(list(PROFILES))
        self.profile.setCurrentText(settings.profile)
        self.device = QComboBox(objectName="settingsDevice")
        self.device.addItems(list(DEVICES))
        self.device.setCurrentText(settings.device)
        self.backend = QComboBox(objectName="settingsBackend")
        self.backend.addItems(list(IDENTITY_BACKENDS))
        self.backend.setCurrentText(settings.identity_backend)
        self.analyst = QLineEdit(settings.analyst, objectName="settingsAnalyst")
        self.analyst.setPlaceholderText("your name, as it should appear in reports")
        self.analyst.setToolTip(ANALYST_TIP)
        form = QFormLayout()
        form.addRow("Analyst:", self.analyst)
        form.addRow("Model folder:", self._with_browse(self.models_dir))
        form.addRow("Profile:", self.profile)
        form.addRow("Device:", self.device)
        form.addRow("Identity backend:", self.backend)
        form.addRow("Data folder (cases):", self._with_browse(self.home))
        form.addRow("Face data (training):", self._with_browse(self.data_dir))

        self.model_folder_label = QLabel(objectName="modelFolder", wordWrap=True)
        self.table = QTableWidget(0, 4, objectName="modelComponents")
        self.table.setHorizontalHeaderLabels(["Component", "Status", "Files", "Licence"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.summary = QLabel(objectName="modelSummary", wordWrap=True)
        self.verify = QPushButton("Verify hashes", objectName="verifyModel")
        self.verify.setToolTip("Hash every weight file and compare with MANIFEST.json")
        self.verify.clicked.connect(self.start_verify)
        self.profile.currentTextChanged.connect(lambda _t: self.refresh_model_view())
        self.models_dir.editingFinished.connect(self.refresh_model_view)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addLayout(form)
        col.addWidget(QLabel("Model", objectName="paneTitle"))
        col.addWidget(self.model_folder_label)
        col.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addWidget(self.summary, 1)
        row.addWidget(self.verify)
        col.addLayout(row)
        col.addWidget(buttons)
        self.resize(720, 520)
        self.refresh_model_view()

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(edit))
        row.addWidget(button)
        return box

    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)
            self.refresh_model_view()

    def result_settings(self) -> Settings:
        data = Path(self.data_dir.text()) if self.data_dir.text().strip() else None
        return self._settings.with_(
            models_dir=Path(self.models_dir.text()),
            home=Path(self.home.text()),
            data_dir=data,
            profile=self.profile.currentText(),
            device=self.device.currentText(),
            identity_backend=self.backend.currentText(),
            analyst=self.analyst.text(),
        )

    def model_folder(self) -> Path:
        return self.result_settings().model_path()

    def refresh_model_view(self) -> None:
        folder = self.model_folder()
        self.model_folder_label.setText(f"{self.profile.currentText()} model: {folder}")
        try:
            rows, summary = component_rows(folder, check_hashes=False)
        except Exception as exc:  # noqa: BLE001 - a broken folder is shown, not raised
            rows, summary = [], str(exc)
        self._show(rows, summary)

    def start_verify(self) -> None:
        self.verify.setEnabled(False)
        self.summary.setText("Verifying hashes…")
        task = _VerifyTask(self.model_folder())
        task.setAutoDelete(False)
        task.signals.done.connect(self._verified)
        self._tasks.append(task)
        QThreadPool.globalInstance().start(task)

    def _verified(self, rows: list, summary: str) -> None:
        self.verify.setEnabled(True)
        self._show(rows, summary)

    def _show(self, rows: list[ComponentRow], summary: str) -> None:
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, value in enumerate((row.name, row.status, str(row.files), row.licence)):
                self.table.setItem(i, j, QTableWidgetItem(value))
        if not rows:
            summary = summary or "No model in this folder."
        self.summary.setText(for_the_window(summary))

    def statuses(self) -> dict[str, str]:
        return {
            self.table.item(i, 0).text(): self.table.item(i, 1).text() for i in range(self.table.rowCount())
        }
