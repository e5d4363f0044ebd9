"""HeadModel.forward against hand-computed FLAME cases on a small synthetic head (50 vertices)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from emodiffhead.errors import HeadModelError
from emodiffhead.head import JOINT_NAMES, HeadModel
from synthetic_heads import make_head

ROOT, NECK, JAW, EYE_L, EYE_R = range(5)


def R(rotvec) -> np.ndarray:
    return Rotation.from_rotvec(np.asarray(rotvec, float)).as_matrix()


def pose_with(**joints) -> np.ndarray:
    p = np.zeros((1, 5, 3), np.float32)
    for name, rv in joints.items():
        p[0, JOINT_NAMES.index(name)] = rv
    return p


@pytest.fixture(scope="module")
def head() -> HeadModel:
    return make_head()


@pytest.fixture(scope="module")
def head_pd() -> HeadModel:
    return make_head(posedirs=True, seed=5)


def blended(head, shape, expr):
    return head.template + head.shape_basis @ shape + head.expression_basis @ expr


def test_identity_pose_returns_blended_template(head_pd):
    rng = np.random.default_rng(0)
    shape = rng.normal(size=head_pd.num_shape).astype(np.float32)
    expr = rng.normal(size=(3, head_pd.num_expression)).astype(np.float32)
    out = head_pd.forward(shape, expr)
    assert out.vertices.shape == (3, 50, 3) and out.vertices.dtype == np.float32
    for t in range(3):
        vs = blended(head_pd, shape, expr[t])
        np.testing.assert_allclose(out.vertices[t], vs, atol=1e-6)
        np.testing.assert_allclose(out.joints[t], head_pd.joint_regressor @ vs, atol=1e-6)
    np.testing.assert_allclose(head_pd.forward().vertices[0], head_pd.template, atol=1e-7)


def test_jaw_rotation_moves_only_jaw_weighted_vertices_by_rodrigues(head):
    rv = np.array([0.35, 0.0, 0.0])
    out = head.forward(pose=pose_with(jaw=rv))
    v0, v1 = head.template, out.vertices[0]
    j = head.rest_joints()[JAW]
    w = head.weights[:, JAW]
    rotated = (R(rv) @ (v0 - j).T).T + j
    expected = (1 - w)[:, None] * v0 + w[:, None] * rotated
    np.testing.assert_allclose(v1, expected, atol=1e-6)
    moved = np.linalg.norm(v1 - v0, axis=1) > 1e-7
    np.testing.assert_array_equal(moved, w > 0)
    assert moved.sum() >= 5 and (~moved).sum() >= 30
    # joints: only the jaw joint's frame rotates; its location stays
    np.testing.assert_allclose(out.joints[0], head.rest_joints(), atol=1e-6)


def test_root_rotation_rotates_everything_about_root(head):
    rv = np.array([0.1, -0.6, 0.25])
    out = head.forward(pose=pose_with(root=rv))
    j0 = head.rest_joints()[ROOT]
    expected = (R(rv) @ (head.template - j0).T).T + j0
    np.testing.assert_allclose(out.vertices[0], expected, atol=1e-6)
    expected_j = (R(rv) @ (head.rest_joints() - j0).T).T + j0
    np.testing.assert_allclose(out.joints[0], expected_j, atol=1e-6)


def test_neck_rotation_carries_jaw_and_eyes(head):
    rn, rj = np.array([0.0, 0.4, 0.0]), np.array([0.3, 0.0, 0.0])
    out = head.forward(pose=pose_with(neck=rn, jaw=rj))
    J = head.rest_joints()
    Rn, Rj = R(rn), R(rj)
    for k in (JAW, EYE_L, EYE_R):
        np.testing.assert_allclose(out.joints[0, k], Rn @ (J[k] - J[NECK]) + J[NECK], atol=1e-6)
    pure_jaw = np.where(head.weights[:, JAW] == 1.0)[0]
    v = head.template[pure_jaw]
    expected = (Rn @ ((Rj @ (v - J[JAW]).T).T + J[JAW] - J[NECK]).T).T + J[NECK]
    np.testing.assert_allclose(out.vertices[0, pure_jaw], expected, atol=1e-6)
    eye = np.where(head.weights[:, EYE_L] == 1.0)[0]
    np.testing.assert_allclose(out.vertices[0, eye], (Rn @ (head.template[eye] - J[NECK]).T).T + J[NECK], atol=1e-6)
    root_only = np.where(head.weights[:, ROOT] == 1.0)[0]
    np.testing.assert_allclose(out.vertices[0, root_only], head.template[root_only], atol=1e-7)


def test_eye_rotation_moves_only_that_eye(head):
    out = head.forward(pose=pose_with(eye_left=[0.0, 0.3, 0.0]))
    moved = np.linalg.norm(out.vertices[0] - head.template, axis=1) > 1e-7
    np.testing.assert_array_equal(moved, head.weights[:, EYE_L] > 0)


@pytest.mark.parametrize("posed", [False, True])
def test_linear_in_expression_and_shape(head_pd, posed):
    rng = np.random.default_rng(7)
    pose = rng.normal(0, 0.2, (1, 5, 3)).astype(np.float32) if posed else None
    E, S = head_pd.num_expression, head_pd.num_shape
    e1, e2 = rng.normal(size=E), rng.normal(size=E)
    f = lambda s, e: head_pd.forward(s, e[None], pose).vertices[0].astype(np.float64)  # noqa: E731
    s0 = np.zeros(S)
    base = f(s0, np.zeros(E))
    combo = f(s0, 2.0 * e1 - 0.5 * e2)
    np.testing.assert_allclose(combo - base, 2.0 * (f(s0, e1) - base) - 0.5 * (f(s0, e2) - base), atol=2e-6)
    s1, s2 = rng.normal(size=S), rng.normal(size=S)
    combo = f(0.3 * s1 + 1.5 * s2, np.zeros(E))
    np.testing.assert_allclose(combo - base, 0.3 * (f(s1, np.zeros(E)) - base) + 1.5 * (f(s2, np.zeros(E)) - base),
                               atol=2e-6)
    assert np.abs(f(s0, e1) - base).max() > 1e-3  # the bases do something


def test_pose_correctives_are_applied_as_flame(head_pd):
    rv = np.array([0.4, 0.1, 0.0])
    out = head_pd.forward(pose=pose_with(jaw=rv))
    feats = np.zeros(36)
    feats[9:18] = (R(rv) - np.eye(3)).ravel()  # slot of the jaw (joint 2): rows 9..17
    vp = head_pd.template + (feats @ head_pd.posedirs).reshape(-1, 3)
    j = head_pd.rest_joints()[JAW]
    w = head_pd.weights[:, JAW:JAW + 1]
    expected = (1 - w) * vp + w * ((R(rv) @ (vp - j).T).T + j)
    np.testing.assert_allclose(out.vertices[0], expected, atol=1e-6)
    plain = make_head(posedirs=False, seed=5).forward(pose=pose_with(jaw=rv)).vertices[0]
    assert np.abs(out.vertices[0] - plain).max() > 1e-4


def test_translation_and_landmarks(head):
    tr = np.array([[0.01, -0.02, 0.5], [0.0, 0.0, 0.0]], np.float32)
    pose = np.zeros((2, 5, 3), np.float32)
    pose[0, JAW] = [0.3, 0, 0]
    out = head.forward(pose=pose, translation=tr)
    base = head.forward(pose=pose)
    np.testing.assert_allclose(out.vertices, base.vertices + tr[:, None], atol=1e-6)
    np.testing.assert_allclose(out.joints, base.joints + tr[:, None], atol=1e-6)
    assert out.landmarks.shape == (2, 4, 3)
    tri = out.vertices[:, head.faces[head.landmark_faces]]  # (T, L, 3, 3)
    np.testing.assert_allclose(out.landmarks, np.einsum("tlkc,lk->tlc", tri, head.landmark_bary), atol=1e-6)
    np.testing.assert_allclose(out.landmarks[:, 0], out.vertices[:, head.faces[0, 0]], atol=1e-7)


def test_broadcasting_and_errors(head):
    E = head.num_expression
    out = head.forward(expression=np.zeros((3, E)), pose=np.zeros((1, 5, 3)))
    assert out.vertices.shape == (3, 50, 3)
    out = head.forward(pose=np.zeros((4, 5, 3)))
    assert out.vertices.shape == (4, 50, 3)
    with pytest.raises(ValueError, match="shape has 2 components"):
        head.forward(shape=np.zeros(2))
    with pytest.raises(ValueError, match="expression"):
        head.forward(expression=np.zeros((2, E + 1)))
    with pytest.raises(ValueError, match="pose"):
        head.forward(expression=np.zeros((2, E)), pose=np.zeros((3, 5, 3)))
    assert head.forward(pose=np.zeros((2, 5, 3))).landmarks.shape == (2, 4, 3)
    assert make_head(landmarks=False).forward().landmarks is None


def test_validation_names_the_problem(head):
    with pytest.raises(HeadModelError, match="weights must be"):
        HeadModel(name="x", template=head.template, faces=head.faces, shape_basis=head.shape_basis,
                  expression_basis=head.expression_basis, expression_names=head.expression_names,
                  joint_regressor=head.joint_regressor, weights=head.weights[:, :4])
    with pytest.raises(HeadModelError, match="expression_names"):
        HeadModel(name="x", template=head.template, faces=head.faces, shape_basis=head.shape_basis,
                  expression_basis=head.expression_basis, expression_names=["a"],
                  joint_regressor=head.joint_regressor, weights=head.weights)
    with pytest.raises(HeadModelError, match="faces index out of range"):
        HeadModel(name="x", template=head.template, faces=head.faces + 100, shape_basis=head.shape_basis,
                  expression_basis=head.expression_basis, expression_names=head.expression_names,
                  joint_regressor=head.joint_regressor, weights=head.weights)


def test_npz_dict_round_trip(head_pd):
    h2 = HeadModel.from_npz_dict(head_pd.to_npz_dict())
    assert h2.name == head_pd.name and h2.expression_names == head_pd.expression_names
    assert h2.landmark_scheme == "test4"
    np.testing.assert_array_equal(h2.faces, head_pd.faces)
    np.testing.assert_allclose(h2.expression_basis, head_pd.expression_basis, atol=1e-4)  # stored as float16
    p = np.random.default_rng(0).normal(0, 0.2, (2, 5, 3))
    np.testing.assert_allclose(h2.forward(pose=p).vertices, head_pd.forward(pose=p).vertices, atol=1e-5)


# ---- the same properties on the shipped built-in head ----------------------------------------------

def test_builtin_forward_properties(builtin_head):
    h = builtin_head
    assert h.name == "builtin" and h.num_expression == 52 and len(set(h.expression_names)) == 52
    np.testing.assert_allclose(h.weights.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(h.forward().vertices[0], h.template, atol=1e-6)
    rv = np.array([0.25, 0.0, 0.0])
    out = h.forward(pose=pose_with(jaw=rv))
    moved = np.linalg.norm(out.vertices[0] - h.template, axis=1) > 1e-7
    np.testing.assert_array_equal(moved, h.weights[:, JAW] > 0)
    full = h.weights[:, JAW] > 0.999
    j = h.rest_joints()[JAW]
    if h.posedirs is None:
        np.testing.assert_allclose(out.vertices[0, full], (R(rv) @ (h.template[full] - j).T).T + j, atol=1e-6)
    e = np.zeros((1, 52), np.float32)
    e[0, h.expression_index("jawOpen")] = 1.0
    e2 = e.copy()
    e2[0, h.expression_index("mouthSmileLeft")] = 0.5
    d1 = h.forward(expression=e).vertices[0] - h.template
    d2 = h.forward(expression=e2).vertices[0] - h.template
    np.testing.assert_allclose(d2 - d1, 0.5 * h.expression_basis[:, :, h.expression_index("mouthSmileLeft")],
                               atol=1e-6)
    if h.landmark_faces is not None:
        assert h.forward().landmarks.shape == (1, h.num_landmarks, 3)


def test_soft_limit_saturates_without_going_flat():
    from emodiffhead.head.model import soft_limit

    w = np.linspace(0.0, 3.0, 301, dtype=np.float32)
    y = soft_limit(w, 0.6, 0.75)
    below = w <= 0.6
    assert np.array_equal(y[below], w[below])          # linear up to the knee
    assert np.all(np.diff(y) > 0)                       # strictly increasing: a stronger input moves further
    assert y.max() < 0.75 and y[-1] > 0.73              # approaches the ceiling, never reaches it
    step = soft_limit(np.float32(0.602), 0.6, 0.75) - np.float32(0.6)
    assert abs(step / 0.002 - 1.0) < 0.03               # slope 1 just above the knee: no kink


def test_forward_applies_the_heads_soft_limits_and_npz_keeps_them(head):
    E = head.num_expression
    lim = np.full((E, 2), np.nan, np.float32)
    lim[0] = (0.2, 0.3)
    limited = HeadModel(**{**head.__dict__, "expression_soft_limits": lim})
    e = np.zeros((1, E), np.float32)
    e[0, 0], e[0, 1] = 0.9, 0.9
    got = limited.forward(expression=e).vertices[0]
    e_lim = e.copy()
    e_lim[0, 0] = 0.2 + 0.1 * 7 / 8  # knee + (ceiling - knee) * x / (1 + x), x = (0.9 - knee) / (ceiling - knee)
    want = blended(head, np.zeros(head.num_shape), e_lim[0])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert limited.limit_expression(e)[0, 0] < 0.3 and limited.limit_expression(e)[0, 1] == np.float32(0.9)
    back = HeadModel.from_npz_dict(limited.to_npz_dict())
    np.testing.assert_array_equal(back.expression_soft_limits, lim)
    with pytest.raises(HeadModelError, match="soft_limits"):
        HeadModel(**{**head.__dict__, "expression_soft_limits": np.array([[0.5, 0.4]] * E, np.float32)})


def test_correctives_follow_their_rule_and_forward_adds_them(head):
    # rule (driver, driver_full, damper, damper_full, closer): driver capped at driver_full, faded out by the damper
    # and by the closer
    E, V = head.num_expression, head.num_vertices
    rng = np.random.default_rng(3)
    corr = rng.normal(size=(V, 3, 1)).astype(np.float32) * 0.01
    with_c = HeadModel(**{**head.__dict__, "expression_correctives": corr,
                          "corrective_rules": np.array([[0, 0.5, 1, 0.4, 2]], np.float32)})
    w = np.zeros((4, E), np.float32)
    w[:, 0] = (0.3, 0.9, 0.3, 0.3)
    w[2, 1] = 0.2       # damper half way
    w[3, 2] = 0.75      # closer three quarters shut
    c = with_c.corrective_coefficients(w)[:, 0]
    np.testing.assert_allclose(c, [0.3, 0.5, 0.15, 0.075], atol=1e-6)
    got = with_c.forward(expression=w).vertices
    want = np.stack([blended(head, np.zeros(head.num_shape), w[t]) + corr[:, :, 0] * c[t] for t in range(4)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    back = HeadModel.from_npz_dict(with_c.to_npz_dict())
    np.testing.assert_array_equal(back.corrective_rules, with_c.corrective_rules)
    np.testing.assert_allclose(back.forward(expression=w).vertices, got, atol=1e-4)  # bases stored as float16
    with pytest.raises(HeadModelError, match="corrective"):
        HeadModel(**{**head.__dict__, "expression_correctives": corr,
                     "corrective_rules": np.array([[0, 0.5, E, 0.4, -1]], np.float32)})


def test_a_corrective_with_an_onset_starts_there(head):
    # rule column 6, driver_onset: nothing below it, then the driver's excess over it, capped at driver_full - onset;
    # 5-column rules read with onset 0
    E, V = head.num_expression, head.num_vertices
    corr = np.full((V, 3, 2), 0.001, np.float32)
    rules = np.array([[0, 0.8, -1, 1.0, -1, 0.3], [0, 0.8, -1, 1.0, -1, 0.0]], np.float32)
    m = HeadModel(**{**head.__dict__, "expression_correctives": corr, "corrective_rules": rules})
    w = np.zeros((4, E), np.float32)
    w[:, 0] = (0.2, 0.3, 0.5, 1.2)
    np.testing.assert_allclose(m.corrective_coefficients(w), [[0, 0.2], [0, 0.3], [0.2, 0.5], [0.5, 0.8]],
                               atol=1e-6)
    five = HeadModel(**{**head.__dict__, "expression_correctives": corr[:, :, 1:], "corrective_rules": rules[1:, :5]})
    assert five.corrective_rules.shape == (1, 7) and five.corrective_rules[0, 5] == five.corrective_rules[0, 6] == 0
    back = HeadModel.from_npz_dict(m.to_npz_dict())
    np.testing.assert_array_equal(back.corrective_rules, np.pad(rules, ((0, 0), (0, 7 - rules.shape[1]))))
    with pytest.raises(HeadModelError, match="onset"):  # an onset at or past driver_full never drives
        HeadModel(**{**head.__dict__, "expression_correctives": corr[:, :, :1],
                     "corrective_rules": np.array([[0, 0.5, -1, 1.0, -1, 0.5]], np.float32)})


def test_malformed_corrective_rules_are_refused_not_misread(head):
    # six 6-column rules flattened to 36 numbers are not read as (something, 5) rows, nor is an 8-column row
    V = head.num_vertices
    for rules in (np.zeros(36, np.float32), np.zeros((2, 8), np.float32)):
        with pytest.raises(HeadModelError, match="corrective_rules must be"):
            HeadModel(**{**head.__dict__, "expression_correctives": np.zeros((V, 3, 6), np.float32),
                         "corrective_rules": rules})


def test_a_corrective_fades_as_the_jaw_joint_opens(head):
    # a rule's 7th column: the jaw joint's pitch (radians) that, with its damper component, takes it away; rules
    # without it ignore the jaw joint (5- and 6-column rules read as before)
    V, E = head.num_vertices, head.num_expression
    corr = np.zeros((V, 3, 2), np.float32)
    rules = np.array([[0, 1.0, 1, 0.5, -1, 0.0, 0.2], [0, 1.0, 1, 0.5, -1, 0.0, 0.0]], np.float32)
    m = HeadModel(**{**head.__dict__, "expression_correctives": corr, "corrective_rules": rules})
    w = np.zeros((4, E), np.float32)
    w[:, 0] = 0.8
    w[3, 1] = 0.25  # the damper half way
    pitch = np.array([0.0, 0.1, 0.3, 0.05], np.float32)
    c = m.corrective_coefficients(w, pitch)
    np.testing.assert_allclose(c[:, 0], [0.8, 0.4, 0.0, 0.8 * (1 - 0.5 - 0.25)], atol=1e-6)
    np.testing.assert_allclose(c[:, 1], [0.8, 0.8, 0.8, 0.4], atol=1e-6)
    np.testing.assert_allclose(m.corrective_coefficients(w)[:, 0], [0.8, 0.8, 0.8, 0.4], atol=1e-6)  # no pose: rest
    with pytest.raises(HeadModelError, match="jaw_pitch_full >= 0"):
        HeadModel(**{**head.__dict__, "expression_correctives": corr[:, :, :1],
                     "corrective_rules": np.array([[0, 1.0, 1, 0.5, -1, 0.0, -0.1]], np.float32)})
