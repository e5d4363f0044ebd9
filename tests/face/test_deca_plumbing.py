"""The --extractor deca plumbing, run against a STAND-IN for decalib.

decalib (DECA) and its weights are licensed and not installed here, so this test writes a tiny fake
``decalib`` package into a temporary folder: it is NOT DECA, it only returns coefficients computed from
the input crop so that the crop -> encode -> track path of :mod:`emodiffhead.face.deca` is exercised.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

STAND_IN = {
    "decalib/__init__.py": "# STAND-IN for tests: not DECA\n",
    "decalib/utils/__init__.py": "",
    "decalib/utils/config.py": textwrap.dedent("""
        # STAND-IN for tests: not DECA
        from types import SimpleNamespace
        cfg = SimpleNamespace(model=SimpleNamespace(use_tex=True), rasterizer_type="standard")
    """),
    "decalib/deca.py": textwrap.dedent("""
        # STAND-IN for tests: not DECA. exp[k] = mean of the crop * (k + 1); jaw = 0.1 rad.
        import torch

        class DECA:
            def __init__(self, config=None, device="cpu"):
                self.config = config

            def encode(self, images):
                assert images.shape[1:] == (3, 224, 224)
                m = images.mean()
                exp = torch.stack([m * (k + 1) for k in range(50)])[None]
                pose = torch.tensor([[0.0, 0.0, 0.0, 0.1, 0.0, 0.0]])
                return {"exp": exp, "pose": pose, "shape": torch.zeros(1, 100)}
    """),
}


@pytest.fixture()
def fake_decalib(tmp_path, monkeypatch):
    for rel, text in STAND_IN.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m == "decalib" or m.startswith("decalib.")]:
        del sys.modules[name]


def test_deca_path_builds_a_flame_track_from_the_stand_in(fake_decalib, example_photo):
    from synthetic_heads import make_head

    from emodiffhead.face.extract import extract_track

    head = make_head(num_expression=10)
    head.name = "flame2020"
    tr = extract_track(example_photo, head, extractor="deca")
    assert tr.num_frames == 1 and tr.head_model == "flame2020"
    assert tr.meta["extractor"] == "deca"
    e = tr.expression[0]
    assert e[0] > 0 and np.allclose(e, e[0] * np.arange(1, 11), rtol=1e-4)  # the first 10 of 50
    assert tr.pose[0, 2, 0] == pytest.approx(0.1)  # jaw rotation lands on the jaw joint


def test_deca_needs_a_flame_head(fake_decalib, example_photo, builtin_head):
    from emodiffhead.errors import NotAvailableError
    from emodiffhead.face.extract import extract_track

    with pytest.raises(NotAvailableError, match="FLAME"):
        extract_track(example_photo, builtin_head, extractor="deca")
