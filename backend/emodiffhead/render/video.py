"""mp4 out: H.264 video + AAC audio with PyAV, written to a temp file and renamed when complete."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import InputFileError
from ..fileio import atomic_path
from ..progress import CancelFn, ProgressFn, check_cancel, report

#: x264 settings: fast enough for real time at 512 px on two cores, visually lossless-ish.
X264_OPTIONS = {"preset": "veryfast", "crf": "20"}
AUDIO_RATE_DEFAULT = 16000


def _audio_samples(audio) -> tuple[np.ndarray, int] | None:
    """(N,) float32 mono samples and their rate from an AudioClip-like object or a path; None for None."""
    if audio is None:
        return None
    if isinstance(audio, (str, os.PathLike)):
        try:
            from ..audio.io import load_audio
        except ImportError:  # pragma: no cover - the audio package is part of the product
            load_audio = None
        if load_audio is not None:
            audio = load_audio(audio)
        else:
            return _decode_audio_pyav(Path(audio))
    samples = np.asarray(audio.samples, np.float32).reshape(-1)
    return samples, int(audio.sample_rate)


def _decode_audio_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av

    if not path.is_file():
        raise InputFileError(f"audio file not found: {path}")
    with av.open(str(path)) as c:
        st = c.streams.audio[0]
        rs = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE_DEFAULT)
        chunks = []
        for fr in c.decode(st):
            for o in rs.resample(fr):
                chunks.append(o.to_ndarray().reshape(-1))
        for o in rs.resample(None):
            chunks.append(o.to_ndarray().reshape(-1))
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), AUDIO_RATE_DEFAULT


def write_mp4(
    frames: Iterable[np.ndarray],
    out_path: str | os.PathLike,
    fps: float,
    audio=None,
    num_frames: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Path:
    """Encode frames (each (H, W, 3) uint8 RGB, H and W even) and optional audio to an mp4.

    audio: an ``AudioClip`` (``samples`` (N,) float32, ``sample_rate``), a path, or None. It is muxed from
    time 0, so frame i shows time i / fps. num_frames: expected count, for progress only (frames beyond it
    are still written). The file appears at ``out_path`` only when complete (temp file + rename);
    on an error or cancel nothing is left behind. Returns the path.
    """
    import av

    out_path = Path(out_path)
    aud = _audio_samples(audio)
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(out_path, suffix=".part.mp4") as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            vs = None
            n = 0
            for frame in frames:
                check_cancel(cancel)
                frame = np.ascontiguousarray(frame)
                if vs is None:
                    H, W = frame.shape[:2]
                    if H % 2 or W % 2:
                        raise ValueError(f"frame size must be even for H.264 yuv420p, got {W}x{H}")
                    vs = container.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
                    vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
                    vs.codec_context.thread_count = 2
                    as_ = None
                    if aud is not None and aud[0].size:
                        as_ = container.add_stream("aac", rate=aud[1], layout="mono")
                vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
                vf.pts = n
                for p in vs.encode(vf):
                    container.mux(p)
                n += 1
                if num_frames:
                    report(progress, n / num_frames, f"encoding frame {n}/{num_frames}")
            if vs is None:
                raise ValueError("no frames to write")
            for p in vs.encode():
                container.mux(p)
            if as_ is not None:
                _mux_audio(container, as_, aud[0], aud[1])
        check_cancel(cancel)
    return out_path


def _mux_audio(container, stream, samples: np.ndarray, rate: int) -> None:
    """Encode (N,) float32 mono samples into ``stream`` (AAC) in 1024-sample frames."""
    import av

    x = np.clip(samples, -1.0, 1.0).astype(np.float32)
    step = 1024
    for start in range(0, len(x), step):
        chunk = x[start:start + step]
        af = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
        af.sample_rate = rate
        af.pts = start
        af.time_base = Fraction(1, rate)
        for p in stream.encode(af):
            container.mux(p)
    for p in stream.encode(None):
        container.mux(p)


def probe_mp4(path: str | os.PathLike) -> dict:
    """Facts about an mp4 by decoding it: ``num_frames``, ``fps``, ``width``, ``height``,
    ``video_duration_s``, ``audio_duration_s`` (0 when no audio), ``video_codec``, ``audio_codec``."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v))
        fps = float(v.average_rate) if v.average_rate else 0.0
        info = {"num_frames": n, "fps": fps, "width": v.codec_context.width, "height": v.codec_context.height,
                "video_duration_s": n / fps if fps else 0.0, "video_codec": v.codec_context.name,
                "audio_duration_s": 0.0, "audio_codec": None}
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            total = sum(fr.samples for fr in c.decode(a))
            info["audio_duration_s"] = total / a.codec_context.sample_rate
            info["audio_codec"] = a.codec_context.name
    return info


def _open_video(path: Path):
    """Open ``path`` with PyAV; InputFileError when it is missing, not a file, unreadable or has no video."""
    import av

    if not path.exists():
        raise InputFileError(f"video not found: {path}")
    if not path.is_file():
        raise InputFileError(f"video path is not a file: {path}")
    try:
        c = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise InputFileError(f"{path.name}: not a video PyAV can read ({type(e).__name__})") from None
    if not c.streams.video:
        c.close()
        raise InputFileError(f"{path.name}: has no video stream")
    return c


def read_video_frames(path: str | os.PathLike, max_frames: int | None = None):
    """Yield (H, W, 3) uint8 RGB frames of a video file; the stream's fps is ``video_fps(path)``."""
    with _open_video(Path(path)) as c:
        for i, fr in enumerate(c.decode(c.streams.video[0])):
            if max_frames is not None and i >= max_frames:
                break
            yield fr.to_ndarray(format="rgb24")


def video_fps(path: str | os.PathLike) -> float:
    """Average frame rate of a video file's first video stream (25.0 when unknown).

    Raises InputFileError when the file is missing, unreadable or has no video stream."""
    with _open_video(Path(path)) as c:
        r = c.streams.video[0].average_rate
        return float(r) if r else 25.0
