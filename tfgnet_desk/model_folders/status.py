"""Where each registry component stands in a model folder: present, verified (sha256 against its
MANIFEST.json), incomplete, missing or failed, and what a person does about a missing one. The components
themselves are in ``registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tfgnet_desk.model_folders.manifest import (
    MANIFEST_NAME,
    VerifyReport,
    WeightsError,
    manifest_hash,
    onnx_problem,
    read_manifest,
    verify_folder,
)
from tfgnet_desk.model_folders.registry import COMPONENTS, SHIPPED_COMPONENTS, Component, Progress, get


@dataclass
class Status:
    """Where one component stands in a model folder."""

    component: Component
    folder: Path
    state: str  # "verified" | "present" | "incomplete" | "missing" | "failed"
    detail: str = ""
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state in ("verified", "present")


def instructions(comp: Component, models_dir: Path) -> str:
    """What a person does to provide a missing component (never done automatically)."""
    if comp.how:
        return comp.how
    parts = [f"get it from {comp.source}", f"then run: tfgnet-desk models import PATH (PATH: {comp.accepts})"]
    if comp.downloads:
        parts.append(f"or, when online: tfgnet-desk models download {comp.name}")
    return "; ".join(parts)


def manifest_source(folder: Path) -> str:
    """The ``source`` of the first file in ``folder``'s MANIFEST.json; "" without a readable manifest."""
    try:
        files = read_manifest(folder)["files"]
    except WeightsError:  # no manifest: no source to show
        return ""
    return str(files[0].get("source", "")) if files else ""


def full_parts_missing(full_dir: Path) -> list[str]:
    """The components still needed in ``full_dir`` before it can be assembled into a TFGNet folder."""
    missing = []
    for name in ("restorer-full", "sdxl-base-1.0"):
        comp = get(name)
        if any(f.required and not (full_dir / f.path).is_file() for f in comp.files):
            missing.append(name)
    if (
        not (full_dir / "image_encoder" / "model.safetensors").is_file()
        or not (full_dir / "fusion" / "model.safetensors").is_file()
    ):
        missing.append("fusion-full")
    return missing


def _verify_parts(folder: Path, parts: tuple[str, ...], check: bool, progress=None) -> list[VerifyReport]:
    return [verify_folder(folder / p, check, progress) for p in parts if (folder / p).is_dir()]


def component_status(
    comp: Component,
    models_dir: Path,
    check_hashes: bool = False,
    shipped_dir: Path | None = None,
    progress: Progress | None = None,
) -> Status:
    """Check ``comp`` in ``models_dir``: files present, then each MANIFEST (sizes; hashes if asked).

    The model folders ``tiny`` and ``full`` are always checked against their manifest with hashes
    when ``check_hashes`` (``models verify``); ``tiny`` is small, so ``list`` hashes it as well.
    ``progress(done, total, path)``: before each file is checked (see ``weights.verify_folder``).
    """
    folder = comp.path(models_dir)
    if (
        comp.name in SHIPPED_COMPONENTS
        and not folder.is_dir()
        and shipped_dir is not None
        and (shipped_dir / comp.folder).is_dir()
    ):
        folder = shipped_dir / comp.folder
    if comp.name in ("tiny", "full"):
        if not (folder / "config.json").is_file() and not (folder / MANIFEST_NAME).is_file():
            if comp.name == "full" and folder.is_dir():
                needs = full_parts_missing(folder)
                return Status(
                    comp, folder, "incomplete", f"not assembled yet: needs {', '.join(needs)}", needs
                )
            return Status(comp, folder, "missing", "no model folder", [comp.folder])
        report = verify_folder(folder, check_hashes=check_hashes or comp.name == "tiny", progress=progress)
        if report.ok:
            hashed = check_hashes or comp.name == "tiny"
            return Status(
                comp,
                folder,
                "verified" if hashed else "present",
                f"{len(report.present)} files, manifest {report.manifest_hash[:12]}"
                + ("" if hashed else " (sizes checked; `models verify` checks hashes)"),
            )
        return Status(comp, folder, "failed", report.message())
    missing = [f.path for f in comp.files if f.required and not (folder / f.path).is_file()]
    if missing:
        present_any = any((folder / f.path).is_file() for f in comp.files)
        if not present_any:
            return Status(comp, folder, "missing", "not present", missing)
        return Status(comp, folder, "incomplete", f"missing: {', '.join(missing)}", missing)
    parts = comp.provides or ("",)
    unlisted = [p for p in parts if not (folder / p / MANIFEST_NAME).is_file()]
    reports = _verify_parts(folder, tuple(p for p in parts if p not in unlisted), check_hashes, progress)
    bad = [r for r in reports if not r.ok]
    if bad:
        return Status(comp, folder, "failed", " ".join(r.message() for r in bad))
    if unlisted:
        return Status(
            comp, folder, "present", "files present but no MANIFEST.json (import it to record hashes)"
        )
    onnx_bad = [
        msg
        for f in comp.files
        if f.path.endswith(".onnx") and (folder / f.path).is_file()
        if (msg := onnx_problem(folder / f.path, full=check_hashes))
    ]
    if onnx_bad:
        return Status(comp, folder, "failed", "; ".join(onnx_bad))
    source = manifest_source(folder / parts[0])
    manifests = ", ".join(
        f"{(folder / p / MANIFEST_NAME).relative_to(folder)} {manifest_hash(folder / p)[:12]}" for p in parts
    )
    how = (
        f"sha256 of every file matches {manifests}" + ("; ONNX files parse" if onnx_names(comp) else "")
        if check_hashes
        else "sizes checked; `models verify` checks hashes"
    )
    return Status(
        comp,
        folder,
        "verified" if check_hashes else "present",
        f"{how}" + (f"; source: {source}" if source else ""),
    )


def onnx_names(comp: Component) -> list[str]:
    return [f.path for f in comp.files if f.path.endswith(".onnx")]


def all_status(
    models_dir: Path,
    check_hashes: bool = False,
    shipped_dir: Path | None = None,
    names: list[str] | None = None,
    progress: Progress | None = None,
) -> list[Status]:
    comps = [get(n) for n in names] if names else list(COMPONENTS)
    return [component_status(c, models_dir, check_hashes, shipped_dir, progress) for c in comps]
