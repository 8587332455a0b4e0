"""An in-window message bar: errors and warnings are shown here, never as tracebacks or modal crashes."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout

from tfgnet_desk.gui.messages import UserMessage


class MessageBar(QFrame):
    """Shows one :class:`UserMessage` (title, what happened, what to do) with an optional action."""

    action_requested = Signal(str)  # the message kind whose action button was pressed

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._message: UserMessage | None = None
        self.title = QLabel(objectName="messageTitle")
        self.text = QLabel(objectName="messageText", wordWrap=True)
        self.todo = QLabel(objectName="messageTodo", wordWrap=True)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.action = QPushButton(objectName="messageAction")
        self.action.clicked.connect(self._on_action)
        self.close_button = QPushButton("Dismiss", objectName="messageDismiss")
        self.close_button.setToolTip("Hide this message (Esc)")
        self.close_button.clicked.connect(self.clear)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        texts.addWidget(self.title)
        texts.addWidget(self.text)
        texts.addWidget(self.todo)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addLayout(texts, 1)
        row.addWidget(self.action)
        row.addWidget(self.close_button)
        self.hide()

    @property
    def message(self) -> UserMessage | None:
        return self._message

    def kind(self) -> str | None:
        """The kind of the message shown (``messages.*``), or None when the bar is empty."""
        return self._message.kind if self._message is not None else None

    def show_message(self, message: UserMessage, action_label: str = "") -> None:
        self._message = message
        self.setProperty("level", message.level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.title.setText(message.title)
        self.text.setText(message.text)
        self.todo.setText(message.todo)
        self.action.setText(action_label)
        self.action.setVisible(bool(action_label))
        self.show()

    def clear(self) -> None:
        self._message = None
        self.hide()

    def _on_action(self) -> None:
        if self._message is not None:
            self.action_requested.emit(self._message.kind)
