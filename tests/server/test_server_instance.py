"""One server per data folder (lock + server.json), the data folder at start (orphans swept, unreadable jobs
kept, modes 0700/0600), HEAD /health, retention of old jobs."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import httpx
import pytest
from server_helpers import (TEST_RENDERERS, job_upload, make_job_fn, start_live, wait_on_disk, wait_progress,
                            wait_state)

from emodiffhead.server.instance import ServerAlreadyRunning, read_instance
from emodiffhead.server.testing import start_server, stop_server


def _serve(data_dir, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "emodiffhead", "serve", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_second_server_on_a_folder_refuses_and_touches_no_job(tmp_path, job_files):
    srv = start_live(tmp_path / "d", job_fn=make_job_fn(frames=3000, delay_s=0.02), renderers_fn=TEST_RENDERERS)
    try:
        with srv.client() as c:
            # (the same two-job setup as test_server_jobs' cancel test: kept, the server tests stay as they were)
            running = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            queued = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            wait_progress(c, running, 0.03)  # past x264's lookahead: the mp4 file exists
            info = read_instance(srv.data_dir)
            assert info["pid"] == os.getpid() and info["url"] == srv.url
            def files_of(jid: str) -> list[str]:  # (hidden temp files of progress updates come and go)
                return sorted(p.name for p in (srv.data_dir / "jobs" / jid).iterdir() if not p.name.startswith("."))

            before = files_of(running)
            assert "result.tmp.mp4" in before  # the live job's file in progress
            port = srv.url.rsplit(":", 1)[1]
            for port_arg in (port, "0"):  # the live server's port, and another one
                r = _serve(srv.data_dir, "--port", port_arg)
                assert r.returncode == 2, r.stderr
                err = r.stderr.strip()
                assert len(err.splitlines()) == 1 and "in use by another emodiffhead server" in err
                assert f"pid {os.getpid()}" in err and srv.url in err and "--data-dir" in err
            # in the same process too (the lock is per open file, not per process)
            from emodiffhead.server.app import ServerConfig, create_app

            with pytest.raises(ServerAlreadyRunning, match="in use by another"):
                create_app(ServerConfig(data_dir=srv.data_dir, token="x" * 43))
            # nothing of the live server was touched: its file in progress, its job states
            assert files_of(running) == before
            for jid, state in ((running, "running"), (queued, "queued")):
                assert json.loads((srv.data_dir / "jobs" / jid / "job.json").read_text())["state"] == state
                assert c.get(f"/jobs/{jid}").json()["state"] == state
            assert read_instance(srv.data_dir) == info
            c.post(f"/jobs/{running}/cancel")
            c.post(f"/jobs/{queued}/cancel")
    finally:
        srv.stop()
    assert read_instance(srv.data_dir) is None  # a clean stop removes server.json and drops the lock
    srv = start_live(srv.data_dir, job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS)
    srv.stop()


def test_server_json_names_the_process_and_a_crash_leaves_no_lock(tmp_path):
    data = tmp_path / "data"
    url, token, proc = start_server(data)
    try:
        info = read_instance(data)
        assert info["pid"] == proc.pid and info["url"] == url and info["port"] == int(url.rsplit(":", 1)[1])
        assert stat.S_IMODE((data / "server.json").stat().st_mode) == 0o600
        r = _serve(data, "--port", "0")
        assert r.returncode == 2 and f"pid {proc.pid}" in r.stderr and url in r.stderr
        proc.send_signal(signal.SIGKILL)  # a crash: the kernel drops the lock, server.json stays behind
        proc.wait(30)
    finally:
        stop_server(proc)
    assert read_instance(data)["pid"] == proc.pid  # stale
    url2, _, proc2 = start_server(data)
    try:
        assert read_instance(data)["pid"] == proc2.pid and read_instance(data)["url"] == url2
    finally:
        stop_server(proc2)


def test_orphan_folders_swept_and_unreadable_jobs_kept(tmp_path, job_files):
    data = tmp_path / "d"
    jobs = data / "jobs"
    orphan, broken = jobs / ("a" * 32), jobs / ("b" * 32)
    orphan.mkdir(parents=True)
    (orphan / "photo.jpg").write_bytes(job_files[0])  # killed between the folder and its job.json
    (orphan / "audio.wav").write_bytes(job_files[1])
    broken.mkdir()
    (broken / "job.json").write_text("{half a json")
    (broken / "photo.jpg").write_bytes(job_files[0])
    srv = start_live(data, job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS)
    try:
        assert not orphan.exists()
        with srv.client() as c:
            jobs_seen = c.get("/jobs").json()
            assert [j["id"] for j in jobs_seen] == [broken.name]
            assert jobs_seen[0]["state"] == "failed" and "unreadable" in jobs_seen[0]["error"]
            assert c.delete(f"/jobs/{broken.name}").status_code == 204
            assert not broken.exists()
    finally:
        srv.stop()


def test_head_health_and_private_modes(tmp_path, job_files):
    data = tmp_path / "d"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "jobs").mkdir(mode=0o755)
    os.chmod(data / "jobs", 0o755)
    srv = start_live(data, job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS)
    try:
        r = httpx.head(srv.url + "/health")
        assert r.status_code == 200 and r.content == b""
        assert r.headers["content-type"] == "application/json"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "jobs").stat().st_mode) == 0o700
        with srv.client() as c:
            jid = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            assert wait_state(c, jid, ("done", "failed"))["state"] == "done"
        wait_on_disk(data, jid, "done")
        for p in (data / "jobs" / jid).iterdir():
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
        assert stat.S_IMODE((data / "jobs" / jid).stat().st_mode) == 0o700
    finally:
        srv.stop()


def test_retention_deletes_old_finished_jobs_only(tmp_path, job_files):
    data = tmp_path / "d"
    srv = start_live(data, job_fn=make_job_fn(frames=3, delay_s=0.0), renderers_fn=TEST_RENDERERS, keep_days=0)
    try:
        with srv.client() as c:
            old, recent = (c.post("/jobs", files=job_upload(job_files)).json()["id"] for _ in range(2))
            for jid in (old, recent):
                assert wait_state(c, jid, ("done", "failed"))["state"] == "done"
    finally:
        srv.stop()
    rec = json.loads((data / "jobs" / old / "job.json").read_text())
    rec["finished"] = time.time() - 10 * 86400  # finished ten days ago
    (data / "jobs" / old / "job.json").write_text(json.dumps(rec))
    srv = start_live(data, job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS, keep_days=0)  # 0: keep all
    try:
        with srv.client() as c:
            assert {j["id"] for j in c.get("/jobs").json()} == {old, recent}
    finally:
        srv.stop()
    srv = start_live(data, job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS, keep_days=5)
    try:
        with srv.client() as c:
            assert [j["id"] for j in c.get("/jobs").json()] == [recent]
            assert c.get("/health").json()["limits"]["keep_days"] == 5
        assert not (data / "jobs" / old).exists() and (data / "jobs" / recent / "result.mp4").is_file()
    finally:
        srv.stop()
