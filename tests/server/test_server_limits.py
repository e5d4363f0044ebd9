"""The server's limits over HTTP: hostile JSON, photo pixels, track bytes/frames, disk space, small faces,
connection timeouts and cap (issue 13). Each case gets a 4xx (or 507) whose message names the field."""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
import zlib

import av
import cv2
import httpx
import numpy as np
import pytest
from server_helpers import TEST_RENDERERS, job_upload, make_job_fn, neutral_track_json, start_live, wait_state


def _refused(live, method, path, *, status=None, names=(), **kw):
    """Send a request that must be refused: a 4xx (or 507) naming ``names``; nothing queued or left on disk."""
    with live.client() as c:
        r = c.request(method, path, **kw)
        assert 400 <= r.status_code < 500 or r.status_code == 507, (r.status_code, r.text[:300])
        if status is not None:
            assert r.status_code == status, (r.status_code, r.text[:300])
        detail = r.json()["detail"]
        for name in names:
            assert name in detail, (name, detail)
        assert c.get("/jobs").json() == [] and not list((live.data_dir / "jobs").iterdir())
        assert c.get("/health").status_code == 200
    return detail


def _track_with(job_files, **fields) -> bytes:
    d = json.loads(job_files[2])
    d.update(fields)
    return json.dumps(d).encode()


# ---- 2: hostile JSON -------------------------------------------------------------------------------
BIG_INT = "1" + "0" * 400
DEEP = "[" * 5000 + "]" * 5000


def test_hostile_json_fields_are_4xx_naming_the_field(live, job_files, example_audio):
    _refused(live, "POST", "/heads", data={"shape": f"[{BIG_INT}]"}, status=422, names=("'shape'", "401 characters"))
    _refused(live, "POST", "/heads", data={"shape": DEEP}, status=422, names=("'shape'", "nested"))
    _refused(live, "POST", "/heads", data={"shape": "[1e400]"}, status=422, names=("'shape'", "out of range"))
    _refused(live, "POST", "/heads", data={"shape": '{"a": 1}'}, status=422, names=("'shape'",))
    audio = {"audio": ("a.wav", job_files[1], "audio/wav")}
    _refused(live, "POST", "/animate", files=audio, data={"emotion_timeline": DEEP}, status=422,
             names=("'emotion_timeline'", "nested 5000 levels"))
    _refused(live, "POST", "/animate", files=audio, status=422, names=("'emotion_timeline'", "out of range"),
             data={"emotion_timeline": '[{"t": 0, "emotion": "sad", "intensity": 1e400}]'})
    _refused(live, "POST", "/animate", files=audio, status=422, names=("'emotion_timeline'",),
             data={"emotion_timeline": f'[{{"t": {BIG_INT}, "emotion": "sad", "intensity": 1}}]'})
    _refused(live, "POST", "/animate", files=audio, data={"intensity": "1e400"}, status=422, names=("intensity",))
    _refused(live, "POST", "/jobs", files=job_upload(job_files), data={"fps": BIG_INT}, status=422, names=("fps",))
    _refused(live, "POST", "/jobs", files=job_upload(job_files), data={"seed": BIG_INT}, status=422, names=("seed",))
    for body, names in ((DEEP.encode(), ("'track'", "nested")),
                        (_track_with(job_files, meta={"x": json.loads("[" * 20 + "]" * 20)}), ("'track'", "nested")),
                        (job_files[2].replace(b'"fps": 25.0', f'"fps": {BIG_INT}'.encode()), ("'track'", "characters")),
                        (job_files[2].replace(b'"fps": 25.0', b'"fps": 1e400'), ("'fps'", "finite")),
                        (job_files[2].replace(b"0.0", b"1e400", 1), ("track field", "infinite")),
                        (job_files[2].replace(b'"fps": 25.0', b'"fps": NaN'), ("'track'", "NaN")),
                        (_track_with(job_files, joint_names=5), ("'joint_names'",)),
                        (_track_with(job_files, joint_names=None), ("'joint_names'",)),
                        (_track_with(job_files, fps="25"), ("'fps'",)),
                        (_track_with(job_files, fps=240.0), ("'fps'", "10..120")),
                        (_track_with(job_files, expression={"a": 1}), ("'expression'",)),
                        (_track_with(job_files, expression=[[1e38] * 3] * 5), ("'expression'",)),
                        (_track_with(job_files, meta=[1]), ("'meta'",)),
                        (b"\xff\xfe[1]", ("'track'", "UTF-8"))):
        assert b'"fps": 25.0' in job_files[2]
        _refused(live, "POST", "/jobs", files=job_upload(job_files, track=("t.json", body, "application/json")),
                 names=names)


# ---- 3: photo pixels -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def huge_png() -> bytes:
    """A valid 20000 x 20000 grey PNG (about 400 KB; 400 MP, 1.2 GB decoded as BGR)."""
    w = h = 20000
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * w
    idat = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_huge_photo_refused_from_its_header_without_decoding(live, job_files, huge_png, monkeypatch):
    import cv2 as cv2_module

    decoded: list[int] = []
    real_imdecode = cv2_module.imdecode
    monkeypatch.setattr(cv2_module, "imdecode", lambda *a, **k: decoded.append(1) or real_imdecode(*a, **k))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB; the server runs in this process
    for _ in range(3):
        d = _refused(live, "POST", "/jobs", files=job_upload(job_files, photo=("big.png", huge_png, "image/png")),
                     status=413, names=("'photo'", "20000x20000", "50 MP"))
        _refused(live, "POST", "/heads", files={"photo": ("big.png", huge_png, "image/png")}, status=413,
                 names=("'photo'", "20000x20000"))
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert growth_mb < 300, f"peak memory grew {growth_mb:.0f} MB: the photo was decoded ({d})"
    assert decoded == []  # the decoder was never called
    bad = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40  # a PNG signature with no IHDR
    _refused(live, "POST", "/jobs", files=job_upload(job_files, photo=("x.png", bad, "image/png")), status=400,
             names=("'photo'", "header"))


def test_photo_decoding_runs_at_most_two_at_once(live, job_files, monkeypatch):
    from emodiffhead.server import inputs

    real = inputs.load_photo_rgb
    active, peak, lock = [0], [0], threading.Lock()

    def counting(path):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.5)  # hold the slot so that overlapping requests would show
            return real(path)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(inputs, "load_photo_rgb", counting)
    statuses: list[int] = []

    def post() -> None:
        with live.client() as c:
            statuses.append(c.post("/jobs", files=job_upload(job_files)).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == [202] * 6
    assert peak[0] == 2  # six requests overlapped, the semaphore let two decode at a time


# ---- 4: track bytes and frames ---------------------------------------------------------------------
def test_track_byte_and_frame_limits(tmp_path, job_files):
    srv = start_live(tmp_path / "d", job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS, max_track_mb=0.5,
                     max_audio_s=4.0)
    try:
        limits = httpx.get(srv.url + "/health").json()["limits"]
        assert limits["max_track_mb"] == 0.5 and limits["max_track_frames"] == 4 * 120 + 2
        padded = _track_with(job_files, meta={"pad": "x" * 600_000})
        _refused(srv, "POST", "/jobs", files=job_upload(job_files, track=("t.json", padded, "application/json")),
                 status=413, names=("'track'", "0.5 MB", "--max-track-mb"))
        long = neutral_track_json(500)  # 500 frames > 482, and only ~0.2 MB
        assert len(long) < 0.5 * 2**20
        _refused(srv, "POST", "/jobs", files=job_upload(job_files, track=("t.json", long, "application/json")),
                 status=413, names=("'track'", "500 frames", "482"))  # counted exactly after parsing
        longer = neutral_track_json(700)  # 4 x 700 rows > 5 x 482 + 2 x 8: refused from a scan, before parsing
        _refused(srv, "POST", "/jobs", files=job_upload(job_files, track=("t.json", longer, "application/json")),
                 status=413, names=("'track'", "at least 557 frames", "482"))
    finally:
        srv.stop()


def test_a_large_track_is_parsed_off_the_server_thread_and_works(live, job_files):
    """A track over the inline size (1 MB) goes through the child-process parser: same answers."""
    from emodiffhead.server.inputs import INLINE_TRACK_BYTES

    big = _track_with(job_files, meta={"pad": "x" * (INLINE_TRACK_BYTES + 1000)})
    with live.client() as c:
        r = c.post("/jobs", files=job_upload(job_files, track=("t.json", big, "application/json")))
        assert r.status_code == 202, r.text
        assert wait_state(c, r.json()["id"], ("done", "failed"))["state"] == "done"
        bad = _track_with(job_files, meta={"pad": "x" * (INLINE_TRACK_BYTES + 1000)}, joint_names=7)
        r = c.post("/jobs", files=job_upload(job_files, track=("t.json", bad, "application/json")))
        assert r.status_code == 422 and "'joint_names'" in r.json()["detail"]
        deep = b" " * (INLINE_TRACK_BYTES + 10) + DEEP.encode()
        r = c.post("/jobs", files=job_upload(job_files, track=("t.json", deep, "application/json")))
        assert r.status_code == 422 and "nested" in r.json()["detail"]


def test_large_track_under_emodiffhead_serve(tmp_path, job_files):
    """The child-process parser works in the real ``python -m emodiffhead serve`` process (spawn start method)."""
    from emodiffhead.server.inputs import INLINE_TRACK_BYTES
    from emodiffhead.server.testing import start_server, stop_server

    url, token, proc = start_server(tmp_path / "data")
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            big = _track_with(job_files, meta={"pad": "x" * (INLINE_TRACK_BYTES + 1000)})
            r = c.post("/jobs", files=job_upload(job_files, track=("t.json", big, "application/json")),
                       data={"size": "128"})
            assert r.status_code == 202, r.text
            bad = _track_with(job_files, meta={"pad": "x" * (INLINE_TRACK_BYTES + 1000)}, fps=None)
            r = c.post("/jobs", files=job_upload(job_files, track=("t.json", bad, "application/json")))
            assert r.status_code == 422 and "'fps'" in r.json()["detail"], r.text
    finally:
        stop_server(proc)


# ---- 5: disk space --------------------------------------------------------------------------------
def test_too_little_free_space_is_507_before_anything_is_written(tmp_path, job_files):
    srv = start_live(tmp_path / "d", job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS, min_free_mb=1e9)
    try:
        d = _refused(srv, "POST", "/jobs", files=job_upload(job_files), status=507,
                     names=("MB free", "--min-free-mb", "delete old jobs"))
        assert "internal" not in d
    finally:
        srv.stop()


def test_disk_full_while_rendering_fails_the_job_with_a_plain_reason(tmp_path, job_files):
    def fills_the_disk(job, progress, cancel):
        progress(0.5, "frame 1/2")
        with open("/dev/full", "wb") as f:  # every write: ENOSPC, as on a full disk
            f.write(b"x" * 65536)
            f.flush()

    srv = start_live(tmp_path / "d", job_fn=fills_the_disk, renderers_fn=TEST_RENDERERS)
    try:
        with srv.client() as c:
            jid = c.post("/jobs", files=job_upload(job_files)).json()["id"]
            st = wait_state(c, jid, ("done", "failed"))
            assert st["state"] == "failed" and "disk" in st["error"] and "full" in st["error"]
            assert "internal error" not in st["error"]
    finally:
        srv.stop()


def test_frames_zip_failure_keeps_the_finished_video(tmp_path, example_photo, example_audio, job_files):
    srv = start_live(tmp_path / "d")  # the real render pipeline
    try:
        with srv.client() as c:
            r = c.post("/jobs", files=job_upload(job_files), data={"size": "128", "frames": "zip"})
            assert r.status_code == 202, r.text
            jid = r.json()["id"]
            (srv.data_dir / "jobs" / jid / "frames.zip").mkdir()  # the zip cannot be written there
            st = wait_state(c, jid, ("done", "failed"), timeout=240)
            assert st["state"] == "done", st
            assert st["outputs"] == ["video"] and any("frames.zip" in w for w in st["warnings"]), st
            r = c.get(f"/jobs/{jid}/result")
            assert r.status_code == 200
            out = tmp_path / "r.mp4"
            out.write_bytes(r.content)
            with av.open(str(out)) as v:
                assert sum(1 for _ in v.decode(video=0)) == st["frames_total"]
            assert c.get(f"/jobs/{jid}/frames.zip").status_code == 404
    finally:
        srv.stop()


# ---- 6: small face ---------------------------------------------------------------------------------
def test_face_too_small_at_the_video_size_refused_at_submission(live, job_files, example_photo, example_audio,
                                                                 tmp_path):
    d = _refused(live, "POST", "/jobs", files=job_upload(job_files), data={"size": "96"}, status=422,
                 names=("'photo'", "too small", "96 px"))
    # the same rule as the CLI's render: render_video refuses this photo at this size with the same reason
    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.render.pipeline import render_video

    with pytest.raises(FaceNotFoundError) as e:
        render_video(example_photo, example_audio, tmp_path / "o.mp4", size=96)
    assert str(e.value) in d
    with live.client() as c:
        assert c.post("/jobs", files=job_upload(job_files), data={"size": "128"}).status_code == 202


# ---- 7: connections --------------------------------------------------------------------------------
def _read_all(sock: socket.socket, timeout: float = 30.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return data
        if not chunk:
            return data
        data += chunk


def test_idle_and_slow_connections_are_closed_and_the_count_is_capped(tmp_path):
    srv = start_live(tmp_path / "d", job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS, header_timeout_s=1.0,
                     body_timeout_s=1.0, max_connections=8)
    host, port = "127.0.0.1", int(srv.url.rsplit(":", 1)[1])
    try:
        idle = [socket.create_connection((host, port)) for _ in range(8)]  # send nothing
        extra = socket.create_connection((host, port))
        answer = _read_all(extra)
        assert answer.startswith(b"HTTP/1.1 503") and b"retry-after" in answer.lower()
        assert b"connections open" in answer
        for s in idle:  # each gets a 408 and is closed by the header timeout
            got = _read_all(s)
            assert got.startswith(b"HTTP/1.1 408") and b"request headers" in got, got[:200]
            s.close()
        extra.close()
        # slow headers: a byte at a time keeps arriving, but the head must be complete in time
        slow = socket.create_connection((host, port))
        slow.settimeout(30)
        closed = False
        for ch in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 200:
            try:
                slow.sendall(bytes([ch]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.05)
        got = _read_all(slow)
        assert closed or got.startswith(b"HTTP/1.1 408"), got[:200]
        slow.close()
        # a body that stops half way
        body_conn = socket.create_connection((host, port))
        body_conn.sendall(b"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + srv.token.encode()
                          + b"\r\nContent-Type: multipart/form-data; boundary=zz\r\nContent-Length: 1000\r\n\r\n--zz")
        got = _read_all(body_conn)
        assert got.startswith(b"HTTP/1.1 408") and b"body paused" in got, got[:300]
        body_conn.close()
        # the server is fine afterwards, and nothing was queued
        with srv.client() as c:
            assert c.get("/health").status_code == 200 and c.get("/jobs").json() == []
    finally:
        srv.stop()


def test_a_slow_handler_is_not_cut_by_the_timeouts(tmp_path, job_files, monkeypatch):
    """The timeouts only count time spent waiting for the client's bytes, never the server's own work."""
    from emodiffhead.server import inputs

    real = inputs.check_photo

    def slow_check(path, size):
        time.sleep(1.5)  # three times the timeouts below
        return real(path, size)

    monkeypatch.setattr(inputs, "check_photo", slow_check)
    srv = start_live(tmp_path / "d", job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS, header_timeout_s=0.5,
                     body_timeout_s=0.5)
    try:
        with srv.client() as c:  # one keep-alive connection for all three
            for _ in range(3):
                r = c.post("/jobs", files=job_upload(job_files))
                assert r.status_code == 202, r.text
            assert c.get("/health").status_code == 200
    finally:
        srv.stop()


def _can_mount_tmpfs() -> bool:
    import shutil
    import subprocess

    if not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt 2>/dev/null || "
                        "mount -t tmpfs -o size=1m tmpfs /tmp"], capture_output=True, timeout=30)
    return r.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare -rm and tmpfs mounts (user namespaces)")
def test_a_really_full_disk(tmp_path, job_files):
    """The server on a 3 MB tmpfs (in its own mount namespace): too little space is a 507 up front, a disk that
    fills while the upload is saved is a 507 with nothing left behind, and the server goes on working."""
    import subprocess
    import sys

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = 'mount -t tmpfs -o size=3m tmpfs "$0" && exec "$@"'
    proc = subprocess.Popen(["unshare", "-rm", "sh", "-c", script, str(mnt), sys.executable, "-m", "emodiffhead",
                             "serve", "--port", "0", "--data-dir", str(mnt / "data"), "--min-free-mb", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode()
        assert "listening on" in line, line
        url = line.split("listening on ", 1)[1].strip()
        root = f"/proc/{proc.pid}/root"  # the tmpfs as the server sees it
        token = open(f"{root}{mnt}/data/token").read().strip()
        jobs_dir = f"{root}{mnt}/data/jobs"
        noise = np.random.default_rng(0).integers(0, 256, (1100, 1100, 3), dtype=np.uint8)
        big_photo = cv2.imencode(".png", noise)[1].tobytes()  # ~3.5 MB: more than the disk holds
        assert len(big_photo) > 3 * 2**20
        h = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=h, timeout=120) as c:
            files = job_upload(job_files, photo=("big.png", big_photo, "image/png"))
            r = c.post("/jobs", files=files)
            assert r.status_code == 507 and "MB free" in r.json()["detail"], r.text
            # without Content-Length the space check cannot know the size: the disk fills while saving
            req = c.build_request("POST", "/jobs", files=files)
            body = req.read()

            def chunks():
                for i in range(0, len(body), 65536):
                    yield body[i:i + 65536]

            r = c.post("/jobs", content=chunks(), headers={"Content-Type": req.headers["Content-Type"]})
            assert r.status_code == 507 and "full" in r.json()["detail"], r.text
            import os

            assert os.listdir(jobs_dir) == []  # nothing half-saved is left
            r = c.post("/jobs", files=job_upload(job_files), data={"size": "128"})  # a small job still works
            assert r.status_code == 202, r.text
            st = wait_state(c, r.json()["id"], ("done", "failed"), timeout=240)
            assert st["state"] == "done", st
            assert c.get(f"/jobs/{st['id']}/result").content[4:8] == b"ftyp"
    finally:
        proc.terminate()
        proc.wait(30)
