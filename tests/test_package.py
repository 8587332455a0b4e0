"""Packaging: desktop entry, icon, user-level install script, PyInstaller spec, and (when built) the
bundle's own --self-test."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"
BUNDLE = ROOT / "dist" / "tfgnet-desk" / "tfgnet-desk"


def _desktop(path: Path) -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # keys are case-sensitive in desktop entries
    cp.read_string(path.read_text())
    return cp["Desktop Entry"]


def test_desktop_entry_is_valid():
    entry = _desktop(PKG / "linux" / "tfgnet-desk.desktop")
    for key in ("Type", "Name", "Exec", "Icon", "Terminal", "Categories", "Comment"):
        assert entry.get(key), key
    assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    assert entry["Exec"].startswith("@EXEC@") and entry["Icon"] == "tfgnet-desk"
    assert entry["Categories"].endswith(";")
    assert "not identifications" in entry["Comment"]


def test_icon_svg_parses_and_png_is_256_square():
    root = ET.parse(PKG / "linux" / "tfgnet-desk.svg").getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 256 256"
    from PIL import Image

    with Image.open(PKG / "linux" / "tfgnet-desk.png") as im:
        assert im.size == (256, 256) and im.mode in ("RGBA", "RGB")
        assert im.getpixel((128, 128)) != im.getpixel((2, 2))  # not a blank image


def _fake_bundle(folder: Path) -> Path:
    folder.mkdir(parents=True)
    exe = folder / "tfgnet-desk"
    exe.write_text('#!/bin/sh\necho "fake bundle: $*"\n')
    exe.chmod(0o755)
    return folder


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_install_script_installs_and_uninstalls_at_user_level(tmp_path):
    bundle = _fake_bundle(tmp_path / "bundle")
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "share"),
        "PREFIX_BIN": str(tmp_path / "bin"),
    }
    script = PKG / "install-linux.sh"
    r = subprocess.run(
        ["bash", str(script), "--bundle", str(bundle)], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    desktop = tmp_path / "share" / "applications" / "tfgnet-desk.desktop"
    launcher = tmp_path / "bin" / "tfgnet-desk"
    entry = _desktop(desktop)
    assert entry["Exec"].split()[0] == str(launcher)
    assert (tmp_path / "share" / "icons" / "hicolor" / "256x256" / "apps" / "tfgnet-desk.png").is_file()
    assert (tmp_path / "share" / "icons" / "hicolor" / "scalable" / "apps" / "tfgnet-desk.svg").is_file()
    out = subprocess.run([str(launcher), "--self-test"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "fake bundle: --self-test"  # the launcher runs the installed copy
    assert (tmp_path / "share" / "tfgnet-desk" / "app" / "tfgnet-desk").is_file()
    r = subprocess.run(
        ["bash", str(script), "--uninstall"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and not desktop.exists() and not launcher.exists()
    r = subprocess.run(["bash", str(script), "--bogus"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2


def test_spec_makefile_and_extra_are_wired():
    spec = (PKG / "tfgnet-desk.spec").read_text()
    excludes = re.search(r"excludes = \[(.*?)\]", spec, re.S)
    assert excludes and '"torchvision"' in excludes.group(1)
    assert 'name="tfgnet-desk"' in spec and "COLLECT(" in spec  # one-folder build
    assert '"models/tiny"' in spec and '"models/faceres"' in spec and "face_recognition_models" in spec
    compile(spec, "tfgnet-desk.spec", "exec")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^package:", makefile, re.M) and "packaging/build.sh" in makefile
    assert re.search(r"^\.PHONY:.*\bpackage\b", makefile, re.M)
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.lower().startswith("pyinstaller") for d in extras["package"])
    for script in ("build.sh", "install-linux.sh"):
        r = subprocess.run(["bash", "-n", str(PKG / script)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def _bundle_wanted() -> str | None:
    if BUNDLE.is_file():
        return None
    if os.environ.get("TFGNET_TEST_BUNDLE") == "1":
        return None
    return "no built bundle (run `make package`, or set TFGNET_TEST_BUNDLE=1 to build it here; slow)"


@pytest.mark.slow
@pytest.mark.skipif(_bundle_wanted() is not None, reason=str(_bundle_wanted()))
def test_built_bundle_self_test_prints_ok(tmp_path):
    if not BUNDLE.is_file():  # asked for by TFGNET_TEST_BUNDLE=1: build it (minutes)
        r = subprocess.run(
            ["bash", str(PKG / "build.sh")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHON": sys.executable},
            timeout=3600,
        )
        assert r.returncode == 0, r.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM_PLUGIN_PATH"}
    env.update(TFGNET_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen")
    internal = BUNDLE.parent / "_internal" / "models" / "tiny"
    if not (internal / "MANIFEST.json").is_file():  # bundle built before models/tiny existed
        from tfgnet_desk.model.testing import save_random_model

        save_random_model(tmp_path / "models" / "tiny")
        env["TFGNET_MODELS"] = str(tmp_path / "models")
    else:
        env["TFGNET_MODELS"] = str(tmp_path / "empty")  # the bundle's own embedded model
    r = subprocess.run(
        [str(BUNDLE), "--self-test"], env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert r.stdout.strip().splitlines()[-1].startswith("OK: self-test passed")


def test_gpu_bench_refuses_without_cuda_and_its_generation_path_runs(capsys):
    """bench/gpu_full.py: a clear refusal on CPU; its timed path run on a tiny full-layout replica."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("gpu_full", ROOT / "bench" / "gpu_full.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    if not torch.cuda.is_available():
        assert bench.main(["--steps", "1"]) == 2
        assert "needs a CUDA GPU" in capsys.readouterr().err
    from tfgnet_desk.model.testing import full_layout_tiny_config
    from tfgnet_desk.model.tfgnet import TFGNet

    torch.set_num_threads(1)
    model = TFGNet.random(full_layout_tiny_config(), seed=0)
    times = bench.generate_once(model, n=2, steps=2)
    assert set(times) == {"restore", "embed", "generate", "total"} and times["total"] > 0


BLOCKED_RUN = r"""
import importlib.abc, sys
sys.path.insert(0, sys.argv[1])
import packaging_excludes
absent = ("torchvision", "torchaudio")  # not installed here either; excluded in case they ever are
BLOCK = tuple(b for b in packaging_excludes.lazy_library_excludes() if b not in absent)
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCK):
            raise ModuleNotFoundError(f"left out of the bundle: {name}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from tfgnet_desk.cli import main
rc = main(["--self-test"])
import tfgnet_desk.gui.app, tfgnet_desk.gui.main_window  # noqa: E401 - the window's imports as well
sys.exit(rc)
"""


@pytest.mark.slow
def test_app_runs_without_the_modules_the_bundle_leaves_out(tmp_path):
    """The spec leaves ~550 transformers model packages and the diffusers pipelines out; the self-test
    and the window's imports must not need them."""
    sys.path.insert(0, str(PKG))
    try:
        import packaging_excludes
    finally:
        sys.path.remove(str(PKG))
    excluded = packaging_excludes.lazy_library_excludes()
    assert "transformers.models.clip" not in excluded and "transformers.models.bert" in excluded
    assert "diffusers.pipelines" in excluded and "torchvision" in excluded
    from tfgnet_desk.model.testing import save_random_model

    save_random_model(tmp_path / "models" / "tiny")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM_PLUGIN_PATH"}
    env.update(
        TFGNET_MODELS=str(tmp_path / "models"),
        TFGNET_HOME=str(tmp_path / "home"),
        QT_QPA_PLATFORM="offscreen",
        OMP_NUM_THREADS="1",
    )
    r = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, str(PKG)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=ROOT,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "OK: self-test passed" in r.stdout
