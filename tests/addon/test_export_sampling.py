"""Export by evaluating F-curves == export by frame_set (real bpy); a driver forces the frame_set fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_blender_script
from test_keyframes import _synthetic_track, head_glb  # noqa: F401 - head_glb is a fixture

from emodiffhead.track import save_track

F0 = 11
FIELDS = ("expression", "expression_base", "emotion", "pose", "translation")


@pytest.fixture(scope="module")
def r(tmp_path_factory, addon_zip, head_glb, builtin_head):  # noqa: F811
    """The scenario's result (one Blender process for both tests)."""
    tmp = tmp_path_factory.mktemp("sampling")
    (tmp / "user").mkdir()
    src = save_track(_synthetic_track(builtin_head), tmp / "in.json")
    return run_blender_script("export_sampling.py", addon_zip, head_glb, src, json.dumps({"frame_start": F0}),
                              user_dir=tmp / "user")


def test_fcurve_sampling_matches_frame_set(r):
    assert r["blockers"] == []
    assert r["frame_after_fast"] == F0 + 3 and r["frame_after_exact"] == F0 + 3
    T = 40 + 10
    names = r["names"]
    for k in FIELDS:
        fast, exact, auto = (np.asarray(r[p][k], np.float64) for p in ("fast", "exact", "auto"))
        assert fast.shape[0] == T and fast.shape == exact.shape, k
        np.testing.assert_allclose(fast, exact, rtol=0, atol=1e-6, err_msg=k)
        np.testing.assert_array_equal(auto, fast, err_msg=k)
    exact = {k: np.asarray(v, np.float64) for k, v in r["exact"].items()}
    # the hand edits are really in the compared values (so the comparison can fail)
    base = exact["expression_base"]
    lo, hi = r["smile_range"]                                        # keys at 2.0 and -1.7: clamped
    assert base[:, names.index("mouthSmileLeft")].max() == hi and base[:, names.index("mouthSmileLeft")].min() == lo
    np.testing.assert_allclose(base[:, names.index("cheekPuff")], 0.3, atol=1e-7)
    assert np.abs(np.diff(base[:, names.index("jawOpen")])).max() > 0.05   # noise modifier
    assert exact["emotion"].max() == 1.5 and exact["emotion"].min() == 0.0


def test_driver_forces_frame_set(r):
    assert any("driver" in b for b in r["blockers_driver"])
    assert r["forced_error"] and "driver" in r["forced_error"]
    names = r["names"]
    auto = {k: np.asarray(v, np.float64) for k, v in r["driver_auto"].items()}
    for k in FIELDS:
        np.testing.assert_array_equal(auto[k], np.asarray(r["driver_exact"][k], np.float64), err_msg=k)
    # the driver wins over the keyed curve on every frame (the F-curves alone would say otherwise)
    np.testing.assert_allclose(auto["expression_base"][:, names.index("jawOpen")], 0.25, atol=1e-7)
    fast_jaw = np.asarray(r["fast"]["expression_base"], np.float64)[:, names.index("jawOpen")]
    assert np.abs(fast_jaw - 0.25).max() > 0.1
