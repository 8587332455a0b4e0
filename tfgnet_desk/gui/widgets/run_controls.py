"""Run controls: number of candidates, seed, steps, guidance, strength, the restorer's fidelity to the
evidence, profile, device; Generate and Cancel with per-step progress."""

from __future__ import annotations

import random
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from tfgnet_desk.settings import DEVICES, PROFILES

STAGE_NAMES = {
    "load": "Loading model",
    "restore": "Restoring",
    "embed": "Embedding",
    "generate": "Generating",
    "score": "Scoring",
}


def progress_text(stage: str, step: int, total: int, candidates: int = 0) -> str:
    """The progress bar's words for one event (see ``RunControls.show_progress``)."""
    name = STAGE_NAMES.get(stage, stage.capitalize())
    if stage == "generate" and candidates > 0 and total > 0 and total % candidates == 0:
        per = total // candidates
        k = min(candidates, max(1, (step - 1) // per + 1))
        done = step - (k - 1) * per
        return f"Candidate {k} of {candidates}: step {done} of {per}"
    if stage == "score" and total > 0:
        return f"Scored {step} of {total} candidates"
    if stage == "restore" and total > 0:
        return f"Restoring crop {min(step + 1, total)} of {total}" if step < total else "Restored"
    return f"{name} {step}/{total}" if total > 0 else name + "…"


@dataclass(frozen=True)
class RunParameters:
    n_candidates: int
    seed: int
    steps: int
    guidance: float
    strength: float
    profile: str
    device: str
    anchor: bool = True  # low-frequency fusion with the evidence (the profile's sigmas) or none
    fidelity: float | None = None  # the restorer's CFT weight w in [0, 1]; None: the model's default


FIDELITY_DEFAULT_TEXT = "model default"
IDLE = "idle"


class RunControls(QWidget):
    """Parameters plus Generate / Cancel and a progress bar."""

    generate_requested = Signal()
    cancel_requested = Signal()
    profile_changed = Signal(str)
    device_changed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("runControls")
        self.n_candidates = QSpinBox(objectName="nCandidates", minimum=1, maximum=16, value=4)
        self.n_candidates.setToolTip("How many candidates to generate; candidate i uses seed + i")
        self.seed = QSpinBox(objectName="seed", minimum=0, maximum=2**31 - 1, value=1234)
        self.seed.setToolTip("Recorded with the run: the same seed and inputs repeat the same candidates")
        self.dice = QPushButton("Random", objectName="newSeed")
        self.dice.setToolTip("New random seed (Ctrl+Shift+R)")
        self.dice.clicked.connect(lambda: self.seed.setValue(random.randrange(0, 2**31 - 1)))
        self.steps = QSpinBox(objectName="steps", minimum=1, maximum=200, value=25)
        self.steps.setToolTip(
            "Quality steps (fewer: faster, rougher). Each candidate runs Steps x Strength of them "
            "(technical: DDIM denoising steps)"
        )
        self.guidance = QDoubleSpinBox(
            objectName="guidance", minimum=1.0, maximum=20.0, value=5.0, singleStep=0.5, decimals=1
        )
        self.guidance.setToolTip(
            "How strongly the description steers the candidates (technical: classifier-free guidance scale)"
        )
        self.strength = QDoubleSpinBox(
            objectName="strength", minimum=0.05, maximum=1.0, value=0.6, singleStep=0.05, decimals=2
        )
        self.strength.setToolTip(
            "How far the candidates may move away from the restored evidence: lower keeps more of the "
            "evidence; 1.0 starts from nothing but the description and the identity (the paper's "
            "setting; technical: the diffusion starts from pure noise)"
        )
        # below 0 shows "model default" (None): the value measured for the loaded model
        self.fidelity = QDoubleSpinBox(
            objectName="fidelity", minimum=-0.1, maximum=1.0, value=-0.1, singleStep=0.1, decimals=1
        )
        self.fidelity.setSpecialValueText(FIDELITY_DEFAULT_TEXT)
        self.fidelity.setToolTip(
            "Fidelity to the evidence (the restorer's w): 0 = the face the codebook knows, "
            "1 = closest to the evidence. 'model default' uses the value measured for the loaded "
            "model. Recorded with the run."
        )
        self.anchor = QCheckBox("Keep the evidence's coarse shape and colour", objectName="anchorEvidence")
        self.anchor.setChecked(True)
        self.anchor.setToolTip(
            "Low-frequency fusion: the restored face and the candidates keep the evidence's coarse "
            "shape, shading and skin tone; the model adds the detail. Off: the model's own colours and "
            "shapes (the embedded model drifts: sepia cast, lower identity scores). Recorded with the run."
        )
        self.profile = QComboBox(objectName="profile")
        self.profile.addItems(list(PROFILES))
        self.profile.currentTextChanged.connect(self.profile_changed)
        self.device = QComboBox(objectName="device")
        self.device.addItems(list(DEVICES))
        self.device.currentTextChanged.connect(self.device_changed)
        self.generate = QPushButton("Generate", objectName="generate")
        self.generate.setToolTip("Generate candidates (Ctrl+Return)")
        self.generate.setDefault(True)
        self.generate.clicked.connect(self.generate_requested)
        self.cancel = QPushButton("Cancel", objectName="cancel")
        self.cancel.setToolTip("Stop the run after the current diffusion step (Esc)")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar(objectName="progress", minimum=0, maximum=100, value=0)
        self.progress.setFormat(IDLE)
        self.progress.setTextVisible(True)
        self.blocker = QLabel(objectName="runBlocker", wordWrap=True)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        seed_box = QHBoxLayout()
        seed_box.addWidget(self.seed, 1)
        seed_box.addWidget(self.dice)
        pairs = [
            ("Candidates", self.n_candidates),
            ("Steps", self.steps),
            ("Guidance", self.guidance),
            ("Strength", self.strength),
            ("Fidelity", self.fidelity),
            ("Profile", self.profile),
            ("Device", self.device),
            ("Seed", seed_box),
        ]
        for i, (label, widget) in enumerate(pairs):  # two pairs a row: the pane fits a laptop screen
            row, col = divmod(i, 2)
            lab = QLabel(label + ":")
            lab.setBuddy(self.seed if widget is seed_box else widget)
            grid.addWidget(lab, row, col * 2)
            if widget is seed_box:
                grid.addLayout(seed_box, row, col * 2 + 1)
            else:
                grid.addWidget(widget, row, col * 2 + 1)
        grid.addWidget(self.anchor, len(pairs) // 2, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate)
        buttons.addWidget(self.cancel)
        buttons.addWidget(self.progress, 1)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 0, 6, 6)
        col.addLayout(grid)
        col.addLayout(buttons)
        col.addWidget(self.blocker)
        self._running = False

    def parameters(self) -> RunParameters:
        return RunParameters(
            self.n_candidates.value(),
            self.seed.value(),
            self.steps.value(),
            round(self.guidance.value(), 3),
            round(self.strength.value(), 3),
            self.profile.currentText(),
            self.device.currentText(),
            self.anchor.isChecked(),
            self.fidelity_value(),
        )

    def fidelity_value(self) -> float | None:
        """The fidelity box as a request value: ``None`` for 'model default'."""
        v = self.fidelity.value()
        return None if v < 0 else round(v, 3)

    def set_profile_device(self, profile: str, device: str) -> None:
        for combo, value in ((self.profile, profile), (self.device, device)):
            combo.blockSignals(True)
            combo.setCurrentText(value)
            combo.blockSignals(False)

    def set_running(self, running: bool) -> None:
        self._running = running
        self.cancel.setEnabled(running)
        for w in (
            self.n_candidates,
            self.seed,
            self.dice,
            self.steps,
            self.guidance,
            self.strength,
            self.fidelity,
            self.anchor,
            self.profile,
            self.device,
        ):
            w.setEnabled(not running)
        if running:
            self.generate.setEnabled(False)
            self.progress.setValue(0)
            self.progress.setFormat("starting…")

    def is_running(self) -> bool:
        return self._running

    def set_blocker(self, reason: str | None) -> None:
        """Why Generate is disabled (``None``: it is enabled when no run is going)."""
        self.blocker.setText(reason or "")
        self.blocker.setVisible(bool(reason))
        self.generate.setEnabled(reason is None and not self._running)

    def generate_blocker(self) -> str | None:
        """Why Generate is disabled now (the text under it), or None when it is enabled."""
        return None if self.generate.isEnabled() else (self.blocker.text() or None)

    def show_cancelling(self) -> None:
        self.progress.setFormat("cancelling…")

    def show_progress(self, stage: str, step: int, total: int, where: str = "", candidates: int = 0) -> None:
        """A step of the run in progress; ``where`` names its case when another case is open.

        Generation is reported in the analyst's units: the pipeline makes the ``candidates`` one after
        another, so ``step`` of ``total`` candidate-steps reads "candidate k of n, step s of S" (S is
        the number of denoising steps each candidate runs: Steps x Strength)."""
        pct = int(round(100 * step / total)) if total > 0 else 0
        self.progress.setValue(pct)
        self.progress.setFormat(
            progress_text(stage, step, total, candidates) + (f" ({where})" if where else "")
        )

    def show_done(self, text: str) -> None:
        self.progress.setValue(100 if text.startswith("Done") else self.progress.value())
        self.progress.setFormat(text)

    def show_status(self, text: str, percent: int = 0) -> None:
        """The status line (the progress bar's text) for a run that is not in progress."""
        self.progress.setValue(max(0, min(100, int(percent))))
        self.progress.setFormat(text)

    def reset_status(self) -> None:
        """Back to the state of a case with no run shown."""
        self.show_status(IDLE)
