"""Model folders: ``MANIFEST.json`` (sha256, size, licence, source per file), verification, safe loading.

A model folder looks like a diffusers folder (one sub-folder per component, ``config.json`` and
``*.safetensors``) plus ``MANIFEST.json``. Forensic use needs to know exactly which weights produced a
candidate, so every run records the manifest hash, and loading refuses a folder whose files do not match
their recorded hashes. Loading never downloads and never unpickles: pickle-based weight files
(``.bin``, ``.pt``, ``.ckpt``, ``.pth``, ``.pkl``) are refused outright.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfgnet_desk.hashing import sha256_file  # noqa: F401  (re-exported)

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_VERSION = 1
PICKLE_SUFFIXES = (".bin", ".pt", ".ckpt", ".pth", ".pkl", ".pickle")


# Advice for the command line inside WeightsError texts; the window replaces it (gui/messages.py).
CLI_MODEL_HINT = (
    "Put a model there (tfgnet-desk models import) or pass --model with a folder written by "
    "TFGNet.save_pretrained; nothing is downloaded automatically."
)


class WeightsError(RuntimeError):
    """A model folder is missing, incomplete, tampered with, or holds a format we refuse to load."""


@dataclass
class VerifyReport:
    """Result of checking a model folder against its manifest (paths relative to the folder)."""

    folder: Path
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatch: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    pickles: list[str] = field(default_factory=list)
    manifest_hash: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not (self.missing or self.mismatch or self.pickles)

    def message(self) -> str:
        """A message a person understands, naming the folder and the offending files."""
        if self.ok:
            return f"model folder {self.folder} verified: {len(self.present)} files match MANIFEST.json"
        parts = [f"model folder {self.folder} failed verification:"]
        if self.error:
            parts.append(self.error)
        if self.missing:
            parts.append("missing files: " + ", ".join(self.missing))
        if self.mismatch:
            parts.append(
                "files whose sha256 or size differ from MANIFEST.json (corrupted or tampered): "
                + ", ".join(self.mismatch)
            )
        if self.pickles:
            parts.append(
                "pickle-based weight files are refused (convert them to safetensors): "
                + ", ".join(self.pickles)
            )
        return " ".join(parts)


def _listed_files(folder: Path) -> list[str]:
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST_NAME and not any(part.startswith(".") for part in p.parts[-1:]):
            out.append(p.relative_to(folder).as_posix())
    return out


def hash_entries(files: list[dict[str, Any]]) -> str:
    """Hash of the (path, sha256, size) triples, independent of licence/source wording and of order.

    Documentation (``*.md``: the model card) is left out: the manifest lists and verification checks it
    file by file like every other file, but the manifest hash, which runs record as the model's identity,
    names only what determines the outputs, so that correcting a model card never makes recorded runs
    unverifiable (``case verify-run`` refuses a folder whose manifest hash differs from the run's).
    """
    canon = sorted((f["path"], f["sha256"], int(f["size"])) for f in files if not is_documentation(f["path"]))
    return hashlib.sha256(json.dumps(canon, separators=(",", ":")).encode()).hexdigest()


def is_documentation(path: str) -> bool:
    """Files that describe a model without changing what it computes (left out of the manifest hash)."""
    return path.lower().endswith(".md")


def write_manifest(folder: Path | str, licence: str, source: str) -> dict[str, Any]:
    """Hash every file under ``folder`` (except the manifest) and write ``MANIFEST.json``; return it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"cannot write a manifest: {folder} is not a folder")
    files = []
    for rel in _listed_files(folder):
        p = folder / rel
        files.append(
            {
                "path": rel,
                "sha256": sha256_file(p),
                "size": p.stat().st_size,
                "licence": licence,
                "source": source,
            }
        )
    return save_manifest(folder, files)


def save_manifest(folder: Path | str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``MANIFEST.json`` for these file entries (with their manifest hash) atomically; return it."""
    manifest = {"manifest_version": MANIFEST_VERSION, "files": files, "manifest_hash": hash_entries(files)}
    tmp = Path(folder) / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(Path(folder) / MANIFEST_NAME)
    return manifest


def read_manifest(folder: Path | str) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise WeightsError(f"model folder {folder} does not exist. {CLI_MODEL_HINT}")
    if not path.is_file() and not any(folder.iterdir()):
        raise WeightsError(
            f"model folder {folder} is empty: no model has been installed or trained there yet "
            "(the tiny model comes from `python -m tfgnet_desk.train`; nothing is downloaded automatically)"
        )
    if not path.is_file():
        raise WeightsError(
            f"model folder {folder} has no {MANIFEST_NAME}: refusing to load unverified weights"
        )
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        for f in files:
            f["path"], f["sha256"], f["size"] = str(f["path"]), str(f["sha256"]), int(f["size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path} is not a valid manifest: {exc}") from exc
    return manifest


def manifest_hash(folder: Path | str) -> str:
    """The manifest hash recorded with every run (recomputed from the entries, not trusted from the file)."""
    return hash_entries(read_manifest(folder)["files"])


def verify_folder(
    folder: Path | str, check_hashes: bool = True, progress: Callable[[int, int, str], None] | None = None
) -> VerifyReport:
    """Check every file listed in the manifest: present, same size, same sha256; flag pickles anywhere.

    ``progress(done, total, path)`` is called before each listed file is checked (the window's Models…
    dialog shows it: hashing a full-profile folder takes minutes)."""
    folder = Path(folder)
    report = VerifyReport(folder=folder)
    try:
        manifest = read_manifest(folder)
    except WeightsError as exc:
        report.error = str(exc)
        return report
    listed = {f["path"] for f in manifest["files"]}
    for rel in _listed_files(folder):
        if rel.lower().endswith(PICKLE_SUFFIXES):
            report.pickles.append(rel)
        elif rel not in listed:
            report.unlisted.append(rel)
    for done, entry in enumerate(manifest["files"]):
        rel = entry["path"]
        if progress is not None:
            progress(done, len(manifest["files"]), rel)
        p = folder / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            report.mismatch.append(rel)
            continue
        if not p.is_file():
            report.missing.append(rel)
            continue
        if p.stat().st_size != entry["size"] or (check_hashes and sha256_file(p) != entry["sha256"]):
            report.mismatch.append(rel)
            continue
        report.present.append(rel)
    report.manifest_hash = hash_entries(manifest["files"])
    if "manifest_hash" in manifest and manifest["manifest_hash"] != report.manifest_hash:
        report.error = "the manifest's own hash does not match its entries (MANIFEST.json was edited)"
    return report


def require_verified(folder: Path | str) -> VerifyReport:
    """Verify ``folder`` and raise :class:`WeightsError` with the report's message when it fails."""
    report = verify_folder(folder)
    if not report.ok:
        raise WeightsError(report.message())
    return report


def onnx_problem(path: Path | str, full: bool = True) -> str | None:
    """Why ``path`` is not a usable ONNX model, or None. ``full``: parse it with ``onnx`` and run the
    checker (seconds for a large network); otherwise only the first protobuf tag (ModelProto field 1,
    ``ir_version``, is byte 0x08), which already tells a pickle or an archive renamed ``.onnx``."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(1)
    except OSError as exc:
        return f"{path.name}: unreadable ({exc})"
    if head != b"\x08":
        return f"{path.name} is not an ONNX model (it does not start as an ONNX protobuf)"
    if not full:
        return None
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - any parse or checker failure makes it unusable
        return f"{path.name} is not a valid ONNX model: {str(exc).splitlines()[0][:200]}"
    return None


def load_safetensors(path: Path | str, device: str = "cpu") -> dict[str, Any]:
    """Load a state dict from a ``.safetensors`` file; any other format is refused (no unpickling)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise WeightsError(f"refusing to load {path}: only .safetensors weights are loaded (no pickles)")
    if not path.is_file():
        raise WeightsError(f"weight file {path} is missing")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"weight file {path} is corrupted or unreadable: {exc}") from exc


def save_safetensors(state_dict: dict[str, Any], path: Path | str, dtype: Any = None) -> None:
    """Write a state dict as safetensors (optionally cast floating tensors to ``dtype``, e.g. fp16)."""
    from safetensors.torch import save_file

    out = {}
    seen: set[int] = set()
    for k, v in state_dict.items():
        t = v.detach()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        t = t.contiguous().cpu()
        if t.numel() and t.data_ptr() in seen:  # shared storage (tied weights): safetensors needs a copy
            t = t.clone()
        seen.add(t.data_ptr())
        out[k] = t
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(path), metadata={"format": "pt"})
