"""Timed phones -> coarticulated mouth motion in the canonical ARKit space, with hard constraints.

Blending (Cohen & Massaro 1993 style): every phone i has a dominance function
``D_i(t) = a_i * exp(-(max(0, |t - g_i| - d_i / 2) / s_i(t)) ** 1.5)`` (a plateau over the phone,
then exponential decay), computed separately for the jaw, the lips and lip rounding. Each channel is the
dominance-weighted mean of the phones' viseme targets.

Timing follows what articulography measures of real speakers, not a delay fitted to a clip:

- **Gestures lead their sound.** The articulatory target of a phone is reached before the acoustic centre
  of the phone: ``g_i = c_i - ARTICULATORY_LEAD_S`` (the mouth has to be open before the vowel sounds; jaw
  and lip peaks precede the acoustic vowel peaks by a few tens of ms).
- **Anticipation reaches further than carry-over.** The spread is ``ANTICIPATION`` x ``s_i`` before a
  phone and ``CARRYOVER`` x ``s_i`` after it (look-ahead coarticulation, e.g. lip rounding starting several
  segments before /u/; carry-over is shorter). Rounding spreads 1.2 times as far again (1.8x the base spread
  ahead of a rounded vowel).
- **Lips part before voice onset.** After a pause of at least ``PAUSE_S``, a pre-phonatory opening starts
  ``ONSET_LEAD_S`` before the first phone (the face moves 100-300 ms before the sound at phrase starts), so
  the mouth is already open when the voice starts; unless that phone is a bilabial or labiodental, whose
  closure wins.
- **Closure before the burst.** A bilabial's lips meet at the acoustic start of the phone (the silent
  closure is made by the lips), approach over ``CLOSING_S`` before it and hold until the release (75 % of a
  stop, the whole of /m/); at pauses the lips close within ~0.1 s of the voice's end.

Amplitude: each vowel's jaw target is scaled by its prominence (:mod:`.prominence`: loud, long, high-pitched
syllables, ranked within the speaker's own clip) from ``0.55`` x (weakest) to ``1.3`` x (most prominent).

Hard constraints are then enforced over each constrained phone's core (see above for bilabials; the middle
70 % / 60 % for the others, at least the frame nearest its centre, with 40 ms ramps):

- ``closed`` (p, b, m): jawOpen -> 0, lip-opening channels -> 0, lips pressed: the lips meet.
- ``labiodental`` (f, v): lower lip rolled in to the upper teeth, jaw nearly closed.
- ``rounded`` (uw, uh, w, ao, ow, oy): pucker/funnel at least 80 % of the viseme's target.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..audio.phonemes import Phone
from ..facs import ARKIT_INDEX, JAW_OPEN, NUM_ARKIT
from ..track import DEFAULT_FPS
from .visemes import BILABIALS, LABIODENTALS, ROUNDED, VOWELS, Viseme, viseme_for_phone

ROUND_CHANNELS = np.array([ARKIT_INDEX["mouthPucker"], ARKIT_INDEX["mouthFunnel"]])
#: Channels that part the lips; zeroed during a bilabial closure (also used by compose.py).
LIP_OPENING = tuple(ARKIT_INDEX[n] for n in (
    "jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthFunnel", "mouthStretchLeft", "mouthStretchRight", "tongueOut", "mouthRollLower", "mouthRollUpper"))
RAMP_S = 0.04
#: The articulatory target of a phone precedes its acoustic centre by this much (s).
ARTICULATORY_LEAD_S = 0.04
#: Spread multipliers before (anticipation) and after (carry-over) a phone.
ANTICIPATION, CARRYOVER = 1.5, 0.8
#: A silence holds the mouth at rest except this long at each of its edges (where it opens and closes).
SILENCE_EDGE_S = 0.08
#: A silence at least this long ends a phrase; the next phrase gets a pre-phonatory opening.
PAUSE_S = 0.25
#: The pre-phonatory opening starts up to this long before the first phone of a phrase (at most the pause
#: minus REST_S, so the lips first close at the end of the previous phrase) ...
ONSET_LEAD_S = 0.3
REST_S = 0.1
#: ... and reaches this jaw opening (ARKit jawOpen) at voice onset.
ONSET_JAW = 0.16
#: Bilabials: the lips approach over this long before the closure, and release over RAMP_S.
CLOSING_S = 0.07
#: A bilabial stop releases (burst) at this fraction of its labelled duration; nasals hold to the end.
STOP_RELEASE = 0.75
#: Phones without an oral articulation of their own: they take the following vowel's mouth shape.
TRANSPARENT = ("hh",)
#: Jaw gain of the least / most prominent vowel of a clip.
PROMINENCE_GAIN = (0.55, 1.3)


@dataclass(frozen=True)
class MouthMotion:
    """Mouth motion on T frames: ``weights`` (T, 52) ARKit; ``closure``, ``labiodental``, ``rounding``
    (T,) 0..1 weights of the active hard constraints (compose.py uses ``closure``)."""

    weights: np.ndarray
    closure: np.ndarray
    labiodental: np.ndarray
    rounding: np.ndarray
    onset: np.ndarray | None = None


def _dominance(t: np.ndarray, centre: np.ndarray, half: np.ndarray, spread: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """(T, P) dominance of P phones at T times (spread x ANTICIPATION before a phone, x CARRYOVER after)."""
    d = t[:, None] - centre[None, :]
    dist = np.maximum(0.0, np.abs(d) - half[None, :])
    s = spread[None, :] * np.where(d < 0, ANTICIPATION, CARRYOVER)
    return amp[None, :] * np.exp(-((dist / s) ** 1.5))


def bilabial_closure(times_s: np.ndarray, phones: list[Phone], fps: float) -> np.ndarray:
    """(T,) 0..1 lip closure of p/b/m: 1 from the phone's start to its release (STOP_RELEASE of a stop, the
    end of /m/; at least the frame nearest its centre), approaching over CLOSING_S, releasing over RAMP_S."""
    w = np.zeros(len(times_s), np.float32)
    for p in phones:
        if p.label not in BILABIALS:
            continue
        a = p.start_s
        b = p.end_s if p.label == "m" else p.start_s + STOP_RELEASE * p.duration_s
        a, b = min(a, p.centre_s - 0.5 / fps - 1e-4), max(b, p.centre_s + 0.5 / fps + 1e-4)
        up = np.clip((times_s - (a - CLOSING_S)) / CLOSING_S, 0, 1)
        down = np.clip(1.0 - (times_s - b) / RAMP_S, 0, 1)
        w = np.maximum(w, np.minimum(up, down).astype(np.float32))
    return w


def phrase_onsets(phones: list[Phone], pause_s: float = PAUSE_S) -> list[int]:
    """Indices of phones that start a phrase: the first speech phone after a silence of >= pause_s (or
    after the start of the clip)."""
    out = []
    for i, p in enumerate(phones):
        if p.label == "sil":
            continue
        prev = phones[i - 1] if i > 0 else None
        if prev is None or (prev.label == "sil" and (prev.duration_s >= pause_s or i == 1)):
            out.append(i)
    return out


def onset_window(times_s: np.ndarray, phones: list[Phone]) -> np.ndarray:
    """(T,) jawOpen of the pre-phonatory opening: rises over up to ONSET_LEAD_S before each phrase's first
    phone (smoothstep, full 50 ms before the voice) to ONSET_JAW and hands over to the phones within 0.1 s
    after onset."""
    w = np.zeros(len(times_s), np.float32)
    for i in phrase_onsets(phones):
        on = phones[i].start_s
        lead = min(ONSET_LEAD_S, phones[i - 1].duration_s - REST_S) if i > 0 else min(ONSET_LEAD_S, on)
        if lead <= 0.05:
            continue
        amp = ONSET_JAW
        x = np.clip((times_s - (on - lead)) / max(lead - 0.05, 1e-3), 0, 1)
        rise = x * x * (3 - 2 * x)
        fall = np.clip(1.0 - (times_s - on) / 0.1, 0, 1)
        w = np.maximum(w, (amp * np.minimum(rise, fall)).astype(np.float32))
    return w


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


def articulatory_sources(phones: list[Phone]) -> np.ndarray:
    """(P,) int: the phone whose mouth shape each phone takes; its own index, except that /h/ before a vowel
    takes that vowel's. /h/ is a glottal fricative with no oral articulation of its own: the lips and jaw are
    already in the following vowel's position while it sounds (it is a voiceless onset of that vowel), so
    "how" opens on its /h/."""
    src = np.arange(len(phones))
    for i in range(len(phones) - 1):
        if phones[i].label in TRANSPARENT and phones[i + 1].label in VOWELS:
            src[i] = i + 1
    return src


def coarticulate(phones: list[Phone], times_s: np.ndarray, fps: float,
                 prominence: np.ndarray | None = None, chunk: int = 500) -> MouthMotion:
    """Blend the phones' viseme targets at frame times ``times_s`` (T,) seconds.

    prominence: optional (P,) 0..1 per phone (:func:`emodiffhead.animate.prominence.phone_prominence`);
    scales each vowel's jaw target (PROMINENCE_GAIN). Returns :class:`MouthMotion` with constraints applied.
    """
    times_s = np.asarray(times_s, np.float64)
    T = len(times_s)
    src = articulatory_sources(phones)
    # each phone with the label whose mouth shape it takes (/h/ before a vowel: the vowel's), for the targets and
    # for the rounding / labiodental constraints alike
    articulated = [replace(p, label=phones[j].label) for p, j in zip(phones, src)]
    vis: list[Viseme] = [viseme_for_phone(p.label) for p in articulated]
    targets = np.stack([v.vector() for v in vis]) if vis else np.zeros((0, NUM_ARKIT), np.float32)
    if prominence is not None and len(phones):
        vowel = np.array([p.label in VOWELS for p in articulated])
        prom = np.asarray(prominence, np.float64)[src]
        gain = PROMINENCE_GAIN[0] + (PROMINENCE_GAIN[1] - PROMINENCE_GAIN[0]) * np.clip(prom, 0, 1)
        targets = targets.copy()
        targets[:, JAW_OPEN] *= np.where(vowel, gain, 1.0).astype(np.float32)
    centre = np.array([p.centre_s for p in phones], np.float64) - ARTICULATORY_LEAD_S
    half = np.array([p.duration_s / 2 for p in phones], np.float64)
    spread = np.array([v.spread_s for v in vis], np.float64)
    a_jaw = np.array([v.jaw_dominance for v in vis], np.float64)
    a_lip = np.array([v.lip_dominance for v in vis], np.float64)
    # silence: plateau only in its middle so the mouth starts closing/opening near its edges
    sil = np.array([p.label == "sil" for p in phones])
    half = np.where(sil, np.maximum(0.0, half - SILENCE_EDGE_S), half)
    out = np.zeros((T, NUM_ARKIT), np.float32)
    lip_ch = np.setdiff1d(np.arange(NUM_ARKIT), np.r_[JAW_OPEN, ROUND_CHANNELS])
    starts = np.array([p.start_s for p in phones])
    ends = np.array([p.end_s for p in phones])
    for s in range(0, T, chunk):
        tt = times_s[s: s + chunk]
        lo = np.searchsorted(ends, tt[0] - 1.0)
        hi = np.searchsorted(starts, tt[-1] + 1.0)
        sl = slice(max(0, lo), max(hi, lo + 1))
        c, h, sp, tg = centre[sl], half[sl], spread[sl], targets[sl]
        for amp, chans, k in ((a_jaw[sl], np.array([JAW_OPEN]), 1.0), (a_lip[sl], lip_ch, 1.0),
                              (a_lip[sl], ROUND_CHANNELS, 1.2)):
            D = _dominance(tt, c, h, sp * k, amp) + 1e-12
            out[s: s + chunk][:, chans] = (D @ tg[:, chans]) / D.sum(1, keepdims=True)
    onset_jaw = onset_window(times_s, phones)
    onset = np.clip(onset_jaw / ONSET_JAW, 0, 1)
    out[:, JAW_OPEN] = np.maximum(out[:, JAW_OPEN], onset_jaw)
    for name in ("mouthLowerDownLeft", "mouthLowerDownRight"):
        out[:, ARKIT_INDEX[name]] = np.maximum(out[:, ARKIT_INDEX[name]], 0.1 * onset)
    closure = bilabial_closure(times_s, phones, fps)
    labio = constraint_window(times_s, articulated, LABIODENTALS, fps)
    rounded = constraint_window(times_s, articulated, ROUNDED, fps, core=0.3)
    out = apply_constraints(out, closure, labio, rounded, articulated, times_s, fps)
    return MouthMotion(weights=out, closure=closure, labiodental=labio, rounding=rounded, onset=onset)


def apply_constraints(w: np.ndarray, closure: np.ndarray, labio: np.ndarray, rounded: np.ndarray,
                      phones: list[Phone] | None = None, times_s: np.ndarray | None = None,
                      fps: float = DEFAULT_FPS) -> np.ndarray:
    """Enforce closed / labiodental / rounded constraints on (T, 52) ARKit weights (returns a copy)."""
    w = np.array(w, np.float32, copy=True)
    # labiodental: lower lip to upper teeth
    if labio.any():
        w[:, JAW_OPEN] = w[:, JAW_OPEN] * (1 - labio) + np.minimum(w[:, JAW_OPEN], 0.06) * labio
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
