"""GPU check of the diffusion renderer: train the ``small`` config in bf16 on a real talking-head video, render
2 s with the result, and FAIL LOUDLY (exit status 1, a ``GPU CHECK FAILED`` message) if any of it ran on the
CPU instead of the GPU.

On a machine with one CUDA GPU (under 8 minutes: about 1 min preparing the 8 s clip on the CPU, training
capped at 4 min, the render well under a minute)::

    python benchmarks/gpu_check.py [--video ../shared/data/video/talking_head_real_a.mp4] [--steps 300]

On the CPU, in seconds (the ``tiny`` config, 2 steps of batch 2, a 12-frame clip, 3 rendered frames; the test
suite runs it, tests/diffusion/test_gpu_check.py)::

    python benchmarks/gpu_check.py --smoke

Stages: the clip (the first ``--frames`` frames and their audio; all of them without --smoke) ->
``emodiffhead.diffusion.prepare.prepare`` (face crops, track, audio windows, warp guidance) ->
``emodiffhead.diffusion.train.train`` (accelerate; the config's ``mixed_precision`` set to bf16) ->
``emodiffhead.render.pipeline.render_video(renderer="diffusion")`` of the last 2 s of the clip from its first
frame and its own extracted track. It prints a table: steps, steps/s, loss at start (mean of the first logged
interval) and end (last interval), peak GPU memory of training and of the render, render seconds, and what the
device watch saw.

What counts as a fallback (checked on every forward pass of the denoiser and its UNets, through a global module
forward hook, so a model or a batch left on the CPU in training or rendering is caught; the hook costs a few
microseconds per module call): ``torch.cuda.is_available()`` false or bf16 unsupported (checked before any
work); a denoiser parameter or input tensor that is not on the GPU;
a training forward pass of the UNet without bf16 autocast (output not bf16); accelerate reporting another
device or mixed precision; no training or no rendering forward pass seen at all. A non-finite loss fails too.
Outputs go to ``--workdir`` (default ``out/gpu_check``): dataset, weights, ``render.mp4``, ``gpu_check.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "video" / "talking_head_real_a.mp4"
#: The whole check should end within this on one GPU (a warning line when it does not).
BUDGET_S = 8 * 60
#: accelerate's name of each autocast dtype (None: no autocast).
ACCELERATE_PRECISION = {None: "no", "bfloat16": "bf16", "float16": "fp16"}
#: A file marking a folder as this script's work folder (anything else is never deleted).
MARKER = ".gpu_check"


class GpuCheckError(RuntimeError):
    """Something ran on the wrong device or in the wrong precision, or training diverged."""


@dataclass(frozen=True)
class Settings:
    """One run's sizes: ``frames`` None = the whole video; ``render_s`` seconds rendered at the clip's end."""

    config: str
    steps: int
    minutes: float
    batch_size: int | None
    frames: int | None
    render_s: float
    render_steps: int | None
    size: int
    log_every: int


GPU = Settings(config="small", steps=300, minutes=4.0, batch_size=None, frames=None, render_s=2.0,
               render_steps=None, size=512, log_every=10)
SMOKE = Settings(config="tiny", steps=2, minutes=2.0, batch_size=2, frames=12, render_s=0.12, render_steps=2,
                 size=128, log_every=1)


@dataclass(frozen=True)
class Expect:
    """Where the work must run: ``device`` ("cuda" or "cpu") and the training autocast dtype (None: no
    autocast, as on the CPU)."""

    device: str
    autocast_dtype: str | None


@dataclass(frozen=True)
class Observation:
    """What one kind of forward pass looked like. phase: "train" (module in training mode) or "eval";
    module: the class name; devices: device types of its parameters and tensor inputs (EmoDenoiser) or of its
    output (UNet); autocast: the autocast dtype active on ``device`` during the pass, or None;
    output_dtype: dtype of the UNet's output sample ("" for the EmoDenoiser)."""

    phase: str
    module: str
    devices: frozenset
    autocast: str | None
    output_dtype: str


@dataclass
class DeviceWatch:
    """A global forward hook on every ``nn.Module`` recording one :class:`Observation` per distinct kind of
    EmoDenoiser / UNet2DConditionModel forward pass (and how many passes of each phase it saw)."""

    device: str
    seen: set = field(default_factory=set)
    passes: dict = field(default_factory=lambda: {"train": 0, "eval": 0})

    def __enter__(self) -> "DeviceWatch":
        import torch
        from diffusers.models import UNet2DConditionModel

        from emodiffhead.diffusion.models import EmoDenoiser

        self._denoiser, self._unet = EmoDenoiser, UNet2DConditionModel
        self._handle = torch.nn.modules.module.register_module_forward_hook(self._hook, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()

    def _hook(self, module, args, kwargs, output) -> None:
        import torch

        if not isinstance(module, (self._denoiser, self._unet)):
            return
        phase = "train" if module.training else "eval"
        on = torch.is_autocast_enabled(self.device)
        autocast = str(torch.get_autocast_dtype(self.device)).replace("torch.", "") if on else None
        if isinstance(module, self._denoiser):
            self.passes[phase] += 1
            tensors = [t for t in (*args, *kwargs.values()) if torch.is_tensor(t)]
            devices = {p.device.type for p in module.parameters()} | {t.device.type for t in tensors}
            self.seen.add(Observation(phase, "EmoDenoiser", frozenset(devices), autocast, ""))
        else:
            sample = output[0] if isinstance(output, tuple) else output.sample
            self.seen.add(Observation(phase, "UNet2DConditionModel", frozenset({sample.device.type}), autocast,
                                      str(sample.dtype).replace("torch.", "")))


def check_observations(watch: DeviceWatch, expect: Expect, accelerate_line: str | None = None) -> None:
    """Raise :class:`GpuCheckError` listing every pass that ran off ``expect`` (and when nothing was seen)."""
    problems = []
    for phase in ("train", "eval"):
        if not watch.passes.get(phase):
            problems.append(f"no {phase} forward pass of the denoiser was observed (the check saw nothing)")
    for ob in sorted(watch.seen, key=repr):
        if ob.devices != {expect.device}:
            problems.append(f"{ob.phase} pass of {ob.module} ran on {sorted(ob.devices)}, expected only "
                            f"{expect.device!r}")
        if ob.phase == "train" and ob.module == "UNet2DConditionModel":
            if ob.autocast != expect.autocast_dtype:
                problems.append(f"training UNet pass under autocast {ob.autocast}, expected {expect.autocast_dtype}")
            if expect.autocast_dtype and ob.output_dtype != expect.autocast_dtype:
                problems.append(f"training UNet output is {ob.output_dtype}, expected {expect.autocast_dtype} "
                                "(autocast did not apply)")
    if accelerate_line is not None:
        want = f"on {expect.device}"
        mp = f"mixed precision {ACCELERATE_PRECISION[expect.autocast_dtype]}"
        if want not in accelerate_line or mp not in accelerate_line:
            problems.append(f"accelerate says {accelerate_line!r}: expected {want!r} and {mp!r}")
    if problems:
        raise GpuCheckError("; ".join(problems))


def require_cuda() -> str:
    """The GPU's name; GpuCheckError when torch sees no CUDA device or the GPU cannot do bf16."""
    import os

    import torch

    if not torch.cuda.is_available():
        raise GpuCheckError(f"torch.cuda.is_available() is False (torch {torch.__version__}, built for CUDA "
                            f"{torch.version.cuda}, CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})"
                            ": refusing to fall back to the CPU; use --smoke for the CPU check")
    if not torch.cuda.is_bf16_supported():
        raise GpuCheckError(f"{torch.cuda.get_device_name()} does not support bf16")
    return torch.cuda.get_device_name()


def fresh_workdir(path: Path) -> Path:
    """``path`` emptied: created, or cleared when an earlier check made it; another non-empty folder is refused."""
    if path.is_dir() and any(path.iterdir()):
        if not (path / MARKER).is_file():
            raise GpuCheckError(f"--workdir {path} is a non-empty folder this script did not make: give another")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("made by benchmarks/gpu_check.py; deleted by its next run\n", encoding="utf-8")
    return path


def make_clip(video: Path, out: Path, frames: int | None) -> Path:
    """``video`` itself (frames None) or a new mp4 of its first ``frames`` frames and their audio."""
    from emodiffhead.audio.io import AudioClip, load_audio
    from emodiffhead.video import read_video_frames, video_fps, write_mp4

    if not video.is_file():
        raise GpuCheckError(f"video not found: {video} (pass --video, e.g. ../shared/data/video/"
                            "talking_head_real_a.mp4)")
    if frames is None:
        return video
    fps = video_fps(video)
    images = list(read_video_frames(video, max_frames=frames))
    clip = load_audio(video)
    n = int(round(len(images) / fps * clip.sample_rate))
    return write_mp4(images, out, fps, audio=AudioClip.from_array(clip.samples[:n], clip.sample_rate))


def write_config(name: str, out: Path) -> Path:
    """A copy of config ``name`` with ``train.mixed_precision`` = bf16 (the shipped small config says fp16)."""
    from emodiffhead.diffusion.config import load_config

    cfg = load_config(name)
    cfg["train"]["mixed_precision"] = "bf16"
    out.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return out


def peak_gib(device: str) -> float | None:
    """Peak allocated GPU memory in GiB since the last reset (None on the CPU); resets the counter."""
    import torch

    if device != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated() / 2 ** 30
    torch.cuda.reset_peak_memory_stats()
    return round(peak, 2)


def run_training(dataset: Path, weights: Path, config: Path, s: Settings, device: str) -> tuple[dict, str]:
    """Train; returns (figures, accelerate's device line)."""
    from emodiffhead.diffusion.train import train

    lines: list[str] = []
    peak_gib(device)
    t0 = time.perf_counter()
    res = train(dataset, weights, config, steps=s.steps, minutes=s.minutes, batch_size=s.batch_size,
                validate_every=0, checkpoint_every=10 ** 9, log_every=s.log_every, log=lines.append)
    wall = time.perf_counter() - t0
    hist = [h for h in res.history if "loss" in h]
    if not hist or not all(math.isfinite(h["loss"]) for h in hist):
        raise GpuCheckError(f"training loss is not finite: {[h.get('loss') for h in hist]}")
    first, last = hist[0], hist[-1]
    steady = ((last["step"] - first["step"]) / (last["seconds"] - first["seconds"])
              if last["seconds"] > first["seconds"] else float("nan"))
    figures = {"steps": res.steps, "train_wall_s": round(wall, 1),
               "steps_per_s": round(last["step"] / max(last["seconds"], 1e-9), 2),
               "steps_per_s_after_first_log": round(steady, 2), "loss_start": round(first["loss"], 4),
               "loss_end": round(res.last_loss, 4), "train_peak_gib": peak_gib(device)}
    line = next((x for x in lines if x.startswith("training config")), "")
    return figures, line


def render_end(video: Path, dataset: Path, weights: Path, out: Path, s: Settings, device: str) -> dict:
    """Render the last ``s.render_s`` seconds of the clip with the trained weights, from its first frame and
    its extracted track (the product path: ``render_video`` with the "diffusion" renderer)."""
    from emodiffhead.audio.io import AudioClip, load_audio
    from emodiffhead.render.pipeline import render_video
    from emodiffhead.video import probe_mp4, read_video_frames
    from emodiffhead.track import load_track

    name = json.loads((dataset / "dataset.json").read_text())["videos"][0]["name"]
    track = load_track(dataset / "videos" / name / "track.npz")
    n = max(1, min(track.num_frames, int(round(s.render_s * track.fps))))
    start = track.num_frames - n
    photo = next(read_video_frames(video, max_frames=1))
    clip = load_audio(video)
    a0, a1 = (int(round(f / track.fps * clip.sample_rate)) for f in (start, start + n))
    options = {"weights": str(weights)} | ({"steps": s.render_steps} if s.render_steps else {})
    peak_gib(device)
    t0 = time.perf_counter()
    res = render_video(photo, AudioClip.from_array(clip.samples[a0:a1], clip.sample_rate), out,
                       track=track.slice(start, start + n), renderer="diffusion", renderer_options=options,
                       size=s.size, fps=track.fps)
    sec = time.perf_counter() - t0
    frames = probe_mp4(res.path)["num_frames"]
    if frames != n:
        raise GpuCheckError(f"the render wrote {frames} frames, expected {n}")
    return {"render_frames": n, "render_s": round(sec, 1), "render_frames_per_s": round(n / sec, 2),
            "render_peak_gib": peak_gib(device), "render_mp4": str(res.path)}


def print_table(rows: dict) -> None:
    """Two columns, one figure per line."""
    width = max(len(k) for k in rows)
    for k, v in rows.items():
        print(f"{k:<{width}}  {v}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="CPU smoke run: tiny config, 2 steps, 12 frames (seconds)")
    p.add_argument("--video", type=Path, default=VIDEO,
                   help="a talking-head video with audio (default: the shared one)")
    p.add_argument("--workdir", type=Path, default=REPO / "out" / "gpu_check", help="outputs (replaced)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 300; --smoke 2)")
    p.add_argument("--frames", type=int, default=None, help="use the first N frames of the video (default all; "
                                                             "--smoke 12)")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """The whole check; returns the figures. Raises GpuCheckError on any fallback."""
    import torch

    s = SMOKE if args.smoke else GPU
    s = replace(s, **{k: v for k, v in (("steps", args.steps), ("frames", args.frames)) if v})
    gpu_name = require_cuda() if not args.smoke else None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    expect = Expect(device, "bfloat16" if device == "cuda" else None)
    work = fresh_workdir(args.workdir)
    t0, c0 = time.perf_counter(), time.process_time()
    from emodiffhead.diffusion.prepare import prepare

    video = make_clip(args.video.resolve(), work / "clip.mp4", s.frames)
    prepare(video, work / "dataset", log=None)
    rows = {"mode": f"smoke ({device})" if args.smoke else "GPU", "device": gpu_name or device,
            "torch": torch.__version__, "config": f"{s.config} (mixed precision bf16 on a GPU)",
            "prepare_s": round(time.perf_counter() - t0, 1)}
    config = write_config(s.config, work / f"{s.config}_bf16.json")
    with DeviceWatch(device) as watch:
        figures, line = run_training(work / "dataset", work / "weights", config, s, device)
        rows |= figures
        rows |= render_end(video, work / "dataset", work / "weights", work / "render.mp4", s, device)
    check_observations(watch, expect, line)
    rows |= {"forward_passes": dict(watch.passes), "accelerate": line,
             "total_wall_s": round(time.perf_counter() - t0, 1),
             "total_cpu_s": round(time.process_time() - c0, 1)}
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        rows = run(args)
    except GpuCheckError as e:
        print(f"GPU CHECK FAILED: {e}", file=sys.stderr)
        return 1
    print_table(rows)
    (args.workdir / "gpu_check.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if not args.smoke and rows["total_wall_s"] > BUDGET_S:
        print(f"warning: the check took {rows['total_wall_s']} s, over its {BUDGET_S} s budget", file=sys.stderr)
    print("SMOKE CHECK PASSED (a GPU is checked without --smoke)" if args.smoke else "GPU CHECK PASSED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
