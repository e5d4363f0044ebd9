"""Start and stop a local backend from Blender (``<python> -m emodiffhead serve``); no bpy here.

Only one server process is managed per Blender session. Output goes to a log file next to the
data dir so a full pipe can never block the server.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import urllib.parse

_process: subprocess.Popen | None = None
_log_path: str = ""


def port_of(url: str) -> int:
    """The port of a backend URL (8765 when none is given)."""
    return urllib.parse.urlparse(url).port or 8765


def start(python: str, url: str, data_dir: str = "", flame: str = "") -> subprocess.Popen:
    """Start ``python -m emodiffhead serve --port <url's port>``; returns the process.

    Raises RuntimeError with an artist-facing message when ``python`` is not an executable file.
    """
    global _process, _log_path
    if is_running():
        return _process  # type: ignore[return-value]
    python = os.path.expanduser(python or "")
    if not python or not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise RuntimeError(f"Backend Python not found or not executable: {python!r}. Set it in the add-on "
                           "preferences (e.g. /path/to/emodiffhead/.venv/bin/python).")
    cmd = [python, "-m", "emodiffhead", "serve", "--port", str(port_of(url))]
    if data_dir:
        cmd += ["--data-dir", os.path.expanduser(data_dir)]
    if flame:
        cmd += ["--flame", os.path.realpath(os.path.expanduser(flame))]
    _log_path = os.path.join(tempfile.gettempdir(), "emodiffhead-server.log")
    log = open(_log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        _process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()
    return _process


def stop(timeout: float = 5.0) -> bool:
    """Stop the server this session started. Returns True when one was stopped."""
    global _process
    if _process is None:
        return False
    if _process.poll() is None:
        _process.terminate()
        try:
            _process.wait(timeout)
        except subprocess.TimeoutExpired:
            _process.kill()
            _process.wait(timeout)
    _process = None
    return True


def is_running() -> bool:
    """True while the process this session started is alive."""
    return _process is not None and _process.poll() is None


def status_text() -> str:
    """One line for the preferences: running (pid), exited (code) or not started."""
    if _process is None:
        return "not started from Blender"
    code = _process.poll()
    if code is None:
        return f"running (pid {_process.pid})"
    return f"exited with code {code}; log: {_log_path}"
