"""The application's style sheet (``resources/style.qss``) and the small images it names.

A style sheet that gives a spin box a border makes Qt draw the whole box itself, and then its up/down
buttons show an arrow only when the sheet names an image for it. Qt style sheets can name image files
only, so the arrows (a few bytes of SVG) are written once per process to a private temporary folder,
removed when the process ends; ``@assets/`` in the sheet stands for that folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

ASSETS = "@assets/"
_ARROW = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="5" viewBox="0 0 8 5">'
    '<path d="{path}" fill="{colour}"/></svg>'
)
_UP, _DOWN = "M0 5 L4 0 L8 5 Z", "M0 0 L8 0 L4 5 Z"
_ENABLED, _DISABLED = "#3c4450", "#b9c0ca"
IMAGES = {
    "spin-up.svg": _ARROW.format(path=_UP, colour=_ENABLED),
    "spin-down.svg": _ARROW.format(path=_DOWN, colour=_ENABLED),
    "spin-up-off.svg": _ARROW.format(path=_UP, colour=_DISABLED),
    "spin-down-off.svg": _ARROW.format(path=_DOWN, colour=_DISABLED),
}

_folder: tempfile.TemporaryDirectory | None = None


def assets_folder() -> Path | None:
    """The folder holding ``IMAGES`` (written at the first call); None when it cannot be written."""
    global _folder
    if _folder is None:
        try:
            folder = tempfile.TemporaryDirectory(prefix="tfgnet-desk-style-")
            for name, text in IMAGES.items():
                (Path(folder.name) / name).write_text(text, encoding="utf-8")
        except OSError:
            return None
        _folder = folder
    return Path(_folder.name)


def resolve_assets(sheet: str) -> str:
    """``sheet`` with ``@assets/`` replaced by the images' folder (as a URL path Qt reads on every OS)."""
    if ASSETS not in sheet:
        return sheet
    folder = assets_folder()
    if folder is None:  # no arrows, but the rest of the sheet still applies
        return sheet
    return sheet.replace(ASSETS, folder.as_posix() + "/")
