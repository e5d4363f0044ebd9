"""The pure skinning functions of head/lbs.py against hand-computed cases and scipy's rotations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from emodiffhead.head import lbs


def rot(axis, angle):
    """Rotation matrix about a unit ``axis`` by ``angle`` radians (scipy as the reference)."""
    return Rotation.from_rotvec(np.asarray(axis, float) / np.linalg.norm(axis) * angle).as_matrix()


def test_batch_rodrigues_matches_scipy():
    rng = np.random.default_rng(1)
    rv = rng.normal(0, 1.2, (4, 5, 3))
    rv[0, 0] = 0.0           # identity
    rv[0, 1] = [1e-9, 0, 0]  # below eps
    rv[1, 2] = [np.pi, 0, 0]
    R = lbs.batch_rodrigues(rv)
    assert R.shape == (4, 5, 3, 3) and R.dtype == np.float32
    ref = Rotation.from_rotvec(rv.reshape(-1, 3)).as_matrix().reshape(4, 5, 3, 3)
    np.testing.assert_allclose(R, ref, atol=1e-6)
    np.testing.assert_allclose(R[0, 0], np.eye(3), atol=0)


def test_batch_rodrigues_hand_case():
    # 90 degrees about z maps x to y
    R = lbs.batch_rodrigues(np.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-7)
    np.testing.assert_allclose(R @ [0, 0, 1], [0, 0, 1], atol=1e-7)


def test_blend_shapes_and_vertices2joints():
    basis = np.zeros((2, 3, 2), np.float32)
    basis[0, 1, 0] = 1.0   # component 0 moves vertex 0 in y
    basis[1, 2, 1] = 2.0   # component 1 moves vertex 1 in z by 2 per unit
    off = lbs.blend_shapes(np.array([[0.5, 0.0], [0.0, 3.0]]), basis)
    expected = np.zeros((2, 2, 3))
    expected[0, 0, 1] = 0.5
    expected[1, 1, 2] = 6.0
    np.testing.assert_allclose(off, expected)
    verts = np.array([[[0, 0, 0], [2, 4, 6]]], np.float32)
    J = lbs.vertices2joints(np.array([[0.5, 0.5], [0.0, 1.0]], np.float32), verts)
    np.testing.assert_allclose(J, [[[1, 2, 3], [2, 4, 6]]])


def test_pose_features_are_flame_r_minus_i_row_major_without_root():
    R = lbs.batch_rodrigues(np.random.default_rng(2).normal(0, 0.5, (3, 5, 3)))
    f = lbs.pose_features(R)
    assert f.shape == (3, 36)
    for t in range(3):
        expected = np.concatenate([(R[t, j] - np.eye(3)).reshape(-1) for j in range(1, 5)])
        np.testing.assert_allclose(f[t], expected, atol=1e-7)
    assert not np.any(lbs.pose_features(lbs.batch_rodrigues(np.zeros((1, 5, 3)))))


def test_rigid_transform_chain_by_hand():
    # root at origin, child 1 at (0,1,0), grandchild 2 at (0,2,0); rotate the child 90 deg about z
    joints = np.array([[[0, 0, 0], [0, 1, 0], [0, 2, 0]]], np.float32)
    parents = np.array([-1, 0, 1])
    R = np.stack([np.eye(3), rot([0, 0, 1], np.pi / 2), np.eye(3)])[None].astype(np.float32)
    posed, A = lbs.batch_rigid_transform(R, joints, parents)
    np.testing.assert_allclose(posed[0, 0], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(posed[0, 1], [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(posed[0, 2], [-1, 1, 0], atol=1e-6)  # swung about the child joint
    # A maps rest points: a point at the grandchild joint goes where the grandchild joint went
    p = np.array([0, 2, 0, 1.0])
    np.testing.assert_allclose(A[0, 2] @ p, [-1, 1, 0, 1], atol=1e-6)
    np.testing.assert_allclose(A[0, 0], np.eye(4), atol=1e-7)


def test_skin_vertices_blends_transforms():
    T = np.tile(np.eye(4, dtype=np.float32), (1, 2, 1, 1))
    T[0, 1, :3, 3] = [2, 0, 0]  # joint 1 translates by +2 x
    v = np.array([[[0, 0, 0], [1, 1, 1]]], np.float32)
    w = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    out = lbs.skin_vertices(v, w, T)
    np.testing.assert_allclose(out, [[[0, 0, 0], [2, 1, 1]]])


def test_lbs_with_pose_correctives_matches_manual_pipeline():
    rng = np.random.default_rng(3)
    V, K = 7, 3
    template = rng.normal(0, 0.1, (V, 3)).astype(np.float32)
    basis = rng.normal(0, 0.01, (V, 3, K)).astype(np.float32)
    posedirs = rng.normal(0, 0.01, (36, 3 * V)).astype(np.float32)
    reg = rng.random((5, V)).astype(np.float32)
    reg /= reg.sum(1, keepdims=True)
    w = rng.random((V, 5)).astype(np.float32)
    w /= w.sum(1, keepdims=True)
    parents = np.array([-1, 0, 1, 1, 1])
    coeffs = rng.normal(0, 1, (2, K)).astype(np.float32)
    pose = rng.normal(0, 0.3, (2, 5, 3)).astype(np.float32)
    verts, joints, v_shaped = lbs.lbs(coeffs, pose, template, basis, posedirs, reg, parents, w)
    for t in range(2):
        vs = template + np.einsum("vck,k->vc", basis, coeffs[t])
        np.testing.assert_allclose(v_shaped[t], vs, atol=1e-6)
        J = reg @ vs
        Rs = [rot(p, np.linalg.norm(p)) if np.linalg.norm(p) > 0 else np.eye(3) for p in pose[t]]
        feats = np.concatenate([(Rs[j] - np.eye(3)).ravel() for j in range(1, 5)])
        vp = vs + (feats @ posedirs).reshape(V, 3)
        G = [None] * 5
        for j in range(5):
            local = np.eye(4)
            local[:3, :3] = Rs[j]
            local[:3, 3] = J[j] - (J[parents[j]] if j else 0)
            G[j] = local if j == 0 else G[parents[j]] @ local
        expected = np.zeros((V, 3))
        for j in range(5):
            moved = (G[j][:3, :3] @ (vp - J[j]).T).T + G[j][:3, 3]
            expected += w[:, j:j + 1] * moved
        np.testing.assert_allclose(verts[t], expected, atol=1e-5)
        np.testing.assert_allclose(joints[t], [G[j][:3, 3] for j in range(5)], atol=1e-6)


def test_lbs_without_posedirs_ignores_correctives():
    rng = np.random.default_rng(4)
    V = 4
    template = rng.normal(0, 0.1, (V, 3)).astype(np.float32)
    w = np.zeros((V, 5), np.float32)
    w[:, 0] = 1
    reg = np.full((5, V), 1 / V, np.float32)
    pose = np.zeros((1, 5, 3), np.float32)
    pose[0, 0] = [0, np.pi, 0]
    verts, _, _ = lbs.lbs(np.zeros((1, 0), np.float32), pose, template, np.zeros((V, 3, 0), np.float32), None,
                          reg, np.array([-1, 0, 1, 1, 1]), w)
    c = template.mean(0)
    expected = (template - c) * [-1, 1, -1] + c  # 180 degrees about y through the centroid
    np.testing.assert_allclose(verts[0], expected, atol=1e-6)


def test_barycentric_points():
    v = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]], np.float32)
    faces = np.array([[0, 1, 2], [1, 2, 3]])
    p = lbs.barycentric_points(v, faces, np.array([0, 1, 1]), np.array([[0, 1, 0], [0.2, 0.3, 0.5], [1, 0, 0]]))
    np.testing.assert_allclose(p[0], [[1, 0, 0], [0.2, 0.3, 0.5], [1, 0, 0]], atol=1e-7)


@pytest.mark.parametrize("angle", [0.0, 1e-4, 0.7, np.pi - 1e-3])
def test_rodrigues_is_orthonormal(angle):
    R = lbs.batch_rodrigues(np.array([[0.3, -0.5, 0.8]]) / np.linalg.norm([0.3, -0.5, 0.8]) * angle)[0]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
