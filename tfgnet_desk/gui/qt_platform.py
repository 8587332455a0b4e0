"""Will Qt's X11 (xcb) platform plugin load here? Checked before the QApplication exists, because Qt
aborts the whole process when no platform plugin loads, with a message that names no package.

PySide6's wheel brings Qt but not the X11 client libraries its xcb plugin links against. A fresh
Debian/Ubuntu desktop lacks some of them (``libxcb-cursor0``, ``libxcb-icccm4`` and ``libxcb-keysyms1``
were missing on the desktop the issue was found on; a minimal system lacks more). The check asks the
dynamic loader (``ldd``) what the plugin and Qt's xcb library cannot resolve and names the Debian/Ubuntu
packages that hold those libraries; without ``ldd`` it looks for the usual three by name. No Qt module is
imported here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# The X11 libraries Qt's xcb plugin links against (``ldd libqxcb.so``), by soname, and the Debian/Ubuntu
# package of each. The first three are what a fresh desktop usually lacks.
XCB_SONAMES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
# Looked for by name (``ctypes.util.find_library``) when ``ldd`` is not there.
XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
}
FRESH_DESKTOP = ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1")
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def wants_xcb(platform: str | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether Qt will try its xcb plugin: Linux with an X display and no other platform asked for."""
    platform = sys.platform if platform is None else platform
    env = os.environ if env is None else env
    qpa = env.get("QT_QPA_PLATFORM", "")
    return platform.startswith("linux") and bool(env.get("DISPLAY")) and qpa in ("", "xcb")


def xcb_plugin_files() -> list[Path]:
    """Qt's xcb platform plugin and its xcb library in the installed PySide6 (those that exist)."""
    spec = importlib.util.find_spec("PySide6")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    files = []
    for root in roots:
        qt = Path(root) / "Qt"
        files += [qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))]
    return [f for f in files if f.is_file()]


def run_ldd(path: Path) -> str | None:
    """``ldd path``'s output, or None when ``ldd`` is missing or fails."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 or "not found" in done.stdout else None


def packages_for(ldd_output: str) -> list[str]:
    """The Debian/Ubuntu packages of the libraries ``ldd`` reports 'not found' (unknown ones by soname)."""
    missing = _NOT_FOUND.findall(ldd_output)
    return sorted({XCB_SONAMES.get(name, name) for name in missing}, key=_package_order)


def missing_xcb_packages(
    find_library: Callable[[str], str | None] | None = None,
    ldd: Callable[[Path], str | None] | None = None,
    files: list[Path] | None = None,
) -> list[str]:
    """Packages whose libraries Qt's xcb plugin will fail to load here ([] when Qt will not use xcb).

    Asks ``ldd`` about the plugin files (``files``, default :func:`xcb_plugin_files`); where that gives no
    answer, looks for the libraries in ``XCB_LIBRARIES`` with ``find_library``."""
    if not wants_xcb():
        return []
    if find_library is None:
        ldd = ldd or run_ldd
        outputs = [ldd(f) for f in (xcb_plugin_files() if files is None else files)]
        answered = [o for o in outputs if o is not None]
        if answered:
            return packages_for("\n".join(answered))
    import ctypes.util

    find = find_library or ctypes.util.find_library
    return [pkg for lib, pkg in XCB_LIBRARIES.items() if find(lib) is None]


def xcb_hint(packages: list[str]) -> str:
    return (
        "Qt's X11 (xcb) platform needs system libraries that are not installed. On Debian/Ubuntu:\n"
        f"    sudo apt install {' '.join(packages)}\n"
        "(a fresh desktop usually needs: " + " ".join(FRESH_DESKTOP) + "). Without a window, for the "
        "command lines or tests: QT_QPA_PLATFORM=offscreen."
    )


def warn_if_xcb_will_fail(stream=None) -> list[str]:
    """Print :func:`xcb_hint` to ``stream`` (stderr) when the plugin's libraries are missing; returns
    the packages named."""
    missing = missing_xcb_packages()
    if missing:
        print(xcb_hint(missing), file=stream or sys.stderr, flush=True)
    return missing


def _package_order(name: str) -> tuple[int, str]:
    order = list(XCB_SONAMES.values())
    return (order.index(name) if name in order else len(order), name)
