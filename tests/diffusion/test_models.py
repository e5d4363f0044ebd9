"""EmoDenoiser: shapes, condition paths, the emotion embedding, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .conftest import E, K, M, P, W, get_dummy_components


def _batch(B=2, s=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *sh: torch.randn(*sh, generator=g)  # noqa: E731
    return dict(reference=r(B, 3, s, s), guidance=r(B, 3, s, s), audio=r(B, W, M), expression=r(B, E),
                pose=r(B, P), emotion=torch.rand(B, K, generator=g))


@pytest.mark.parametrize("mode", ["concat", "referencenet"])
def test_output_shape_and_conditions_matter(mode):
    den = get_dummy_components(mode)["denoiser"]
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    b = _batch()
    with torch.no_grad():
        y = den(x, torch.tensor([50, 50]), **b).sample
        assert y.shape == (2, 3, 32, 32) and torch.isfinite(y).all()
        # each condition changes the prediction
        for key in ("reference", "audio", "expression", "emotion", "guidance"):
            b2 = dict(b)
            b2[key] = b[key] + 1.0
            y2 = den(x, torch.tensor([50, 50]), **b2).sample
            assert (y2 - y).abs().max() > 1e-5, key


def test_referencenet_injects_through_attention_processors():
    from emodiffhead.diffusion.models import ReferenceAttnProcessor

    den = get_dummy_components("referencenet")["denoiser"]
    procs = den.unet.attn_processors
    ref_procs = [k for k, v in procs.items() if isinstance(v, ReferenceAttnProcessor)]
    assert ref_procs and all(k.endswith("attn1.processor") for k in ref_procs)
    b = _batch(B=1)
    feats = den.encode_reference(b["reference"])
    assert set(feats) == {k.replace(".processor", "") for k in ref_procs}
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        y_cached = den(x, torch.tensor([10]), reference_features=feats, **b).sample
        y_fresh = den(x, torch.tensor([10]), **b).sample
        other = den.encode_reference(b["reference"] * -1)
        y_other = den(x, torch.tensor([10]), reference_features=other, **b).sample
    torch.testing.assert_close(y_cached, y_fresh)
    assert (y_other - y_cached).abs().max() > 1e-5


def test_emotion_intensity_moves_the_embedding_monotonically_and_continuously():
    den = get_dummy_components()["denoiser"]
    k = 1  # happy
    levels = np.linspace(0.0, 1.5, 16)
    emb = []
    with torch.no_grad():
        for a in levels:
            e = torch.zeros(1, K)
            e[0, k] = float(a)
            emb.append(den.emotion_vector(e)[0])
        dist = [float((v - emb[0]).norm()) for v in emb]
    assert all(b > a for a, b in zip(dist, dist[1:]))                      # monotonic
    steps = np.diff(dist)
    assert np.allclose(steps, steps[0], rtol=1e-4)                          # continuous (linear) in intensity
    # 0.3 and 0.8 give different denoiser outputs, and the output moves continuously
    x = torch.randn(1, 3, 32, 32)
    b = _batch(B=1)
    outs = {}
    with torch.no_grad():
        for a in (0.3, 0.8, 0.8001):
            e = torch.zeros(1, K)
            e[0, k] = a
            b["emotion"] = e
            outs[a] = den(x, torch.tensor([50]), **b).sample
    big = (outs[0.8] - outs[0.3]).abs().max()
    small = (outs[0.8001] - outs[0.8]).abs().max()
    assert big > 1e-4 and small < big * 0.01


def test_save_load_round_trip(tmp_path):
    from emodiffhead.diffusion.models import EmoDenoiser

    den = get_dummy_components("referencenet")["denoiser"]
    den.set_condition_stats(np.arange(E + P, dtype=np.float32), np.full(E + P, 2.0, np.float32))
    den.save_pretrained(tmp_path)
    back = EmoDenoiser.from_pretrained(tmp_path).eval()
    assert back.config.reference_mode == "referencenet" and back.config.expression_dim == E
    torch.testing.assert_close(back.cond_mean, den.cond_mean)
    x = torch.randn(1, 3, 32, 32)
    b = _batch(B=1)
    with torch.no_grad():
        torch.testing.assert_close(back(x, torch.tensor([5]), **b).sample, den(x, torch.tensor([5]), **b).sample)
