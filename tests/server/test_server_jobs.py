"""Job machinery over HTTP: queue, progress, result, cancel, restart (with a small real job function)."""

from __future__ import annotations

import json
import shutil
import time

import av

from server_helpers import (TEST_RENDERERS, job_upload, make_job_fn, start_live, wait_on_disk, wait_progress,
                            wait_state)


def test_job_runs_to_done_and_serves_mp4(live, job_files, tmp_path):
    with live.client() as c:
        r = c.post("/jobs", files=job_upload(job_files), data={"renderer": "warp", "size": "128"})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["state"] == "queued" and len(job["id"]) == 32
        assert c.get(f"/jobs/{job['id']}/result").status_code in (409, 200)
        st = wait_state(c, job["id"], ("done", "failed"))
        assert st["state"] == "done", st
        assert st["progress"] == 1.0 and st["frames_done"] == 10 and st["frames_total"] == 10
        assert st["started"] >= st["created"] and st["finished"] >= st["started"]
        r = c.get(f"/jobs/{job['id']}/result")
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        out = tmp_path / "r.mp4"
        out.write_bytes(r.content)
        with av.open(str(out)) as v:
            assert sum(1 for _ in v.decode(video=0)) == 10
        assert [j["id"] for j in c.get("/jobs").json()] == [job["id"]]
        assert c.get(f"/jobs/{job['id']}/frames.zip").status_code == 404  # not requested
        # on disk: only fixed names, job.json says done (written just after the state is seen over HTTP)
        wait_on_disk(live.data_dir, job["id"], "done")
        names = sorted(p.name for p in (live.data_dir / "jobs" / job["id"]).iterdir())
        assert names == ["audio.wav", "job.json", "photo.jpg", "result.mp4", "track.json"]
        assert json.loads((live.data_dir / "jobs" / job["id"] / "job.json").read_text())["state"] == "done"
        assert c.delete(f"/jobs/{job['id']}").status_code == 204
        assert c.get(f"/jobs/{job['id']}").status_code == 404


def test_cancel_running_and_queued(tmp_path, job_files):
    srv = start_live(tmp_path / "d", job_fn=make_job_fn(frames=400, delay_s=0.02), renderers_fn=TEST_RENDERERS)
    try:
        with srv.client() as c:
            a = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            b = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            wait_progress(c, a)
            assert c.get(f"/jobs/{a}").json()["eta_s"] is not None
            st_b = c.post(f"/jobs/{b}/cancel").json()
            assert st_b["state"] == "cancelled"  # queued: cancelled without running
            st = c.post(f"/jobs/{a}/cancel").json()
            assert st["state"] in ("running", "cancelled") and st["cancel_requested"]
            st = wait_state(c, a, ("cancelled", "done", "failed"))
            assert st["state"] == "cancelled" and st["progress"] < 1.0  # stopped between frames, not at the end
            assert st["frames_done"] < st["frames_total"] == 400
            assert c.get(f"/jobs/{a}/result").status_code == 409
            assert c.get(f"/jobs/{b}").json()["started"] is None
            assert not any(p.name.startswith("result") for p in (srv.data_dir / "jobs" / a).iterdir())
            # cancelling a finished job changes nothing
            assert c.post(f"/jobs/{a}/cancel").json()["state"] == "cancelled"
    finally:
        srv.stop()


def test_restart_finds_done_jobs_and_fails_interrupted_ones(tmp_path, job_files):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    srv = start_live(d1, job_fn=make_job_fn(frames=5, delay_s=0.0), renderers_fn=TEST_RENDERERS)
    try:
        with srv.client() as c:
            ok = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            assert wait_state(c, ok, ("done", "failed"))["state"] == "done"
            video = c.get(f"/jobs/{ok}/result").content
    finally:
        srv.stop()
    srv = start_live(d1, job_fn=make_job_fn(frames=400, delay_s=0.02), renderers_fn=TEST_RENDERERS)
    try:
        with srv.client() as c:
            assert c.get(f"/jobs/{ok}").json()["state"] == "done"
            running = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            queued = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            wait_state(c, running, ("running",))
            time.sleep(1.2)  # let a progress update reach job.json
            shutil.copytree(d1, d2)  # the folder as a crash would leave it
    finally:
        srv.stop()
    srv = start_live(d2, job_fn=make_job_fn(frames=5, delay_s=0.0), renderers_fn=TEST_RENDERERS)
    try:
        with srv.client() as c:
            jobs = {j["id"]: j for j in c.get("/jobs").json()}
            assert jobs[ok]["state"] == "done"
            assert c.get(f"/jobs/{ok}/result").content == video
            for jid in (running, queued):
                assert jobs[jid]["state"] == "failed" and jobs[jid]["error"] == "server restarted", jobs[jid]
                assert c.get(f"/jobs/{jid}/result").status_code == 409
            assert not any(".tmp" in p.name for p in (d2 / "jobs" / running).iterdir())
            new = c.post("/jobs", files=job_upload(job_files)).json()["id"]  # still works after the restart
            assert wait_state(c, new, ("done", "failed"))["state"] == "done"
    finally:
        srv.stop()


def test_failing_job_function_fails_the_job_not_the_server(tmp_path, job_files):
    def broken(job, progress, cancel):
        progress(0.5, "half")
        raise ZeroDivisionError("boom")

    srv = start_live(tmp_path / "d", job_fn=broken, renderers_fn=TEST_RENDERERS)
    try:
        with srv.client() as c:
            jid = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            st = wait_state(c, jid, ("done", "failed"))
            assert st["state"] == "failed" and "ZeroDivisionError" in st["error"]
            assert c.get("/health").status_code == 200
    finally:
        srv.stop()
