"""Each viseme's lip opening on the built-in head follows the phonetics of lip aperture, and /h/ takes the
following vowel's mouth shape."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.animate.coarticulation import articulatory_sources, coarticulate
from emodiffhead.animate.metrics import lip_gap
from emodiffhead.animate.retarget import build_retarget
from emodiffhead.animate.visemes import viseme
from emodiffhead.audio.phonemes import Phone
from emodiffhead.facs import JAW_OPEN
from emodiffhead.head.model import Joint


@pytest.fixture(scope="module")
def gap_mm(builtin_head):
    """Lip gap (mm) of each viseme's target alone on the built-in head (jaw on the joint, as the animator)."""
    head = builtin_head
    rt = build_retarget(head)
    names = ("aa", "E", "I", "O", "U", "RR", "nn", "PP")
    w = np.stack([viseme(n).vector() for n in names])
    jaw = w[:, JAW_OPEN].copy()
    w[:, JAW_OPEN] = 0.0
    pose = np.zeros((len(names), 5, 3), np.float32)
    pose[:, Joint.JAW, 0] = rt.jaw_angle(jaw)
    g = lip_gap(head, head.forward(expression=rt.expression(w), pose=pose).vertices) * 1000
    return dict(zip(names, g.tolist()))


def test_vowel_apertures_ordered_as_lip_openings(gap_mm):
    g = gap_mm
    # open > mid / half-open rounded > close spread > close rounded (tight rounding narrows the lips)
    assert g["aa"] > g["O"] and g["aa"] > g["E"]
    assert g["O"] > g["I"] > g["U"]
    assert g["U"] < 0.5 * g["I"]
    # half-open rounded: more open than /u/, clearly less than /a/ (the funnel does not add an open vowel's gap)
    assert g["O"] < 0.85 * g["aa"]
    # /i/ parts the lips about half as far as /a/, not a third
    assert 0.35 * g["aa"] < g["I"] < 0.6 * g["aa"]


def test_r_is_narrow_and_rounded(gap_mm):
    r = viseme("RR").target
    assert gap_mm["RR"] < gap_mm["I"] and gap_mm["RR"] > gap_mm["PP"] + 2.0
    assert r["mouthPucker"] > 3 * r.get("mouthFunnel", 0.0)  # protruded lips, not a funnel's opening


def test_h_takes_the_following_vowel():
    ph = [Phone("sil", 0.0, 0.3), Phone("hh", 0.3, 0.42), Phone("aw", 0.42, 0.6), Phone("t", 0.6, 0.66),
          Phone("hh", 0.66, 0.72), Phone("sil", 0.72, 1.0)]
    assert articulatory_sources(ph).tolist() == [0, 2, 2, 3, 4, 5]  # a final /h/ keeps its own shape
    t = np.arange(0, 1.0, 0.01)
    jaw_h = coarticulate(ph, t, 100.0).weights[:, JAW_OPEN]
    as_k = [Phone("k" if p.label == "hh" else p.label, p.start_s, p.end_s) for p in ph]
    jaw_k = coarticulate(as_k, t, 100.0).weights[:, JAW_OPEN]
    during_h = (t >= 0.33) & (t < 0.4)
    # the mouth is already opening toward the diphthong while /h/ sounds: wider than a /k/ there
    assert jaw_h[during_h].mean() > jaw_k[during_h].mean() + 0.1
    assert jaw_h[during_h].max() > 0.6 * viseme("aa").target["jawOpen"]


def test_h_before_a_rounded_vowel_is_rounded_too():
    """"who": the /h/ takes /u/'s shape, its rounding constraint included (the lips are already rounded while
    the /h/ sounds), not only its blend target."""
    ph = [Phone("sil", 0.0, 0.3), Phone("hh", 0.3, 0.45), Phone("uw", 0.45, 0.6), Phone("sil", 0.6, 1.0)]
    t = np.arange(0, 1.0, 0.01)
    m = coarticulate(ph, t, 100.0)
    during_h = (t >= 0.35) & (t < 0.4)
    assert m.rounding[during_h].min() > 0.99
