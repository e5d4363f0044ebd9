"""Keying a track onto the imported head, editing an emotion key and exporting (real bpy, no backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_blender_script

from emodiffhead.animate.emotion_vectors import emotion_response
from emodiffhead.emotion import EMOTIONS
from emodiffhead.track import Track, load_track, save_track

F0 = 11  # the audio strip starts here in the scene


@pytest.fixture(scope="module")
def head_glb(tmp_path_factory, builtin_head):
    from emodiffhead.gltf import export_glb

    path = tmp_path_factory.mktemp("head") / "builtin.glb"
    export_glb(builtin_head, path)
    return path


def _synthetic_track(head, T=40):
    names = head.expression_names
    t = Track.neutral(T, 25.0, "builtin", names)
    base = np.zeros((T, len(names)), np.float32)
    base[10:21, names.index("jawOpen")] = np.sin(np.linspace(0, np.pi, 11)) * 0.8
    base[:, names.index("eyeBlinkLeft")] = (np.arange(T) % 20 == 5) * 1.0
    basis = np.zeros((len(EMOTIONS), len(names)), np.float32)
    basis[EMOTIONS.index("happy"), [names.index("mouthSmileLeft"), names.index("mouthSmileRight")]] = 0.8
    basis[EMOTIONS.index("sad"), names.index("mouthFrownLeft")] = 0.6
    above = np.zeros_like(basis)  # above intensity 1 the left corner stops growing (an above-1 key)
    above[EMOTIONS.index("happy"), names.index("mouthSmileLeft")] = -0.8
    t.emotion[:, EMOTIONS.index("happy")] = np.linspace(0.0, 1.0, T)
    t.expression_base, t.emotion_basis, t.emotion_basis_above = base, basis, above
    t.expression = base + emotion_response(t.emotion, basis, above)
    t.pose[10:21, 2, 0] = np.sin(np.linspace(0, np.pi, 11)) * 0.2   # jaw
    t.pose[:, 1, 1] = np.linspace(-0.1, 0.1, T)                    # neck turn
    t.pose[:, 3, 1] = t.pose[:, 4, 1] = 0.05                         # gaze
    t.translation[:, 2] = np.linspace(0, 0.01, T)
    return t


def test_track_keys_edit_and_export(tmp_path, addon_zip, blender_user, head_glb, builtin_head):
    src = _synthetic_track(builtin_head)
    src.meta["frame_start"] = F0
    src_path = save_track(src, tmp_path / "in.json")
    out_path = tmp_path / "out.json"
    edit_frame = F0 + 20
    second = _synthetic_track(builtin_head)
    second.expression_base[:, builtin_head.expression_names.index("jawOpen")] = 0.5
    second.expression = second.expression_base + emotion_response(second.emotion, second.emotion_basis,
                                                                   second.emotion_basis_above)
    region = [F0 + 10, F0 + 20]
    params = {"frame_start": F0, "edit_frame": edit_frame, "edit_emotion": "happy", "edit_value": 1.4,
              "track2": str(save_track(second, tmp_path / "second.json")), "region": region}
    r = run_blender_script("keyframes_synthetic.py", addon_zip, head_glb, src_path, out_path, json.dumps(params),
                           user_dir=blender_user)
    T, last = src.num_frames, F0 + src.num_frames - 1
    assert r["import"] == ["FINISHED"] and r["export"] == ["FINISHED"]
    curves = r["shape_key_curves"]
    for name in builtin_head.expression_names:
        assert curves[f'key_blocks["{name}"].value'] == [F0, last, T], name
    assert curves['key_blocks["emotion_happy"].value'][:2] == [F0, last]
    assert curves['key_blocks["emotion_happy"].value'][2] == 2          # a linear ramp thins to two keys
    for j in ("root", "neck", "jaw", "eye_left", "eye_right"):
        for axis in range(3):
            assert r["bone_curves"][f'pose.bones["{j}"].rotation_euler[{axis}]'] == [F0, last]
    assert r["range"] == [F0, last]
    # exported evaluated track == the input track
    back = load_track(out_path)
    assert back.num_frames == T and back.meta["frame_start"] == F0
    np.testing.assert_allclose(back.expression, src.expression, atol=2e-4)
    np.testing.assert_allclose(back.expression_base, src.expression_base, atol=1e-5)
    np.testing.assert_allclose(back.emotion, src.emotion, atol=1e-5)
    np.testing.assert_allclose(back.pose, src.pose, atol=1e-4)
    np.testing.assert_allclose(back.translation, src.translation, atol=1e-5)
    # editing the emotion key moves the evaluated shape (exactly by delta * the emotion's offsets)
    assert r["emotion_before"] == pytest.approx(20 / 39, abs=1e-4)
    assert r["emotion_after"] == pytest.approx(1.4, abs=1e-6)
    assert r["max_move"] > 1e-3 and r["max_error"] < 1e-5
    # happy's above-1 key follows its emotion key (driven: 1.4 -> 0.4), and the add-on's own driver does not
    # force the slow frame_set export
    assert r["above_key"] and r["above_value_after"] == pytest.approx(0.4, abs=1e-6)
    # (nor do the driven soft-limit and corrective keys' drivers, test_driven_keys.py)
    assert [p for p in r["above_drivers"] if "emotion_" in p] == ['key_blocks["emotion_happy above 1"].value']
    assert len(r["above_drivers"]) > 1 and r["blockers"] == []
    edited = load_track(str(out_path) + ".edited.json")
    i, c = edit_frame - F0, EMOTIONS.index("happy")
    assert edited.emotion[i, c] == pytest.approx(1.4, abs=1e-5)
    np.testing.assert_allclose(edited.emotion_basis_above, src.emotion_basis_above, atol=1e-6)
    np.testing.assert_allclose(edited.expression[i], src.expression_base[i] + emotion_response(
        edited.emotion[i:i + 1], src.emotion_basis, src.emotion_basis_above)[0], atol=1e-5)
    np.testing.assert_allclose(edited.expression[i] - back.expression[i],
                               (1.4 - r["emotion_before"]) * src.emotion_basis[c] + 0.4 * src.emotion_basis_above[c],
                               atol=1e-4)
    # re-keying a region replaced only that region's keys; the hand edit outside survived
    jaw = {int(k): v for k, v in r["jaw_after_region"].items()}
    assert sorted(jaw) == list(range(F0, last + 1))
    assert jaw[F0 + 2] == pytest.approx(0.33)
    assert all(jaw[f] == pytest.approx(0.5) for f in range(region[0], region[1] + 1))
    ja = builtin_head.expression_names.index("jawOpen")
    assert all(jaw[f] == pytest.approx(float(src.expression_base[f - F0, ja]), abs=1e-6)
               for f in range(F0, last + 1) if f != F0 + 2 and not region[0] <= f <= region[1])
