"""One server per data folder: an exclusive lock plus a file that names the running server.

``<data_dir>/server.lock`` is held with ``flock(LOCK_EX | LOCK_NB)`` (``msvcrt.locking`` on Windows, not
tested here) for the life of the server process (the kernel drops it when the process dies, even on SIGKILL,
so a crash never leaves the folder locked).
``<data_dir>/server.json`` (mode 0600) says who holds it: ``{"pid", "url", "port", "version", "started"}``;
clients (the Blender add-on) read it to reuse the running server instead of starting a second one. The lock
is taken before any job on disk is read or touched; a second server on the same folder refuses to start
with a message naming the first.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import EmodiffheadError
from .storage import atomic_write_json

try:
    import fcntl
except ImportError:  # Windows: msvcrt's byte-range lock (also dropped by the OS when the process ends)
    fcntl = None  # type: ignore[assignment]
    import msvcrt

LOCK_FILE = "server.lock"
INSTANCE_FILE = "server.json"


class ServerAlreadyRunning(EmodiffheadError):
    """Another server holds the data folder's lock."""

    http_status = 409


def read_instance(data_dir: Path) -> dict[str, Any] | None:
    """The contents of ``<data_dir>/server.json`` (None when missing or unreadable). It may be stale: the lock,
    or a live ``/health`` at its url, tells whether that server still runs."""
    try:
        d = json.loads((Path(data_dir) / INSTANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def describe(info: dict[str, Any] | None) -> str:
    """``pid 123, http://127.0.0.1:8765, started 2026-11-27 16:40:03`` (what is known of a server)."""
    if not info:
        return "its pid and address are not known yet"
    parts = []
    if isinstance(info.get("pid"), int):
        parts.append(f"pid {info['pid']}")
    if isinstance(info.get("url"), str) and info["url"]:
        parts.append(str(info["url"])[:200])
    if isinstance(info.get("started"), (int, float)):
        parts.append("started " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["started"])))
    return ", ".join(parts) or "its pid and address are not known yet"


class InstanceLock:
    """The exclusive lock on a data folder; :meth:`acquire` before reading any job."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "InstanceLock":
        """Take the lock; :class:`ServerAlreadyRunning` naming the holder when another server has it."""
        if self._fd is not None:
            return self
        path = self.data_dir / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as e:
            raise EmodiffheadError(f"data folder {self.data_dir}: cannot create {LOCK_FILE} "
                                   f"({e.strerror or e})") from None
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            raise ServerAlreadyRunning(
                f"data folder {self.data_dir} is in use by another emodiffhead server "
                f"({describe(read_instance(self.data_dir))}); use that server, stop it, or start this one with "
                "another --data-dir") from None
        self._fd = fd
        return self

    def publish(self, url: str) -> None:
        """Write ``server.json`` naming this process and ``url`` (call once the port is bound)."""
        if self._fd is None:
            raise RuntimeError("publish() needs the lock")
        port = int(url.rsplit(":", 1)[1]) if url.rsplit(":", 1)[-1].isdigit() else 0
        from .. import __version__

        atomic_write_json(self.data_dir / INSTANCE_FILE, {"pid": os.getpid(), "url": url, "port": port,
                                                          "version": __version__, "started": time.time()})

    def release(self) -> None:
        """Remove ``server.json`` (when it names this process) and drop the lock."""
        if self._fd is None:
            return
        info = read_instance(self.data_dir)
        if info and info.get("pid") == os.getpid():
            try:
                (self.data_dir / INSTANCE_FILE).unlink()
            except OSError:
                pass
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None


def _lock(fd: int) -> None:
    """Exclusive, non-blocking lock of the open file ``fd``; OSError when another process (or another open
    file of this process) holds it."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
