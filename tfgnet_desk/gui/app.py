"""Start the desktop application: one QApplication, the main window, the event loop.

The window is shown before any model is touched: models load lazily on the backend worker thread, so
the analyst can create a case, drop evidence and type a description while (or before) weights load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tfgnet_desk.gui.qt_platform import XCB_LIBRARIES, missing_xcb_packages, warn_if_xcb_will_fail, xcb_hint

# Qt aborts the process when its platform plugin fails to load: the check and the hint (re-exported)
from tfgnet_desk.package_data import resource
from tfgnet_desk.settings import APP_NAME, Settings


def _prepare_qt_environment() -> None:
    """Importing cv2 sets ``QT_QPA_PLATFORM_PLUGIN_PATH`` to its own Qt plugins, which breaks PySide6.

    Clear it before the QApplication exists (harmless when cv2 was never imported).
    """
    os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
    if "cv2" in os.environ.get("QT_PLUGIN_PATH", ""):
        os.environ.pop("QT_PLUGIN_PATH", None)


__all__ = ["XCB_LIBRARIES", "ensure_application", "missing_xcb_packages", "run_app", "xcb_hint"]


def load_style_sheet() -> str:
    """``resources/style.qss`` with the images it names (spin box arrows) in place."""
    from tfgnet_desk.gui.style import resolve_assets

    path = resource("style.qss")
    return resolve_assets(path.read_text()) if path.is_file() else ""


def ensure_application(argv: list[str] | None = None):
    """The running QApplication, created (with name, icon and style) if there is none yet."""
    _prepare_qt_environment()
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        warn_if_xcb_will_fail()  # Qt aborts the process when the plugin fails: say why first
        app = QApplication([APP_NAME, *(argv or [])])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    icon = resource("icons/app.svg")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    app.setStyleSheet(load_style_sheet())
    return app


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=APP_NAME, description="Open the tfgnet-desk window.")
    parser.add_argument("--home", type=Path, default=None, help="user data folder (default: platform)")
    parser.add_argument(
        "--print-ready",
        action="store_true",
        help="print the wall-clock time (time.time()) when the window first answers events",
    )
    parser.add_argument(
        "--quit-after",
        type=int,
        default=0,
        metavar="MS",
        help="close the window after MS milliseconds (smoke tests)",
    )
    return parser.parse_args(argv or [])


def run_app(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """Open the main window and run the event loop; returns the exit code."""
    args = _parse(argv)
    app = ensure_application()
    from PySide6.QtCore import QTimer

    from tfgnet_desk.gui.main_window import MainWindow

    settings = settings or Settings.load(args.home)
    window = MainWindow(settings)
    window.show()
    window.start_backend()
    if args.print_ready:
        # The first timer event runs once the window is shown and the event loop is answering input.
        QTimer.singleShot(0, lambda: print(f"tfgnet-desk ready at {time.time():.3f}", flush=True))
    if args.quit_after > 0:
        QTimer.singleShot(args.quit_after, window.close)
    code = app.exec()
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_app(sys.argv[1:]))
