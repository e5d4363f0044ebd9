"""The built-in CC0 head asset and the deterministic pieces of its build script."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from emodiffhead.head import JOINT_NAMES, load_head
from emodiffhead.head.builtin import ASSET_PATH, builtin_vertex_colors

TOOLS = Path(__file__).resolve().parents[2] / "backend" / "tools"


@pytest.fixture(scope="module")
def build():
    sys.path.insert(0, str(TOOLS))
    try:
        import build_builtin_head

        yield build_builtin_head
    finally:
        sys.path.remove(str(TOOLS))


def _expr(model, **values):
    e = np.zeros((1, model.num_expression), np.float32)
    for k, v in values.items():
        e[0, model.expression_index(k)] = v
    return e


def _moved(model, **kw) -> np.ndarray:
    out = model.forward(**kw).vertices[0]
    return np.linalg.norm(out - model.template, axis=1)


def test_asset_is_small_and_shapes_are_consistent(builtin_head):
    m = builtin_head
    assert ASSET_PATH.stat().st_size < 8e6
    assert m.name == "builtin"
    assert m.num_expression == 52 and len(set(m.expression_names)) == 52
    assert m.expression_names == sorted(m.expression_names)
    for name in ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthSmileRight", "tongueOut"):
        assert name in m.expression_names
    V = m.num_vertices
    assert 4000 < V < 6000
    assert m.shape_basis.shape == (V, 3, len(m.shape_names)) and 20 <= m.num_shape <= 40
    assert m.weights.shape == (V, 5) and np.allclose(m.weights.sum(1), 1.0, atol=1e-5)
    assert m.joint_names == JOINT_NAMES
    assert m.expression_limits.shape == (52, 2)
    assert m.uv is not None and m.uv_faces.shape == m.faces.shape
    assert m.uv.min() >= 0.0 and m.uv.max() <= 1.0
    for r in ("eye_left", "eye_right", "teeth_upper", "teeth_lower", "tongue", "lips", "eyelid_left",
              "eyelid_right", "face", "neck_base"):
        idx = m.regions[r]
        assert len(idx) > 0 and idx.min() >= 0 and idx.max() < V, r
    assert "CC0" in m.meta["licence"] and "Suominen" in m.meta["credits"]
    # metres, FLAME orientation: the nose tip (most +z skin point) is in front, eyes at the origin
    assert 0.15 < np.ptp(m.template[:, 0]) < 0.25 and 0.2 < np.ptp(m.template[:, 1]) < 0.35
    nose = m.template[m.regions["face"][np.argmax(m.template[m.regions["face"], 2])]]
    assert abs(nose[0]) < 0.005 and nose[2] > 0.02
    left_eye = m.template[m.regions["eye_left"]].mean(0)
    assert left_eye[0] > 0.02  # x points to the subject's left


def test_identity_forward_returns_template(builtin_head):
    m = builtin_head
    out = m.forward()
    np.testing.assert_allclose(out.vertices[0], m.template, atol=1e-6)
    joints = m.rest_joints()
    np.testing.assert_allclose(out.joints[0], joints, atol=1e-6)
    # joints are where FLAME has them: root below neck below eyes; jaw between neck and chin; eyes mirrored
    assert joints[0, 1] < joints[1, 1] < joints[3, 1]
    np.testing.assert_allclose(joints[3] * [-1, 1, 1], joints[4], atol=1e-4)
    # the eye joints sit at the eyeball centres
    np.testing.assert_allclose(joints[3], m.template[m.regions["eye_left"]].mean(0), atol=1e-3)


def test_jaw_open_moves_the_lower_face(builtin_head):
    m = builtin_head
    d = _moved(m, expression=_expr(m, jawOpen=1.0))
    moving = d > 1e-3
    assert moving.sum() > 100
    eye_y = m.template[m.regions["eye_left"], 1].mean()
    assert (m.template[moving, 1] < eye_y).mean() > 0.95
    assert d[m.regions["teeth_lower"]].mean() > 0.01 and d[m.regions["teeth_upper"]].max() < 1e-3


def test_every_expression_moves_the_face(builtin_head):
    m = builtin_head
    mag = np.linalg.norm(m.expression_basis, axis=1).max(0)  # (E,) metres
    assert (mag > 0.002).all(), [n for n, x in zip(m.expression_names, mag) if x <= 0.002]


def test_jaw_pose_moves_lower_teeth_not_upper(builtin_head):
    m = builtin_head
    pose = np.zeros((1, 5, 3), np.float32)
    pose[0, 2, 0] = 0.3  # open the jaw
    d = _moved(m, pose=pose)
    assert d[m.regions["teeth_lower"]].min() > 0.005
    assert d[m.regions["teeth_upper"]].max() < 1e-6
    assert d[m.regions["eye_left"]].max() < 1e-6
    up, low = m.regions["lip_upper"], m.regions["lip_lower"]
    assert d[low].mean() > 5 * d[up].mean()
    # the chin goes down
    out = m.forward(pose=pose).vertices[0]
    chin = m.regions["lip_lower"]
    assert (out[chin, 1] - m.template[chin, 1]).mean() < -0.003


@pytest.mark.parametrize("joint, region", [(3, "eye_left"), (4, "eye_right")])
def test_eye_rotation_moves_only_that_eyeball_rigidly(builtin_head, joint, region):
    m = builtin_head
    pose = np.zeros((1, 5, 3), np.float32)
    pose[0, joint, 1] = 0.3
    d = _moved(m, pose=pose)
    moved = np.nonzero(d > 1e-7)[0]
    assert set(moved) <= set(m.regions[region].tolist()) and len(moved) > 0.8 * len(m.regions[region])
    out = m.forward(pose=pose).vertices[0]
    c = m.rest_joints()[joint]
    r0 = np.linalg.norm(m.template[m.regions[region]] - c, axis=1)
    r1 = np.linalg.norm(out[m.regions[region]] - c, axis=1)
    np.testing.assert_allclose(r0, r1, atol=1e-6)  # rigid about the eye centre


def test_landmark_embedding_sits_on_the_face_front(builtin_head):
    m = builtin_head
    assert m.landmark_scheme == "mediapipe478" and m.num_landmarks == 478
    assert np.allclose(m.landmark_bary.sum(1), 1.0, atol=1e-5) and (m.landmark_bary >= 0).all()
    lmk = m.forward().landmarks[0]
    assert lmk.shape == (478, 3)
    skin = set(m.regions["skin"].tolist())
    corners = m.faces[m.landmark_faces[:468]]
    assert all(set(c.tolist()) <= skin for c in corners)  # face-mesh points on skin
    iris = set(m.regions["eye_left"].tolist()) | set(m.regions["eye_right"].tolist())
    assert all(set(c.tolist()) <= iris for c in m.faces[m.landmark_faces[468:]])
    # in front of the ears, and mediapipe's nose tip (1) is the most forward point near the midline
    assert (lmk[:, 2] > m.rest_joints()[2, 2]).all()
    assert abs(lmk[1, 0]) < 0.005 and lmk[1, 2] > np.percentile(lmk[:, 2], 95)
    # mediapipe's subject-left eye outer corner (263) is at +x, the right one (33) at -x
    assert lmk[263, 0] > 0.02 and lmk[33, 0] < -0.02
    # jawOpen separates the inner lips (13 upper, 14 lower)
    open_ = m.forward(expression=_expr(m, jawOpen=1.0)).landmarks[0]
    assert np.linalg.norm(open_[13] - open_[14]) > np.linalg.norm(lmk[13] - lmk[14]) + 0.01


def test_vertex_colors_cover_parts(builtin_head):
    col = builtin_vertex_colors(builtin_head)
    assert col.shape == (builtin_head.num_vertices, 3) and (col >= 0).all() and (col <= 1).all()
    eye = builtin_head.regions["eye_left"]
    assert len(np.unique(col[eye], axis=0)) == 2  # sclera and iris


def test_load_builtin_head_is_cached_and_fast_to_repeat():
    a, b = load_head("builtin"), load_head("builtin")
    assert a.template is b.template  # shared arrays, loaded once


# ---- build script pieces (no wheel needed) ------------------------------------------------------------
def test_parse_target_and_dense(build):
    idx, d = build.parse_target("# a comment\n3 0.1 -0.2 .5\n\n0 0 0 1\n")
    np.testing.assert_array_equal(idx, [3, 0])
    np.testing.assert_allclose(d, [[0.1, -0.2, 0.5], [0, 0, 1]])
    remap = np.array([1, -1, -1, 0])  # source 0 -> new 1, source 3 -> new 0, 1 and 2 dropped
    dense, lost = build.dense_target(idx, d, remap, 2)
    np.testing.assert_allclose(dense, [[0.1, -0.2, 0.5], [0, 0, 1]])
    assert lost == 0.0
    dense, lost = build.dense_target(np.array([1]), np.array([[0.0, 3.0, 4.0]]), remap, 2)
    assert lost == pytest.approx(5.0) and not dense.any()


def test_parse_obj_and_triangulate(build):
    text = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n" \
           "g body\nf 1/1 2/2 3/3 4/4\ng helper\nf 2 5 3\n"
    obj = build.parse_obj(text)
    assert obj.v.shape == (5, 3) and obj.vt.shape == (4, 2)
    np.testing.assert_array_equal(obj.fv, [[0, 1, 2, 3], [1, 4, 2, -1]])
    np.testing.assert_array_equal(obj.fvt[0], [0, 1, 2, 3])
    assert list(obj.groups) == ["body", "helper"]
    tri = build.triangulate(obj.fv)
    np.testing.assert_array_equal(tri, [[0, 1, 2], [0, 2, 3], [1, 4, 2]])


def test_edge_loop_and_cut_on_a_tube(build):
    # a quad tube of 4 rings x 6 segments: the loop through ring 1 separates rings 0-1 from 1-3
    n, rings = 6, 4
    ang = 2 * np.pi * np.arange(n) / n
    verts = np.array([[np.cos(a), y, np.sin(a)] for y in range(rings) for a in ang], float)
    quads = np.array([[r * n + i, r * n + (i + 1) % n, (r + 1) * n + (i + 1) % n, (r + 1) * n + i]
                      for r in range(rings - 1) for i in range(n)])
    loop = build.edge_loop(quads, verts, n, n + 1)
    assert sorted(loop) == list(range(n, 2 * n))
    keep = build.faces_above_loop(quads, loop, seed=len(quads) - 1)
    assert keep.sum() == 2 * n and keep[n:].all()


def test_exact_regressor_row_reproduces_target(build):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(20, 3))
    cand = np.arange(10)
    target = pts[cand].mean(0) + 0.05
    w = build.exact_regressor_row(pts, cand, target)
    np.testing.assert_allclose(w @ pts[cand], target, atol=1e-10)
    assert w.sum() == pytest.approx(1.0)


def test_bone_joint_mapping(build):
    rig = {"head": {"parent": "neck03"}, "neck03": {"parent": "neck02"}, "neck02": {"parent": "neck01"},
           "neck01": {"parent": "spine01"}, "spine01": {}, "jaw": {"parent": "head"},
           "oris01": {"parent": "jaw"}, "eye.L": {"parent": "head"}, "eye.R": {"parent": "head"},
           "oris05": {"parent": "head"}}
    got = {b: build.bone_joint(b, rig) for b in rig}
    assert got == {"head": "neck", "neck03": "neck", "neck02": "neck", "neck01": "root", "spine01": "root",
                   "jaw": "jaw", "oris01": "jaw", "eye.L": "eye_left", "eye.R": "eye_right", "oris05": "neck"}


def test_pin_points_on_a_rendered_square(build):
    # two triangles covering [0, 10]^2 seen at depth 1; points pin with exact barycentrics
    proj = np.array([[0, 0, 1.0], [10, 0, 1.0], [0, 10, 1.0], [10, 10, 1.0]])
    faces = np.array([[0, 1, 2], [2, 1, 3]])
    pts = np.array([[2.0, 3.0], [8.0, 9.0], [12.0, 5.0]])  # the last is off-surface
    f, b = build.pin_points_multiview(pts, proj, faces, np.ones(2, bool), (12, 14), [], radius=1.0)
    back = np.einsum("lk,lkc->lc", b, proj[faces[f], :2])
    np.testing.assert_allclose(back[:2], pts[:2], atol=1e-9)
    assert list(f[:2]) == [0, 1]
    np.testing.assert_allclose(back[2], [10.0, 5.0], atol=1e-9)  # snapped to the nearest edge
