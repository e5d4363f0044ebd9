"""The server's data folder: token file, job folders and atomic job state files.

Layout::

    <data_dir>/token                 access token, mode 0600
    <data_dir>/server.lock           held (flock) by the one server using this folder (see ``instance``)
    <data_dir>/server.json           pid and url of that server, mode 0600
    <data_dir>/jobs/<id>/job.json    job state (written atomically: temp file + rename)
    <data_dir>/jobs/<id>/photo.<ext>, audio.<ext>, track.json   uploaded inputs (fixed names, mode 0600)
    <data_dir>/jobs/<id>/result.mp4, frames.zip                 outputs (renamed into place when complete)

Uploaded file names never become paths: inputs get fixed names with an extension from an allow-list.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from ..errors import InputFileError
from ..fileio import atomic_write_bytes as _atomic_write_bytes

#: Where the data folder lives unless ``--data-dir`` or ``EMODIFFHEAD_DATA_DIR`` say otherwise.
DEFAULT_DATA_DIR = Path("~/.local/share/emodiffhead")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def default_data_dir() -> Path:
    """``$EMODIFFHEAD_DATA_DIR`` or ``~/.local/share/emodiffhead`` (not created)."""
    env = os.environ.get("EMODIFFHEAD_DATA_DIR")
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR.expanduser()


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700, or make an existing folder of this user 0700. Returns it.

    Raises InputFileError (one line, exit status 2) when the folder cannot be created or is a file."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = path.stat()
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    except OSError as e:
        raise InputFileError(f"data folder {path}: cannot create it ({e.strerror or e})") from None
    return path


def is_job_id(text: str) -> bool:
    """True for a well-formed job id (32 lowercase hex digits); anything else is never a path."""
    return bool(_JOB_ID.match(text))


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Server state files: private (0600) and fsynced by default (see :mod:`emodiffhead.fileio`)."""
    _atomic_write_bytes(path, data, mode=mode, durable=durable)


def atomic_write_json(path: Path, obj: Any, durable: bool = True) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode("utf-8"), durable=durable)


class JobStore:
    """Job folders under ``<data_dir>/jobs``; knows nothing of job states beyond reading/writing job.json."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = ensure_private_dir(Path(data_dir))
        self.jobs_dir = ensure_private_dir(self.data_dir / "jobs")

    def job_dir(self, job_id: str, create: bool = False) -> Path:
        """The folder of job ``job_id`` (a validated id; ValueError otherwise)."""
        if not is_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        d = self.jobs_dir / job_id
        if create:
            d.mkdir(mode=0o700, exist_ok=False)
        return d

    def write_state(self, job_id: str, state: dict[str, Any], durable: bool = True) -> None:
        """Atomically replace job.json (``durable=False``: skip the fsync, for progress updates)."""
        atomic_write_json(self.job_dir(job_id) / "job.json", state, durable=durable)

    def read_all(self) -> list[tuple[str, dict[str, Any] | None]]:
        """Every job folder as (id, state dict or None when job.json is missing or unreadable)."""
        out: list[tuple[str, dict[str, Any] | None]] = []
        for d in sorted(self.jobs_dir.iterdir()):
            if not d.is_dir() or not is_job_id(d.name):
                continue
            try:
                state = json.loads((d / "job.json").read_text(encoding="utf-8"))
                if not isinstance(state, dict):
                    state = None
            except (OSError, ValueError):
                state = None
            out.append((d.name, state))
        return out

    def remove_temp_files(self, job_id: str) -> None:
        """Delete half-written outputs (``*.tmp*`` and hidden temp files) of a job."""
        for p in self.job_dir(job_id).iterdir():
            if p.is_file() and (".tmp" in p.name or p.name.startswith(".")):
                try:
                    p.unlink()
                except OSError:
                    pass

    def has_state(self, job_id: str) -> bool:
        """True when the job folder has a job.json (a folder without one is an interrupted submission)."""
        return (self.job_dir(job_id) / "job.json").exists()

    def free_bytes(self) -> int:
        """Free bytes on the file system of the job folders (for the caller's user)."""
        import shutil

        return int(shutil.disk_usage(self.jobs_dir).free)

    def delete(self, job_id: str) -> None:
        """Remove a job folder and everything in it."""
        import shutil

        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
