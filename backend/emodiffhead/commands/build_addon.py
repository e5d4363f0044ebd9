"""``emodiffhead build-addon``: assemble the installable Blender extension zip.

The zip holds ``blender_manifest.toml`` and the add-on's ``__init__.py`` side by side at its root,
plus the add-on's modules (``addon/`` of the repository, Python sources only). Install it in Blender
with Edit > Preferences > Get Extensions > Install from Disk.
"""

from __future__ import annotations

import argparse
import os
import tomllib
import zipfile
from pathlib import Path

from ..errors import InputFileError
from ..fileio import atomic_path

NAME = "build-addon"
HELP = "build the Blender extension zip (blender_manifest.toml + addon/)"

REPO = Path(__file__).resolve().parents[3]  # the checkout when installed editable; else use --source
_SKIP_DIRS = {"__pycache__", ".pytest_cache"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default=None,
                        help="zip to write (default: dist/emodiffhead-<version>.zip in the current folder)")
    default = REPO if (REPO / "blender_manifest.toml").is_file() else Path.cwd()
    parser.add_argument("--source", default=str(default),
                        help="repository root holding blender_manifest.toml and addon/ (default: this checkout)")


def read_manifest(root: Path) -> dict:
    """The parsed blender_manifest.toml of ``root``."""
    path = root / "blender_manifest.toml"
    if not path.is_file():
        raise InputFileError(f"blender_manifest.toml not found in {root}")
    with path.open("rb") as f:
        return tomllib.load(f)


def build_addon(output: str | os.PathLike | None = None, root: str | os.PathLike = REPO) -> Path:
    """Write the extension zip (default: ``dist/<id>-<version>.zip`` under the current folder); returns its
    path. Files are stored in sorted order with a fixed date."""
    root = Path(root)
    manifest = read_manifest(root)
    addon = root / "addon"
    if not (addon / "__init__.py").is_file():
        raise InputFileError(f"{addon}/__init__.py not found")
    out = Path(output) if output else Path.cwd() / "dist" / f"{manifest['id']}-{manifest['version']}.zip"
    if out.suffix.lower() != ".zip":
        raise InputFileError(f"-o {out}: the output must be a .zip file (Blender installs extensions from zips)")
    files = [(root / "blender_manifest.toml", "blender_manifest.toml")]
    for dirpath, dirnames, filenames in os.walk(addon):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(".py") or name in ("LICENSE", "README.md"):
                p = Path(dirpath) / name
                files.append((p, p.relative_to(addon).as_posix()))
    with atomic_path(out, suffix=".zip") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for src, arc in sorted(files, key=lambda x: x[1]):
            info = zipfile.ZipInfo(arc, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, src.read_bytes())
    return out


def run(args: argparse.Namespace) -> int:
    out = build_addon(args.output, args.source)
    print(f"wrote {out}")
    return 0
