"""Benchmark: keying and exporting a long track in Blender (bpy 5.0.1, built-in head, no backend).

    .venv/bin/python benchmarks/bench_addon.py [SECONDS ...]
    .venv/bin/python benchmarks/bench_addon.py --preview [SIZE ...]

``--preview``: the Preview frame round trip against a real server (``POST /preview`` with the example photo
and a one-frame track, as the add-on sends it): the first call per photo and size (face detection + fit,
cached by the server) and the median of 10 further frames, wall and server-process CPU seconds.

Prints a table: clip length, frames, time to key the track (52 shape-key curves + 8 emotion curves +
18 bone curves), time to export the evaluated track by evaluating the F-curves (the default fast path) and
by ``frame_set`` per frame (the exact fallback), the largest difference between the two exports, and the
largest export error against the source track.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

def bench_preview(sizes: list[int]) -> None:
    """Print the preview round-trip table (see the module docstring)."""
    import statistics

    import httpx
    import psutil

    from emodiffhead.animate import animate
    from emodiffhead.audio.io import load_audio
    from emodiffhead.head import load_head
    from emodiffhead.server.testing import start_server, stop_server
    from emodiffhead.track import save_track

    assets = REPO / "backend/emodiffhead/assets/examples"
    tmp = Path(tempfile.mkdtemp(prefix="emodiffhead-bench-preview-"))
    track = animate(load_audio(assets / "arctic_a0009.wav"), load_head("builtin"), fps=25.0)
    url, token, proc = start_server(tmp / "server")
    cpu = psutil.Process(proc.pid)
    h = {"Authorization": f"Bearer {token}"}
    photo = (assets / "einstein_1921.jpg").read_bytes()
    print(f"{'size':>5} {'first s':>8} {'first cpu':>10} {'warm s (median of 10)':>22} {'warm cpu':>9}")
    try:
        for size in sizes:
            walls, cpus = [], []
            for k in range(11):
                one = save_track(track.slice(5 * k, 5 * k + 1), tmp / "frame.json").read_bytes()
                c0, t0 = sum(cpu.cpu_times()[:2]), time.perf_counter()
                r = httpx.post(url + "/preview", headers=h, timeout=60, data={"size": str(size)},
                               files={"photo": ("p.jpg", photo, "image/jpeg"), "track": ("t.json", one, "application/json")})
                walls.append(time.perf_counter() - t0)
                cpus.append(sum(cpu.cpu_times()[:2]) - c0)
                assert r.status_code == 200, r.text
            print(f"{size:5d} {walls[0]:8.2f} {cpus[0]:10.2f} {statistics.median(walls[1:]):22.3f} "
                  f"{statistics.median(cpus[1:]):9.3f}")
    finally:
        stop_server(proc)


if len(sys.argv) >= 2 and sys.argv[1] == "--preview":
    bench_preview([int(a) for a in sys.argv[2:]] or [256, 512])
    sys.exit(0)

if len(sys.argv) < 2 or sys.argv[1] != "--inside":
    import numpy as np

    from emodiffhead.commands.build_addon import build_addon
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.head import load_head
    from emodiffhead.gltf import export_glb
    from emodiffhead.track import Track, save_track

    tmp = Path(tempfile.mkdtemp(prefix="emodiffhead-bench-"))
    head = load_head("builtin")
    export_glb(head, tmp / "head.glb")
    zip_path = build_addon(tmp / "addon.zip", REPO)
    rng = np.random.default_rng(0)
    print(f"{'clip s':>7} {'frames':>7} {'key s':>7} {'export s':>9} {'frame_set s':>12} {'fast-exact':>11} {'max err':>9}")
    for seconds in [float(a) for a in sys.argv[1:]] or [3.0, 30.0]:
        T = int(seconds * 25)
        t = Track.neutral(T, 25.0, "builtin", head.expression_names)
        t.expression_base = np.clip(rng.normal(0, 0.2, (T, 52)), 0, 1).astype(np.float32)
        t.emotion_basis = rng.normal(0, 0.3, (len(EMOTIONS), 52)).astype(np.float32)
        t.emotion[:, 1] = np.linspace(0, 1, T)
        t.expression = t.expression_base + t.emotion @ t.emotion_basis
        t.pose[:, 2, 0] = np.abs(rng.normal(0, 0.1, T))
        src = save_track(t, tmp / f"t{T}.json")
        env = {"BLENDER_USER_RESOURCES": str(tmp / "user"), "TMPDIR": str(tmp)}
        import os

        out = subprocess.run([sys.executable, __file__, "--inside", str(zip_path), str(tmp / "head.glb"), str(src),
                              str(tmp / f"o{T}.json")], capture_output=True, text=True, env={**os.environ, **env})
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")]
        if not line:
            print(out.stdout[-2000:], out.stderr[-2000:])
            sys.exit(1)
        key_s, export_s, exact_s, diff = map(float, line[-1].split()[1:5])
        from emodiffhead.track import load_track

        err = float(np.abs(load_track(tmp / f"o{T}.json").expression - t.expression).max())
        print(f"{seconds:7.1f} {T:7d} {key_s:7.2f} {export_s:9.2f} {exact_s:12.2f} {diff:11.1e} {err:9.2e}")
    sys.exit(0)

# ---- inside bpy ------------------------------------------------------------------------------------
import bpy  # noqa: E402


def _flat(row):
    """A frame's values as a flat list (pose rows are lists of 3-vectors)."""
    return [x for v in row for x in (v if isinstance(v, list) else [v])]


zip_path, glb, src, dst = sys.argv[2:6]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
mod = "bl_ext.user_default.emodiffhead"
head = importlib.import_module(mod + ".scene.head")
keyframes = importlib.import_module(mod + ".scene.keyframes")
export = importlib.import_module(mod + ".scene.export")
track_io = importlib.import_module(mod + ".track_io")
bpy.context.scene.render.fps = 25
mesh, arm = head.import_glb(bpy.context, glb)
track = track_io.read_track(src)
t0 = time.perf_counter()
keyframes.apply_track(bpy.context, mesh, track, 1)
t1 = time.perf_counter()
fast = export.evaluate_track(bpy.context, mesh, sampling="fcurves")
t2 = time.perf_counter()
exact = export.evaluate_track(bpy.context, mesh, sampling="frame_set")
t3 = time.perf_counter()
track_io.write_track(fast, dst)
diff = max(abs(a - b) for k in ("expression", "emotion", "pose", "translation")
           for ra, rb in zip(getattr(fast, k), getattr(exact, k)) for a, b in zip(_flat(ra), _flat(rb)))
print(f"BENCH {t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f} {diff:.3e}")
