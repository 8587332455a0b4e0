"""The installed Qt binding keeps Python's reference counts: a binding that drops a reference on every
signal emission (PySide6 6.12.0 on CPython 3.11 does, to ``True``) aborts the app after a few thousand
signals with "bool_dealloc" or "none_dealloc". pyproject.toml excludes that combination; this test
catches the next one."""

from __future__ import annotations

import gc
import sys


def _counts() -> tuple[int, int, int]:
    gc.collect()
    return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)


def test_signal_emission_and_delivery_keep_reference_counts():
    from PySide6.QtCore import QObject, Signal, Slot

    from tfgnet_desk.gui.app import ensure_application

    app = ensure_application()  # the suite's one QApplication (a bare QCoreApplication would block it)

    class Emitter(QObject):
        plain = Signal()
        payload = Signal(object, str, int, int)

        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        @Slot()
        def on_plain(self) -> None:
            self.calls += 1

        @Slot(object, str, int, int)
        def on_payload(self, obj, text, a, b) -> None:
            self.calls += 1

    e = Emitter()
    e.plain.connect(e.on_plain)
    e.payload.connect(e.on_payload)
    # A few emissions first: a leaking binding is caught here, long before the interpreter aborts.
    for n, tolerance in ((50, 20), (2000, 200)):
        before = _counts()
        for i in range(n):
            e.plain.emit()
            e.payload.emit(None, "stage", i, n)
        app.processEvents()
        after = _counts()
        drift = [a - b for a, b in zip(after, before, strict=True)]
        # one lost reference per call shows as -n or -2n
        assert all(abs(d) < tolerance for d in drift), f"{n} x 2 emissions: None/True/False drift {drift}"
    assert e.calls == 2 * (50 + 2000)


def test_missing_xcb_libraries_are_named_before_qt_aborts(monkeypatch):
    """Issue 14 item 16: Qt's xcb plugin needs libxcb-cursor0, -icccm4 and -keysyms1; the app names the
    Debian packages (Qt itself aborts the process with a message that does not)."""
    from tfgnet_desk.gui.app import missing_xcb_packages, xcb_hint

    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    missing = missing_xcb_packages(lambda lib: None if lib == "xcb-cursor" else f"lib{lib}.so")
    assert missing == ["libxcb-cursor0"]
    assert "sudo apt install libxcb-cursor0" in xcb_hint(missing)
    assert missing_xcb_packages(lambda lib: f"lib{lib}.so") == []
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # no window: nothing needed
    assert missing_xcb_packages(lambda lib: None) == []
