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
from emodiffhead.head.driven import driven_targets

#: (emotion intensities, expression key values) posed in the viewport: the emotions whose faces the nonlinear
#: terms shape (sadness's lids and lips, anger's V brows, surprise's lid limit), and expression keys that switch
#: the correctives off again (a blink closes sadness's lid lift, the jaw releases the lips, the inner brow raiser
#: damps the V).
POSES = [
    ({"sad": 1.5}, {}),
    ({"angry": 1.0}, {}),
    ({"surprised": 1.5}, {}),
    ({"sad": 1.0}, {"eyeBlinkLeft": 0.5, "jawOpen": 0.05}),
    ({"angry": 1.5}, {"browInnerUp": 0.1}),
    ({}, {"eyeWideLeft": 1.2, "browDownRight": 0.8, "mouthShrugLower": 0.7}),
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
              "poses": [{"emotion": e, "expression": x} for e, x in POSES]}
    npz = tmp / "verts.npz"
    r = run_blender_script("driven_keys.py", addon_zip, glb, json.dumps(params), npz, user_dir=user)
    with np.load(npz) as z:
        after, before = z["after"], z["before"]
    intens = np.zeros((len(POSES), len(EMOTIONS)), np.float32)
    expr = np.zeros((len(POSES), head.num_expression), np.float32)
    for i, (e, x) in enumerate(POSES):
        for n, v in e.items():
            intens[i, EMOTIONS.index(n)] = v
        for n, v in x.items():
            expr[i, head.expression_index(n)] = v
    expr += emotion_response(intens, basis, above)
    src, _, _ = gltf_vertex_map(head)
    want = head.forward(expression=expr).vertices[:, src]
    return r, after, before, want


def test_driven_keys_are_set_up(builtin_head, viewport):
    r, *_ = viewport
    targets = driven_targets(builtin_head)
    assert r["driven"] == sorted(t.name for t in targets) and len(targets) == 9
    assert r["expression_names"] == builtin_head.expression_names   # driven keys are not expression components
    assert r["auto_exec"] is False and r["not_simple"] == [] and r["invalid"] == []
    assert r["drivers_at_import"] > 0
    # the add-on's own drivers keep the fast F-curve export (the raw import's bones still rotate in quaternions)
    assert [b for b in r["blockers"] if "shape keys" in b] == [] and r["drivers"] > r["drivers_at_import"]
    for t in targets:
        assert r["slider_ranges"][t.name] == pytest.approx(list(t.value_range), abs=1e-6)


def test_viewport_matches_backend_forward(viewport):
    """Each pose's evaluated mesh is the backend's ``HeadModel.forward`` of the same expression within 0.05 mm;
    with the driven keys muted (the viewport before them) sadness's lips, anger's brows and surprise's lids are
    off by far more."""
    r, after, before, want = viewport
    err = np.linalg.norm(after - want, axis=-1).max(axis=1) * 1000   # mm per pose
    old = np.linalg.norm(before - want, axis=-1).max(axis=1) * 1000
    print("max vertex error vs forward, mm (pose: driven keys muted -> on):",
          "; ".join(f"{e or x}: {o:.3f} -> {a:.5f}" for (e, x), o, a in zip(POSES, old, err)))
    assert np.all(err < 0.05), err
    assert old[0] > 1.0 and old[1] > 1.0 and old[2] > 1.0, old   # sad 1.5, angry 1.0, surprised 1.5
    assert np.all(old[3:] > 0.5), old
