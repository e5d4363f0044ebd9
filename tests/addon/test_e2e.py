"""End to end in real Blender with the real backend on a loopback port: head, audio strip, animate,
lip closure at bilabials, emotion edit, export vs the backend's track, render to a movie strip, errors."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from helpers import need_audio, backend_python, run_blender_script

from emodiffhead.emotion import EMOTIONS
from emodiffhead.track import load_track, track_from_json_bytes

FPS = 25.0
TRANSCRIPT = "he turned sharply and faced gregson across the table"  # CMU ARCTIC a0009
EDIT = {"frame": 40, "emotion": "happy", "value": 1.4}


def bilabial_frames(lab_path) -> list[tuple[float, float]]:
    """(start, end) scene frames (audio at frame 1) of every /p b m/ in an HTS label file (100 ns units)."""
    out = []
    for line in lab_path.read_text().splitlines():
        a, b, label = line.split(maxsplit=2)
        phone = label.split("-", 1)[1].split("+", 1)[0]
        if phone in ("p", "b", "m"):
            out.append((1 + int(a) * 1e-7 * FPS, 1 + int(b) * 1e-7 * FPS))
    return out


def lip_points(head) -> dict:
    """Head-space midline lip vertices (|x| < 4 mm), upper and lower (lower = skinned to the jaw)."""
    lips = np.asarray(head.regions["lips"])
    mid = lips[np.abs(head.template[lips, 0]) < 0.004]
    jaw = head.weights[mid, 2] > 0.5
    return {"upper": head.template[mid[~jaw]].tolist(), "lower": head.template[mid[jaw]].tolist()}


def check_curves(r: dict, ref, head):
    """Curves: one per expression component and emotion, bones rotate, all over the audio's frames."""
    first, last = 1.0, float(ref.num_frames)
    for name in head.expression_names:
        assert r["shape_key_curves"][f'key_blocks["{name}"].value'] == [first, last], name
    for name in ref.emotion_names:
        assert r["shape_key_curves"][f'key_blocks["emotion_{name}"].value'] == [first, last], name
    for j in ("root", "neck", "jaw", "eye_left", "eye_right"):
        assert r["bone_curves"][f'pose.bones["{j}"].rotation_euler[0]'] == [first, last], j
    assert r["scene_frame_end"] >= last


def check_lips(r: dict, ref, head, lab_path):
    """Lips close at /p/ and /b/: the evaluated aperture comes back to the closed rest pose, and Blender's
    evaluated mouth is the backend head model's mouth for the same track."""
    T = ref.num_frames
    ap = {int(k): v for k, v in r["aperture"].items()}
    rest = r["aperture_rest"]
    # ... and Blender's evaluated mouth is the backend head model's mouth for the same track
    lips = lip_points(head)
    v = head.forward(expression=ref.expression, pose=ref.pose, translation=ref.translation).vertices
    mid = np.asarray(head.regions["lips"])
    mid = mid[np.abs(head.template[mid, 0]) < 0.004]
    jaw = head.weights[mid, 2] > 0.5
    ref_ap = v[:, mid[~jaw], 1].min(1) - v[:, mid[jaw], 1].max(1)
    assert len(lips["upper"]) == int((~jaw).sum())
    np.testing.assert_allclose([ap[f] for f in range(1, T + 1)], ref_ap, atol=5e-4)
    speech_max = max(ap.values())
    assert r["lip_vertices"][0] > 0 and r["lip_vertices"][1] > 0
    assert speech_max > rest + 0.004, (rest, speech_max)
    for a, b in bilabial_frames(lab_path):
        window = [ap[f] for f in range(int(np.floor(a)) - 1, int(np.ceil(b)) + 2) if f in ap]
        assert min(window) < rest + 0.0015, (a, b, window, rest)


def check_export(r: dict, ref, path):
    """The exported evaluated track (``path``) reproduces the backend's track; returns it."""
    assert r["export"][0] == "FINISHED"
    exp = load_track(path)
    assert exp.num_frames == ref.num_frames and exp.emotion_names == ref.emotion_names
    np.testing.assert_allclose(exp.expression, ref.expression, atol=2e-3)
    np.testing.assert_allclose(exp.emotion, ref.emotion, atol=6e-3)
    np.testing.assert_allclose(exp.pose, ref.pose, atol=1e-4)
    np.testing.assert_allclose(exp.translation, ref.translation, atol=1e-5)
    np.testing.assert_allclose(exp.emotion_basis, ref.emotion_basis, atol=1e-6)
    return exp


def check_emotion_edit(r: dict, ref, exported, edited_path):
    """Editing the happy intensity key (0.8 -> 1.4) moved the evaluated shape keys by exactly delta * emotion shape
    plus delta max(0, intensity - 1) * its above-1 shape (happy's lip parting holds above 1), and the export
    says the same as the backend's emotion response."""
    before, after = r["emotion_values"]
    assert r["emotion_key"][0] == "FINISHED"
    assert before == pytest.approx(0.8, abs=0.01) and after == pytest.approx(EDIT["value"], abs=1e-6)
    assert r["edit_above_key"] and ref.emotion_basis_above is not None
    assert r["edit_max_move"] > 5e-4 and r["edit_max_error"] < 1e-5
    edited = load_track(edited_path)
    i, c = EDIT["frame"] - 1, EMOTIONS.index("happy")
    np.testing.assert_allclose(edited.expression[i] - exported.expression[i],
                               (after - before) * np.asarray(ref.emotion_basis[c])
                               + max(0.0, after - 1) * np.asarray(ref.emotion_basis_above[c]), atol=1e-4)


def check_crossfade_and_reanimate(r: dict):
    """Crossfade happy -> sad; animating again (also the modal UI path) keeps those curves."""
    assert r["crossfade"][0] == "FINISHED"
    cf = {int(k): v for k, v in r["crossfade_values"].items()}
    assert cf[60][0] == pytest.approx(0.0, abs=1e-6) and cf[60][1] == pytest.approx(1.0, abs=1e-6)
    assert cf[50][0] > 0.5 and 0.0 < cf[55][1] < 1.0
    # ... and animating again sends those curves as the emotion timeline: the backend's new track keeps them
    assert r["reanimate"][0] == "FINISHED", r["reanimate"]
    ma = r["modal_animate"]  # the UI path: request on a worker thread, keys written on the main thread
    assert ma["started"] and ma["result"] == "FINISHED", ma
    assert ma["ticks_waiting"] >= 1, ma  # modal() returned to the event loop while the backend worked
    assert ma["curves_after"] >= 52, ma
    # progress while waiting: the panel (and status bar) say what it waits for and for how long
    assert ma["busy"] and ma["busy"][0].startswith("Animate from audio: waiting for the backend"), ma
    assert ma["busy_after"] == "", ma
    ra = {int(k): v for k, v in r["reanimate_values"].items()}
    for f in (50, 55, 60, 70):
        np.testing.assert_allclose(ra[f], cf.get(f, [0.0, 1.0]), atol=0.02, err_msg=f"frame {f}")


def check_render(r: dict):
    """Render: a movie strip (and image sequence) aligned with the audio; ESC in the modal path cancels."""
    assert r["render"][0] == "FINISHED", r["render"]
    (movie,) = r["movie_strips"]
    assert movie["frame_start"] == r["sound_after"][0] == 1
    assert abs(movie["duration"] - r["sound_after"][1]) <= 1
    assert movie["file"].endswith(".mp4") and r["job_progress"] == pytest.approx(1.0)
    (images,) = r["image_strips"]  # the optional image sequence, on top of the movie
    assert images["frame_start"] == 1 and images["elements"] == movie["duration"] == images["duration"]
    assert images["first"].endswith(".png")
    # the modal path: ESC during the job cancels it on the server; nothing is added to the sequencer
    mc = r["modal_cancel"]
    assert r["modal_started"] and mc["result"] == "CANCELLED", mc
    assert r["esc_consumed"] == ["RUNNING_MODAL"]
    assert mc["message"] == "cancelled" and not mc["running"] and mc["new_movie_strips"] == 0
    assert r["server_job_state"] == "cancelled"
    assert all(0.0 <= p <= 1.0 for p, _ in mc["progress"]) and any(m for _, m in mc["progress"])


def check_fitted_head_server_and_errors(r: dict):
    """A head fitted to the photo, Start/Stop server, and clear errors."""
    # a head fitted to the photo
    assert r["create_fitted"][0] == "FINISHED", r["create_fitted"]
    assert r["create_head_invoke"] == "FINISHED" and r["heads_after_invoke"] == 1, r["create_head_invoke"]
    f = r["fitted"]
    assert f["new_object"] and f["same_vertex_count"] and f["shape_keys"] == len(r["shape_keys"])
    assert f["max_shape_difference"] > 1e-3

    # Start/Stop server from the preferences
    assert r["server_start"][0] == "FINISHED" and r["server_up_check"] == "FINISHED"
    assert r["server_status_running"].startswith("running") and r["authorized_call"]
    assert r["server_stop"][0] == "FINISHED" and r["server_after_stop"] == [False, "ERROR"]

    # clear errors
    assert r["errors"]["bad_audio"][0] == "ERROR" and "Server error 4" in r["errors"]["bad_audio"][1]
    assert r["errors"]["server_down"][0] == "ERROR" and "not running" in r["errors"]["server_down"][1]


def test_artist_loop_against_the_backend(server, tmp_path, addon_zip, blender_user, example_audio, example_photo,
                                         builtin_head, repo_root):
    need_audio()
    url, token, token_file = server
    bad = tmp_path / "not_audio.wav"
    bad.write_bytes(b"this is not a wav file at all" * 20)
    params = {"url": url, "token_file": str(token_file), "wav": str(example_audio), "photo": str(example_photo),
              "bad_audio": str(bad), "out_dir": str(tmp_path), "render_size": 128, "transcript": TRANSCRIPT, "lips": lip_points(builtin_head),
              "edit": EDIT, "backend_python": backend_python()}
    r = run_blender_script("e2e_backend.py", addon_zip, json.dumps(params), user_dir=blender_user, timeout=170)
    print(json.dumps({k: v for k, v in r.items() if k not in ("aperture", "shape_key_curves", "bone_curves")}))
    assert r["server_check"][0] == "FINISHED", r["server_check"]
    assert r["create_head"][0] == "FINISHED", r["create_head"]
    assert set(builtin_head.expression_names) <= set(r["shape_keys"])
    assert {"root", "neck", "jaw", "eye_left", "eye_right"} <= set(r["bones"])
    assert r["animate"][0] == "FINISHED", r["animate"]

    # the backend's own answer for the same request
    with open(example_audio, "rb") as f:
        resp = httpx.post(url + "/animate", headers={"Authorization": f"Bearer {token}"},
                          files={"audio": ("speech.wav", f, "audio/wav")},
                          data={"emotion": "happy", "intensity": "0.8", "fps": "25.0",
                                "transcript": TRANSCRIPT}, timeout=120)
    assert resp.status_code == 200, resp.text
    ref = track_from_json_bytes(resp.content)
    check_curves(r, ref, builtin_head)
    check_lips(r, ref, builtin_head, repo_root / "backend/emodiffhead/assets/examples/arctic_a0009_phone.lab")
    exported = check_export(r, ref, tmp_path / "exported.json")
    check_emotion_edit(r, ref, exported, tmp_path / "exported_edited.json")
    check_crossfade_and_reanimate(r)
    check_render(r)
    check_fitted_head_server_and_errors(r)
