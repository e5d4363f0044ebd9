"""The viewport shows the face the backend poses: the head model's soft limits and combination correctives as
driven shape keys (real bpy, no backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_blender_script

from emodiffhead.animate.emotion_vectors import emotion_above, emotion_basis, emotion_response
from emodiffhead.emotion import EMOTIONS
from emodiffhead.gltf import export_glb, gltf_vertex_map
from emodiffhead.head import JOINT_NAMES
from emodiffhead.head.driven import driven_targets

#: (emotion intensities, expression key values, eye and jaw bones' head-space rotation vectors) posed in the viewport: the
#: emotions whose faces the nonlinear terms shape (sadness's lids and lips, anger's V brows, surprise's lid limit),
#: expression keys that switch the correctives off again (a blink closes sadness's lid lift, the jaw releases the
#: lips, the inner brow raiser damps the V), the eye bones looking down and up (the lids follow them) and the jaw bone
#: opening as speech opens it (the lips' contact fades).
POSES = [
    ({"sad": 1.5}, {}, {}),
    ({"angry": 1.0}, {}, {}),
    ({"surprised": 1.5}, {}, {}),
    ({"sad": 1.0}, {"eyeBlinkLeft": 0.5, "jawOpen": 0.05}, {}),
    ({"angry": 1.5}, {"browInnerUp": 0.1}, {}),
    ({}, {"eyeWideLeft": 1.2, "browDownRight": 0.8, "mouthShrugLower": 0.7}, {}),
    ({}, {}, {"eye_left": [0.3, 0.0, 0.0], "eye_right": [0.3, 0.0, 0.0]}),
    ({"sad": 1.0}, {"eyeBlinkRight": 0.4}, {"eye_left": [0.25, 0.2, 0.0], "eye_right": [0.2, 0.2, 0.0]}),
    ({"surprised": 1.0}, {}, {"eye_left": [-0.25, -0.1, 0.0], "eye_right": [-0.2, -0.1, 0.0]}),
    ({"sad": 1.5}, {}, {"jaw": [0.03, 0.0, 0.0]}),  # the jaw bone opening for speech releases the lips' contact
]


@pytest.fixture(scope="module")
def viewport(tmp_path_factory, builtin_head, addon_zip):
    """(result dict, evaluated vertices after (P, N, 3), with the driven keys muted (P, N, 3), backend (P, N, 3))."""
    tmp = tmp_path_factory.mktemp("driven")
    user = tmp / "blender_user"
    user.mkdir()
    head = builtin_head
    glb = export_glb(head, tmp / "builtin.glb")
    basis, above = emotion_basis(head), emotion_above(head)
    params = {"expression_names": head.expression_names, "emotion_names": list(EMOTIONS),
              "basis": basis.tolist(), "above": above.tolist(),
              "poses": [{"emotion": e, "expression": x, "eyes": g} for e, x, g in POSES]}
    npz = tmp / "verts.npz"
    r = run_blender_script("driven_keys.py", addon_zip, glb, json.dumps(params), npz, user_dir=user)
    with np.load(npz) as z:
        after, before = z["after"], z["before"]
        r["split_vertices"] = z["split"]
    intens = np.zeros((len(POSES), len(EMOTIONS)), np.float32)
    expr = np.zeros((len(POSES), head.num_expression), np.float32)
    pose = np.zeros((len(POSES), 5, 3), np.float32)
    for i, (e, x, g) in enumerate(POSES):
        for n, v in e.items():
            intens[i, EMOTIONS.index(n)] = v
        for n, v in x.items():
            expr[i, head.expression_index(n)] = v
        for j, v in g.items():
            pose[i, JOINT_NAMES.index(j)] = v
    expr += emotion_response(intens, basis, above)
    src, _, _ = gltf_vertex_map(head)
    want = head.forward(expression=expr, pose=pose).vertices[:, src]
    return r, after, before, want


def test_driven_keys_are_set_up(builtin_head, viewport):
    r, *_ = viewport
    targets = driven_targets(builtin_head)
    assert r["driven"] == sorted(t.name for t in targets) and len(targets) == 13
    assert r["expression_names"] == builtin_head.expression_names   # driven keys are not expression components
    assert r["auto_exec"] is False and r["not_simple"] == [] and r["invalid"] == []
    assert r["drivers_at_import"] > 0
    # the add-on's own drivers keep the fast F-curve export (the raw import's bones still rotate in quaternions)
    assert [b for b in r["blockers"] if "shape keys" in b] == [] and r["drivers"] > r["drivers_at_import"]
    for t in targets:
        assert r["slider_ranges"][t.name] == pytest.approx(list(t.value_range), abs=1e-6)
    assert r["longest_expression"] <= 255   # Blender keeps 256 bytes


def test_long_sums_are_split(viewport):
    """A component's total too long for one expression is summed over helper properties: same mesh."""
    r, after, *_ = viewport
    assert r["split_parts"] > 5 and r["split_invalid"] == []
    assert np.abs(r["split_vertices"] - after[-1]).max() < 1e-7


def test_viewport_matches_backend_forward(builtin_head, viewport):
    """Each pose's evaluated mesh is the backend's ``HeadModel.forward`` of the same expression and eye pose within
    0.05 mm (the eyeballs aside: turned by their bones, they pivot about the rest joints, not about the joints
    ``forward`` regresses from the expressed mesh); with the driven keys muted (the viewport before them)
    sadness's lips, anger's brows, surprise's lids and the lids over a lowered gaze are off by far more."""
    r, after, before, want = viewport
    src, _, _ = gltf_vertex_map(builtin_head)
    eyes = np.isin(src, np.r_[builtin_head.regions["eye_left"], builtin_head.regions["eye_right"]])
    err = np.linalg.norm(after - want, axis=-1)[:, ~eyes].max(axis=1) * 1000   # mm per pose
    old = np.linalg.norm(before - want, axis=-1)[:, ~eyes].max(axis=1) * 1000
    ball = np.linalg.norm(after - want, axis=-1)[:, eyes].max(axis=1) * 1000
    print("max vertex error vs forward, mm (pose: driven keys muted -> on; eyeballs):",
          "; ".join(f"{e} {x} {g}: {o:.3f} -> {a:.5f}; {b:.3f}" for (e, x, g), o, a, b in zip(POSES, old, err, ball)))
    assert np.all(err < 0.05), err
    assert old[0] > 1.0 and old[1] > 1.0 and old[2] > 1.0, old   # sad 1.5, angry 1.0, surprised 1.5
    assert np.all(old[3:] > 0.5), old
    assert np.all(ball < 0.3), ball
