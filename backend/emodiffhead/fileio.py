"""Atomic file output: nothing half-written ever appears under a final name.

Every writer in emodiffhead (tracks, glTF, mp4, server state, add-on zip) goes through
:func:`atomic_path`: it hands out a temporary name beside the target and renames it over the target
only when the body finished without an exception; otherwise the temporary file is removed.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import InputFileError


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _why(e: OSError, path: Path) -> str:
    """A reason people understand for an OSError met while creating a file beside ``path``."""
    import errno

    if e.errno == errno.ENOTDIR or (e.errno == errno.EEXIST and not path.parent.is_dir()):
        return "a part of the folder path is a file, not a folder"
    if e.errno == errno.ENOENT:
        return f"the folder {path.parent} does not accept new files"
    return str(e.strerror or e).lower()


def _temp_beside(path: Path, suffix: str) -> Path:
    """Create an empty temporary file beside ``path`` (and missing parent folders); InputFileError if impossible."""
    if path.is_dir():
        raise InputFileError(f"cannot write {path}: it is a folder; name a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:
        raise InputFileError(f"cannot write {path}: {_why(e, path)}") from None
    os.close(fd)
    return Path(tmp_name)


def check_writable(path: str | os.PathLike) -> Path:
    """Fail fast: raise InputFileError now if ``path`` could not be written at the end of long work.

    Creates missing parent folders (as :func:`atomic_path` would) and leaves no file behind. Returns the path.
    """
    path = Path(path)
    _temp_beside(path, ".probe").unlink()
    return path


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp", mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    suffix: the temporary name's ending (some writers pick the format from it, e.g. ``.part.mp4``).
    mode: permission bits of the final file (default: 0o666 minus the umask, like ``open``).
    Creates missing parent folders. An output place that cannot be written (no permission, read-only or
    virtual file system, a folder named as the file) raises :class:`InputFileError` before any work.
    """
    path = Path(path)
    tmp = _temp_beside(path, suffix)
    try:
        yield tmp
        os.chmod(tmp, _default_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (fsync before the rename when ``durable``). Returns the path."""
    with atomic_path(path, mode=mode) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
    return Path(path)
