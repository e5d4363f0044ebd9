"""The add-on reuses a server already running for its data folder instead of starting a second one."""

from __future__ import annotations

import json
import signal
import socket

from helpers import run_blender_script

from emodiffhead.server.testing import start_server, stop_server


def _unused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_find_running_and_start_reuse_the_folders_server(tmp_path, addon_module):
    sp = addon_module("server_process")
    data = tmp_path / "data"
    assert sp.find_running(str(data)) is None  # nothing there yet
    url, _, proc = start_server(data)
    try:
        found = sp.find_running(str(data))
        assert found is not None and found.pid == proc.pid and found.url == url
        # a missing Python would make a new start fail: the running server is returned instead
        got = sp.start("/nonexistent/python", _unused_url(), str(data))
        assert got.reused and got.pid == proc.pid and got.url == url
        assert not sp.is_running() and str(proc.pid) in sp.status_text() and url in sp.status_text()
        assert sp.stop() is False  # not this session's process: left running
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)  # a crash leaves a stale server.json behind
        proc.wait(30)
    finally:
        stop_server(proc)
    assert json.loads((data / "server.json").read_text())["pid"] == proc.pid
    assert sp.find_running(str(data)) is None  # the pid is gone: not reused
    try:
        sp.start("/nonexistent/python", _unused_url(), str(data))
        raise AssertionError("start() should have tried to start a new server")
    except RuntimeError as e:
        assert "Backend Python not found" in str(e)


def test_start_server_operator_reuses_the_running_server(tmp_path, addon_zip, blender_user):
    data = tmp_path / "data"
    url, _, proc = start_server(data)
    try:
        params = {"data_dir": str(data), "unused_url": _unused_url()}
        r = run_blender_script("server_reuse.py", addon_zip, json.dumps(params), user_dir=blender_user, timeout=170)
        assert r["start"][0] == "FINISHED", r
        assert r["backend_url"] == url and not r["spawned"], r
        assert str(proc.pid) in r["status_text"], r
        assert r["check"][0] == "FINISHED" and r["token_status"] == 404, r
        assert proc.poll() is None  # "Stop server" left the reused server running
    finally:
        stop_server(proc)
