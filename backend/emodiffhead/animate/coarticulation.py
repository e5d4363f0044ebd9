"""Timed phones -> coarticulated mouth motion in the canonical ARKit space, with hard constraints.

Blending (Cohen & Massaro 1993 style): every phone i has a dominance function
``D_i(t) = a_i * exp(-(max(0, |t - c_i| - d_i / 2) / s_i) ** 1.5)`` (a plateau over the phone,
then exponential decay with spread ``s_i``), computed separately for the jaw, the lips and lip
rounding (rounding spreads 1.6 times as far, so lips round in anticipation of /u/). Each channel is the
dominance-weighted mean of the phones' viseme targets. Jaw opening is scaled by the speech loudness.

Hard constraints are then enforced over each constrained phone's core (the whole phone for bilabials,
the middle 70 % / 60 % for the others, at least the frame nearest its centre, with 40 ms ramps):

- ``closed`` (p, b, m): jawOpen -> 0, lip-opening channels -> 0, lips pressed: the lips meet.
- ``labiodental`` (f, v): lower lip rolled in to the upper teeth, jaw nearly closed.
- ``rounded`` (uw, uh, w, ao, ow, oy): pucker/funnel at least 80 % of the viseme's target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio.phonemes import Phone
from ..facs import ARKIT_INDEX, NUM_ARKIT
from .visemes import Viseme, viseme_for_phone

JAW = ARKIT_INDEX["jawOpen"]
ROUND_CHANNELS = np.array([ARKIT_INDEX["mouthPucker"], ARKIT_INDEX["mouthFunnel"]])
#: Channels that part the lips; zeroed during a bilabial closure (also used by compose.py).
LIP_OPENING = tuple(ARKIT_INDEX[n] for n in (
    "jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthFunnel", "mouthStretchLeft", "mouthStretchRight", "tongueOut", "mouthRollLower", "mouthRollUpper"))
RAMP_S = 0.04


@dataclass(frozen=True)
class MouthMotion:
    """Mouth motion on T frames: ``weights`` (T, 52) ARKit; ``closure``, ``labiodental``, ``rounding``
    (T,) 0..1 weights of the active hard constraints (compose.py uses ``closure``)."""

    weights: np.ndarray
    closure: np.ndarray
    labiodental: np.ndarray
    rounding: np.ndarray


def _dominance(t: np.ndarray, centre: np.ndarray, half: np.ndarray, spread: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """(T, P) dominance of P phones at T times."""
    dist = np.maximum(0.0, np.abs(t[:, None] - centre[None, :]) - half[None, :])
    return amp[None, :] * np.exp(-((dist / spread[None, :]) ** 1.5))


def constraint_window(times_s: np.ndarray, phones: list[Phone], labels: tuple[str, ...], fps: float,
                      core: float = 0.35, ramp_s: float = RAMP_S) -> np.ndarray:
    """(T,) 0..1: 1 over the core of every phone in ``labels`` (and at its nearest frame), ramps outside."""
    w = np.zeros(len(times_s), np.float32)
    for p in phones:
        if p.label not in labels:
            continue
        half = max(core * p.duration_s, 0.5 / fps + 1e-4)
        d = np.abs(times_s - p.centre_s) - half
        w = np.maximum(w, np.clip(1.0 - d / ramp_s, 0.0, 1.0).astype(np.float32))
    return w


def coarticulate(phones: list[Phone], times_s: np.ndarray, fps: float,
                 loudness: np.ndarray | None = None, chunk: int = 500) -> MouthMotion:
    """Blend the phones' viseme targets at frame times ``times_s`` (T,) seconds.

    loudness: optional (T,) 0..1 speech level at each frame; scales jaw opening (0.65x .. 1.15x).
    Returns :class:`MouthMotion` with constraints applied.
    """
    times_s = np.asarray(times_s, np.float64)
    T = len(times_s)
    vis: list[Viseme] = [viseme_for_phone(p.label) for p in phones]
    targets = np.stack([v.vector() for v in vis]) if vis else np.zeros((0, NUM_ARKIT), np.float32)
    centre = np.array([p.centre_s for p in phones], np.float64)
    half = np.array([p.duration_s / 2 for p in phones], np.float64)
    spread = np.array([v.spread_s for v in vis], np.float64)
    a_jaw = np.array([v.jaw_dominance for v in vis], np.float64)
    a_lip = np.array([v.lip_dominance for v in vis], np.float64)
    # silence: plateau only in its middle so the mouth starts closing/opening near its edges
    sil = np.array([p.label == "sil" for p in phones])
    half = np.where(sil, np.maximum(0.0, half - 0.08), half)
    out = np.zeros((T, NUM_ARKIT), np.float32)
    lip_ch = np.setdiff1d(np.arange(NUM_ARKIT), np.r_[JAW, ROUND_CHANNELS])
    starts = np.array([p.start_s for p in phones])
    ends = np.array([p.end_s for p in phones])
    for s in range(0, T, chunk):
        tt = times_s[s: s + chunk]
        lo = np.searchsorted(ends, tt[0] - 1.0)
        hi = np.searchsorted(starts, tt[-1] + 1.0)
        sl = slice(max(0, lo), max(hi, lo + 1))
        c, h, sp, tg = centre[sl], half[sl], spread[sl], targets[sl]
        for amp, chans, k in ((a_jaw[sl], np.array([JAW]), 1.0), (a_lip[sl], lip_ch, 1.0),
                              (a_lip[sl], ROUND_CHANNELS, 1.6)):
            D = _dominance(tt, c, h, sp * k, amp) + 1e-12
            out[s: s + chunk][:, chans] = (D @ tg[:, chans]) / D.sum(1, keepdims=True)
    if loudness is not None:
        g = np.clip(0.65 + 0.5 * np.asarray(loudness, np.float32), 0.5, 1.2)
        out[:, JAW] *= g
    closure = constraint_window(times_s, phones, ("p", "b", "m"), fps, core=0.5)
    labio = constraint_window(times_s, phones, ("f", "v"), fps)
    rounded = constraint_window(times_s, phones, ("uw", "uh", "w", "ao", "ow", "oy"), fps, core=0.3)
    out = apply_constraints(out, closure, labio, rounded, phones, times_s, fps)
    return MouthMotion(weights=out, closure=closure, labiodental=labio, rounding=rounded)


def apply_constraints(w: np.ndarray, closure: np.ndarray, labio: np.ndarray, rounded: np.ndarray,
                      phones: list[Phone] | None = None, times_s: np.ndarray | None = None,
                      fps: float = 25.0) -> np.ndarray:
    """Enforce closed / labiodental / rounded constraints on (T, 52) ARKit weights (returns a copy)."""
    w = np.array(w, np.float32, copy=True)
    # labiodental: lower lip to upper teeth
    if labio.any():
        w[:, JAW] = w[:, JAW] * (1 - labio) + np.minimum(w[:, JAW], 0.06) * labio
        for name, val in (("mouthRollLower", 0.55), ("mouthUpperUpLeft", 0.2), ("mouthUpperUpRight", 0.2)):
            i = ARKIT_INDEX[name]
            w[:, i] = np.maximum(w[:, i], val * labio)
    # rounding: at least 80 % of the rounded target of the phone in force
    if rounded.any() and phones is not None and times_s is not None:
        idx = np.clip(np.searchsorted([p.end_s for p in phones], times_s, side="right"), 0, len(phones) - 1)
        for ch in ROUND_CHANNELS:
            tgt = np.array([viseme_for_phone(phones[i].label).vector()[ch] for i in idx], np.float32)
            w[:, ch] = np.maximum(w[:, ch], 0.8 * tgt * rounded)
    # bilabial closure last: it wins over everything
    if closure.any():
        keep = (1.0 - closure)[:, None]
        lip = np.array(LIP_OPENING)
        w[:, lip] *= keep
        for name, val in (("mouthPressLeft", 0.3), ("mouthPressRight", 0.3)):
            i = ARKIT_INDEX[name]
            w[:, i] = np.maximum(w[:, i], val * closure)
    return w
