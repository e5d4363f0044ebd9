"""End to end with the real pipeline: animate over HTTP, render that track with the warp renderer, fetch the mp4."""

from __future__ import annotations

import io
import json
import zipfile

import av
import httpx
import numpy as np
import pytest
from server_helpers import start_live, wait_state



@pytest.fixture(scope="module")
def real(tmp_path_factory):
    srv = start_live(tmp_path_factory.mktemp("e2e") / "data")
    yield srv
    srv.stop()


def test_animate_then_render_then_fetch_mp4(real, example_photo, example_audio, tmp_path):
    with real.client() as c:
        health = c.get("/health").json()
        assert health["renderers"]["warp"]["available"], health
        audio = ("speech.wav", example_audio.read_bytes(), "audio/wav")
        r = c.post("/animate", files={"audio": audio}, data={"emotion": "happy", "intensity": "1.0"})
        assert r.status_code == 200, r.text
        track = r.json()
        r = c.post("/jobs", files={"photo": ("me.jpg", example_photo.read_bytes(), "image/jpeg"), "audio": audio,
                                   "track": ("t.json", json.dumps(track).encode(), "application/json")},
                   data={"renderer": "warp", "size": "128", "frames": "zip"})
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        st = wait_state(c, jid, ("done", "failed", "cancelled"), timeout=240)
        assert st["state"] == "done", st
        assert st["frames_total"] == track["num_frames"] and st["frames_done"] == st["frames_total"]
        r = c.get(f"/jobs/{jid}/result")
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        out = tmp_path / "out.mp4"
        out.write_bytes(r.content)
        with av.open(str(out)) as v:
            assert v.streams.audio, "no audio stream"
            assert v.streams.audio[0].duration is None or v.streams.audio[0].duration > 0
            frames = [f.to_ndarray(format="rgb24") for f in v.decode(video=0)]
        assert abs(len(frames) - track["num_frames"]) <= 1
        assert frames[0].shape[0] == 128 or frames[0].shape[1] == 128
        assert float(np.std(frames[0])) > 10  # a picture, not a blank frame
        z = c.get(f"/jobs/{jid}/frames.zip")
        assert z.status_code == 200
        with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
            names = zf.namelist()
        assert len(names) == len(frames) and names[0] == "frame_000001.png"


def test_cancel_a_real_render(real, example_photo, example_audio):
    with real.client() as c:
        r = c.post("/jobs", files={"photo": ("me.jpg", example_photo.read_bytes(), "image/jpeg"),
                                   "audio": ("speech.wav", example_audio.read_bytes(), "audio/wav")},
                   data={"renderer": "warp", "size": "128", "emotion": "sad"})
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        wait_state(c, jid, ("running", "done", "failed"), timeout=120)
        c.post(f"/jobs/{jid}/cancel")
        st = wait_state(c, jid, ("cancelled", "done", "failed"), timeout=120)
        assert st["state"] == "cancelled", st
        assert c.get(f"/jobs/{jid}/result").status_code == 409


def test_killed_server_restarts_with_interrupted_jobs_failed(tmp_path, example_photo, example_audio):
    from emodiffhead.server.testing import start_server, stop_server

    data = tmp_path / "data"
    url, token, proc = start_server(data)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            files = {"photo": ("me.jpg", example_photo.read_bytes(), "image/jpeg"),
                     "audio": ("speech.wav", example_audio.read_bytes(), "audio/wav")}
            running = c.post("/jobs", files=files, data={"size": "128"}).json()["id"]
            queued = c.post("/jobs", files=files, data={"size": "128"}).json()["id"]
            wait_state(c, running, ("running",), timeout=120)
        proc.kill()  # no chance to clean up: as a crash or power cut
        proc.wait(30)
    finally:
        stop_server(proc)
    url, token, proc = start_server(data)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            for jid in (running, queued):
                st = c.get(f"/jobs/{jid}").json()
                assert st["state"] == "failed" and st["error"] == "server restarted", st
                assert c.get(f"/jobs/{jid}/result").status_code == 409
        assert not [p for p in (data / "jobs" / running).iterdir() if p.name.startswith(("result", "."))]
    finally:
        stop_server(proc)
