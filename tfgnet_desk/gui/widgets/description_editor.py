"""The description editor: free text from witnesses, with a live hint for the class word.

TFGNet's stacked ID embedding replaces the class word ("man", "woman", ...) of the prompt by the fused
identity features (paper 3.4), so a prompt without one cannot be run. The editor says which class word it
found, or what to add, as the analyst types; ``validate()`` returns the problem before a run starts.
Text changes are reported (debounced) so that the window can autosave the description per case.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

# The class words the model recognises (``tfgnet_desk.data.captions.CLASS_WORDS``, which the fusion module
# uses); copied so that typing never imports the data package; a test keeps the two equal.
CLASS_WORDS = ("man", "woman", "boy", "girl", "person")
MAX_WORDS = 60  # CLIP reads 77 tokens; long texts are cut
AUTOSAVE_MS = 600


def find_class_words(text: str) -> list[str]:
    """The class words present in ``text`` in order of appearance."""
    pattern = r"\b(" + "|".join(CLASS_WORDS) + r")\b"
    return [m.group(1).lower() for m in re.finditer(pattern, text, flags=re.IGNORECASE)]


def validate_description(text: str) -> str | None:
    """``None`` when ``text`` can be run; otherwise what is wrong and what to do."""
    if not text.strip():
        return 'Type a description, e.g. "man, thick eyebrows, wears glasses, short black hair".'
    if not find_class_words(text):
        words = [f'"{w}"' for w in CLASS_WORDS]
        return (
            f"Say who the crop shows: add {', '.join(words[:-1])} or {words[-1]} "
            "(the evidence's face is attached to that word)."
        )
    if len(text.split()) > MAX_WORDS:
        return f"Shorten the description to at most {MAX_WORDS} words (the text encoder reads 77 tokens)."
    return None


class DescriptionEditor(QWidget):
    """Text box plus hint line. ``autosave`` fires with the text after typing pauses."""

    autosave = Signal(str)
    validity_changed = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("descriptionEditor")
        title = QLabel("Description", objectName="paneTitle")
        self.edit = QPlainTextEdit(objectName="description")
        self.edit.setPlaceholderText("a man, thick eyebrows, wears glasses, short black hair")
        self.edit.setTabChangesFocus(True)
        self.edit.setMaximumHeight(90)  # four lines: the 60 words the text encoder reads
        self.hint = QLabel(objectName="classWordHint", wordWrap=True)
        self._timer = QTimer(self, singleShot=True, interval=AUTOSAVE_MS)
        self._timer.timeout.connect(self.flush)
        self._loading = False
        self._valid = False
        self.edit.textChanged.connect(self._changed)
        col = QVBoxLayout(self)
        col.setContentsMargins(6, 6, 6, 0)
        col.addWidget(title)
        col.addWidget(self.edit)
        col.addWidget(self.hint)
        self._update_hint()

    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        """Load a case's saved description (does not trigger an autosave)."""
        self._timer.stop()
        self._loading = True
        try:
            self.edit.setPlainText(text)
        finally:
            self._loading = False
        self._update_hint()

    def validate(self) -> str | None:
        return validate_description(self.text())

    def flush(self) -> None:
        """Save now (pending autosave), e.g. before switching case or closing."""
        if self._timer.isActive() or self.edit.document().isModified():
            self._timer.stop()
            self.edit.document().setModified(False)
            self.autosave.emit(self.text())

    def _changed(self) -> None:
        self._update_hint()
        if not self._loading:
            self._timer.start()

    def _update_hint(self) -> None:
        words = find_class_words(self.text())
        problem = self.validate()
        if problem is None:
            extra = (
                f' (the first of {len(words)} such words, "{words[0]}", is used)'
                if len(set(words)) > 1
                else ""
            )
            self.hint.setText(f'Ready: the evidence\'s face is attached to "{words[0]}"{extra}')
            self.hint.setProperty("state", "ok")
        else:
            self.hint.setText(problem)
            self.hint.setProperty("state", "problem" if self.text().strip() else "empty")
        self.hint.style().unpolish(self.hint)
        self.hint.style().polish(self.hint)
        valid = problem is None
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
