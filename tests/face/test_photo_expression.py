"""Reading the photo's own brow / mouth-corner expression only beyond the range of neutral faces."""

from __future__ import annotations

import numpy as np

from emodiffhead.face import photo_expression as pe
from emodiffhead.face.detect import detect_face
from emodiffhead.face.fit import LandmarkProblem, fit_landmarks
from emodiffhead.face.image import load_photo


def _model_points(head, shape=None, **expr):
    """(468, 3) the built-in head's landmark points (head frame) with the given shape / expression weights."""
    prob = LandmarkProblem(head)
    coef = np.zeros(prob.S + prob.E)
    for name, v in (shape or {}).items():
        coef[list(head.shape_names).index(name)] = v
    for name, v in expr.items():
        coef[prob.S + head.expression_index(name)] = v
    return prob, prob.mean + prob.basis @ coef


def _read(head, points, prob):
    idx = [prob.S + head.expression_index(n) for n in pe.READ_COMPONENTS]
    return dict(zip(pe.READ_COMPONENTS, pe.read_expression(points, prob.mean, prob.basis[:, :, idx])))


def test_neutral_faces_with_low_or_high_brows_read_nothing(builtin_head):
    # identity: brows set as low as the head's shape space allows, a little higher, flatter or more slanted
    # (the built-in head at rest already sits near the top of the sample's height and slope), a wide mouth
    for shape in ({}, {"eyebrows-trans-vert": -1.0}, {"eyebrows-trans-vert": 0.25}, {"eyebrows-angle": -0.5},
                  {"eyebrows-angle": 0.2}, {"mouth-scale-horiz": 1.0}, {"mouth-scale-horiz": -1.0},
                  {"eyebrows-trans-vert": -1.0, "mouth-scale-horiz": -1.0}):
        prob, P = _model_points(builtin_head, shape)
        assert not np.any(pe.excess(pe.expression_features(P))), shape
        assert not any(_read(builtin_head, P, prob).values()), shape


def test_clear_frown_raise_and_sad_mouth_are_read_with_the_right_components(builtin_head):
    prob, P = _model_points(builtin_head, browDownLeft=0.8, browDownRight=0.8)
    r = _read(builtin_head, P, prob)
    assert r["browDownLeft"] > 0.2 and r["browDownRight"] > 0.2 and r["browInnerUp"] < 0.05, r
    prob, P = _model_points(builtin_head, browInnerUp=0.9, browOuterUpLeft=0.9, browOuterUpRight=0.9)
    r = _read(builtin_head, P, prob)
    assert r["browInnerUp"] > 0.2 and min(r["browOuterUpLeft"], r["browOuterUpRight"]) > 0.1, r
    assert max(r["browDownLeft"], r["browDownRight"]) < 0.05, r
    prob, P = _model_points(builtin_head, mouthFrownLeft=0.9, mouthFrownRight=0.9)
    r = _read(builtin_head, P, prob)
    assert min(r["mouthFrownLeft"], r["mouthFrownRight"]) > 0.2, r
    assert max(r[n] for n in pe.READ_COMPONENTS if n.startswith("brow")) < 0.05, r


def test_only_the_excess_is_read(builtin_head):
    # removing what was read brings the features back to the edge of the neutral range (the brow gap here, the
    # feature furthest out), not to the head's rest
    prob, P = _model_points(builtin_head, browDownLeft=1.0, browDownRight=1.0)
    idx = [prob.S + builtin_head.expression_index(n) for n in pe.READ_COMPONENTS]
    c = pe.read_expression(P, prob.mean, prob.basis[:, :, idx])
    back = pe.expression_features(P - prob.basis[:, :, idx] @ c)
    gap = pe.FEATURES.index("brow_gap")
    assert abs(back[gap] - pe.NEUTRAL_RANGES["brow_gap"].low) < 0.005
    assert back[gap] < pe.expression_features(prob.mean)[gap] - 0.02
    assert 0.4 < c[0] < 0.95 and abs(c[0] - c[1]) < 0.06  # both sides, less than all of it


def test_the_neutral_example_photo_fits_exactly_as_before(example_photo, builtin_head):
    det = detect_face(load_photo(example_photo))
    plain = fit_landmarks(det.landmarks, builtin_head, det.image_size, read_photo_expression=False)
    read = fit_landmarks(det.landmarks, builtin_head, det.image_size)
    assert np.array_equal(plain.expression, read.expression) and np.array_equal(plain.shape, read.shape)


def test_a_smile_is_read_from_the_width_it_adds_to_raised_corners(builtin_head):
    # a smile (AU12) both raises the corners and widens the mouth: the width beyond the neutral range is read as
    # mouthSmile on both sides, and removing it brings the width back to the range's edge
    prob, P = _model_points(builtin_head, mouthSmileLeft=0.6, mouthSmileRight=0.6)
    r = _read(builtin_head, P, prob)
    assert min(r["mouthSmileLeft"], r["mouthSmileRight"]) > 0.2 and max(r["mouthFrownLeft"], r["browInnerUp"]) < 0.05, r
    idx = [prob.S + builtin_head.expression_index(n) for n in pe.READ_COMPONENTS]
    back = pe.expression_features(P - prob.basis[:, :, idx] @ np.array([r[n] for n in pe.READ_COMPONENTS]))
    assert abs(back[pe.FEATURES.index("mouth_width")] - pe.NEUTRAL_RANGES["mouth_width"].high) < 0.01, back


def test_a_wide_mouth_with_level_corners_is_identity(builtin_head):
    # as wide as the smile above, the corners at rest: nothing is read (a wide mouth alone is identity)
    prob, P = _model_points(builtin_head, {"mouth-scale-horiz": 1.0})
    f = pe.expression_features(P)
    assert f[pe.FEATURES.index("mouth_width")] > pe.NEUTRAL_RANGES["mouth_width"].high + 0.05
    assert not any(_read(builtin_head, P, prob).values())


def test_a_frown_is_read_only_where_forward_is_linear(builtin_head):
    """The built-in head's brow lowerer drives anger's V correctives above an onset; a frowning photo's browDown
    is read up to there, so the neutral reference (``head.forward``) holds no V the photo lacks and the neutral
    frame does not lift the inner brows (a worried look)."""
    onsets = builtin_head.corrective_onsets()
    down = [builtin_head.expression_index(n) for n in ("browDownLeft", "browDownRight")]
    assert np.all(np.isfinite(onsets[down])) and np.all((onsets[down] > 0) & (onsets[down] < 1))
    assert np.isinf(onsets[builtin_head.expression_index("browInnerUp")])  # its inner-lid rule starts at 0
    expr = np.zeros(builtin_head.num_expression, np.float32)
    expr[down] = 1.0
    lm = builtin_head.forward(expression=expr[None]).landmarks[0].astype(np.float64)
    # an orthographic 512 px view of the frowning head, y down
    px = np.c_[256 + 2600 * lm[:, 0], 300 - 2600 * lm[:, 1], 2600 * lm[:, 2]]
    read = fit_landmarks(px, builtin_head, (512, 512)).expression[down]
    assert np.all(read > 0.5 * onsets[down]) and np.all(read <= onsets[down] + 1e-6), (read, onsets[down])
