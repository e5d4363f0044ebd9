"""Coarticulation constraints, idle motion and composition rules on synthetic inputs (no audio)."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.animate.coarticulation import coarticulate
from emodiffhead.animate.compose import compose
from emodiffhead.animate.emotion_vectors import emotion_basis_arkit
from emodiffhead.animate.idle import blink_times, idle_motion
from emodiffhead.audio.io import AudioClip
from emodiffhead.audio.phonemes import Phone
from emodiffhead.audio.prosody import analyze
from emodiffhead.emotion import EMOTIONS
from emodiffhead.facs import ARKIT_INDEX, JAW_OPEN, au_to_arkit, prototype_arkit
from emodiffhead.head.model import Joint

JAW, PUCK = JAW_OPEN, ARKIT_INDEX["mouthPucker"]
FPS = 25.0


def _phones(seq):
    out, t = [], 0.0
    for label, d in seq:
        out.append(Phone(label, t, t + d))
        t += d
    return out


def test_bilabial_closes_between_open_vowels():
    ph = _phones([("sil", 0.2), ("aa", 0.15), ("p", 0.06), ("aa", 0.15), ("b", 0.05), ("ae", 0.2), ("sil", 0.2)])
    t = np.arange(int(1.01 * FPS)) / FPS
    m = coarticulate(ph, t, FPS)
    for p in ph:
        f = int(round(p.centre_s * FPS))
        if p.label in ("p", "b"):
            assert m.weights[f, JAW] == pytest.approx(0.0, abs=1e-6) and m.closure[f] == 1.0
        elif p.label in ("aa", "ae"):
            assert m.weights[f, JAW] > 0.3
    # smooth: no frame-to-frame jump of the jaw larger than a full open-close
    assert np.abs(np.diff(m.weights[:, JAW])).max() < 0.7


def test_rounding_anticipates_and_is_enforced():
    ph = _phones([("sil", 0.3), ("s", 0.1), ("t", 0.08), ("uw", 0.2), ("sil", 0.3)])
    t = np.arange(int(0.98 * FPS)) / FPS
    m = coarticulate(ph, t, FPS)
    fu = int(round(ph[3].centre_s * FPS))
    ft = int(round(ph[2].centre_s * FPS))
    assert m.weights[fu, PUCK] >= 0.8 * 0.85 - 1e-6
    assert m.weights[ft, PUCK] > 0.2  # anticipatory rounding on the /t/ before /uw/
    assert m.weights[1, PUCK] < 0.05  # silence at rest before the pre-phonatory window (0.1 s before /s/ at 0.3 s)


def test_labiodental():
    ph = _phones([("sil", 0.2), ("aa", 0.15), ("f", 0.1), ("aa", 0.15), ("sil", 0.2)])
    t = np.arange(int(0.8 * FPS)) / FPS
    m = coarticulate(ph, t, FPS)
    f = int(round(ph[2].centre_s * FPS))
    assert m.weights[f, ARKIT_INDEX["mouthRollLower"]] >= 0.5 and m.weights[f, JAW] <= 0.07


def test_facs_table():
    w = au_to_arkit("R12", 0.5)
    assert w[ARKIT_INDEX["mouthSmileRight"]] == 0.5 and w[ARKIT_INDEX["mouthSmileLeft"]] == 0
    assert np.all(prototype_arkit("neutral") == 0)
    happy = prototype_arkit("happy")
    assert happy[ARKIT_INDEX["mouthSmileLeft"]] > 0 and happy[ARKIT_INDEX["cheekSquintLeft"]] > 0
    # posed (open-mouthed EMFACS) variants: happy, angry, fearful and disgusted part the lips; sad casts the eyes down
    for e in ("happy", "angry", "fearful", "disgusted"):
        assert prototype_arkit(e)[ARKIT_INDEX["mouthLowerDownLeft"]] > 0.1, e
    assert prototype_arkit("angry")[ARKIT_INDEX["mouthUpperUpLeft"]] > 0.3  # AU10: the upper teeth bared
    assert au_to_arkit("64", 0.5)[ARKIT_INDEX["eyeLookDownRight"]] == 0.5
    assert prototype_arkit("sad")[ARKIT_INDEX["eyeLookDownLeft"]] > 0
    B = emotion_basis_arkit()
    assert B.shape == (len(EMOTIONS), 52) and np.all(B[1:].sum(1) > 0)


def _speechy_clip(seconds=12.0, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    env = (np.sin(2 * np.pi * 4 * t) > 0) * (t % 4 < 3)  # syllables, 1 s pause every 4 s
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    x = 0.3 * env * np.sin(2 * np.pi * np.cumsum(f0) / 16000) + 0.002 * rng.normal(size=t.size)
    return AudioClip(x.astype(np.float32))


@pytest.fixture(scope="module")
def prosody():
    return analyze(_speechy_clip())


def test_blink_rate_and_reproducibility(prosody):
    rates = [len(blink_times(600.0, np.random.default_rng(s))) / 10.0 for s in range(5)]
    assert all(13 <= r <= 22 for r in rates), rates  # 15-20 per minute, gamma intervals
    assert len(set(rates)) > 1  # varied across seeds
    gaps = np.diff(blink_times(600.0, np.random.default_rng(0)))
    assert gaps.min() > 0.1 and gaps.std() / gaps.mean() > 0.3  # irregular, not a metronome
    t = np.arange(int(12 * FPS)) / FPS
    a, b, c = idle_motion(t, prosody, seed=3), idle_motion(t, prosody, seed=3), idle_motion(t, prosody, seed=4)
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.pose, b.pose)
    assert not np.array_equal(a.pose, c.pose)
    assert a.weights[:, ARKIT_INDEX["eyeBlinkLeft"]].max() > 0.85  # blinks close the eyes on some frame


def test_head_still_in_silence_and_nods_in_speech(prosody):
    t = np.arange(int(12 * FPS)) / FPS
    m = idle_motion(t, prosody, seed=0)
    speed = np.linalg.norm(np.diff(m.pose[:, Joint.NECK], axis=0), axis=1)
    pause = (t[1:] % 4 > 3.3) & (t[1:] % 4 < 3.9)
    talk = (t[1:] % 4 > 0.3) & (t[1:] % 4 < 2.7)
    assert speed[pause].mean() < 0.5 * speed[talk].mean()
    assert len(m.nod_times_s) >= 5 and np.all((m.nod_times_s % 4) < 3.2)


def test_compose_conflict_rules():
    T = 5
    base = np.zeros((T, 52), np.float32)
    base[:, JAW] = [0.0, 0.5, 0.0, 0.3, 0.0]
    closure = np.array([0, 0, 1, 0, 0], np.float32)
    rounding = np.array([0, 0, 0, 1, 0], np.float32)
    base[4, ARKIT_INDEX["eyeBlinkLeft"]] = base[4, ARKIT_INDEX["eyeBlinkRight"]] = 1.0
    B = emotion_basis_arkit()
    I = np.zeros((T, len(EMOTIONS)), np.float32)
    I[:, EMOTIONS.index("surprised")] = 1.0
    I[:, EMOTIONS.index("happy")] = 1.0
    c = compose(base, I, B, closure=closure, rounding=rounding)
    e_jaw = min(0.9, float(B[EMOTIONS.index("surprised"), JAW] + B[EMOTIONS.index("happy"), JAW]))  # both part the lips
    assert c.final[0, JAW] == pytest.approx(e_jaw)  # pause: the surprised mouth is open
    assert c.final[1, JAW] == pytest.approx(0.5 + e_jaw * 0.5)  # screen blend keeps speech on top
    assert c.final[1, JAW] > c.final[0, JAW]  # speech still opens further
    assert c.final[2, JAW] == 0.0  # /p/: closed despite surprise
    smile = ARKIT_INDEX["mouthSmileLeft"]
    assert c.final[2, smile] == pytest.approx(0.5 * B[EMOTIONS.index("happy"), smile])  # smile halved at /p/
    assert c.final[3, smile] < c.final[0, smile]  # rounding beats the smile
    assert c.final[4, ARKIT_INDEX["eyeWideLeft"]] == 0.0 and c.final[4, ARKIT_INDEX["eyeBlinkLeft"]] == 1.0
    assert c.final[0, ARKIT_INDEX["eyeWideLeft"]] > 0
    assert np.all((c.final >= 0) & (c.final <= 1))
    # without conflicts composition is linear
    c2 = compose(np.zeros((1, 52), np.float32), I[:1] * 0.5, B)
    lin = 0.5 * (B[EMOTIONS.index("surprised")] + B[EMOTIONS.index("happy")])
    assert np.allclose(c2.final[0], np.clip(lin, 0, 1), atol=1e-6)


def test_the_emotion_jaw_up_to_intensity_1_has_the_digits_of_the_linear_jaw():
    # mixed emotions at or below 1: the above-1 term adds exact zeros, and the jaw is the jaw column's vector
    # product as before the response existed (the full matrix product's column differed by 1 ulp on mixed tracks)
    from emodiffhead.animate.emotion_vectors import emotion_above_arkit

    rng = np.random.default_rng(0)
    B = emotion_basis_arkit()
    inten = rng.uniform(0.0, 1.0, (64, len(EMOTIONS))).astype(np.float32)
    base = np.zeros((64, 52), np.float32)
    with_above = compose(base, inten, B, above_arkit=emotion_above_arkit())
    linear = compose(base, inten, B)
    jaw = np.clip(inten @ B[:, JAW], 0.0, 0.9)
    assert with_above.final.tobytes() == linear.final.tobytes()
    assert with_above.emotion_jaw.tobytes() == jaw.astype(np.float32).tobytes()


def test_lips_part_before_voice_onset_after_a_pause():
    ph = _phones([("sil", 0.6), ("aa", 0.2), ("t", 0.08), ("aa", 0.2), ("sil", 0.6)])
    t = np.arange(int(1.68 * FPS)) / FPS
    m = coarticulate(ph, t, FPS)
    on = int(np.floor(0.6 * FPS))  # last frame before the voice starts
    assert m.weights[on, JAW] > 0.1  # already open when the voice starts
    assert m.weights[int(0.2 * FPS), JAW] < 0.01  # at rest earlier in the pause
    assert m.onset[on] > 0.5 and m.onset[int(0.2 * FPS)] == 0.0


def test_bilabial_closed_from_lip_contact_to_burst():
    ph = _phones([("sil", 0.3), ("aa", 0.2), ("p", 0.12), ("aa", 0.2), ("sil", 0.3)])
    t = np.arange(0, 1.12, 0.01)  # 100 fps to see the edges
    m = coarticulate(ph, t, 100.0)
    start, end = ph[2].start_s, ph[2].end_s
    inside = (t >= start) & (t <= start + 0.75 * (end - start))
    assert np.all(m.closure[inside] == 1.0) and np.all(m.weights[inside, JAW] < 1e-6)
    assert m.closure[np.searchsorted(t, start - 0.035)] > 0.3  # the lips approach before contact
    assert m.closure[np.searchsorted(t, end + 0.05)] == 0.0  # released after the burst


def test_prominent_vowels_open_wider():
    ph = _phones([("sil", 0.3), ("aa", 0.2), ("t", 0.1), ("aa", 0.2), ("t", 0.1), ("aa", 0.2), ("sil", 0.3)])
    t = np.arange(int(1.4 * FPS)) / FPS
    prom = np.array([0.5, 0.0, 0.5, 1.0, 0.5, 0.5, 0.5], np.float32)
    m = coarticulate(ph, t, FPS, prominence=prom)
    jaw = lambda i: m.weights[int(round(ph[i].centre_s * FPS)), JAW]  # noqa: E731
    assert jaw(3) > 1.5 * jaw(1)


def test_local_rank_counts_ties_nan_and_window():
    from emodiffhead.animate.prominence import _rank_local

    x = np.array([1.0, 2.0, 2.0, np.nan, 3.0, 0.5, 9.0])
    c = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 30.0])
    r = _rank_local(x, c, 10.0)  # the last one is alone in its window
    # 1.0 among (1, 2, 2, 3, 0.5): one below -> 1/4; 2.0: two below + one tie -> 2.5/4; 3.0: four below -> 1
    assert r.tolist() == [0.25, 0.625, 0.625, 0.5, 1.0, 0.0, 0.5]
    big = np.random.default_rng(1).normal(size=1200).round(1)
    cen = np.linspace(0, 120, 1200)
    rb = _rank_local(big, cen, 20.0)
    for i in (0, 599, 1199):  # the block-wise count equals the definition, element by element
        near = np.abs(cen - cen[i]) <= 10.0
        below = (big[near] < big[i]).sum() + 0.5 * ((big[near] == big[i]).sum() - 1)
        assert rb[i] == below / (near.sum() - 1)
