"""The files the package ships as data are found as installed, whatever the working folder."""

from __future__ import annotations

import os
from pathlib import Path

from tfgnet_desk.package_data import resource

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("bpe_simple_vocab_16e6.txt.gz", "splits_seed0.json", "dlib_mean_descriptor.npy", "style.qss")


def test_each_shipped_file_is_found_from_any_working_folder(tmp_path):
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        found = {name: resource(name) for name in SHIPPED}
        icon = resource("icons/app.svg")
    finally:
        os.chdir(here)
    for name, path in found.items():
        assert path.is_absolute() and path.is_file(), name
        assert path == ROOT / "tfgnet_desk" / "resources" / name
    assert icon.is_file() and icon.parent.name == "icons"


def test_the_modules_use_the_shipped_files():
    from tfgnet_desk.data.splits import DEFAULT_SPLIT_FILE
    from tfgnet_desk.faces.dlib_backend import MEAN_DESCRIPTOR_FILE
    from tfgnet_desk.model.embed import BPE_PATH

    assert BPE_PATH == resource("bpe_simple_vocab_16e6.txt.gz")
    assert DEFAULT_SPLIT_FILE == resource("splits_seed0.json")
    assert MEAN_DESCRIPTOR_FILE == resource("dlib_mean_descriptor.npy")


def test_the_bundle_and_the_wheel_carry_the_folder():
    spec = (ROOT / "packaging" / "tfgnet-desk.spec").read_text()
    assert '"tfgnet_desk" / "resources"' in spec and '"tfgnet_desk/resources"' in spec
    assert 'tfgnet_desk = ["resources/*", "resources/**/*"]' in (ROOT / "pyproject.toml").read_text()
