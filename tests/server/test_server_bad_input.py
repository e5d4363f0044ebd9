"""Every bad input gets a 4xx whose message names the problem; nothing is queued; the server keeps going."""

from __future__ import annotations

import json

import cv2
import httpx
import numpy as np
from server_helpers import TEST_RENDERERS, job_upload, make_job_fn, neutral_track_json, start_live


def _post(live, **kw):
    with live.client() as c:
        r = c.post("/jobs", **kw)
        assert c.get("/jobs").json() == []  # nothing was queued
        assert not list((live.data_dir / "jobs").iterdir())  # and nothing left on disk
        assert c.get("/health").status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert isinstance(r.json()["detail"], str)
    return r


def test_wrong_content_type_of_a_part(live, job_files):
    r = _post(live, files=job_upload(job_files, photo=("me.txt", b"hello", "text/plain")))
    assert r.status_code == 415 and "photo" in r.json()["detail"] and "text/plain" in r.json()["detail"]
    r = _post(live, files=job_upload(job_files, audio=("a.png", job_files[1], "image/png")))
    assert r.status_code == 415 and "audio" in r.json()["detail"]


def test_wrong_content_type_of_the_request(live):
    r = _post(live, content=b'{"photo": 1}', headers={"Content-Type": "application/json"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]


def test_unreadable_audio(live, job_files):
    junk = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    r = _post(live, files=job_upload(job_files, audio=("x.wav", junk, "audio/wav")))
    assert r.status_code == 400 and "audio" in r.json()["detail"]


def test_photo_that_is_not_an_image(live, job_files):
    r = _post(live, files=job_upload(job_files, photo=("x.jpg", b"\xff\xd8\xff" + b"0" * 500, "image/jpeg")))
    assert 400 <= r.status_code < 500 and "photo" in r.json()["detail"]


def test_photo_without_face(live, job_files):
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), (9, 9), 3)  # texture, no face
    ok, jpg = cv2.imencode(".jpg", img)
    r = _post(live, files=job_upload(job_files, photo=("p.jpg", jpg.tobytes(), "image/jpeg")))
    assert r.status_code == 422 and "face" in r.json()["detail"].lower()


def test_malformed_track_gives_the_validators_message(live, job_files):
    bad = json.loads(job_files[2])
    bad["pose"] = bad["pose"][:-1]
    r = _post(live, files=job_upload(job_files, track=("t.json", json.dumps(bad).encode(), "application/json")))
    assert r.status_code == 422 and "'pose'" in r.json()["detail"]
    r = _post(live, files=job_upload(job_files, track=("t.json", b"{not json", "application/json")))
    assert r.status_code == 422 and "JSON" in r.json()["detail"]


def test_track_audio_length_mismatch(live, job_files):
    r = _post(live, files=job_upload(job_files, track=("t.json", neutral_track_json(10), "application/json")))
    assert r.status_code == 422
    d = r.json()["detail"]
    assert "10 frames" in d and "audio lasts 3.1" in d


def test_bad_form_fields(live, job_files):
    r = _post(live, files=job_upload(job_files), data={"size": "100000"})
    assert r.status_code == 422 and "size" in r.json()["detail"]
    r = _post(live, files=job_upload(job_files), data={"emotion": "bored"})
    assert r.status_code == 422 and "emotion" in r.json()["detail"]
    r = _post(live, files=job_upload(job_files), data={"renderer": "nope"})
    assert r.status_code == 422 and "nope" in r.json()["detail"] and "warp" in r.json()["detail"]
    r = _post(live, files=job_upload(job_files), data={"renderer": "diffusion"})
    assert r.status_code == 409 and "no weights installed" in r.json()["detail"]
    r = _post(live, files=job_upload(job_files, audio=None))
    assert r.status_code == 422 and "audio" in r.json()["detail"]


def test_oversize_upload_states_the_limit(tmp_path, job_files):
    srv = start_live(tmp_path / "d", job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS, max_upload_mb=0.05)
    try:
        r = _post(srv, files=job_upload(job_files))
        assert r.status_code == 413 and "0.05 MB" in r.json()["detail"]
        # chunked upload without Content-Length (a valid multipart body): counted while it streams
        body = (b'--zz\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
                b"Content-Type: image/jpeg\r\n\r\n" + b"x" * (200 * 1024) + b"\r\n--zz--\r\n")

        def chunks():
            for i in range(0, len(body), 8192):
                yield body[i:i + 8192]

        with srv.client() as c:
            r = c.post("/jobs", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=zz"})
        assert r.status_code == 413 and "0.05 MB" in r.json()["detail"]
    finally:
        srv.stop()


def test_audio_longer_than_the_limit(tmp_path, job_files):
    srv = start_live(tmp_path / "d", job_fn=make_job_fn(), renderers_fn=TEST_RENDERERS, max_audio_s=1.0)
    try:
        r = _post(srv, files=job_upload(job_files))
        assert r.status_code == 400 and "limit of 1 s" in r.json()["detail"]
    finally:
        srv.stop()


def test_too_short_audio_and_odd_fps(live, job_files, example_audio, example_photo, tmp_path, capsys):
    import io
    import wave

    with wave.open(str(example_audio)) as w:
        frames = w.readframes(int(0.4 * w.getframerate()))
        params = w.getparams()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setparams(params)
        w.writeframes(frames)
    r = _post(live, files=job_upload(job_files, audio=("s.wav", buf.getvalue(), "audio/wav"), track=None))
    assert r.status_code == 400 and "too short" in r.json()["detail"]
    with live.client() as c:
        r = c.post("/animate", files={"audio": ("s.wav", buf.getvalue(), "audio/wav")})
    assert r.status_code == 400 and "too short" in r.json()["detail"]
    server_says = r.json()["detail"]
    # one limit for the server and the CLI (audio.io.MIN_DURATION_S): the CLI refuses the same file
    from emodiffhead.audio.io import MIN_DURATION_S
    from emodiffhead.cli import main

    assert f"at least {MIN_DURATION_S:g} s" in server_says
    short = tmp_path / "short.wav"
    short.write_bytes(buf.getvalue())
    capsys.readouterr()
    for argv in (["animate", str(short), "-o", str(tmp_path / "t.json"), "--quiet"],
                 ["render", str(example_photo), str(short), "-o", str(tmp_path / "o.mp4"), "--size", "128",
                  "--quiet"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "too short" in err and f"at least {MIN_DURATION_S:g} s" in err, err
    assert httpx.get(live.url + "/health").json()["limits"]["min_audio_s"] == MIN_DURATION_S
    r = _post(live, files=job_upload(job_files), data={"fps": "0.5"})
    assert r.status_code == 422 and "fps" in r.json()["detail"]


def test_unknown_job_id(live):
    with live.client() as c:
        for path in ("/jobs/0123456789abcdef0123456789abcdef", "/jobs/..%2F..%2Ftoken", "/jobs/abc/result",
                     "/jobs/0123456789abcdef0123456789abcdef/result", "/jobs/zz/frames.zip"):
            r = c.get(path)
            assert r.status_code == 404, path
            assert "unknown job id" in r.json()["detail"] or r.json()["detail"] == "Not Found"
        r = c.post("/jobs/0123456789abcdef0123456789abcdef/cancel")
        assert r.status_code == 404 and "unknown job id" in r.json()["detail"]


def test_uploaded_file_names_never_become_paths(live, job_files):
    files = job_upload(job_files)
    files["photo"] = ("../../../token", files["photo"][1], "image/jpeg")
    files["audio"] = ("/etc/passwd", files["audio"][1], "audio/wav")
    with live.client() as c:
        r = c.post("/jobs", files=files)
        assert r.status_code == 202
        jid = r.json()["id"]
    names = sorted(p.name for p in (live.data_dir / "jobs" / jid).iterdir())
    assert {"photo.jpg", "audio.wav", "track.json"} <= set(names)
    assert (live.data_dir / "token").read_text().strip() == live.token
