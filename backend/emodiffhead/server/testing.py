"""Start a real ``emodiffhead serve`` subprocess for tests (the server's own and the add-on's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

_LISTEN = re.compile(r"listening on (http://\S+)")


def start_server(data_dir: str | os.PathLike, *, extra_args: tuple[str, ...] = (),
                 timeout_s: float = 60.0) -> tuple[str, str, subprocess.Popen]:
    """Start ``emodiffhead serve --port 0 --data-dir data_dir`` on a free loopback port; wait for /health.

    Returns (base url like ``http://127.0.0.1:PORT``, token, process). The server log goes to
    ``data_dir/server.log``. Stop it with :func:`stop_server`.
    """
    import httpx

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "emodiffhead", "serve", "--port", "0", "--data-dir", str(data_dir),
                             *extra_args], stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    lines: list[str] = []
    found = threading.Event()

    def reader() -> None:  # keeps draining stdout so the server never blocks on a full pipe
        for raw in proc.stdout:
            lines.append(raw.decode("utf-8", "replace"))
            if _LISTEN.search(lines[-1]):
                found.set()
        found.set()

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    if not found.wait(timeout_s) or not any(_LISTEN.search(s) for s in lines):
        stop_server(proc)
        raise RuntimeError(f"server did not start: {''.join(lines)[-2000:]} (log: {data_dir / 'server.log'})")
    url = next(_LISTEN.search(s).group(1) for s in lines if _LISTEN.search(s))
    while True:
        try:
            if httpx.get(url + "/health", timeout=5.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"server at {url} did not answer /health (log: {data_dir / 'server.log'})")
        time.sleep(0.1)
    token = (data_dir / "token").read_text().strip()
    return url, token, proc


def stop_server(proc: subprocess.Popen, timeout_s: float = 15.0) -> int | None:
    """Stop a server started by :func:`start_server` (SIGTERM, then SIGKILL). Returns its exit status.

    (A kept twin of the add-on's ``server_process.stop``: the add-on cannot import the backend.)"""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
    return proc.returncode
