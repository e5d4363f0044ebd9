"""Benchmarks of the CPU path (face fit + warp renderer + mp4), printed as markdown tables.

    nice -n 10 .venv/bin/python benchmarks/bench_render.py [--quick]

1. Speed: warp renderer frames/s at 512x512 (render only, and render + H.264 encode), and the whole
   ``emodiffhead render`` command on the 8 s audio of ../shared/data/video/talking_head_real_a.mp4.
2. Lip sync against the real video: its first frame is the photo and its audio the speech; the mouth
   opening (mediapipe inner-lip gap / mouth width) of the real and the rendered frames is correlated.
3. Re-extraction: a track extracted from the rendered video vs the track that drove it.
4. Emotion in pixels: happy / sad / angry / surprised at intensity 0, 0.5, 1; face measures on landmarks
   detected in the rendered frames must move the expected way monotonically.
5. Identity: a neutral track's frame 0 vs the photo (SSIM over the whole frame), and the background
   (image border band) unchanged, for every photo in ../shared/data/photos.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
VIDEO = SHARED / "video" / "talking_head_real_a.mp4"


def mouth_measures(frames) -> dict[str, np.ndarray]:
    """Per frame (mediapipe face mesh, tracking mode; NaN without a face):
    ``lip_gap`` inner-lip gap / mouth width, and ``jaw`` chin-to-nose-tip distance / inter-ocular distance."""
    from mediapipe.python.solutions import face_mesh

    gap, jaw = [], []
    with face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=1) as mesh:
        for f in frames:
            res = mesh.process(f)
            if not res.multi_face_landmarks:
                gap.append(np.nan)
                jaw.append(np.nan)
                continue
            p = np.array([(q.x, q.y) for q in res.multi_face_landmarks[0].landmark]) * f.shape[1::-1]
            gap.append(np.linalg.norm(p[14] - p[13]) / max(np.linalg.norm(p[308] - p[78]), 1e-6))
            jaw.append(np.linalg.norm(p[152] - p[1]) / max(np.linalg.norm(p[263] - p[33]), 1e-6))
    return {"lip_gap": np.array(gap), "jaw": np.array(jaw)}


def mouth_opening(frames) -> np.ndarray:
    """(T,) inner-lip gap / mouth width per frame."""
    return mouth_measures(frames)["lip_gap"]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    m = np.isfinite(a) & np.isfinite(b)
    n = min(len(a), len(b))
    m = m[:n] if len(m) > n else m
    a, b = a[:n][m[:n]], b[:n][m[:n]]
    return float(np.corrcoef(a, b)[0, 1])


#: Output sizes (short side, px) of the speed table.
SPEED_SIZES = (256, 512, 1080)
#: Frames per second the speed target asks for at 1080p (render + H.264/AAC encode).
TARGET_FPS = 25.0


def _load() -> str:
    import os

    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _speed_inputs():
    """(photo path, audio path): the shipped Einstein photo (1080p gives 1080x1440, more pixels than most
    portraits) with the real clip's 8 s of speech when ../shared is there, else the shipped 3 s clip."""
    from emodiffhead.commands.render import DEFAULT_AUDIO, DEFAULT_PHOTO

    return DEFAULT_PHOTO, (VIDEO if VIDEO.is_file() else DEFAULT_AUDIO)


def _stage_cpu(r, d, n: int) -> dict[str, float]:
    """CPU ms per frame of the render stages over ``n`` frames of the drive ``d``: the backward map, the
    remap (+ copy of the still background), and the rest of ``render_landmarks`` (lids, mouth interior)."""
    from emodiffhead.render.warp import drive_points

    acc = {"maps": 0.0, "remap+copy": 0.0, "eyes+mouth+rest": 0.0}
    for i in range(n):
        lm = d.landmarks[i]
        pts = drive_points(r.mesh, lm[:, :2])
        c0 = time.process_time()
        r.warper.backward_maps(pts, lm[:, 2])
        c1 = time.process_time()
        r.warper.warp(pts, lm[:, 2])
        c2 = time.process_time()
        r.render_landmarks(lm, d.rigid[i], d.jaw[i])
        c3 = time.process_time()
        acc["maps"] += c1 - c0
        acc["remap+copy"] += (c2 - c1) - (c1 - c0)  # warp() = maps + remap + copy
        acc["eyes+mouth+rest"] += (c3 - c2) - (c2 - c1)
    return {k: 1000 * v / n for k, v in acc.items()}


def bench_speed(head, rows, sizes=SPEED_SIZES, whole_command: bool = True):
    """The speed table: per size, render-only, render + encode, and the whole command; wall clock and CPU
    time (this machine is shared: the CPU figures are what the code costs, the wall figures what it got)."""
    from emodiffhead.animate import animate
    from emodiffhead.audio.io import load_audio
    from emodiffhead.face.image import load_photo
    from emodiffhead.video import write_mp4
    from emodiffhead.render.warp_renderer import WarpRenderer

    try:
        from emodiffhead.video import rgb_to_yuv420
    except ImportError:  # an older checkout (for before/after runs): PyAV's own conversion
        import av

        def rgb_to_yuv420(f):
            return av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p").to_ndarray()

    photo_path, audio_path = _speed_inputs()
    photo = load_photo(photo_path)
    clip = load_audio(audio_path)
    track = animate(clip, head, seed=0)
    T = track.num_frames
    speed, stages = [], []
    for size in sizes:
        r = WarpRenderer()
        r.prepare(photo, head, size=size)
        H, W = r.output_size
        load0 = _load()
        t, c = time.perf_counter(), time.process_time()
        frames = list(r.frames(track))
        w_render, c_render = time.perf_counter() - t, time.process_time() - c
        with tempfile.TemporaryDirectory() as tmp:
            t, c = time.perf_counter(), time.process_time()
            write_mp4(r.frames(track), Path(tmp) / "a.mp4", 25.0, audio=clip, num_frames=T)
            w_both, c_both = time.perf_counter() - t, time.process_time() - c
            t, c = time.perf_counter(), time.process_time()
            write_mp4(iter(frames), Path(tmp) / "b.mp4", 25.0, audio=clip, num_frames=T)
            c_encode = time.process_time() - c
        c = time.process_time()
        for f in frames[:50]:
            rgb_to_yuv420(f)
        c_yuv = (time.process_time() - c) / min(50, T)
        del frames
        cmd = bench_command_at(photo_path, audio_path, size) if whole_command else None
        d = r.drive(track.slice(0, min(T, 50)))
        st = _stage_cpu(r, d, d.num_frames)
        c = time.process_time()
        r.drive(track)
        st["pose (drive)"] = 1000 * (time.process_time() - c) / T
        st["RGB->YUV"] = 1000 * c_yuv
        st["encode H.264+AAC (thread)"] = 1000 * c_encode / T - st["RGB->YUV"]
        speed.append((size, f"{W}x{H}", T / w_render, T / c_render, T / w_both, T / c_both, cmd, load0))
        stages.append((size, st, 1000 * c_render / T, 1000 * c_both / T))
    return speed, stages


def bench_command_at(photo: Path, audio: Path, size: int) -> tuple[float, float, int]:
    """(wall s, CPU s, frames) of ``emodiffhead render PHOTO AUDIO --size SIZE`` in a new process."""
    import resource

    from emodiffhead.video import probe_mp4

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "c.mp4"
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "emodiffhead", "render", str(photo), str(audio), "-o", str(out),
                        "--size", str(size), "--quiet"], check=True, capture_output=True)
        wall = time.perf_counter() - t
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        n = probe_mp4(out)["num_frames"]
    return wall, (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), n


def speed_tables(speed, stages) -> str:
    """The two markdown tables of :func:`bench_speed`."""
    out = ["| size | frame | render only: wall / CPU fps | render + H.264/AAC: wall / CPU fps | "
           "whole command: wall / CPU s (fps) | load avg 1/5/15 min |", "|---|---|---|---|---|---|"]
    for size, frame, wr, cr, wb, cb, cmd, load in speed:
        whole = "" if cmd is None else f"{cmd[0]:.1f} / {cmd[1]:.1f} s ({cmd[2] / cmd[0]:.1f} / {cmd[2] / cmd[1]:.1f})"
        out.append(f"| {size} | {frame} | {wr:.1f} / {cr:.1f} | {wb:.1f} / {cb:.1f} | {whole} | {load} |")
    out += ["", "CPU ms per frame by stage (both threads counted; 25 fps on two cores allows 80 ms in all, "
            "at most 40 ms on each thread; the last column is 1000 / max(render thread, encode thread, all / 2), "
            "an estimate for an unloaded machine):", ""]
    names = list(stages[0][1])
    out.append("| size | " + " | ".join(names) + " | render thread | all (render + encode) | fps two free cores "
               "could give |")
    out.append("|---" * (len(names) + 4) + "|")
    for size, st, c_render, c_both in stages:
        bound = max(c_render, st["encode H.264+AAC (thread)"], c_both / 2)  # the busier thread, or both cores full
        out.append(f"| {size} | " + " | ".join(f"{st[k]:.1f}" for k in names) +
                   f" | {c_render:.1f} | {c_both:.1f} | {1000 / bound:.0f} |")
    return "\n".join(out)


def bench_command(rows, out_dir: Path) -> Path:
    """Time the whole CLI command on the real video's first frame + audio; returns the mp4."""
    import cv2

    from emodiffhead.video import read_video_frames

    photo = out_dir / "real_a_frame0.png"
    cv2.imwrite(str(photo), next(read_video_frames(VIDEO))[:, :, ::-1])
    out = out_dir / "real_a_render.mp4"
    import resource

    t = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([str(REPO / ".venv" / "bin" / "emodiffhead"), "render", str(photo), str(VIDEO), "-o", str(out),
                    "--seed", "0", "--quiet"], check=True, capture_output=True)  # seed 0: the track bench_lipsync uses
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    rows.append(("`emodiffhead render` on the 8 s clip (whole command, new process): wall / CPU time",
                 f"{time.perf_counter() - t:.1f} s / {cpu:.1f} s", "< 20 s"))
    return out


def bench_lipsync(rows, rendered: Path, track, head):
    from emodiffhead.video import read_video_frames

    real_m = mouth_measures(read_video_frames(VIDEO))
    ours_m = mouth_measures(read_video_frames(rendered))
    real, ours = real_m["lip_gap"], ours_m["lip_gap"]
    r = pearson(real, ours)
    rows.append(("lip sync: r(jaw opening chin-nose real, rendered)", f"{pearson(real_m['jaw'], ours_m['jaw']):.3f}",
                 "less sensitive to smiling with the teeth showing"))
    drive = _opening_of_track(track, head)
    rows.append(("renderer fidelity: r(track's mouth opening, rendered mouth opening)", f"{pearson(drive, ours):.3f}",
                 "the renderer shows the track"))
    rows.append(("animator vs real: r(track's mouth opening, real mouth opening)", f"{pearson(drive, real):.3f}",
                 "bounds the end-to-end figure"))
    # allow a lag of up to 2 frames either way to show the sync
    lags = {k: pearson(np.roll(real, k)[4:-4], ours[4:-4]) for k in range(-2, 3)}
    best = max(lags, key=lags.get)
    rows.append(("lip sync: r(mouth opening real, rendered), lag 0", f"{r:.3f}", ">= 0.7"))
    rows.append(("lip sync: best lag (frames) and r", f"{best:+d}, {lags[best]:.3f}", "0"))
    return real, ours


def bench_reextract(head, rows, rendered: Path, track):
    from emodiffhead.face.extract import extract_track
    from emodiffhead.head.model import Joint

    got = extract_track(rendered, head)
    T = min(got.num_frames, track.num_frames)
    E = head.expression_names
    rows.append(("re-extract mouth opening: r(driving jaw rotation + jawOpen, extracted jawOpen)",
                 f"{np.corrcoef(_opening_of_track(track, head)[:T], got.expression[:T, E.index('jawOpen')])[0, 1]:.2f}",
                 "the animator opens the jaw with the jaw joint"))
    for name in ( "mouthSmileLeft", "eyeBlinkLeft", "eyeBlinkRight", "mouthPucker", "mouthFunnel"):
        i = E.index(name)
        a, b = track.expression[:T, i], got.expression[:T, i]
        r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-4 and b.std() > 1e-4 else float("nan")
        rows.append((f"re-extract {name}: r / mean |error|", f"{r:.2f} / {np.abs(a - b).mean():.3f}",
                     f"driving range {a.min():.2f}..{a.max():.2f}"))
    yaw_a = np.rad2deg(track.pose[:T, Joint.ROOT, 1] + track.pose[:T, Joint.NECK, 1])
    yaw_b = np.rad2deg(got.pose[:T, Joint.ROOT, 1])
    rows.append(("re-extract head yaw: r", f"{np.corrcoef(yaw_a - yaw_a[0], yaw_b)[0, 1]:.2f}",
                 f"driving range {yaw_a.min():.1f}..{yaw_a.max():.1f} deg"))


def bench_emotion(head, rows, photo_path: Path):
    from emodiffhead.animate.emotion_vectors import emotion_basis
    from emodiffhead.animate.metrics import EXPECTED_EFFECTS, face_measures
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.face.detect import detect_face
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer
    from emodiffhead.track import Track

    r = WarpRenderer()
    r.prepare(load_photo(photo_path), head, size=512)
    basis = emotion_basis(head)
    levels = (0.0, 0.5, 1.0)
    for emo in ("happy", "sad", "angry", "surprised"):
        tr = Track.neutral(len(levels), 25.0, head.name, head.expression_names)
        tr.expression[:] = np.stack([a * basis[EMOTIONS.index(emo)] for a in levels])
        lms = np.stack([detect_face(f).landmarks for f in r.frames(tr)])
        lms[..., 1] *= -1  # image y-down -> y-up, as face_measures expects
        m = face_measures(lms)
        parts, ok_all = [], True
        for key, sign in EXPECTED_EFFECTS[emo].items():
            v = m[key] * sign
            ok = bool(v[1] > v[0] and v[2] > v[1])
            ok_all &= ok
            parts.append(f"{key} {'+' if sign > 0 else '-'}: {m[key][0]:.3f}>{m[key][1]:.3f}>{m[key][2]:.3f}"
                         .replace(">", "->") + ("" if ok else " (NOT monotonic)"))
        rows.append((f"emotion {emo} 0/0.5/1 ({photo_path.name})", "yes" if ok_all else "no", "; ".join(parts)))


def bench_identity(head, rows):
    from emodiffhead.diffusion.metrics import ssim
    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer
    from emodiffhead.track import Track

    for p in sorted((SHARED / "photos").glob("*.jpg")):
        r = WarpRenderer()
        try:
            r.prepare(load_photo(p), head, size=512)
        except FaceNotFoundError as e:
            rows.append((f"identity {p.name}", "refused", str(e)))
            continue
        f0 = next(r.frames(Track.neutral(1, 25.0, head.name, head.expression_names)))
        H, W = f0.shape[:2]
        band = np.ones((H, W), bool)
        band[H // 10:-H // 10, W // 10:-W // 10] = False
        bg = int(np.abs(f0.astype(int) - r.photo)[band].max())
        rows.append((f"identity {p.name}: SSIM(frame 0, photo) / max background change",
                     f"{ssim(f0, r.photo):.3f} / {bg}", ">= 0.9 / 0"))


def table(rows) -> str:
    out = ["| measure | value | target / note |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="warp renderer benchmarks")
    ap.add_argument("--quick", action="store_true", help="speed and identity only")
    ap.add_argument("--speed", action="store_true", help="the speed tables only")
    ap.add_argument("--sizes", default=",".join(map(str, SPEED_SIZES)), help="speed table sizes (default %(default)s)")
    ap.add_argument("--no-command", action="store_true", help="leave out the whole-command column")
    args = ap.parse_args(argv)
    from emodiffhead.animate import animate
    from emodiffhead.head import load_head

    head = load_head("builtin")
    speed, stages = bench_speed(head, [], tuple(int(s) for s in args.sizes.split(",")), not args.no_command)
    print(speed_tables(speed, stages), flush=True)
    if args.speed:
        return 0
    if not VIDEO.is_file():
        print(f"needs {VIDEO}")
        return 1
    from emodiffhead.audio.io import load_audio

    rows: list[tuple[str, str, str]] = []
    track = animate(load_audio(VIDEO), head, seed=0)  # the CLI makes the same with --seed 0
    with tempfile.TemporaryDirectory() as tmp:
        rendered = bench_command(rows, Path(tmp))
        if not args.quick:
            bench_lipsync(rows, rendered, track, head)
            bench_reextract(head, rows, rendered, track)
            bench_emotion(head, rows, SHARED / "photos" / "einstein_1921.jpg")
    bench_identity(head, rows)
    print()
    print(table(rows))
    return 0


def _opening_of_track(track, head) -> np.ndarray:
    """(T,) lip gap of the head posed by the track, in metres (jaw joint and blendshapes together)."""
    out = head.forward(expression=track.expression, pose=track.pose).landmarks
    return (out[:, 13, 1] - out[:, 14, 1]).astype(np.float64)


if __name__ == "__main__":
    sys.exit(main())
