"""The artist's own ARKit characters (with and without a jaw bone) and a FLAME head, end to end in real Blender
with the real backend (issue #12 rows 3 and 4), plus the server side of FLAME: /animate, /jobs and /preview."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from helpers import need_audio, run_blender_script

from emodiffhead.facs import ARKIT_BLENDSHAPES
from emodiffhead.track import load_track, track_from_json_bytes


@pytest.fixture(scope="module")
def characters(server, tmp_path_factory, addon_zip, example_audio, example_photo, flame_files):
    need_audio()
    d = tmp_path_factory.mktemp("characters")
    user = d / "blender_user"
    user.mkdir()
    url, _, token_file = server
    params = {"url": url, "token_file": str(token_file), "wav": str(example_audio), "photo": str(example_photo),
              "flame": str(flame_files[0]), "out_dir": str(d), "render_size": 128, "arkit": list(ARKIT_BLENDSHAPES)}
    r = run_blender_script("characters.py", addon_zip, json.dumps(params), user_dir=user, timeout=300)
    r["out_dir"] = str(d)
    return r


def test_row3_arkit_character_without_jaw_bone_opens_its_mouth(characters):
    r = characters
    assert r["animate_no_jaw"][0] == "FINISHED", r["animate_no_jaw"]
    assert r["jawopen_max"] > 0.3  # the speech jaw went into jawOpen (the backend's track keeps it on the joint)
    assert r["chin_drop_max"] > 0.005  # metres: the evaluated mouth opens
    assert not any("jaw" in p.lower() for p in r["no_jaw_bone_curves"])


def test_row3_arkit_character_with_a_named_jaw_bone(characters):
    r = characters
    assert r["animate_jaw_bone"][0] == "FINISHED", r["animate_jaw_bone"]
    assert r["jaw_bone_rotation_max"] > 0.1  # radians on the bone called "Jaw"
    assert r["jaw_bone_jawopen_max"] < 0.3  # the jaw is not doubled into the shape key
    assert r["jaw_bone_chin_move_max"] > 0.005


def test_rig_mapping_presets_are_stored_on_the_objects(characters):
    p = characters["reopened_presets"]
    assert p["character_no_jaw"][0] == "ARKIT_SHAPE_KEYS"
    assert p["character_jaw_bone"] == ["ARKIT_JAW_BONE", "Jaw"]
    assert p["emodiffhead_head"][0] == "FLAME"


def test_row4_flame_head_animates_previews_and_renders(characters, tmp_path):
    r = characters
    assert r["create_flame"][0] == "FINISHED" and r["flame_shape_keys"] == 100 and r["flame_preset"] == "FLAME"
    assert r["animate_flame"][0] == "FINISHED", r["animate_flame"]
    assert r["flame_exp_curves"] == 100 and r["flame_exp_max"] > 1e-3 and r["flame_jaw_max"] > 0.05
    assert r["flame_export"][0] == "FINISHED"
    t = load_track(f"{r['out_dir']}/flame.json")
    assert t.head_model == "flame" and len(t.expression_names) == 100
    assert r["flame_preview"][0] == "FINISHED", r["flame_preview"]
    assert r["flame_render"][0] == "FINISHED", r["flame_render"]
    assert len(r["flame_movies"]) == 1 and r["flame_movies"][0][1].endswith(".mp4")


def test_flame_tracks_on_the_server(server, flame_files, example_audio, example_photo, tmp_path):
    """serve --flame --flame-landmarks: /animate retargets to FLAME; /jobs and /preview take FLAME tracks."""
    url, token, _ = server
    h = {"Authorization": f"Bearer {token}"}
    with open(example_audio, "rb") as f:
        resp = httpx.post(url + "/animate", headers=h, files={"audio": ("a.wav", f, "audio/wav")},
                          data={"model": str(flame_files[0])}, timeout=120)
    assert resp.status_code == 200, resp.text
    track = track_from_json_bytes(resp.content)
    assert track.head_model == "flame" and track.expression.shape[1] == 100
    assert np.abs(track.expression).max() > 1e-3
    tpath = tmp_path / "flame_track.json"
    tpath.write_bytes(resp.content)
    files = {"photo": ("p.jpg", example_photo.read_bytes(), "image/jpeg"),
             "track": ("t.json", tpath.read_bytes(), "application/json")}
    p = httpx.post(url + "/preview", headers=h, files=files, data={"frame": "10", "size": "256"}, timeout=60)
    assert p.status_code == 200 and p.headers["content-type"] == "image/png" and p.content[:4] == b"\x89PNG"
    bad = httpx.post(url + "/preview", headers=h, files=files, data={"frame": "100000"}, timeout=60)
    assert bad.status_code == 422 and "frame" in bad.json()["detail"]
    with open(example_audio, "rb") as f:
        job = httpx.post(url + "/jobs", headers=h, data={"size": "128"}, timeout=60,
                         files={**files, "audio": ("a.wav", f, "audio/wav")})
    assert job.status_code == 202, job.text
    jid = job.json()["id"]
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = httpx.get(f"{url}/jobs/{jid}", headers=h).json()
        if st["state"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert st["state"] == "done", st


def test_transfer_keeps_landmark_motion(flame_files, builtin_head):
    """The FLAME -> built-in mapping reproduces a FLAME component's motion on the shared landmarks."""
    from emodiffhead.animate.retarget import landmark_basis, shared_landmarks
    from emodiffhead.animate.transfer import expression_transfer
    from emodiffhead.head import load_head

    flame = load_head(flame_files[0], landmark_embedding=flame_files[1])
    W = expression_transfer(flame, builtin_head)
    idx = shared_landmarks(flame, builtin_head)
    rf, Jf = landmark_basis(flame)
    rb, Jb = landmark_basis(builtin_head)
    rb = rb[idx]
    Jb = Jb.reshape(-1, 3, builtin_head.num_expression)[idx].reshape(-1, builtin_head.num_expression)
    spread = lambda p: np.sqrt(((p - p.mean(0)) ** 2).sum(1).mean())  # noqa: E731
    target = Jf * (spread(rb) / spread(rf))  # the FLAME motion at the built-in head's scale
    used = np.abs(Jf).sum(0) > 0  # the synthetic file's six real components (the other 94 are zero)
    rel = np.linalg.norm(Jb @ W[:, used] - target[:, used]) / np.linalg.norm(target[:, used])
    assert W.shape == (52, 100) and np.all(W[:, ~used] == 0)
    assert rel < 0.7  # measured 0.50: the 52 ARKit shapes explain most of a random (synthetic) landmark motion


def test_jaw_calibration_matches_the_backend():
    """The add-on's jaw-per-radian default is the backend's calibration (one fact, checked in both places)."""
    import re
    from pathlib import Path

    from emodiffhead.animate.retarget import JAW_RAD_PER_UNIT

    src = (Path(__file__).resolve().parents[2] / "addon" / "scene" / "mapping.py").read_text()
    assert float(re.search(r"^JAW_RAD_PER_UNIT = ([0-9.]+)", src, re.M).group(1)) == JAW_RAD_PER_UNIT
