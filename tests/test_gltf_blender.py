"""Blender 5.0's own glTF importer (bpy, in a subprocess) reads our export: shape keys, bones, deformation."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emodiffhead.head import JOINT_NAMES
from emodiffhead.gltf import export_glb, gltf_vertex_map
from emodiffhead.head.driven import driven_targets
from emodiffhead.track import Track

if importlib.util.find_spec("bpy") is None:  # bpy==5.0.1 is a test dependency; not imported here
    pytest.skip("bpy is not installed", allow_module_level=True)

SCRIPT = Path(__file__).with_name("gltf_blender_import_check.py")


def kabsch_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Rotation angle (radians) of the best rotation taking centred points a onto b (both (N, 3))."""
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1, 1, d]) @ u.T
    return float(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))


@pytest.fixture(scope="module")
def imported(builtin_head, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blender")
    tr = Track.neutral(3, 25.0, builtin_head.name, builtin_head.expression_names)
    tr.expression[:, builtin_head.expression_index("jawOpen")] = [0.0, 0.5, 1.0]
    tr.pose[:, 2, 0] = [0.0, 0.1, 0.2]
    glb = export_glb(builtin_head, tmp / "head.glb", track=tr)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp / "blender_user"))
    out = tmp / "positions.npz"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(glb), str(out), "jawOpen", "jaw"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files}
    return info, arrays


def test_shape_keys_and_bones(builtin_head, imported):
    info, _ = imported
    assert info["result"] == ["FINISHED"] and len(info["meshes"]) == 1 and len(info["armatures"]) == 1
    driven = [t.name for t in driven_targets(builtin_head)]   # soft limits, correctives, lid follow, after the 52
    assert info["shape_keys"] == builtin_head.expression_names + driven and len(driven) == 13
    assert info["bones"] == {"root": None, "neck": "root", "jaw": "neck", "eye_left": "neck", "eye_right": "neck"}
    assert info["armature_modifier"] == info["armatures"]
    assert set(info["vertex_groups"]) <= set(JOINT_NAMES) and "jaw" in info["vertex_groups"]
    assert info["actions"], "the track animation was not imported as an action"
    # the importer places keys at time * scene fps: values are the track's jawOpen weights in order
    frames, values = np.array(info["key_fcurve"]).T
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0], atol=1e-6)
    np.testing.assert_allclose(frames, np.arange(3) / 25.0 * info["fps"], atol=1e-3)
    assert set(info["bone_fcurves"]) == {f'pose.bones["{n}"].rotation_quaternion' for n in JOINT_NAMES} | \
        {'pose.bones["root"].location'}
    assert len(info["color_attributes"]) == 1  # COLOR_0: the built-in head's part colours


def test_rest_positions_and_shape_key_deformation(builtin_head, imported):
    info, arrays = imported
    src, _, _ = gltf_vertex_map(builtin_head)
    assert info["num_vertices"] == len(src)
    rest = arrays["rest"]
    np.testing.assert_allclose(rest, builtin_head.template[src], atol=2e-6)
    delta = arrays["key"] - rest
    expected = builtin_head.expression_basis[src, :, builtin_head.expression_index("jawOpen")]
    np.testing.assert_allclose(delta, expected, atol=2e-6)
    moved = np.linalg.norm(delta, axis=1) > 1e-6
    assert moved.sum() > 100
    np.testing.assert_array_equal(moved, np.linalg.norm(expected, axis=1) > 1e-6)


def test_jaw_bone_rotates_jaw_weighted_vertices(builtin_head, imported):
    _, arrays = imported
    src, _, _ = gltf_vertex_map(builtin_head)
    rest, posed = arrays["rest"], arrays["bone"]
    jaw_w = builtin_head.weights[src, 2]
    moved = np.linalg.norm(posed - rest, axis=1) > 1e-6
    np.testing.assert_array_equal(moved, jaw_w > 0)
    full = jaw_w > 0.999
    assert full.sum() > 50
    j = builtin_head.rest_joints()[2]
    a, b = rest[full] - j, posed[full] - j
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1), atol=1e-5)  # about the joint
    assert kabsch_angle(a, b) == pytest.approx(0.4, abs=1e-3)
