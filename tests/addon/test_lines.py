"""Dialogue lines, NLA layers, per-line emotion keys, rig mapping, sparse keys and the strip timing helper in real
Blender without sound (so it also runs on the Audaspace-less bpy 4.2.0 wheel)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_blender_script
from test_keyframes import _synthetic_track

from emodiffhead.facs import ARKIT_BLENDSHAPES
from emodiffhead.track import save_track


@pytest.fixture(scope="module")
def head_glb(tmp_path_factory, builtin_head):
    from emodiffhead.gltf import export_glb

    path = tmp_path_factory.mktemp("head") / "builtin.glb"
    export_glb(builtin_head, path)
    return path


def test_lines_layers_mapping_without_audio(tmp_path, addon_zip, blender_user, head_glb, builtin_head):
    a = _synthetic_track(builtin_head)
    a.meta["frame_start"] = 1
    b = _synthetic_track(builtin_head)
    jaw = builtin_head.expression_names.index("jawOpen")
    b.expression_base[:, jaw] = np.linspace(0.1, 0.6, b.num_frames)
    b.expression = b.expression_base + b.emotion @ b.emotion_basis
    b.meta["frame_start"] = 60
    params = {"track_a": str(save_track(a, tmp_path / "track_a.json")),
              "track_b": str(save_track(b, tmp_path / "track_b.json")), "arkit": list(ARKIT_BLENDSHAPES),
              "out_dir": str(tmp_path)}
    r = run_blender_script("lines_no_audio.py", addon_zip, head_glb, json.dumps(params), user_dir=blender_user)
    print(r["version"])
    (key_state, key_reason), (cancel_state, cancel_reason) = r["poll_reasons"]  # unavailable buttons say why
    assert key_state == cancel_state == "ERROR"
    assert key_reason.endswith("poll() no head: create one in the Head panel"), key_reason
    assert cancel_reason.endswith("poll() no render is running"), cancel_reason
    assert r["import_a"] == r["import_b"] == r["reimport_a"] == ["FINISHED"]
    assert r["after_a"]["active"] and r["after_a"]["tracks"] == []  # one line: the active action
    key_nla, arm_nla = r["after_b"]
    for n in (key_nla, arm_nla):  # two lines: both on the line track, each in its own frames
        assert n["active"] is None
        assert n["tracks"] == [["emodiffhead lines", [["track_a", "HOLD"], ["track_b", "HOLD_FORWARD"]]]]
    for got, want in r["jaw_a"] + r["jaw_b"]:
        assert got == pytest.approx(want, abs=1e-5)
    assert r["export_b_err"] < 2e-4
    assert r["nod_after"] == [[1.0, 0.0], [10.0, pytest.approx(0.2)], [20.0, 0.0], 1]
    assert r["jaw_a_again"] == pytest.approx([w for _, w in r["jaw_a"]], abs=1e-5)
    assert r["sad_keys"]["B"] and 70.0 in r["sad_keys"]["B"] and 70.0 not in r["sad_keys"]["A"]
    t0, t1, t2 = r["timing"]
    assert t0 == [10.0, 10, 50, 40, 0] and t1 == [15.0, 15, 55, 40, 0]
    assert t2[1:4] == [20, 40, 20]  # (a colour strip has no content of its own: its content start moves too)
    assert r["free_channel"] == [1, 1]  # the colour strip is on channel 3
    cj = r["char_jaw"]
    assert cj["summary_jaw"] == "jawOpen" and cj["max_value"] > 0.3
    assert cj["max_err"] <= 0.01 + 1e-4 and cj["keys"] < cj["frames"]


def test_backend_without_audio(server, flame_files, tmp_path, addon_zip, blender_user, example_audio, example_photo):
    """Create head, Import track, Preview frame, and a FLAME head with its track, against the real backend without
    any sound strip (runs on every bpy build)."""
    import httpx

    from emodiffhead.track import load_track

    url, token, token_file = server
    tracks = {}
    for name, model in (("builtin", "builtin"), ("flame", str(flame_files[0]))):
        with open(example_audio, "rb") as f:
            r = httpx.post(url + "/animate", headers={"Authorization": f"Bearer {token}"}, timeout=120,
                           files={"audio": ("a.wav", f, "audio/wav")}, data={"model": model, "emotion": "happy"})
        assert r.status_code == 200, r.text
        tracks[name] = tmp_path / f"{name}.json"
        tracks[name].write_bytes(r.content)
    params = {"url": url, "token_file": str(token_file), "photo": str(example_photo), "track": str(tracks["builtin"]),
              "flame": str(flame_files[0]), "flame_track": str(tracks["flame"]), "out_dir": str(tmp_path)}
    r = run_blender_script("backend_no_audio.py", addon_zip, json.dumps(params), user_dir=blender_user)
    print(r["version"])
    assert r["create"][0] == "FINISHED" and not r["overlap"]
    assert r["import"][0] == "FINISHED" and r["line"] == ["builtin"]
    assert r["preview"][0] == "FINISHED" and min(r["preview_size"]) == 512
    assert r["create_flame"][0] == "FINISHED" and r["flame_keys"] == 100
    assert r["flame_import"][0] == "FINISHED", r["flame_import"]
    assert r["flame_preview"][0] == "FINISHED", r["flame_preview"]
    assert r["flame_export"][0] == "FINISHED"
    back, src = load_track(tmp_path / "flame_back.json"), load_track(tracks["flame"])
    assert back.head_model == "flame" and back.num_frames == src.num_frames
    np.testing.assert_allclose(back.expression, src.expression, atol=2e-3)
