"""The ``emodiffhead`` command line.

Each sub-command lives in its own module under :mod:`emodiffhead.commands` and provides::

    NAME = "animate"                    # the sub-command
    HELP = "one line"                   # shown in --help
    def add_arguments(parser) -> None   # argparse arguments
    def run(args) -> int                # exit status

Modules are discovered automatically. User errors (:class:`EmodiffheadError`) print one clear
line and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__
from .errors import EmodiffheadError


def _command_modules():
    from . import commands

    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"{commands.__name__}.{info.name}"))
    return mods


def build_parser() -> argparse.ArgumentParser:
    """The full argparse parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="emodiffhead", description="Emotional talking heads from one photo and speech.")
    parser.add_argument("--version", action="version", version=f"emodiffhead {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``emodiffhead`` console script. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        return int(args._run(args) or 0)
    except EmodiffheadError as e:
        print(f"emodiffhead {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"emodiffhead {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
