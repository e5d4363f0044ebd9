"""Start and stop a local backend from Blender (``<python> -m emodiffhead serve``); no bpy here.

Only one server process is managed per Blender session, and only one server runs per data folder: when the
folder's ``server.json`` names a live server that answers ``/health`` (another Blender session started it, or
a terminal), :func:`start` reuses it instead of starting a second one. Output goes to a log file in the temp
folder so a full pipe can never block the server.
"""

from __future__ import annotations

import logging
import json
import os
import subprocess
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: The file a running server writes in its data folder: {"pid", "url", "port", "version", "started"}.
INSTANCE_FILE = "server.json"

_process: subprocess.Popen | None = None
_reused: "RunningServer | None" = None
_log_path: str = ""


@dataclass(frozen=True)
class RunningServer:
    """A server that already runs for a data folder (not started by this session)."""

    pid: int
    url: str
    data_dir: str
    reused: bool = True


def _default_data_dir() -> str:
    """``client.DEFAULT_DATA_DIR`` (the server's default data folder)."""
    try:
        from .client import DEFAULT_DATA_DIR
    except ImportError:  # loaded as a stand-alone module (the add-on's unit tests): read the sibling file
        import importlib.util

        here = os.path.dirname(os.path.abspath(__file__))
        spec = importlib.util.spec_from_file_location("_emodiffhead_addon_client", os.path.join(here, "client.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        DEFAULT_DATA_DIR = module.DEFAULT_DATA_DIR
    return DEFAULT_DATA_DIR


def data_dir_of(data_dir: str = "") -> str:
    """The data folder a server started with ``data_dir`` uses: it, else $EMODIFFHEAD_DATA_DIR, else the default."""
    chosen = data_dir or os.environ.get("EMODIFFHEAD_DATA_DIR") or _default_data_dir()
    return os.path.realpath(os.path.expanduser(chosen))


def find_running(data_dir: str = "", timeout: float = 2.0) -> RunningServer | None:
    """The server already using ``data_dir``: its ``server.json`` names a live process whose url answers
    ``GET /health``; None otherwise (no file, a stale file after a crash, a server not answering)."""
    folder = data_dir_of(data_dir)
    try:
        with open(os.path.join(folder, INSTANCE_FILE), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    pid, url = (info.get("pid"), info.get("url")) if isinstance(info, dict) else (None, None)
    if not isinstance(pid, int) or pid <= 0 or not isinstance(url, str) or not url.startswith("http://"):
        return None
    if os.name == "posix":  # (on Windows os.kill would terminate the process: /health alone decides there)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # another user's process: /health decides
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # a local server: never a proxy
        with opener.open(url.rstrip("/") + "/health", timeout=timeout) as r:
            if r.status != 200 or json.load(r).get("status") != "ok":
                return None
    except (OSError, ValueError):
        return None
    return RunningServer(pid=pid, url=url.rstrip("/"), data_dir=folder)


def port_of(url: str) -> int:
    """The port of a backend URL (8765 when none is given)."""
    return urllib.parse.urlparse(url).port or 8765


def start(python: str, url: str, data_dir: str = "", flame: str = "") -> subprocess.Popen | RunningServer:
    """Start ``python -m emodiffhead serve --port <url's port>``; returns the process, or the
    :class:`RunningServer` already using the data folder (``reused`` True, its own ``url``), which is then used
    instead of starting a second server.

    Raises RuntimeError with an artist-facing message when ``python`` is not an executable file.
    """
    global _process, _log_path, _reused
    if is_running():
        return _process  # type: ignore[return-value]
    running = find_running(data_dir)
    if running is not None:
        _reused = running
        return running
    _reused = None
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
    log_file = open(_log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        _process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log_file.close()
    log.info("started %s (pid %d), log: %s", " ".join(cmd), _process.pid, _log_path)
    return _process


def stop(timeout: float = 5.0) -> bool:
    """Stop the server this session started (a reused one keeps running). Returns True when one was stopped."""
    global _process, _reused
    _reused = None
    if _process is None:
        return False
    # a kept twin of the backend's server.testing.stop_server: the add-on runs in Blender's Python with the
    # standard library only and cannot import the backend
    if _process.poll() is None:
        _process.terminate()
        try:
            _process.wait(timeout)
        except subprocess.TimeoutExpired:
            _process.kill()
            _process.wait(timeout)
    log.info("stopped the server (pid %d, exit code %s)", _process.pid, _process.returncode)
    _process = None
    return True


def is_running() -> bool:
    """True while the process this session started is alive."""
    return _process is not None and _process.poll() is None


def status_text() -> str:
    """One line for the preferences: running (pid), exited (code), reused or not started."""
    if _process is None:
        if _reused is not None:
            return f"using the server already running for the data folder (pid {_reused.pid}, {_reused.url})"
        return "not started from Blender"
    code = _process.poll()
    if code is None:
        return f"running (pid {_process.pid})"
    return f"exited with code {code}; log: {_log_path}"
