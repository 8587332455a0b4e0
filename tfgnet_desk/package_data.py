"""The files the package ships as data, under ``tfgnet_desk/resources/``: the CLIP BPE vocabulary, the
data split, dlib's mean descriptor, the style sheet and icons (licences in NOTICE).

They stay inside the package rather than in a top-level ``resources/`` folder (the design card's layout)
because a wheel, an editable install and the PyInstaller bundle (``packaging/tfgnet-desk.spec`` collects
the folder) all carry the package: :func:`resource` finds a file through ``importlib.resources`` in each of
them, never relative to the working folder.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

FOLDER = "resources"


def resource(name: str) -> Path:
    """The path of ``resources/<name>`` as installed (the file need not exist: callers check)."""
    return Path(str(importlib.resources.files("tfgnet_desk").joinpath(FOLDER, *name.split("/"))))
