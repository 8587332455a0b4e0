"""``tfgnet-desk models``: list, verify, import and (only when asked) download model components.

    tfgnet-desk models list [--json]            every component: state, where, what to do if missing
    tfgnet-desk models verify [NAME]            sha256 of every file against its MANIFEST.json
    tfgnet-desk models import PATH [--as NAME]  check, convert if needed, place, write MANIFEST hashes
    tfgnet-desk models download NAME            fetch the published files (resumable), then import

The registry (``registry.py``) says what each component must hold; nothing here downloads unless the
``download`` command is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

STATE_MARK = {"verified": "ok", "present": "ok", "incomplete": "!!", "missing": "--", "failed": "XX"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "models",
        help="list, verify, import or download model weights",
        description="Model components the app knows (tiny, the full profile's parts, identity packs, "
        "training and metric backbones). Nothing is downloaded unless you run `models download`.",
    )
    p.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="model folder (default: the settings' models_dir, TFGNET_MODELS)",
    )
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    ls = sub.add_parser("list", help="show every component and its state")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=cmd_list)
    vf = sub.add_parser("verify", help="check files against their MANIFEST.json hashes")
    vf.add_argument("name", nargs="?", default=None, help="one component (default: all that are present)")
    vf.set_defaults(func=cmd_verify)
    im = sub.add_parser("import", help="import a folder or file you already have")
    im.add_argument(
        "path",
        type=Path,
        help="diffusers folder, HF cache snapshot, insightface pack (folder "
        "or zip), TFGNet model folder, codeformer.pth, photomaker-v1.bin, vgg19/alexnet/LPIPS/"
        "Inception .pth",
    )
    im.add_argument(
        "--as",
        dest="as_name",
        default=None,
        metavar="NAME",
        help="component name (default: recognised from the input)",
    )
    im.add_argument("--link", action="store_true", help="symlink large files instead of copying them")
    im.set_defaults(func=cmd_import)
    dl = sub.add_parser("download", help="download a component's published files (resumable), then import")
    dl.add_argument("name", help="component name (see `models list`)")
    dl.set_defaults(func=cmd_download)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    return p


def _models_dir(args) -> Path:
    if args.models_dir is not None:
        return Path(args.models_dir).expanduser()
    from tfgnet_desk.settings import Settings

    return Settings.load().models_dir


def _shipped() -> Path:
    from tfgnet_desk.settings import SHIPPED_MODELS

    return SHIPPED_MODELS


def cmd_list(args) -> int:
    from tfgnet_desk.model_folders import status

    models_dir = _models_dir(args)
    statuses = status.all_status(models_dir, check_hashes=False, shipped_dir=_shipped())
    if args.json:
        rows = [
            {
                "name": s.component.name,
                "group": s.component.group,
                "state": s.state,
                "folder": str(s.folder),
                "detail": s.detail,
                "licence": s.component.licence,
                "source": s.component.source,
                "approx_bytes": s.component.approx_bytes,
                "instructions": "" if s.ok else status.instructions(s.component, models_dir),
            }
            for s in statuses
        ]
        print(json.dumps(rows, indent=2))
        return 0
    print(f"model folder: {models_dir}")
    group = None
    for s in statuses:
        c = s.component
        if c.group != group:
            group = c.group
            print(f"\n[{group}]")
        size = f" ~{c.approx_bytes / 1e9:.2f} GB" if c.approx_bytes else ""
        print(f"  {STATE_MARK[s.state]} {c.name:<24} {s.state:<10} {c.title}{size}")
        print(f"       {s.folder}: {s.detail}" if s.detail else f"       {s.folder}")
        if not s.ok:
            print(f"       licence: {c.licence}")
            print(f"       to add it: {status.instructions(c, models_dir)}")
            if c.note:
                print(f"       note: {c.note}")
    return 0


def cmd_verify(args) -> int:
    from tfgnet_desk.model_folders import status

    models_dir = _models_dir(args)
    try:
        names = [args.name] if args.name else None
        statuses = status.all_status(models_dir, check_hashes=True, shipped_dir=_shipped(), names=names)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    rc = 0
    for s in statuses:
        if args.name is None and s.state == "missing":
            continue
        print(f"{STATE_MARK[s.state]} {s.component.name}: {s.state} - {s.detail}")
        if s.state == "failed" or (args.name and not s.ok) or s.state == "incomplete":
            rc = 1
    if args.name is None and not any(s.state != "missing" for s in statuses):
        print("nothing to verify: no component is present in " + str(models_dir))
        rc = 1
    return rc


def cmd_import(args) -> int:
    from tfgnet_desk.model_folders.importer import import_path
    from tfgnet_desk.model_folders.manifest import WeightsError

    models_dir = _models_dir(args)
    try:
        result = import_path(args.path, models_dir, as_name=args.as_name, link=args.link)
    except (WeightsError, KeyError, OSError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"import failed: {msg}", file=sys.stderr)
        return 1
    print(f"imported {result.component}: " + ", ".join(str(p) for p in result.written))
    for note in result.notes:
        print(note)
    return 0


def cmd_download(args) -> int:
    from tfgnet_desk.model_folders.download import download
    from tfgnet_desk.model_folders.manifest import WeightsError

    models_dir = _models_dir(args)

    def progress(p) -> None:
        print("\r" + p.line(), end="", file=sys.stderr, flush=True)

    try:
        download(args.name, models_dir, progress=progress)
    except (WeightsError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"\ndownload failed: {msg}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    print(f"{args.name}: downloaded and imported into {models_dir}")
    return 0
