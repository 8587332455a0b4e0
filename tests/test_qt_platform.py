"""Issue 14, item 16: when Qt's X11 (xcb) plugin cannot load its system libraries, the app names the
Debian/Ubuntu packages before Qt aborts the process (Qt's own message names none). Checked without a
display: the loader's answer (``ldd``) is given to the check."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tfgnet_desk.gui import qt_platform as q

LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibfoo-unknown.so.3 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
"""


@pytest.fixture()
def x11(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)


def test_the_packages_of_the_libraries_the_loader_cannot_find():
    assert q.packages_for(LDD_MISSING) == [
        "libxcb-cursor0",
        "libxcb-icccm4",
        "libxcb-keysyms1",
        "libxkbcommon-x11-0",
        "libfoo-unknown.so.3",  # not in the table: named by its soname
    ]
    assert q.packages_for("\tlibxcb.so.1 => /lib/libxcb.so.1 (0x1)\n") == []


def test_the_check_asks_the_loader_about_the_plugin(x11):
    asked = []

    def ldd(path: Path) -> str:
        asked.append(path)
        return LDD_MISSING if path.name == "libqxcb.so" else ""

    files = [Path("plugins/platforms/libqxcb.so"), Path("lib/libQt6XcbQpa.so.6")]
    missing = q.missing_xcb_packages(ldd=ldd, files=files)
    assert asked == files
    assert missing[:3] == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"]
    hint = q.xcb_hint(missing)
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in hint
    assert "QT_QPA_PLATFORM=offscreen" in hint
    assert q.missing_xcb_packages(ldd=lambda p: "", files=files) == []  # all there


def test_without_ldd_the_usual_three_are_looked_up_by_name(x11, monkeypatch):
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda lib: None if lib == "xcb-icccm" else "lib.so")
    assert q.missing_xcb_packages(ldd=lambda p: None, files=[Path("libqxcb.so")]) == ["libxcb-icccm4"]


def test_no_check_when_qt_will_not_use_x11(monkeypatch):
    def boom(path):
        raise AssertionError("ldd asked although xcb is not used")

    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert q.missing_xcb_packages(ldd=boom, files=[Path("x")]) == []
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY")
    assert q.missing_xcb_packages(ldd=boom, files=[Path("x")]) == []
    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.setenv("DISPLAY", ":99")
    assert q.missing_xcb_packages(ldd=boom, files=[Path("x")]) == []


def test_the_hint_is_printed(x11, monkeypatch):
    monkeypatch.setattr(q, "run_ldd", lambda path: LDD_MISSING)
    monkeypatch.setattr(q, "xcb_plugin_files", lambda: [Path("libqxcb.so")])
    out = io.StringIO()
    assert q.warn_if_xcb_will_fail(out)[0] == "libxcb-cursor0"
    assert "sudo apt install libxcb-cursor0" in out.getvalue()


def test_the_installed_plugin_is_found():
    files = q.xcb_plugin_files()
    if sys.platform.startswith("linux"):
        assert any(f.name == "libqxcb.so" for f in files), files


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux-only")
def test_the_app_names_the_packages_before_qt_aborts(tmp_path):
    """A real start against a display that does not exist: Qt gives up on xcb and aborts the process; the
    hint (here for libraries the loader is made to miss) is on stderr before Qt's own message."""
    code = (
        "import tfgnet_desk.gui.qt_platform as q\n"
        f"q.run_ldd = lambda path: {LDD_MISSING!r}\n"
        "from tfgnet_desk.gui.app import ensure_application\n"
        "ensure_application()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(DISPLAY=":4242", XDG_RUNTIME_DIR=str(tmp_path))
    import resource

    def no_core_file() -> None:  # Qt's abort must not leave a core dump behind
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=no_core_file,
    )
    assert done.returncode != 0  # no display: Qt aborts
    first = done.stderr.find("sudo apt install libxcb-cursor0")
    assert first >= 0, done.stderr
    qt = done.stderr.find("qt.qpa")
    assert qt == -1 or first < qt, done.stderr
