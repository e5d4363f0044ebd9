"""Helpers of the server tests: uvicorn in a thread on a free 127.0.0.1 port, driven over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from emodiffhead.server.app import ServerConfig, create_app
from emodiffhead.server.security import load_or_create_token

WAIT_S = 60.0  # upper bound of every polling loop


@dataclass
class Live:
    url: str
    token: str
    data_dir: Path
    server: object
    thread: threading.Thread

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.auth, timeout=60.0)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_live(data_dir: Path, **config) -> Live:
    """Serve ``create_app(ServerConfig(data_dir, ...))`` with uvicorn in a thread, with the connection limits of
    ``emodiffhead serve`` (:func:`emodiffhead.server.connections.uvicorn_config`); wait until it answers."""
    import uvicorn

    from emodiffhead.server.connections import uvicorn_config

    token = load_or_create_token(_ensure(data_dir))
    cfg = ServerConfig(data_dir=Path(data_dir), token=token, **config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY on accept
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        app = create_app(cfg)
    except BaseException:
        sock.close()
        raise
    app.state.instance.publish(url)
    server = uvicorn.Server(uvicorn_config(app, cfg, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    return Live(url, token, Path(data_dir), server, thread)


def _ensure(d: Path) -> Path:
    Path(d).mkdir(parents=True, exist_ok=True)
    return Path(d)


def make_job_fn(frames: int = 10, delay_s: float = 0.02):
    """A real job function: writes a small H.264 mp4 (``frames`` grey frames, 64 px) frame by frame,
    reporting progress and honouring cancel between frames, like the renderers do."""

    def job_fn(job, progress, cancel):
        import av

        from emodiffhead.progress import check_cancel

        out = job.dir / job.output_tmp
        with av.open(str(out), "w", format="mp4") as c:
            s = c.add_stream("libx264", rate=25)
            s.width = s.height = 64
            s.pix_fmt = "yuv420p"
            for i in range(frames):
                check_cancel(cancel)
                time.sleep(delay_s)
                img = np.full((64, 64, 3), 10 * i % 255, np.uint8)
                for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(pkt)
                progress((i + 1) / frames, f"frame {i + 1}/{frames}")
            for pkt in s.encode():
                c.mux(pkt)

    return job_fn


TEST_RENDERERS = lambda: {"warp": (True, ""), "diffusion": (False, "no weights installed")}  # noqa: E731


def wait_state(client: httpx.Client, job_id: str, states: tuple[str, ...], timeout: float = WAIT_S) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st = client.get(f"/jobs/{job_id}").json()
        if st["state"] in states:
            return st
        assert time.monotonic() < deadline, f"job stayed {st['state']}: {st}"
        time.sleep(0.02)


def wait_on_disk(data_dir: Path, job_id: str, state: str, timeout: float = WAIT_S) -> None:
    """Wait until the job's job.json says ``state`` (it is written just after the state shows over HTTP)."""
    deadline = time.monotonic() + timeout
    while json.loads((Path(data_dir) / "jobs" / job_id / "job.json").read_text())["state"] != state:
        assert time.monotonic() < deadline, f"job.json of {job_id} never said {state}"
        time.sleep(0.02)


def wait_progress(client: httpx.Client, job_id: str, above: float = 0.0, timeout: float = WAIT_S) -> dict:
    """Poll until the job's progress is above ``above``; returns its status."""
    deadline = time.monotonic() + timeout
    while (st := client.get(f"/jobs/{job_id}").json())["progress"] <= above:
        assert time.monotonic() < deadline, f"job progress stayed at {st['progress']}: {st}"
        time.sleep(0.02)
    return st


def neutral_track_json(num_frames: int, fps: float = 25.0) -> bytes:
    from emodiffhead.head import load_head
    from emodiffhead.track import Track

    names = list(load_head("builtin").expression_names)
    return json.dumps(Track.neutral(num_frames, fps, "builtin", names).to_dict()).encode()



def job_upload(job_files, **override):
    photo, audio, track = job_files
    files = {"photo": ("me.jpg", photo, "image/jpeg"), "audio": ("speech.wav", audio, "audio/wav"),
             "track": ("t.json", track, "application/json")}
    files.update(override)
    return {k: v for k, v in files.items() if v is not None}
