"""About (version, licences, what candidates are) and Help (keyboard shortcuts)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout

LEADS_STATEMENT = (
    "Candidates are synthetic composites, in the role a sketch artist's drawing plays: investigative leads, "
    "not identifications and not enhanced evidence. The evidence is always kept and shown unaltered; every "
    "run records its seeds and parameters so that anyone can repeat it. Face models are known to perform "
    "unequally across demographic groups; weigh every score with that in mind."
)

LICENCES = (
    ("tfgnet-desk", "Apache License 2.0"),
    ("Embedded tiny model (models/tiny)", "trained on UTKFace and CelebA: non-commercial research use only"),
    ("CLIP BPE vocabulary", "MIT (OpenAI CLIP, open_clip)"),
    ("Qt / PySide6", "LGPL v3"),
    ("PyTorch", "BSD-3-Clause"),
    ("diffusers, transformers, accelerate", "Apache License 2.0"),
    ("dlib, face-recognition-models", "Boost Software License; models CC0 / public domain"),
    ("insightface (optional ArcFace packs)", "MIT code; model packs non-commercial research only"),
    ("SDXL base 1.0 (full profile, user supplied)", "CreativeML Open RAIL++-M"),
    ("CLIP ViT-L/14 (full profile, user supplied)", "MIT"),
)


class AboutDialog(QDialog):
    def __init__(self, version: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About tfgnet-desk")
        title = QLabel(
            f"<h2>tfgnet-desk {version}</h2>Candidate faces from a low-quality crop and a written "
            "description (TFGNet: target face generation from low-quality images via textual "
            "guidance).",
            wordWrap=True,
        )
        leads = QLabel(LEADS_STATEMENT, objectName="leadsStatement", wordWrap=True)
        table = QTableWidget(len(LICENCES), 2, objectName="licences")
        table.setHorizontalHeaderLabels(["Component", "Licence"])
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)
        for i, (name, lic) in enumerate(LICENCES):
            table.setItem(i, 0, QTableWidgetItem(name))
            table.setItem(i, 1, QTableWidgetItem(lic))
        table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addWidget(title)
        col.addWidget(leads)
        col.addWidget(table, 1)
        col.addWidget(QLabel("Full texts: NOTICE and models/*/MODEL_CARD.md in the installation."))
        col.addWidget(buttons)
        self.resize(640, 460)


class ShortcutsDialog(QDialog):
    """Lists every action of the window that has a shortcut (built from the actions themselves)."""

    def __init__(self, rows: list[tuple[str, str]], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(len(rows), 2, objectName="shortcuts")
        table.setHorizontalHeaderLabels(["Action", "Shortcut"])
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)
        for i, (name, keys) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(keys)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            table.setItem(i, 1, item)
        table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        col = QVBoxLayout(self)
        col.addWidget(
            QLabel(
                "Every main action can be reached from the keyboard. Tab moves between panes; "
                "in the face box, arrow keys move the box (Shift: 10 px), Ctrl+arrows resize it. In the "
                "compare view: + and - zoom (or the mouse wheel), 0 fits, 1 shows one screen pixel per "
                "image pixel, a drag pans, Left/Right move the before/after divider.",
                wordWrap=True,
            )
        )
        col.addWidget(table, 1)
        col.addWidget(buttons)
        self.resize(520, 560)
        self.rows = rows
