"""The head model's nonlinear terms as driven targets: formulas == the model's functions, linear + driven == forward."""

from __future__ import annotations

import re

import numpy as np
import pytest

from emodiffhead.head import JOINT_NAMES
from emodiffhead.head.driven import MAX_EXPRESSION_CHARS, driven_targets, driven_weights
from synthetic_heads import make_head

_ENV = {"__builtins__": {}, "min": np.minimum, "max": np.maximum}


def _evaluate(target, head, w: np.ndarray, pose: np.ndarray) -> np.ndarray:
    values = {v: w[:, head.expression_index(c)].astype(np.float64) for v, c in target.variables.items()}
    values.update({v: pose[:, JOINT_NAMES.index(j), 0].astype(np.float64) for v, j in target.joints.items()})
    return eval(target.expression, _ENV, values)


def _random_pose(rng, T: int) -> np.ndarray:
    pose = np.zeros((T, 5, 3), np.float32)
    pose[:, 3:, :2] = rng.uniform(-0.4, 0.4, (T, 2, 2))   # the eyes look around
    return pose


def test_builtin_targets_and_formulas(builtin_head):
    head = builtin_head
    targets = driven_targets(head)
    assert [t.kind for t in targets] == ["corrective"] * 7 + ["soft_limit"] * 2 + ["lid_follow"] * 4
    assert [t.name for t in targets[7:9]] == ["soft_limit eyeWideLeft", "soft_limit eyeWideRight"]
    assert targets[9].name == "lid_follow eyeLookDownLeft" and targets[9].joints == {"q": "eye_left"}
    rng = np.random.default_rng(0)
    w = rng.uniform(-0.3, 1.8, (400, head.num_expression)).astype(np.float32)
    w[:200, [head.expression_index(n) for n in head.expression_names if n.startswith(("eyeLook", "eyeBlink"))]] = 0
    pose = _random_pose(rng, 400)
    got = driven_weights(head, w, pose)
    assert got.shape == (400, 13) and np.all(got.max(0) > 0.05)   # every term is switched on somewhere
    assert np.all(driven_weights(head, w)[:, 9:] == 0)            # no pose: the lids stay
    for k, t in enumerate(targets):
        # a Blender simple expression: numbers, the variables, + - * /, parentheses, min, max
        words = set(re.findall(r"[A-Za-z_]\w*", t.expression))
        assert words <= {"min", "max", *t.variables, *t.joints} and len(t.expression) <= MAX_EXPRESSION_CHARS
        np.testing.assert_allclose(_evaluate(t, head, w, pose), got[:, k], atol=1e-6, err_msg=t.name)
        lo, hi = t.value_range
        assert got[:, k].min() >= lo - 1e-7 and got[:, k].max() <= hi + 1e-6


def test_linear_plus_driven_targets_is_forward(builtin_head):
    head = builtin_head
    targets = driven_targets(head)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.0, 1.5, (3, head.num_expression)).astype(np.float32)
    w[:, [head.expression_index(n) for n in head.expression_names if n.startswith(("eyeLook", "eyeBlink"))]] = 0.1
    pose = _random_pose(rng, 3)
    lin = head.template + np.einsum("vce,te->tvc", head.expression_basis, w)
    offsets = np.stack([t.offsets for t in targets], axis=2)
    posed = lin + np.einsum("vck,tk->tvc", offsets, driven_weights(head, w, pose))
    # the eyes' own rotation is skinning, not a morph: compare with the eye joints at rest (their pitch still
    # drives the lid-follow weights above)
    out = head.forward(expression=w, pose=pose).vertices
    eyes = np.zeros(head.num_vertices, bool)
    for r in ("eye_left", "eye_right"):
        eyes[head.regions[r]] = True
    want = np.where(eyes[None, :, None], head.forward(expression=w).vertices, out)
    assert np.abs(lin - want).max() > 1e-3                       # the nonlinear terms matter (mm)
    np.testing.assert_allclose(posed, want, atol=2e-6)


def test_linear_head_has_none():
    head = make_head()
    assert driven_targets(head) == []
    assert driven_weights(head, np.zeros((2, head.num_expression))).shape == (2, 0)


def test_soft_limit_formula_only(builtin_head):
    """A soft limit without correctives: the weight is ``w - soft_limit(w)``."""
    import dataclasses

    head = dataclasses.replace(builtin_head, expression_correctives=None, corrective_rules=None)
    assert [t.kind for t in driven_targets(head)] == ["soft_limit"] * 2 + ["lid_follow"] * 4
    w = np.zeros((1, head.num_expression), np.float32)
    w[0, head.expression_index("eyeWideLeft")] = 1.5
    assert driven_weights(head, w)[0, 0] == pytest.approx(1.5 - (0.6 + 0.3 * 3 / 4), abs=1e-6)
