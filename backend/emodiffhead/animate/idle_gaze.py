"""Conversational gaze of a speaker: where the eyes look while a person talks, from the speech's phrasing.

What it follows (the eye-movement and conversation literature):

- Speakers look away from the listener at the start of an utterance and at hesitation ("thinking") pauses and
  look back at the listener towards the end of the phrase (Kendon 1967, "Some functions of gaze-direction in
  social interaction", Acta Psychologica 26; Beattie 1978, planning phases; Ho, Foulsham & Kingstone 2015,
  PLoS ONE 10: speakers avert at turn starts, look at the listener at turn ends). Long phrases are averted
  from more often than short ones (Kendon: the longer the utterance, the likelier the look-away at its start);
  mid-phrase glances away are rarer (Argyle & Cook 1976: speakers look at the listener ~40 % of their talk,
  in glances of a few seconds). Aversion goes sideways or up-sideways, sometimes down (Glenberg et al. 1998,
  Memory & Cognition 26, gaze aversion under cognitive load); a person tends to one side (Kinsbourne 1972).
- At the listener the eyes do not stand still: they jump between the listener's eyes and face (about 3.6 deg
  between two eyes at 1 m), all inside the cone that a viewer reads as eye contact (about +-4 deg, Gamer &
  Hecht 2007, J. Exp. Psychol. HPP 33), with fixations of 0.3-2.5 s (lognormal, median 0.8 s) and
  microsaccades of 0.1-0.4 deg about once a second (Martinez-Conde et al. 2004, Nat. Rev. Neurosci. 5).
- Saccades: amplitudes mostly 2-15 deg (Bahill, Adler & Stark 1975: most natural saccades are under 15 deg);
  durations by the main sequence, 21 ms + 2.2 ms/deg (Carpenter 1988; Baloh et al. 1975): 20-55 ms, so a
  shift takes 1-2 frames at 25 fps; the profile is minimum-jerk, sampled at the frame times.
- Blinks accompany large gaze shifts, the more often the larger the shift (Evinger et al. 1994, "Not looking
  while leaping", Exp. Brain Res. 100), and phrase ends: this module gives the cues (times and probabilities)
  and :mod:`.idle` moves the seeded blinks onto them.
- The head turns with large shifts by a fraction of the shift beyond the eye-only range, slower than the eye
  (Stahl 1999, Exp. Brain Res. 126; Freedman & Sparks 1997); the eye counter-rotates as the head arrives
  (the vestibulo-ocular reflex), which :mod:`.idle` does for all head motion.

Angles: (pitch, yaw) radians, +pitch looks down, +yaw looks toward the subject's left (image right), as the eye
joints (``pose[:, Joint.EYE_*, :2]``). ``world`` is the gaze in the scene (head + eye); 0 is the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio.prosody import Prosody, true_runs
from .coarticulation import PAUSE_S

#: Silences at least this long split the speech into phrases (the animator's pause threshold, Goldman-Eisler's
#: 250 ms: the same one that rests the mouth).
MIN_PAUSE_S = PAUSE_S
#: Active runs shorter than this (clicks, breaths) are not phrases.
MIN_PHRASE_S = 0.15
#: Pauses at least this long are "thinking" pauses: the speaker may look away during them.
THINKING_PAUSE_S = 1.0
#: Listener fixation points (pitch, yaw) deg: the listener's two eyes, the face centre, the mouth; and weights.
LISTENER_POINTS_DEG = np.array([[0.0, -1.8], [0.0, 1.8], [0.8, 0.0], [3.5, 0.0]])
LISTENER_WEIGHTS = np.array([0.38, 0.38, 0.16, 0.08])
#: Fixation durations at the listener: lognormal median and sigma, clipped (s).
FIXATION_MEDIAN_S, FIXATION_SIGMA, FIXATION_RANGE_S = 0.8, 0.5, (0.3, 2.5)
#: Aversion hold: lognormal median and sigma, clipped (s).
AVERT_MEDIAN_S, AVERT_SIGMA, AVERT_RANGE_S = 1.1, 0.45, (0.4, 3.0)
#: Aversion yaw: lognormal median (deg), sigma, clipped; mid-phrase glances are smaller.
AVERT_YAW_DEG, AVERT_YAW_SIGMA, AVERT_YAW_RANGE = 9.0, 0.3, (5.0, 14.0)
GLANCE_YAW_DEG, GLANCE_YAW_RANGE = 6.5, (4.0, 11.0)
#: Probability of looking away at a phrase start: P_START_MIN for the shortest phrases up to P_START_MAX for
#: phrases of LONG_PHRASE_S or longer; at a thinking pause; rate of mid-phrase glances (per second).
P_START_MIN, P_START_MAX, LONG_PHRASE_S = 0.35, 0.8, 3.0
P_THINKING = 0.55
GLANCE_RATE_HZ = 0.06
#: The gaze is back at the listener at least this long (s, drawn in the range) before a phrase ends.
RETURN_BEFORE_END_S = (0.4, 0.8)
#: Microsaccades: amplitude range (deg) and mean interval (s).
MICRO_DEG, MICRO_INTERVAL_S = (0.1, 0.4), 0.9
#: Head share of a gaze shift beyond the eye-only range (deg), and the head's movement time (s).
HEAD_GAIN, EYE_ONLY_DEG, HEAD_MOVE_S = 0.3, 4.0, 0.35
#: Limits of the eye in the head (deg): the iris stays inside the eye opening.
EYE_YAW_LIMIT_DEG, EYE_PITCH_LIMIT_DEG = 15.0, (-7.0, 6.0)


@dataclass(frozen=True)
class GazePlan:
    """A speaker's gaze over a clip.

    world: (T, 2) float32 (pitch, yaw) radians, the gaze in the scene (0 = the camera / listener).
    head: (T, 2) float32 (pitch, yaw) radians, the head's share of large shifts (added to the neck).
    saccade_starts_s, saccade_amplitudes_deg: (S,) every saccade (microsaccades included).
    aversions_s: (K, 2) start and end (s) of each look away from the listener.
    blink_cues_s, blink_cue_p: (B,) moments a blink is likely (large shifts, phrase ends) and its probability.
    phrases_s: (N, 2) onset and offset (s) of the phrases the plan follows.
    """

    world: np.ndarray
    head: np.ndarray
    saccade_starts_s: np.ndarray
    saccade_amplitudes_deg: np.ndarray
    aversions_s: np.ndarray
    blink_cues_s: np.ndarray
    blink_cue_p: np.ndarray
    phrases_s: np.ndarray


def speech_phrases(pro: Prosody, min_pause_s: float = MIN_PAUSE_S, min_phrase_s: float = MIN_PHRASE_S) -> np.ndarray:
    """(N, 2) float64 onset/offset seconds of the phrases: voice-activity runs split by pauses >= ``min_pause_s``."""
    act = np.asarray(pro.active, bool)
    if act.size == 0 or not act.any():
        return np.zeros((0, 2))
    hop = float(pro.times_s[1] - pro.times_s[0]) if len(pro.times_s) > 1 else 0.01
    runs: list[list[float]] = []
    for a, b in ((on * hop, off * hop) for on, off in true_runs(act)):
        if runs and a - runs[-1][1] < min_pause_s:
            runs[-1][1] = b
        else:
            runs.append([a, b])
    out = np.array([r for r in runs if r[1] - r[0] >= min_phrase_s], np.float64)
    return out.reshape(-1, 2)


def saccade_duration_s(amplitude_deg: np.ndarray | float) -> np.ndarray:
    """Main-sequence duration (s) of a saccade of ``amplitude_deg``: 21 ms + 2.2 ms/deg."""
    return 0.021 + 0.0022 * np.asarray(amplitude_deg, np.float64)


def minimum_jerk(u: np.ndarray) -> np.ndarray:
    """Minimum-jerk position profile 0..1 for normalised time ``u`` (clipped to 0..1)."""
    u = np.clip(u, 0.0, 1.0)
    return u ** 3 * (10 - 15 * u + 6 * u * u)


def moves_at(times_s: np.ndarray, starts_s: np.ndarray, durations_s: np.ndarray, targets: np.ndarray,
             start: np.ndarray) -> np.ndarray:
    """(T, D) position at ``times_s`` of a point that starts at ``start`` (D,) and makes minimum-jerk moves to
    ``targets`` (M, D) beginning at ``starts_s`` (M,) (sorted) over ``durations_s`` (M,). A move that begins before
    the previous one ends starts from where that one is, so the curve is continuous."""
    times_s = np.asarray(times_s, np.float64)
    start = np.asarray(start, np.float64)
    M = len(starts_s)
    if M == 0:
        return np.repeat(start[None], len(times_s), 0)
    frm = np.empty((M, start.size))
    prev = start
    for i in range(M):
        if i:
            u = (starts_s[i] - starts_s[i - 1]) / durations_s[i - 1]
            prev = frm[i - 1] + (targets[i - 1] - frm[i - 1]) * minimum_jerk(u)
        frm[i] = prev
    k = np.searchsorted(starts_s, times_s, side="right") - 1
    out = np.repeat(start[None], len(times_s), 0)
    m = k >= 0
    kk = k[m]
    u = (times_s[m] - starts_s[kk]) / durations_s[kk]
    out[m] = frm[kk] + (targets[kk] - frm[kk]) * minimum_jerk(u)[:, None]
    return out


def _lognormal(rng: np.random.Generator, median: float, sigma: float, lo: float, hi: float) -> float:
    return float(np.clip(median * np.exp(sigma * rng.normal()), lo, hi))


def _aversion_target(rng: np.random.Generator, side: float, glance: bool) -> np.ndarray:
    """(pitch, yaw) deg of a look away: to the preferred ``side`` 70 % of the time; up-sideways, level or down."""
    s = side if rng.random() < 0.7 else -side
    if glance:
        yaw = _lognormal(rng, GLANCE_YAW_DEG, AVERT_YAW_SIGMA, *GLANCE_YAW_RANGE)
    else:
        yaw = _lognormal(rng, AVERT_YAW_DEG, AVERT_YAW_SIGMA, *AVERT_YAW_RANGE)
    r = rng.random()
    pitch = -rng.uniform(2.0, 6.0) if r < 0.4 else (rng.uniform(-1.5, 1.5) if r < 0.8 else rng.uniform(2.0, 4.5))
    return np.array([pitch, s * yaw])


def _plan_aversions(phrases: np.ndarray, duration_s: float, rng: np.random.Generator, side: float
                    ) -> list[tuple[float, float, np.ndarray]]:
    """Looks away as (start s, end s, target (pitch, yaw) deg), sorted, not overlapping."""
    out: list[tuple[float, float, np.ndarray]] = []

    def add(a: float, b: float, glance: bool) -> None:
        a = max(a, out[-1][1] + 0.4 if out else 0.0)
        if b - a >= 0.35:
            out.append((a, b, _aversion_target(rng, side, glance)))

    if len(phrases) == 0:  # no speech: an occasional look away
        t = rng.exponential(1 / GLANCE_RATE_HZ)
        while t < duration_s - 1.0:
            hold = _lognormal(rng, AVERT_MEDIAN_S, AVERT_SIGMA, *AVERT_RANGE_S)
            add(t, min(t + hold, duration_s), False)
            t += hold + rng.exponential(1 / GLANCE_RATE_HZ)
        return out
    prev_end = -np.inf
    for a, b in phrases:
        pause = a - prev_end
        ret = b - rng.uniform(*RETURN_BEFORE_END_S)  # back at the listener before the phrase ends
        hold = _lognormal(rng, AVERT_MEDIAN_S, AVERT_SIGMA, *AVERT_RANGE_S)
        u_start, u_think = rng.random(), rng.random()
        p_start = P_START_MIN + (P_START_MAX - P_START_MIN) * min(1.0, (b - a) / LONG_PHRASE_S)
        if np.isfinite(pause) and pause >= THINKING_PAUSE_S and u_think < P_THINKING:
            # thinking pause: look away a little after the phrase end's look at the listener, into the next phrase
            s = prev_end + rng.uniform(0.2, min(0.6, 0.4 * pause))
            add(s, min(max(a + 0.3, s + hold), ret), False)
        elif u_start < p_start:
            s = a - rng.uniform(0.0, 0.25)  # the look away leads the speech a little
            add(s, min(s + hold, ret), False)
        # brief glances away in the middle of long phrases
        t = max(a + 1.0, out[-1][1] + 0.6 if out else a + 1.0) + rng.exponential(1 / GLANCE_RATE_HZ)
        while t < b - 1.4:
            g = rng.uniform(0.35, 0.9)
            add(t, min(t + g, b - 1.0), True)
            t += g + 0.6 + rng.exponential(1 / GLANCE_RATE_HZ)
        prev_end = b
    return out


def plan_gaze(times_s: np.ndarray, phrases: np.ndarray, rng: np.random.Generator,
              duration_s: float | None = None) -> GazePlan:
    """Gaze at frame times ``times_s`` (T,) s for speech ``phrases`` (N, 2) s; deterministic for ``rng``'s state."""
    times_s = np.asarray(times_s, np.float64)
    phrases = np.asarray(phrases, np.float64).reshape(-1, 2)
    if duration_s is None:
        duration_s = float(times_s[-1] + (times_s[1] - times_s[0] if len(times_s) > 1 else 0.04)) if len(times_s) else 0.0
    side = 1.0 if rng.random() < 0.5 else -1.0  # this speaker's preferred side
    aversions = _plan_aversions(phrases, duration_s, rng, side)

    starts: list[float] = []
    targets: list[np.ndarray] = []
    amps: list[float] = []
    cues: list[tuple[float, float]] = []
    cur = LISTENER_POINTS_DEG[rng.choice(len(LISTENER_POINTS_DEG), p=LISTENER_WEIGHTS)].copy()
    init = cur.copy()
    home = cur.copy()  # the current fixation point (microsaccades scatter about it)
    last = -1.0

    def jump(t: float, target: np.ndarray) -> float:
        nonlocal cur, last
        amp = float(np.hypot(*(target - cur)))
        t = max(t, last + 0.02)
        starts.append(t)
        targets.append(target.copy())
        amps.append(amp)
        cur = target.copy()
        last = t + float(saccade_duration_s(amp))
        if amp >= 5.0:  # blinks go with large shifts, the more often the larger (Evinger et al. 1994)
            cues.append((t, float(np.clip(0.15 + 0.04 * (amp - 5.0), 0.0, 0.6))))
        return last

    def fixate(t0: float, t1: float) -> None:
        """Hold ``home`` from t0 to t1 with microsaccades about it."""
        t = t0 + rng.uniform(0.25, 2 * MICRO_INTERVAL_S)
        while t < t1 - 0.15:
            ang = rng.uniform(0, 2 * np.pi)
            off = rng.uniform(*MICRO_DEG) * np.array([np.sin(ang), np.cos(ang)])
            jump(t, home + off)
            t += max(0.3, rng.exponential(MICRO_INTERVAL_S))

    def listener(t0: float, t1: float) -> None:
        nonlocal home
        t = t0
        while t < t1:
            dur = _lognormal(rng, FIXATION_MEDIAN_S, FIXATION_SIGMA, *FIXATION_RANGE_S)
            end = min(t + dur, t1)
            fixate(t, end)
            t = end
            if t < t1 - FIXATION_RANGE_S[0]:  # move to another point of the listener's face
                w = LISTENER_WEIGHTS * (np.linalg.norm(LISTENER_POINTS_DEG - home, axis=1) > 0.5)
                home = LISTENER_POINTS_DEG[rng.choice(len(w), p=w / w.sum())].copy()
                t = jump(t, home)

    t = 0.0
    head_starts, head_targets = [], []
    for a, b, target in aversions:
        listener(t, a)
        head_starts.append(max(a, last) + 0.03)
        home = target.copy()
        jump(a, target)
        amp = float(np.hypot(*target))
        head_targets.append(HEAD_GAIN * max(0.0, amp - EYE_ONLY_DEG) * target / max(amp, 1e-6))
        if b - a > 1.3 and rng.random() < 0.6:  # a second, small saccade while looking away
            tm = a + rng.uniform(0.5, b - a - 0.5)
            fixate(last, tm)
            off = rng.uniform(2.0, 4.0) * np.array([rng.uniform(-0.5, 0.5), 1.0 if rng.random() < 0.5 else -1.0])
            nxt = target + off
            nxt[1] = np.sign(target[1]) * np.clip(abs(nxt[1]), AVERT_YAW_RANGE[0], AVERT_YAW_RANGE[1])
            home = nxt
            jump(tm, nxt)
        fixate(last, b)
        home = LISTENER_POINTS_DEG[rng.choice(2)].copy()  # back to one of the listener's eyes
        head_starts.append(max(b, last) + 0.03)
        head_targets.append(np.zeros(2))
        t = jump(b, home)
    listener(t, duration_s)
    for a, b in phrases:  # a blink is likely as a phrase ends
        cues.append((b + rng.uniform(0.0, 0.2), 0.35))

    st = np.array(starts, np.float64)
    tg = np.array(targets, np.float64).reshape(-1, 2)
    am = np.array(amps, np.float64)
    world = moves_at(times_s, st, saccade_duration_s(am), tg, init)
    hs = np.array(head_starts, np.float64)
    head = moves_at(times_s, hs, np.full(len(hs), HEAD_MOVE_S), np.array(head_targets).reshape(-1, 2), np.zeros(2))
    cue = sorted(cues)
    return GazePlan(
        world=np.radians(world).astype(np.float32), head=np.radians(head).astype(np.float32),
        saccade_starts_s=st, saccade_amplitudes_deg=am,
        aversions_s=np.array([(a, b) for a, b, _ in aversions], np.float64).reshape(-1, 2),
        blink_cues_s=np.array([c[0] for c in cue], np.float64), blink_cue_p=np.array([c[1] for c in cue]),
        phrases_s=phrases)


# ---- measuring a track's gaze (tests, benchmarks/bench_idle_gaze.py) ------------------------------------------------
#: Gaze further than this (deg) from the camera is outside the cone read as eye contact: looking away.
AVERTED_DEG = 4.5


def gaze_in_scene(pose: np.ndarray) -> np.ndarray:
    """(T, 2) float64 (pitch, yaw) degrees where the left eye looks in the scene: eye joint + neck joint,
    from a track's ``pose`` (T, 5, 3) (small-angle sum; 0 = the camera)."""
    from ..head.model import Joint

    p = np.asarray(pose, np.float64)
    return np.degrees(p[:, Joint.EYE_LEFT, :2] + p[:, Joint.NECK, :2])


def detect_saccades(gaze_deg: np.ndarray, fps: float, min_speed_deg_s: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Saccades in a gaze track (T, 2) deg sampled at ``fps``: runs of frames moving faster than
    ``min_speed_deg_s`` (the usual 30 deg/s velocity threshold). Returns (onset frame index (S,), amplitude deg (S,))."""
    g = np.asarray(gaze_deg, np.float64)
    fast = np.linalg.norm(np.diff(g, axis=0), axis=1) * fps > min_speed_deg_s
    on, off = np.array(true_runs(fast), np.int64).reshape(-1, 2).T
    amp = np.linalg.norm(g[off] - g[on], axis=1) if len(on) else np.zeros(0)
    return on, amp
