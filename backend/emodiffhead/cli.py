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
import os
import pkgutil
import sys

from . import __version__
from .errors import EmodiffheadError


def _command_names() -> list[str]:
    """Names of the sub-command modules (nothing imported)."""
    from . import commands

    return sorted(i.name for i in pkgutil.iter_modules(commands.__path__) if not i.name.startswith("_"))


def _command_modules(only: str | None = None):
    from . import commands

    return [importlib.import_module(f"{commands.__name__}.{name}") for name in _command_names()
            if only is None or name == only]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser with every sub-command, or with ``command``'s alone (the others' modules are not
    imported: 0.02 s less start-up; used when the command line names one)."""
    parser = argparse.ArgumentParser(prog="emodiffhead", description="Emotional talking heads from one photo and speech.")
    parser.add_argument("--version", action="version", version=f"emodiffhead {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mods = _command_modules(command)
    if command is not None and [m.NAME for m in mods] != [command]:  # a module whose command is spelt otherwise
        mods = _command_modules()
    for mod in mods:
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


#: Commands whose matrix products are all small (the animator's): numpy's OpenBLAS gets one thread for them
#: (unless OPENBLAS_NUM_THREADS is set). Its helper threads only sped nothing up there and spun ~0.1 s of a core
#: after each product: 0.25 s of the 2.2 s of CPU of ``animate`` on 60 s of speech (docs/animator.md).
SINGLE_THREADED_BLAS = ("animate",)


def _limit_blas_threads(argv: list[str]) -> None:
    """Set OPENBLAS_NUM_THREADS=1 for a command of ``SINGLE_THREADED_BLAS``; effective only before numpy loads."""
    if argv[:1] and argv[0] in SINGLE_THREADED_BLAS and "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``emodiffhead`` console script. Returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    _limit_blas_threads(argv)
    parser = build_parser(argv[0] if argv and argv[0] in _command_names() else None)
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
