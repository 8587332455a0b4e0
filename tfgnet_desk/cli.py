"""The ``tfgnet-desk`` command. No arguments opens the desktop app; sub-commands run headless.

Each sub-command lives in its own module and registers itself here through ``COMMANDS``: the module
exposes ``add_parser(subparsers)`` returning a parser whose ``func`` default runs the command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> module exposing add_parser(subparsers)
COMMANDS: dict[str, str] = {
    "generate": "tfgnet_desk.generate_cli",
    "case": "tfgnet_desk.cases.cli",
    "models": "tfgnet_desk.model_folders.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfgnet-desk",
        description="Candidate faces from a low-quality crop and a written description (TFGNet). "
        "Candidates are investigative leads, not identifications. With no command, opens the desktop app.",
    )
    from tfgnet_desk import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="load the embedded model, run one headless generation, verify the result and print OK",
    )
    app = parser.add_argument_group("desktop app (no COMMAND)")
    app.add_argument("--home", dest="app_home", default=None, help="user data folder (default: platform's)")
    app.add_argument(
        "--print-ready",
        action="store_true",
        help="print the wall-clock time when the window first answers events (launch benchmark)",
    )
    app.add_argument(
        "--quit-after", type=int, default=0, metavar="MS", help="close the window after MS ms (smoke tests)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("tfgnet_desk"):
                continue  # not built yet in this checkout
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.self_test:
        from tfgnet_desk.selftest import run_self_test

        return run_self_test()
    if args.command is None:
        from tfgnet_desk.gui.app import run_app

        app_argv = ["--home", args.app_home] if args.app_home else []
        app_argv += ["--print-ready"] if args.print_ready else []
        app_argv += ["--quit-after", str(args.quit_after)] if args.quit_after else []
        return run_app(app_argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
