"""Benchmark of the job server: responsiveness while a render runs, time to first progress, overhead.

Prints a table:
- requests/s and latency (p50, p95) of ``GET /jobs/{id}`` with the server idle and while a job renders;
- time from ``POST /jobs`` (sent) to the 202 answer and to the first progress > 0 seen by a client;
- render wall time through the server (POST sent -> state done seen) vs ``render_video`` called directly
  in a fresh process with the same inputs (target: overhead < 10%);
- with ``--upload-mb 40,166``: ``GET /jobs/{id}`` latency while a track of that many MB is uploaded and
  judged (40 MB: about 120k frames, over the frame limit; 166 MB: over the track byte limit);
- with ``--load-jobs 20``: that many jobs queued at once while 8 threads poll their status until all are
  done: polls, latency, errors, and the server's resident memory before and after;
- with ``--cancels 5``: time from ``POST /jobs/{id}/cancel`` on a rendering job to the state ``cancelled``.

The server runs in its own process (as ``emodiffhead serve`` does); the client here. Jobs:
``--job real``: the render pipeline (warp renderer); ``--job gil``: a pure-Python job that holds the GIL
for ``--gil-ms`` per frame (worst case for the one-thread worker design).

    .venv/bin/python benchmarks/bench_server.py --job real --size 128
    .venv/bin/python benchmarks/bench_server.py --job gil
    .venv/bin/python benchmarks/bench_server.py --job real --repeats 1 --upload-mb 40,166 --load-jobs 20
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "backend" / "emodiffhead" / "assets" / "examples"


def gil_job_fn(frames: int, gil_ms: float):
    """A job that holds the GIL in pure Python for ``gil_ms`` per frame and writes a small file."""

    def job_fn(job, progress, cancel):
        from emodiffhead.progress import check_cancel

        for i in range(frames):
            check_cancel(cancel)
            t_end = time.perf_counter() + gil_ms / 1e3
            x = 0
            while time.perf_counter() < t_end:
                for k in range(1000):
                    x += k * k
            progress((i + 1) / frames, f"frame {i + 1}/{frames}")
        (job.dir / job.output_tmp).write_bytes(b"\0" * 1024)

    return job_fn


def _serve(data_dir: str, job: str, frames: int, gil_ms: float, switch_ms: float, port_q) -> None:
    import logging

    import uvicorn

    from emodiffhead.server.app import ServerConfig, create_app
    from emodiffhead.server.security import load_or_create_token

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("emodiffhead.server.jobs").setLevel(logging.INFO)
    kw = {}
    if job == "gil":
        kw = dict(job_fn=gil_job_fn(frames, gil_ms), renderers_fn=lambda: {"warp": (True, "")})
    config = ServerConfig(data_dir=Path(data_dir), token=load_or_create_token(Path(data_dir)),
                          switch_interval_s=switch_ms / 1e3, **kw)
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY on accept
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port_q.put(sock.getsockname()[1])
    try:  # the connection limits of emodiffhead serve
        from emodiffhead.server.connections import uvicorn_config

        uconfig = uvicorn_config(app, config, log_level="warning")
    except ImportError:  # a build from before they existed (for before/after comparisons)
        uconfig = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning")
    uvicorn.Server(uconfig).run(sockets=[sock])


def _direct_worker(photo: str, audio: str, out: str, size: int, cmd_q, res_q) -> None:
    """Calls render_video once per command in one process (first call cold, later ones warm); sends the times."""
    from emodiffhead.render.pipeline import render_video

    while cmd_q.get() is not None:
        t0, c0 = time.perf_counter(), time.process_time()
        r = render_video(photo, audio, out, renderer="warp", size=size, fps=25.0, seed=0)
        res_q.put((time.perf_counter() - t0, time.process_time() - c0))
        print("direct:", ", ".join(f"{k} {v:.2f} s" for k, v in r.timings.items()), file=sys.stderr)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all threads), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hammer(client, path: str, seconds: float, stop_when=None) -> list[float]:
    """GET ``path`` back to back for ``seconds``; returns per-request latencies (s)."""
    lat: list[float] = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        r = client.get(path)
        lat.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
        if stop_when is not None and stop_when(r.json()):
            break
    return lat


def track_json_bytes(frames: int, expression_names: list[str]) -> bytes:
    """A neutral track of ``frames`` frames as JSON text (built by repetition: fast for 10^6 frames)."""
    import json

    from emodiffhead.emotion import EMOTIONS

    E, C = len(expression_names), len(EMOTIONS)

    def rows(row: str) -> str:
        return "[" + ",".join([row] * frames) + "]"

    zeros = lambda n: "[" + ",".join(["0.0"] * n) + "]"  # noqa: E731
    head = {"format": "emodiffhead.track", "version": 1, "fps": 25.0, "num_frames": frames, "head_model": "builtin",
            "expression_names": expression_names, "emotion_names": list(EMOTIONS), "meta": {}}
    pose = "[" + ",".join([zeros(3)] * 5) + "]"
    parts = [json.dumps(head)[:-1], ', "expression": ', rows(zeros(E)), ', "pose": ', rows(pose),
             ', "translation": ', rows(zeros(3)), ', "emotion": ', rows(zeros(C)), "}"]
    return "".join(parts).encode()


def upload_stall(c, url: str, token: str, jid: str, files: dict, track: bytes) -> tuple[int, float, list[float]]:
    """POST /jobs with ``track`` while another connection polls GET /jobs/{jid}; returns (status of the POST,
    seconds to its answer, poll latencies during it)."""
    import threading

    import httpx

    done = threading.Event()
    lat: list[float] = []

    def poll() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as p:
            while not done.is_set():
                t0 = time.perf_counter()
                p.get(f"/jobs/{jid}")
                lat.append(time.perf_counter() - t0)
                time.sleep(0.01)

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    r = c.post("/jobs", files={**files, "track": ("t.json", track, "application/json")})
    took = time.perf_counter() - t0
    done.set()
    th.join()
    return r.status_code, took, lat


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_test(c, url: str, token: str, files, form: dict, jobs: int, threads: int = 8):
    """Queue ``jobs`` jobs, poll their status from ``threads`` threads until all finish; returns
    (poll latencies, errors, states)."""
    import random
    import threading

    import httpx

    ids = [c.post("/jobs", files=files(), data=form).json()["id"] for _ in range(jobs)]
    lat: list[float] = []
    errors = [0]
    done = threading.Event()

    def poll(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as p:
            while not done.is_set():
                t0 = time.perf_counter()
                try:
                    ok = p.get(f"/jobs/{rng.choice(ids)}").status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append(time.perf_counter() - t0)
                errors[0] += not ok

    ths = [threading.Thread(target=poll, args=(i,)) for i in range(threads)]
    for t in ths:
        t.start()
    while any(c.get(f"/jobs/{j}").json()["state"] in ("queued", "running") for j in ids):
        time.sleep(0.5)
    done.set()
    for t in ths:
        t.join()
    states = [c.get(f"/jobs/{j}").json()["state"] for j in ids]
    return lat, errors[0], states


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--job", choices=["real", "gil"], default="real")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=150, help="frames of the gil job")
    ap.add_argument("--gil-ms", type=float, default=40.0, help="GIL-holding time per frame of the gil job")
    ap.add_argument("--switch-ms", type=float, default=1.0,
                    help="sys.setswitchinterval of the server in ms (the server's default 1; CPython's 5)")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each request-rate window")
    ap.add_argument("--repeats", type=int, default=2, help="render runs for the overhead comparison")
    ap.add_argument("--upload-mb", default="", help="comma-separated track sizes (MB) for the upload-stall measure")
    ap.add_argument("--load-jobs", type=int, default=0, help="jobs queued at once for the load measure (0: skip)")
    ap.add_argument("--cancels", type=int, default=0, help="running jobs to cancel for the cancel measure (0: skip)")
    return ap.parse_args()


Rows = list[tuple[str, str]]


@dataclass
class Bench:
    """The server process under test, a client of it and the job form every measure submits."""

    proc: mp.process.BaseProcess
    url: str
    token: str
    client: Any  # httpx.Client with the token
    form: dict[str, str]
    photo: Path = EXAMPLES / "einstein_1921.jpg"
    audio: Path = EXAMPLES / "arctic_a0009.wav"

    @classmethod
    def start(cls, ctx, tmp: str, a: argparse.Namespace) -> "Bench":
        """Start the server in its own process and wait for GET /health."""
        import httpx

        port_q = ctx.Queue()
        # not daemonic: the server parses large tracks in child processes, as under emodiffhead serve
        proc = ctx.Process(target=_serve, args=(tmp, a.job, a.frames, a.gil_ms, a.switch_ms, port_q))
        proc.start()
        url = f"http://127.0.0.1:{port_q.get(timeout=120)}"
        token = (Path(tmp) / "token").read_text().strip()
        c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        deadline = time.time() + 120
        while True:
            try:
                if c.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline
            time.sleep(0.1)
        return cls(proc, url, token, c, {"renderer": "warp", "size": str(a.size), "fps": "25"})

    def files(self) -> dict:
        return {"photo": ("p.jpg", self.photo.read_bytes(), "image/jpeg"),
                "audio": ("a.wav", self.audio.read_bytes(), "audio/wav")}

    def submit(self) -> str:
        """POST /jobs; the new job's id."""
        return self.client.post("/jobs", files=self.files(), data=self.form).json()["id"]

    def run_job(self, hammer_s: float = 0.0):
        """POST a job; poll at 10 Hz like a client (or hammer for hammer_s); returns (POST s, first progress s,
        POST->done s, worker s, hammer latencies, server CPU s)."""
        c = self.client
        t0, c0 = time.perf_counter(), cpu_seconds(self.proc.pid)
        r = c.post("/jobs", files=self.files(), data=self.form)
        t_post = time.perf_counter() - t0
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        while c.get(f"/jobs/{jid}").json()["progress"] <= 0:
            time.sleep(0.002)
        t_first = time.perf_counter() - t0
        lat = hammer(c, f"/jobs/{jid}", hammer_s, stop_when=lambda s: s["state"] != "running") if hammer_s else []
        while (st := c.get(f"/jobs/{jid}").json())["state"] not in ("done", "failed", "cancelled"):
            time.sleep(0.1)
        assert st["state"] == "done", st
        return (t_post, t_first, time.perf_counter() - t0, st["finished"] - st["started"], lat,
                cpu_seconds(self.proc.pid) - c0)


def measure_idle(b: Bench, a: argparse.Namespace, rows: Rows) -> str:
    """A warm-up job (first imports, model loading) so later numbers are steady-state, then GET /jobs/{id}
    idle. Returns the warm-up job's id."""
    jid = b.submit()
    while b.client.get(f"/jobs/{jid}").json()["state"] not in ("done", "failed", "cancelled"):
        time.sleep(0.05)
    idle = hammer(b.client, f"/jobs/{jid}", a.seconds)
    rows.append(("GET /jobs/{id} idle: req/s", f"{len(idle) / sum(idle):.0f}"))
    rows.append(("  latency p50 / p95 (ms)", f"{pct(idle, .5) * 1e3:.1f} / {pct(idle, .95) * 1e3:.1f}"))
    return jid


def measure_uploads(b: Bench, a: argparse.Namespace, jid: str, rows: Rows) -> None:
    """--upload-mb: GET /jobs/{jid} latency while tracks of those sizes are uploaded and judged."""
    names = b.client.get("/health").json()["expression_names"]
    per_frame = len(track_json_bytes(100, names)) / 100
    for mb in (float(x) for x in a.upload_mb.split(",")):
        track = track_json_bytes(int(mb * 2**20 / per_frame), names)
        code, took, lat = upload_stall(b.client, b.url, b.token, jid, b.files(), track)
        rows.append((f"upload a {len(track) / 2**20:.0f} MB track: answer, s (status)", f"{took:.2f} ({code})"))
        rows.append(("  GET /jobs/{id} meanwhile: n, p50 / p95 / max (ms)",
                     f"{len(lat)}, {pct(lat, .5) * 1e3:.1f} / {pct(lat, .95) * 1e3:.1f} / {max(lat) * 1e3:.0f}"))


def measure_load(b: Bench, a: argparse.Namespace, rows: Rows) -> None:
    """--load-jobs: that many jobs queued at once while 8 threads poll."""
    rss0 = rss_mb(b.proc.pid)
    lat, errors, states = load_test(b.client, b.url, b.token, b.files, b.form, a.load_jobs)
    rows.append((f"load: {a.load_jobs} jobs queued, 8 threads polling: polls, errors",
                 f"{len(lat)}, {errors} ({states.count('done')} done)"))
    rows.append(("  latency p50 / p95 / max (ms)",
                 f"{pct(lat, .5) * 1e3:.1f} / {pct(lat, .95) * 1e3:.1f} / {max(lat) * 1e3:.0f}"))
    rows.append(("  server RSS before / after (MB)", f"{rss0:.0f} / {rss_mb(b.proc.pid):.0f}"))


def measure_cancels(b: Bench, a: argparse.Namespace, rows: Rows) -> None:
    """--cancels: POST /jobs/{id}/cancel on a rendering job -> state cancelled."""
    c, waits = b.client, []
    for _ in range(a.cancels):
        jid_c = b.submit()
        while c.get(f"/jobs/{jid_c}").json()["progress"] < 0.35:  # rendering frames
            time.sleep(0.005)
        t0 = time.perf_counter()
        c.post(f"/jobs/{jid_c}/cancel")
        while (st := c.get(f"/jobs/{jid_c}").json())["state"] == "running":
            time.sleep(0.002)
        waits.append(time.perf_counter() - t0)
        assert st["state"] == "cancelled", st
    rows.append((f"cancel a rendering job -> cancelled (ms, median / max of {a.cancels})",
                 f"{statistics.median(waits) * 1e3:.0f} / {max(waits) * 1e3:.0f}"))


def measure_renders(b: Bench, a: argparse.Namespace, ctx, tmp: str, rows: Rows) -> None:
    """GET /jobs/{id} while rendering, then --repeats renders through the server, each paired (--job real)
    with render_video called directly in its own process (first call cold); stops the server."""
    busy = b.run_job(a.seconds)[4]
    rows.append(("GET /jobs/{id} while rendering: req/s", f"{len(busy) / sum(busy):.0f}"))
    rows.append(("  latency p50 / p95 / max (ms)",
                 f"{pct(busy, .5) * 1e3:.1f} / {pct(busy, .95) * 1e3:.1f} / {max(busy) * 1e3:.1f}"))
    direct, cold = [], None
    if a.job == "real":  # a direct caller in its own process, interleaved with the server jobs
        cmd_q, res_q = ctx.Queue(), ctx.Queue()
        dproc = ctx.Process(target=_direct_worker, args=(str(b.photo), str(b.audio), str(Path(tmp) / "d.mp4"),
                                                        a.size, cmd_q, res_q), daemon=True)
        dproc.start()
        cmd_q.put(1)
        cold = res_q.get(timeout=900)[0]
    runs = []
    for rep in range(a.repeats):
        runs.append(b.run_job())
        if a.job == "real":
            cmd_q.put(1)
            direct.append(res_q.get(timeout=900))
    rows.append(("POST /jobs -> 202 (s, validation incl.)", f"{statistics.median(r[0] for r in runs):.3f}"))
    rows.append(("POST /jobs -> first progress seen (s)", f"{statistics.median(r[1] for r in runs):.3f}"))
    total = statistics.median(r[2] for r in runs)
    rows.append(("render via server, client POST->done (s)", f"{total:.2f}"))
    rows.append(("  of which in the worker (started->finished)", f"{statistics.median(r[3] for r in runs):.2f}"))
    rows.append(("server process CPU per job (s, all threads)", f"{statistics.median(r[5] for r in runs):.2f}"))
    b.client.close()
    b.proc.terminate()
    b.proc.join(10)
    if a.job == "real":
        cmd_q.put(None)
        dproc.join(30)
        overhead_rows(runs, direct, cold, total, rows)


def overhead_rows(runs: list, direct: list[tuple[float, float]], cold: float, total: float, rows: Rows) -> None:
    """The server's overhead over render_video called directly (wall and CPU time)."""
    warm = statistics.median(d[0] for d in direct)
    ratios = [r[2] / d[0] for r, d in zip(runs, direct)]
    cpu_direct = statistics.median(d[1] for d in direct)
    cpu_server = statistics.median(r[5] for r in runs)
    rows.append(("render_video direct, cold first call (s)", f"{cold:.2f}"))
    rows.append(("render_video direct, warm (s)", f"{warm:.2f}"))
    rows.append(("render_video direct, CPU (s, all threads)", f"{cpu_direct:.2f}"))
    rows.append(("server overhead, wall: median of pair ratios",
                 f"{(statistics.median(ratios) - 1) * 100:+.1f}% (pairs {min(ratios):.2f}..{max(ratios):.2f})"))
    rows.append(("server overhead, wall: median vs median", f"{(total / warm - 1) * 100:+.1f}%"))
    rows.append(("server overhead, CPU time", f"{(cpu_server / cpu_direct - 1) * 100:+.1f}%"))
    rows.append(("server overhead vs cold call (as the CLI)", f"{(total / cold - 1) * 100:+.1f}%"))


def print_table(a: argparse.Namespace, rows: Rows) -> None:
    w = max(len(k) for k, _ in rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nbench_server (--job {a.job}, size {a.size}, switch interval {a.switch_ms:g} ms, 3.1 s clip at "
          f"25 fps; {mp.cpu_count()} CPU cores, load average {load:.1f})")
    print(f"{'measure':<{w}} | value")
    print(f"{'-' * w}-|------")
    for k, v in rows:
        print(f"{k:<{w}} | {v}")


def main() -> int:
    a = parse_args()
    ctx = mp.get_context("spawn")
    rows: Rows = []
    with tempfile.TemporaryDirectory() as tmp:
        b = Bench.start(ctx, tmp, a)
        jid = measure_idle(b, a, rows)
        if a.upload_mb:
            measure_uploads(b, a, jid, rows)
        if a.load_jobs:
            measure_load(b, a, rows)
        if a.cancels:
            measure_cancels(b, a, rows)
        measure_renders(b, a, ctx, tmp, rows)
    print_table(a, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
