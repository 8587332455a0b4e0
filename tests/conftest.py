"""Shared fixtures. Tests never touch the network; tests that need real faces skip with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "2")


def _data_root() -> Path | None:
    from tfgnet_desk.settings import default_data_dir

    root = default_data_dir()
    return root if root is not None and root.is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared face data folder (``../shared/data`` or ``TFGNET_DATA``); skips when absent."""
    root = _data_root()
    if root is None:
        pytest.skip("real face data not found: set TFGNET_DATA or place ../shared/data beside the repo")
    return root


@pytest.fixture()
def one_torch_thread():
    """torch on one thread for the test (training tests: small and reproducible), restored after."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture()
def settings(tmp_path: Path):
    """Settings whose home and model folder live in a temporary directory."""
    from tfgnet_desk.settings import Settings

    return Settings(home=tmp_path / "home", models_dir=tmp_path / "models")


@pytest.fixture()
def window(qtbot, settings):
    """The main window on temporary settings with a detector that always finds one fixed box (no dlib);
    closed at teardown, waiting until its engine has stopped. GUI tests only (needs pytest-qt)."""
    from tfgnet_desk.gui.testing import fixed_box_detector, open_window

    w = open_window(settings, detector=fixed_box_detector)
    qtbot.addWidget(w)
    yield w
    w.close()
    qtbot.waitUntil(lambda: w._closed and not w.backend.isRunning(), timeout=30_000)
