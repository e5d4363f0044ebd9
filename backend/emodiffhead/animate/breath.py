"""Audible breaths in pauses -> the mouth opens to inhale.

During speech, speakers inhale mostly through the mouth (oral or oronasal inspiration on most speech breaths,
while quiet breathing at rest is nasal: Lester & Hoit 2014), so at a phrase break where the speaker takes a
breath the lips part and the jaw drops, and they close again (or go on into the next phrase's pre-phonatory
opening) when the air stops. An inhalation through the mouth is audible as unvoiced, broadband turbulence
noise; a pause without one is silent at the recording's own floor, and the lips stay closed there.

Detection, per pause (a run of inactive frames of at least ``MIN_PAUSE_S``): the frames whose 2-7 kHz level
(:attr:`~emodiffhead.audio.prosody.Prosody.hf_db`) is at least ``RISE_DB`` above the recording's quiet floor
(10th percentile of that level over its inactive frames; less over a steady floor: ``MIN_RISE_DB``) and that are
unvoiced, joined across gaps shorter than
``JOIN_S``; a run of ``MIN_BREATH_S`` to ``MAX_BREATH_S`` is a breath. Relative to the floor, so a noisy recording's steady
background is not a breath; the mouth opens only where something is heard in the pause. A run whose level falls
all the way through it is the decay of the sound before it (a room's reverberation of the last phone), not an
inhalation, which rises out of the pause; an inhalation that follows the phrase at once
keeps its start, decay included (it begins as the phrase ends): the level from the pause's start to the
run's end must rise somewhere (:func:`rises`). (So a clip that starts in the middle of an inhalation, its level
only falling from the first frame, does not open the mouth for it.)
"""

from __future__ import annotations

import numpy as np

from ..audio.phonemes import Phone
from ..audio.prosody import HOP_S, Prosody, close_gaps, true_runs
from ..facs import ARKIT_INDEX, JAW_OPEN

#: A pause at least this long can hold a breath (s).
MIN_PAUSE_S = 0.3
#: A breath is at least this long (s); noisy runs closer than JOIN_S are one breath (frame-level flicker). Two
#: breaths closer than 2 x BREATH_RAMP_S keep the mouth open between them (the ramps overlap).
MIN_BREATH_S = 0.15
JOIN_S = 0.05
#: Inhalations between phrases last about 0.2-0.8 s; a longer noise in a pause (music, a room) is not a breath.
MAX_BREATH_S = 1.0
#: Breath frames are this much louder in the 2-7 kHz band than the recording's quiet floor (dB; 2x amplitude)...
RISE_DB = 6.0
#: ... or less over a steady floor (a recording's hiss, a fan): the rise needed is ``FLOOR_SPREAD_GAIN`` times the
#: floor's spread (median minus 10th percentile of the pause frames' level), at least ``MIN_RISE_DB``. A clean
#: recording's pauses spread 9-25 dB (near-silence flickers), so it keeps RISE_DB; under a steady noise 40 dB below
#: the speech the spread is about 2 dB, and the real clip's breath, 3 dB above that floor, was lost at 6 dB.
MIN_RISE_DB = 3.0
FLOOR_SPREAD_GAIN = 1.5
#: The level is smoothed over this long (s) to tell a decay from a sound that starts (:func:`rises`)...
DECAY_SMOOTH_S = 0.05
#: ... which rises this much (dB) above the lowest smoothed level before it (a reverberation tail flickers by
#: less as it falls).
DECAY_RISE_DB = 1.0
#: The mouth during an inhalation: jaw as for a mid vowel, lips parted.
BREATH_JAW = 0.35
BREATH_LIP = 0.15
#: It opens over this long before the noise starts and closes over this long as it ends (s).
BREATH_RAMP_S = 0.1


def breath_intakes(pro: Prosody, phones: list[Phone] | None = None) -> list[tuple[float, float]]:
    """(start_s, end_s) of every audible breath in the pauses of ``pro`` (see the module docstring).

    phones: the recognised phones, when there are any; then a breath must lie mostly (more than half of it) in
    their silences, so that quiet unvoiced speech (a soft /s/, /f/, /h/ under the activity threshold of a
    noisy recording) is not taken for one.
    """
    quiet = ~pro.active
    level = np.asarray(pro.hf_db, np.float64)
    usable = quiet & (level > -100.0)  # digital silence says nothing about the recording's noise
    if usable.sum() < round(MIN_PAUSE_S / HOP_S):
        return []
    floor, middle = (float(v) for v in np.percentile(level[usable], [10, 50]))
    rise = float(np.clip(FLOOR_SPREAD_GAIN * (middle - floor), MIN_RISE_DB, RISE_DB))
    noisy = quiet & ~pro.voiced & (level >= floor + rise)
    out = []
    for a, b in true_runs(quiet):
        if (b - a) * HOP_S < MIN_PAUSE_S:
            continue
        joined = close_gaps(noisy[a:b], round(JOIN_S / HOP_S))  # flicker gaps shorter than JOIN_S closed
        out += [((a + s) * HOP_S, (a + e) * HOP_S) for s, e in true_runs(joined)
                if MIN_BREATH_S <= (e - s) * HOP_S <= MAX_BREATH_S and rises(level[a: a + e])]
    if phones is not None:
        sil = [(p.start_s, p.end_s) for p in phones if p.label == "sil"]
        out = [(s, e) for s, e in out
               if sum(max(0.0, min(e, b) - max(s, a)) for a, b in sil) > 0.5 * (e - s)]
    return out


def rises(level: np.ndarray) -> bool:
    """Whether an (n,) 2-7 kHz ``level`` (dB per ``HOP_S`` frame), smoothed over ``DECAY_SMOOTH_S``, ever rises
    ``DECAY_RISE_DB`` above its lowest point so far: False for a decay (a reverberation tail into silence), True
    where something starts to sound after it."""
    lv = np.asarray(level, np.float64)
    k = max(1, int(round(DECAY_SMOOTH_S / HOP_S)))
    if len(lv) <= k:
        return False
    sm = np.convolve(np.pad(lv, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid")
    return bool(np.any(sm > np.minimum.accumulate(sm) + DECAY_RISE_DB))


def breath_opening(times_s: np.ndarray, intakes: list[tuple[float, float]]) -> np.ndarray:
    """(T,) 0..1 inhalation opening at ``times_s``: 1 while a breath is heard, smoothstep ramps of
    BREATH_RAMP_S before its start and after its end."""
    t = np.asarray(times_s, np.float64)
    w = np.zeros(len(t), np.float32)
    for s, e in intakes:
        up = np.clip((t - (s - BREATH_RAMP_S)) / BREATH_RAMP_S, 0, 1)
        down = np.clip((e + BREATH_RAMP_S - t) / BREATH_RAMP_S, 0, 1)
        x = np.minimum(up, down)
        w = np.maximum(w, (x * x * (3 - 2 * x)).astype(np.float32))
    return w


def add_breaths(weights: np.ndarray, opening: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """(T, 52) ARKit mouth ``weights`` with the inhalation ``opening`` (T,) added (max with what is there);
    a bilabial ``closure`` (T,) still wins. Returns a copy."""
    o = (opening * (1.0 - closure)).astype(np.float32)
    w = np.array(weights, np.float32, copy=True)
    w[:, JAW_OPEN] = np.maximum(w[:, JAW_OPEN], BREATH_JAW * o)
    for name in ("mouthLowerDownLeft", "mouthLowerDownRight"):
        i = ARKIT_INDEX[name]
        w[:, i] = np.maximum(w[:, i], BREATH_LIP * o)
    return w
