"""POST /heads (glTF) and POST /animate (track JSON) with the real head, fitter and animator."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from emodiffhead.emotion import EMOTIONS
from emodiffhead.track import Track


def test_heads_builtin_glb_and_fitted_to_photo(live, example_photo):
    with live.client() as c:
        r = c.post("/heads", data={"model": "builtin"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "model/gltf-binary" and r.content[:4] == b"glTF"
        plain = r.content
        r = c.post("/heads", data={"model": "builtin", "shape": json.dumps([0.5, -0.5])})
        assert r.status_code == 200 and r.content[:4] == b"glTF" and r.content != plain
        r = c.post("/heads", data={"model": "builtin"}, files={"photo": ("p.jpg", example_photo.read_bytes(), "image/jpeg")})
        assert r.status_code == 200, r.text
        assert r.content[:4] == b"glTF" and r.content != plain
        r = c.post("/heads", data={"model": "/etc/passwd"})
        assert r.status_code == 422 and "unknown head model" in r.json()["detail"]
        r = c.post("/heads", data={"shape": "[1, 2, \"x\"]"})
        assert r.status_code == 422 and "shape" in r.json()["detail"]
        grey = cv2.imencode(".png", np.full((200, 200, 3), 128, np.uint8))[1].tobytes()
        r = c.post("/heads", files={"photo": ("g.png", grey, "image/png")})
        assert r.status_code == 422 and "face" in r.json()["detail"].lower()


def test_animate_returns_a_valid_track(live, example_audio):
    with live.client() as c:
        files = {"audio": ("speech.wav", example_audio.read_bytes(), "audio/wav")}
        r = c.post("/animate", files=files, data={"emotion": "happy", "intensity": "0.8", "fps": "25",
                                                 "transcript": "he turned sharply and faced gregson across the table"})
        assert r.status_code == 200, r.text
        track = Track.from_dict(r.json())
        assert abs(track.duration_s - 3.1) < 0.2 and track.fps == 25.0
        happy = track.emotion[:, EMOTIONS.index("happy")]
        assert np.median(happy) == pytest.approx(0.8, abs=0.05)
        assert float(np.ptp(track.expression)) > 0  # it moves
        timeline = json.dumps([{"t": 0.0, "emotion": "sad", "intensity": 1.0}])
        r = c.post("/animate", files=files, data={"emotion_timeline": timeline})
        assert r.status_code == 200, r.text
        sad = Track.from_dict(r.json()).emotion[:, EMOTIONS.index("sad")]
        assert sad.max() > 0.5
        r = c.post("/animate", files=files, data={"emotion_timeline": "[{\"t\": \"x\"}]"})
        assert r.status_code == 422 and "emotion_timeline" in r.json()["detail"]
        # a timeline is JSON text, never a path on the server
        r = c.post("/animate", files=files, data={"emotion_timeline": str(live.data_dir / "token")})
        assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]


def test_animate_seed_is_derived_from_the_audio_unless_given(live, example_audio):
    """Without a seed each audio gets its own idle motion (clips do not all blink in step); the same audio gives
    the same track; an explicit seed is honoured."""
    from emodiffhead.seeds import derive_seed

    wav = example_audio.read_bytes()
    other = wav[:44] + bytes(b ^ 1 for b in wav[44:46]) + wav[46:]  # same speech, one sample differs
    with live.client() as c:
        def track(data: bytes, **fields) -> Track:
            r = c.post("/animate", files={"audio": ("a.wav", data, "audio/wav")}, data=fields)
            assert r.status_code == 200, r.text
            return Track.from_dict(r.json())

        a, a2, b = track(wav), track(wav), track(other)
        fixed, fixed2 = track(wav, seed="7"), track(other, seed="7")
    assert np.array_equal(a.expression, a2.expression)
    assert not np.array_equal(a.pose, b.pose)  # the idle motion differs between the two files
    assert np.array_equal(fixed.pose, fixed2.pose)
    assert derive_seed(example_audio) != 7 and not np.array_equal(a.pose, fixed.pose)


def test_preview_frame_is_the_rendered_frame(live, example_photo, example_audio, builtin_head):
    """POST /preview draws a frame exactly as the render does (expression shading, mouth, eyes included)."""
    from emodiffhead.animate import animate
    from emodiffhead.animate.emotion_timeline import EmotionTimeline
    from emodiffhead.audio.io import load_audio
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    from emodiffhead.track import track_from_json_bytes

    sent = json.dumps(animate(load_audio(example_audio), builtin_head, emotion=EmotionTimeline.constant("angry", 1.0),
                              seed=3).to_dict())
    track = track_from_json_bytes(sent.encode())  # the values the server reads (JSON keeps ~6 decimals)
    k = track.num_frames // 2
    rend = WarpRenderer()
    rend.prepare(load_photo(example_photo), builtin_head, size=128)
    want = list(rend.frames(track.slice(k, k + 1)))[0]
    with live.client() as c:
        r = c.post("/preview", files={"photo": ("p.jpg", example_photo.read_bytes(), "image/jpeg"),
                                      "track": ("t.json", sent, "application/json")},
                   data={"frame": str(k), "size": "128"})
    assert r.status_code == 200, r.text
    got = cv2.cvtColor(cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert rend.shading_weights(track.slice(k, k + 1)) is not None  # shading is part of what is compared
