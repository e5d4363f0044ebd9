"""Seeded idle and prosodic motion: blinks, gaze shifts, head motion that follows the speech.

- Blinks: a renewal process with gamma-distributed intervals; the rate is drawn per clip in 15-20 per
  minute, intervals vary (shape 3), 10 % of blinks are doubles. Each blink closes in 80 ms, holds
  50 ms and opens in 170 ms (ARKit eyeBlinkLeft/Right).
- Gaze (:mod:`.idle_gaze`): conversational gaze from the speech's phrases: looks away (5-14 deg, sideways or
  up-sideways) at phrase starts and thinking pauses, back at the listener before phrase ends, face-scanning
  saccades and microsaccades in between; main-sequence saccade durations. Blinks move onto large gaze shifts
  and phrase ends (their number kept); the head takes a share of large shifts and the eyes counter-rotate
  against all head motion (vestibulo-ocular reflex), so they hold their target while the head sways and nods.
- Head: a nod (downward pitch, 1-3.5 deg, 0.15 s rise, damped) on every stressed syllable (peaks of
  loudness x spectral flux x rising pitch, at least 0.6 s apart), plus slow sway (low-passed noise, about 1.5 deg) scaled by
  voice activity so the head is nearly still in silences.

All randomness comes from ``numpy.random.default_rng(seed)``: the same seed gives the same motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio.prosody import Prosody
from ..facs import ARKIT_INDEX, NUM_ARKIT
from ..head.model import NUM_JOINTS, Joint
from ..track import DEFAULT_FPS
from .idle_gaze import EYE_PITCH_LIMIT_DEG, EYE_YAW_LIMIT_DEG, GazePlan, plan_gaze, speech_phrases

BLINK_RATE_PER_MIN = (15.0, 20.0)
CLOSE_S, HOLD_S, OPEN_S = 0.08, 0.05, 0.17


@dataclass(frozen=True)
class IdleMotion:
    """weights: (T, 52) ARKit (blinks); pose: (T, 5, 3) axis-angle (neck = head motion, eyes = gaze);
    blink_times_s: start time of every blink; nod_times_s: time of every prosodic nod; gaze: the gaze plan
    (saccades, looks away, the gaze in the scene before the head's share is taken off)."""

    weights: np.ndarray
    pose: np.ndarray
    blink_times_s: np.ndarray
    nod_times_s: np.ndarray
    gaze: GazePlan | None = None


def blink_times(duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Start times (s) of blinks over ``duration_s``; rate drawn from 15-20/min, gamma intervals."""
    rate = rng.uniform(*BLINK_RATE_PER_MIN) / 60.0
    shape = 3.0
    times = []
    t = rng.uniform(0.2, 1.5)
    while t < duration_s - (CLOSE_S + HOLD_S):
        times.append(t)
        if rng.random() < 0.1:  # double blink
            t2 = t + CLOSE_S + HOLD_S + OPEN_S + rng.uniform(0.05, 0.15)
            if t2 < duration_s - (CLOSE_S + HOLD_S):
                times.append(t2)
            t = t2
        t += max(0.7, rng.gamma(shape, 1.0 / (rate * shape)))
    return np.array(times, np.float64)


def couple_blinks(starts: np.ndarray, cues_s: np.ndarray, cue_p: np.ndarray, rng: np.random.Generator,
                  duration_s: float, window_s: float = 1.5) -> np.ndarray:
    """Move seeded blinks onto cues: each cue (time s, probability) taken with its probability pulls the nearest
    free blink (a double blink moves as one) within ``window_s`` to it. The number of blinks, so the rate, is
    kept; blinks that end up closer than 0.7 s to the previous one are dropped. Returns sorted start times (s)."""
    groups: list[list[float]] = []  # a blink and its double
    for s in np.asarray(starts, np.float64):
        if groups and s - groups[-1][-1] < CLOSE_S + HOLD_S + OPEN_S + 0.2:
            groups[-1].append(float(s))
        else:
            groups.append([float(s)])
    first = np.array([g[0] for g in groups])
    moved = np.zeros(len(groups), bool)
    for c, p in zip(cues_s, cue_p):
        if rng.random() >= p or not len(groups):
            continue
        d = np.abs(first - c) + np.where(moved, np.inf, 0.0)
        i = int(np.argmin(d))
        if d[i] <= window_s:
            t = float(c + rng.uniform(-0.04, 0.02))
            groups[i] = [t + (s - groups[i][0]) for s in groups[i]]
            first[i], moved[i] = t, True
    out: list[float] = []
    last_end = -np.inf
    for g in sorted(groups, key=lambda g: g[0]):
        if g[0] >= last_end + 0.7 - (CLOSE_S + HOLD_S + OPEN_S) and g[0] >= 0:
            kept = [s for s in g if s < duration_s - (CLOSE_S + HOLD_S)]
            out += kept
            if kept:
                last_end = kept[-1] + CLOSE_S + HOLD_S + OPEN_S
    return np.array(out, np.float64)


def blink_curve(times_s: np.ndarray, starts: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """(T,) eyelid closure 0..1 at ``times_s`` for blinks beginning at ``starts``."""
    out = np.zeros(len(times_s), np.float32)
    for s, a in zip(starts, amplitude):
        u = times_s - s
        c = np.where(u < 0, 0.0,
            np.where(u < CLOSE_S, u / CLOSE_S,
            np.where(u < CLOSE_S + HOLD_S, 1.0,
            np.where(u < CLOSE_S + HOLD_S + OPEN_S, 1.0 - (u - CLOSE_S - HOLD_S) / OPEN_S, 0.0))))
        c = 0.5 - 0.5 * np.cos(np.pi * c)  # ease in/out
        out = np.maximum(out, (a * c).astype(np.float32))
    return out


def _smooth(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Convolve (N,) ``x`` with normalised kernel ``k``, edges padded; output (N,) even when N < len(k)."""
    k = np.asarray(k, np.float64) / np.sum(k)
    n = len(k)
    return np.convolve(np.pad(np.asarray(x, np.float64), n, mode="edge"), k, mode="same")[n: n + len(x)]


def _lowpass_noise(n: int, rng: np.random.Generator, cutoff_frames: float) -> np.ndarray:
    x = rng.normal(size=n + 200)
    k = np.exp(-0.5 * (np.arange(-int(3 * cutoff_frames), int(3 * cutoff_frames) + 1) / cutoff_frames) ** 2)
    y = np.convolve(x, k / np.sqrt((k ** 2).sum()), mode="same")[100: 100 + n]
    return y.astype(np.float32)


def emphasis_peaks(pro: Prosody, min_gap_s: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Stressed-syllable candidates: (times_s, strength 0..1) of peaks of loudness x flux x pitch rise."""
    f0 = np.nan_to_num(pro.f0_hz, nan=0.0)
    st = np.where(f0 > 0, 12 * np.log2(np.maximum(f0, 1) / 100.0), 0.0)
    rise = np.clip(np.r_[0, np.diff(st)] * (f0 > 0) * (np.r_[0, f0[:-1]] > 0), 0, 2)
    e = pro.loudness * (0.4 + pro.flux) * (1 + 0.5 * rise) * pro.active
    e = _smooth(e, np.hanning(11)[1:-1])
    if e.max() <= 0:
        return np.zeros(0), np.zeros(0)
    thr = 0.5 * np.percentile(e[e > 0], 95)
    cand = np.flatnonzero((e[1:-1] > e[:-2]) & (e[1:-1] >= e[2:]) & (e[1:-1] > thr)) + 1
    order = cand[np.argsort(-e[cand])]
    gap = int(min_gap_s / (pro.times_s[1] - pro.times_s[0] if len(pro.times_s) > 1 else 0.01))
    taken = np.zeros(len(e) + 2 * gap, bool)  # greedy, strongest first; peak i is stored at i + gap
    chosen: list[int] = []
    for i in order:
        if not taken[i + 1: i + 2 * gap].any():  # no chosen peak j with |i - j| < gap
            chosen.append(int(i))
            taken[i + gap] = True
    chosen.sort()
    idx = np.array(chosen, int)
    strength = np.clip(e[idx] / np.percentile(e[e > 0], 95), 0, 1) if idx.size else np.zeros(0)
    return pro.times_s[idx], strength


def idle_motion(times_s: np.ndarray, pro: Prosody, seed: int = 0, speech_active: np.ndarray | None = None) -> IdleMotion:
    """Blinks, gaze and head motion at frame times ``times_s`` (T,) seconds; deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    times_s = np.asarray(times_s, np.float64)
    T = len(times_s)
    dur = float(times_s[-1] + (times_s[1] - times_s[0] if T > 1 else 0.04)) if T else 0.0
    fps = 1.0 / (times_s[1] - times_s[0]) if T > 1 else DEFAULT_FPS
    w = np.zeros((T, NUM_ARKIT), np.float32)
    pose = np.zeros((T, NUM_JOINTS, 3), np.float32)

    bt = blink_times(dur, rng)

    # activity (0 silence .. 1 speaking), smoothed over ~0.5 s
    act = pro.at("active", times_s) if speech_active is None else np.asarray(speech_active, np.float32)
    act = np.clip(_smooth(act, np.hanning(max(3, int(0.5 * fps)) + 2)[1:-1]), 0, 1)

    # conversational gaze (animate/idle_gaze.py): looks away at phrase starts and thinking pauses, back at the
    # listener before phrase ends; the seeded blinks move onto large gaze shifts and phrase ends
    plan = plan_gaze(times_s, speech_phrases(pro), rng, dur)
    bt = couple_blinks(bt, plan.blink_cues_s, plan.blink_cue_p, rng, dur)
    amp = rng.uniform(0.9, 1.0, size=len(bt))
    blink = blink_curve(times_s, bt, amp)
    w[:, ARKIT_INDEX["eyeBlinkLeft"]] = blink
    w[:, ARKIT_INDEX["eyeBlinkRight"]] = blink

    # prosodic nods + sway on the neck joint
    nt, ns = emphasis_peaks(pro)
    nod = np.zeros(T, np.float32)
    tau = 0.15
    for t0, s in zip(nt, ns):
        u = np.clip(times_s - t0 + 0.05, 0, None)
        nod += np.radians(1.0 + 2.5 * s) * (u / tau) * np.exp(1 - u / tau) * (u > 0)
    sway = np.stack([_lowpass_noise(T, rng, 0.6 * fps) for _ in range(3)], 1)
    sway *= np.radians([1.2, 1.8, 0.8])[None, :]
    gain = (0.15 + 0.85 * act)[:, None]
    head = sway * gain
    head[:, 0] += nod
    head[:, :2] += plan.head  # the head's share of large gaze shifts
    pose[:, Joint.NECK] = head
    # the eyes hold their target while the head moves (vestibulo-ocular reflex): eye in head = gaze - head;
    # both eyes turn alike (the listener is far enough for vergence to be negligible)
    eye = plan.world - head[:, :2]
    eye[:, 0] = np.clip(eye[:, 0], *np.radians(EYE_PITCH_LIMIT_DEG))
    eye[:, 1] = np.clip(eye[:, 1], -np.radians(EYE_YAW_LIMIT_DEG), np.radians(EYE_YAW_LIMIT_DEG))
    pose[:, Joint.EYE_LEFT, :2] = eye
    pose[:, Joint.EYE_RIGHT, :2] = eye
    return IdleMotion(weights=w, pose=pose, blink_times_s=bt, nod_times_s=nt, gaze=plan)
