"""Statistics of the idle gaze track (animate/idle.py + animate/idle_gaze.py), measured from the track's pose.

For each input (speech files and a synthetic 120 s phrase pattern) and ``--seeds`` seeds: saccades (from the gaze
in the scene, eye + neck joints, 30 deg/s velocity threshold), their amplitudes and the fixations between them;
how often a look away (gaze > 4.5 deg from the camera) begins at a phrase start, in the middle of a phrase, and
whether the gaze is at the listener as phrases end; the eye's range in the head; blinks per minute and the share of
blinks within 0.25 s of a large (>= 5 deg) gaze shift or a phrase end.

    .venv/bin/python benchmarks/bench_idle_gaze.py [--seeds 20] [--before fd28fc5]

``--before REV`` measures animate/idle.py of git revision REV instead (loaded from git, same inputs).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FPS = 25.0


def synthetic_prosody(seconds: float, seed: int = 0):
    """A Prosody of phrases 0.8-5 s long separated by pauses 0.3-2 s (100 frames/s), syllable-like loudness."""
    from emodiffhead.audio.prosody import HOP_S, Prosody

    rng = np.random.default_rng(seed)
    n = int(seconds / HOP_S)
    t = np.arange(n) * HOP_S
    act = np.zeros(n, bool)
    s = rng.uniform(0.2, 0.8)
    while s < seconds - 0.5:
        e = min(s + rng.uniform(0.8, 5.0), seconds - 0.2)
        act[(t >= s) & (t < e)] = True
        s = e + rng.uniform(0.3, 2.0)
    syl = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6))
    loud = (act * (0.3 + 0.7 * syl)).astype(np.float32)
    f0 = np.where(act, 130 + 25 * np.sin(2 * np.pi * 0.6 * t), np.nan)
    return Prosody(times_s=t, rms_db=np.where(act, -20.0, -60.0), loudness=loud, active=act, voiced=act.copy(),
                   f0_hz=f0, centroid_hz=np.full(n, 1500.0), low_ratio=np.full(n, 0.5),
                   flux=(act * np.abs(np.diff(np.r_[0, syl]) * 20)).clip(0, 1), hf_db=np.full(n, -50.0))


def phrases_of(pro) -> np.ndarray:
    from emodiffhead.animate.idle_gaze import speech_phrases

    return speech_phrases(pro)


def load_idle(rev: str | None):
    """idle_motion of the working tree, or of git revision ``rev`` (loaded into the package under another name)."""
    if rev is None:
        from emodiffhead.animate.idle import idle_motion

        return idle_motion
    src = subprocess.run(["git", "show", f"{rev}:backend/emodiffhead/animate/idle.py"], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    import emodiffhead.animate  # noqa: F401

    spec = importlib.util.spec_from_loader("emodiffhead.animate._idle_before", loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "emodiffhead.animate"
    exec(compile(src, f"{rev}:idle.py", "exec"), mod.__dict__)
    return mod.idle_motion


def measure(idle_motion, pro, seeds: range) -> dict:
    from emodiffhead.animate.idle_gaze import AVERTED_DEG, detect_saccades, gaze_in_scene
    from emodiffhead.head.model import Joint

    ph = phrases_of(pro)
    dur = float(pro.times_s[-1])
    times = np.arange(int(dur * FPS)) / FPS
    amps, fix, eye_y, eye_p = [], [], [], []
    start_on = start_n = mid_on = mid_n = end_ok = end_n = 0
    blinks = coupled = 0
    averted_time = 0.0
    for seed in seeds:
        m = idle_motion(times, pro, seed=seed)
        g = gaze_in_scene(m.pose)
        on, a = detect_saccades(g, FPS)
        amps += list(a)
        fix += list(np.diff(on) / FPS)
        eye = np.degrees(m.pose[:, Joint.EYE_LEFT, :2])
        eye_p += [eye[:, 0].min(), eye[:, 0].max()]
        eye_y.append(np.abs(eye[:, 1]).max())
        av = np.linalg.norm(g, axis=1) > AVERTED_DEG
        averted_time += av.mean()
        onsets = times[np.flatnonzero(np.diff(np.r_[0, av.astype(np.int8)]) == 1)]
        for s, e in ph:
            start_n += 1
            start_on += bool(np.any((onsets >= s - 0.3) & (onsets < s + 0.5)))
            for c in np.arange(s + 1.2, e - 1.2 - 0.8, 0.8):  # mid-phrase windows of the same length
                mid_n += 1
                mid_on += bool(np.any((onsets >= c) & (onsets < c + 0.8)))
            fr = (times >= e - 0.3) & (times < e)
            if fr.any() and e - s > 1.0:
                end_n += 1
                end_ok += not av[fr].any()
        big = on[a >= 5.0] / FPS
        cues = np.r_[big, ph[:, 1]]
        bt = m.blink_times_s
        blinks += len(bt)
        coupled += int(sum(np.any(np.abs(cues - b) <= 0.25) for b in bt))
    amps, fix = np.array(amps), np.array(fix)
    pct = lambda x, q: float(np.percentile(x, q)) if len(x) else float("nan")  # noqa: E731
    return {
        "saccades/min": len(amps) / (len(seeds) * dur / 60),
        "amp p10/p50/p90 deg": f"{pct(amps, 10):.1f}/{pct(amps, 50):.1f}/{pct(amps, 90):.1f}",
        "amp max": float(amps.max()) if len(amps) else 0.0,
        "share 2-15 deg": float(np.mean((amps >= 2) & (amps <= 15))) if len(amps) else 0.0,
        "fixation p10/p50/p90 s": f"{pct(fix, 10):.2f}/{pct(fix, 50):.2f}/{pct(fix, 90):.2f}",
        "away-onset at phrase start": start_on / max(1, start_n),
        "away-onset per 0.8 s mid-phrase": mid_on / mid_n if mid_n else "n/a (phrases < 3.2 s)",
        "at listener at phrase end": end_ok / max(1, end_n),
        "time averted": averted_time / len(seeds),
        "eye |yaw| max, pitch range": f"{max(eye_y):.1f}, {min(eye_p):+.1f}..{max(eye_p):+.1f}",
        "blinks/min": blinks / (len(seeds) * dur / 60),
        "blinks at shift/phrase end": coupled / max(1, blinks),
    }


def main(argv=None) -> int:
    from emodiffhead.audio.io import load_audio
    from emodiffhead.audio.prosody import analyze

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--before", default=None, help="git revision whose animate/idle.py to measure")
    args = ap.parse_args(argv)
    idle_motion = load_idle(args.before)
    inputs = {"synthetic 120 s": synthetic_prosody(120.0)}
    for f in ("radio_address_a.wav", "radio_address_b.wav"):
        if (SHARED / "audio" / f).is_file():
            inputs[f] = analyze(load_audio(SHARED / "audio" / f))
    inputs["arctic_a0009 (example)"] = analyze(load_audio(REPO / "backend/emodiffhead/assets/examples/arctic_a0009.wav"))
    rows = {name: measure(idle_motion, pro, range(args.seeds)) for name, pro in inputs.items()}
    keys = list(next(iter(rows.values())))
    print(f"idle gaze statistics ({'revision ' + args.before if args.before else 'working tree'}, "
          f"{args.seeds} seeds per input, {FPS:g} fps)")
    print("| measure | " + " | ".join(rows) + " |")
    print("|---" * (len(rows) + 1) + "|")
    for k in keys:
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in (rows[n][k] for n in rows)]
        print(f"| {k} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
