"""The head model's nonlinear terms as driven targets: formulas == the model's functions, linear + driven == forward."""

from __future__ import annotations

import re

import numpy as np
import pytest

from emodiffhead.head.driven import MAX_EXPRESSION_CHARS, driven_targets, driven_weights
from synthetic_heads import make_head

_ENV = {"__builtins__": {}, "min": np.minimum, "max": np.maximum}


def _evaluate(target, head, w: np.ndarray) -> np.ndarray:
    return eval(target.expression, _ENV, {v: w[:, head.expression_index(c)].astype(np.float64)
                                          for v, c in target.variables.items()})


def test_builtin_targets_and_formulas(builtin_head):
    head = builtin_head
    targets = driven_targets(head)
    assert [t.kind for t in targets] == ["corrective"] * 7 + ["soft_limit"] * 2
    assert [t.name for t in targets[-2:]] == ["soft_limit eyeWideLeft", "soft_limit eyeWideRight"]
    w = np.random.default_rng(0).uniform(-0.3, 1.8, (400, head.num_expression)).astype(np.float32)
    got = driven_weights(head, w)
    assert got.shape == (400, 9) and np.all(got.max(0) > 0.05)   # every term is switched on somewhere
    for k, t in enumerate(targets):
        # a Blender simple expression: numbers, the variables, + - * /, parentheses, min, max
        words = set(re.findall(r"[A-Za-z_]\w*", t.expression))
        assert words <= {"min", "max", *t.variables} and len(t.expression) <= MAX_EXPRESSION_CHARS
        np.testing.assert_allclose(_evaluate(t, head, w), got[:, k], atol=1e-6, err_msg=t.name)
        lo, hi = t.value_range
        assert got[:, k].min() >= lo - 1e-7 and got[:, k].max() <= hi + 1e-6


def test_linear_plus_driven_targets_is_forward(builtin_head):
    head = builtin_head
    targets = driven_targets(head)
    w = np.random.default_rng(1).uniform(0.0, 1.5, (3, head.num_expression)).astype(np.float32)
    lin = head.template + np.einsum("vce,te->tvc", head.expression_basis, w)
    offsets = np.stack([t.offsets for t in targets], axis=2)
    posed = lin + np.einsum("vck,tk->tvc", offsets, driven_weights(head, w))
    want = head.forward(expression=w).vertices
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
    (t1, t2) = driven_targets(head)
    w = np.zeros((1, head.num_expression), np.float32)
    w[0, head.expression_index("eyeWideLeft")] = 1.5
    assert driven_weights(head, w)[0, 0] == pytest.approx(1.5 - (0.6 + 0.3 * 3 / 4), abs=1e-6)
