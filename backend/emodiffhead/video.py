"""Video files with PyAV, below every package that reads or writes them (face extraction and training read
videos; the renderers write them).

mp4 out: H.264 video + AAC audio (source rate and channels), faststart, encoded on a second thread,
written to a temp file and renamed when complete. In: :func:`read_video_frames`, :func:`video_fps`, and
:func:`probe_mp4` / :func:`mp4_boxes` to inspect what was written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import InputFileError
from .fileio import atomic_path
from .progress import CancelFn, ProgressFn, check_cancel, report

#: x264 settings: real time at 1080p on two cores (with the encoder on its own thread), visually lossless-ish.
X264_OPTIONS = {"preset": "veryfast", "crf": "20"}
#: mp4 muxer flags: "faststart" moves the index (moov) before the media data, so the clip streams and
#: previews in browsers and editors before it is fully downloaded.
MP4_OPTIONS = {"movflags": "+faststart"}
#: Sample rates AAC (MPEG-4 audio) can carry; other rates are resampled to the next higher one.
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
#: AAC-LC bitrate per channel (bits/s): 96 kb/s mono, 192 kb/s stereo.
AAC_BITRATE_PER_CHANNEL = 96_000
#: Sources with more channels are mixed down to stereo.
MAX_AUDIO_CHANNELS = 2
#: Rendered frames waiting for the encoder thread (bounds memory: 6 x 1080p YUV = 14 MB).
ENCODE_QUEUE = 6
AUDIO_RATE_DEFAULT = 16000


@dataclass(frozen=True)
class AudioPlan:
    """What goes into the mp4's audio stream.

    source: the file decoded at its own rate (None: ``samples`` are used); samples: (N,) float32 mono at
    ``source_rate`` when there is no file; rate: AAC sample rate (Hz); channels: 1 or 2; bit_rate: bits/s.
    source_rate / source_channels: what the input holds.
    """

    source: Path | None
    samples: np.ndarray | None
    rate: int
    channels: int
    bit_rate: int
    source_rate: int
    source_channels: int

    def describe(self) -> str:
        """One line for the user, e.g. "AAC 48 kHz stereo 192 kb/s (source: 48 kHz stereo)"."""
        def fmt(rate, ch):
            return f"{rate / 1000:g} kHz {'mono' if ch == 1 else 'stereo' if ch == 2 else f'{ch} channels'}"
        return f"AAC {fmt(self.rate, self.channels)} {self.bit_rate // 1000} kb/s (source: " \
               f"{fmt(self.source_rate, self.source_channels)})"


def aac_rate(rate: int) -> int:
    """The AAC sample rate for a source at ``rate`` Hz: the same when AAC allows it, else the next higher
    allowed one (the highest, 96 kHz, for anything above)."""
    for r in AAC_RATES:
        if r >= rate:
            return r
    return AAC_RATES[-1]


def plan_audio(audio) -> AudioPlan | None:
    """The mp4 audio for ``audio``: a path, an ``AudioClip``, an AudioPlan (returned as is) or None.

    A path, or an AudioClip that was loaded from a file that still exists, is decoded again at the file's
    own sample rate and channels (the clip itself is the 16 kHz mono analysis copy); an in-memory clip
    gives its own samples.
    """
    if audio is None or isinstance(audio, AudioPlan):
        return audio
    if isinstance(audio, (str, os.PathLike)):
        path = Path(audio)
        if not path.is_file():
            raise InputFileError(f"audio file not found: {path}")
        rate, channels = _probe_audio(path)
        return _plan(path, None, rate, channels)
    source = getattr(audio, "source", "") or ""
    if source and Path(source).is_file():
        rate = int(getattr(audio, "original_rate", 0) or 0)
        channels = int(getattr(audio, "original_channels", 0) or 0)
        if not (rate and channels):
            rate, channels = _probe_audio(Path(source))
        return _plan(Path(source), None, rate, channels)
    samples = np.asarray(audio.samples, np.float32).reshape(-1)
    if not samples.size:
        return None
    return _plan(None, samples, int(audio.sample_rate), 1)


def _plan(source: Path | None, samples: np.ndarray | None, rate: int, channels: int) -> AudioPlan:
    ch = max(1, min(int(channels), MAX_AUDIO_CHANNELS))
    return AudioPlan(source=source, samples=samples, rate=aac_rate(int(rate)), channels=ch,
                     bit_rate=AAC_BITRATE_PER_CHANNEL * ch, source_rate=int(rate), source_channels=int(channels))


def _probe_audio(path: Path) -> tuple[int, int]:
    """(sample rate, channels) of the first audio stream of ``path``."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise InputFileError(f"{path.name}: contains no audio stream")
            cc = c.streams.audio[0].codec_context
            return int(cc.sample_rate or AUDIO_RATE_DEFAULT), int(cc.channels or 1)
    except av.error.FFmpegError as e:
        raise InputFileError(f"{path.name}: cannot be read as audio ({type(e).__name__})") from None


def _audio_frames(plan: AudioPlan) -> Iterator:
    """``av.AudioFrame`` s (fltp, the plan's rate and layout) with pts in samples, from 0."""
    import av

    layout = "mono" if plan.channels == 1 else "stereo"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=plan.rate)
    n = 0

    def stamp(frames):
        nonlocal n
        for fr in frames:
            fr.pts = n
            fr.time_base = Fraction(1, plan.rate)
            n += fr.samples
            yield fr

    if plan.source is None:
        x = np.clip(plan.samples, -1.0, 1.0).astype(np.float32)
        for start in range(0, len(x), 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[None, start:start + 1024]), format="flt",
                                            layout="mono")
            af.sample_rate = plan.source_rate
            yield from stamp(resampler.resample(af))
    else:
        with av.open(str(plan.source)) as c:
            for fr in c.decode(c.streams.audio[0]):
                fr.pts = None
                yield from stamp(resampler.resample(fr))
    yield from stamp(resampler.resample(None))


def rgb_to_yuv420(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3 H / 2, W) uint8 planar YUV 4:2:0 (BT.601, video range, as x264 expects)."""
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)


class _Muxer:
    """Encodes YUV frames and the audio into an open mp4 container, audio interleaved with the video."""

    def __init__(self, container, rate: Fraction, size: tuple[int, int], audio: AudioPlan | None) -> None:
        H, W = size
        self.container, self.rate = container, rate
        self.vs = container.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
        self.vs.width, self.vs.height, self.vs.pix_fmt = W, H, "yuv420p"
        self.vs.codec_context.thread_count = 2
        self.astream = None
        self.audio_frames = None
        self.audio_t = 0.0
        if audio is not None:
            self.astream = container.add_stream("aac", rate=audio.rate, layout="mono" if audio.channels == 1 else "stereo")
            self.astream.bit_rate = audio.bit_rate
            self.audio_frames = _audio_frames(audio)
            self.audio_rate = audio.rate

    def video(self, yuv: np.ndarray, n: int) -> None:
        import av

        vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        vf.pts = n
        for p in self.vs.encode(vf):
            self.container.mux(p)
        self.audio_until((n + 1) / self.rate)

    def audio_until(self, t: float) -> None:
        """Encode audio up to time ``t`` seconds (all of it for inf)."""
        while self.audio_frames is not None and self.audio_t < t:
            fr = next(self.audio_frames, None)
            if fr is None:
                for p in self.astream.encode(None):
                    self.container.mux(p)
                self.audio_frames = None
                return
            for p in self.astream.encode(fr):
                self.container.mux(p)
            self.audio_t = (fr.pts + fr.samples) / self.audio_rate

    def finish(self) -> None:
        """Flush the video encoder, then the rest of the audio."""
        for p in self.vs.encode():
            self.container.mux(p)
        self.audio_until(float("inf"))

    def close(self) -> None:
        """Release the audio source (its file is open while the audio is encoded)."""
        if self.audio_frames is not None:
            self.audio_frames.close()
            self.audio_frames = None


class _EncodeThread:
    """Runs a :class:`_Muxer` on its own thread, fed through a bounded queue: the encoder (x264 and
    the AAC encoder release the GIL) works while the next frame renders."""

    _DONE, _ABORT = object(), object()

    def __init__(self, muxer: _Muxer) -> None:
        import queue
        import threading

        self.muxer = muxer
        self.queue: "queue.Queue" = queue.Queue(maxsize=ENCODE_QUEUE)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="emodiffhead-encode", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.muxer.close()

    def _loop(self) -> None:
        n = 0
        try:
            while True:
                item = self.queue.get()
                if item is self._ABORT:
                    return
                if item is self._DONE:
                    self.muxer.finish()
                    return
                self.muxer.video(item, n)
                n += 1
        except BaseException as e:  # handed to the producer
            self.error = e
            while True:  # drain so that a blocked put() returns
                item = self.queue.get()
                if item is self._DONE or item is self._ABORT:
                    return

    def put(self, yuv: np.ndarray) -> None:
        """Queue one frame; raises the encoder's error if it failed."""
        import queue

        while True:
            self._check()
            try:
                self.queue.put(yuv, timeout=0.2)
                return
            except queue.Full:
                continue

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Flush the encoders and wait; raises the encoder's error if it failed."""
        self.queue.put(self._DONE)
        self.thread.join()
        self._check()

    def abort(self) -> None:
        """Stop without flushing (the file is discarded)."""
        self.queue.put(self._ABORT)
        self.thread.join()


def write_mp4(
    frames: Iterable[np.ndarray],
    out_path: str | os.PathLike,
    fps: float,
    audio=None,
    num_frames: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Path:
    """Encode frames (each (H, W, 3) uint8 RGB, H and W even) and optional audio to a web-ready mp4.

    H.264 (x264 ``X264_OPTIONS``, yuv420p) on a second thread while the next frame renders; AAC audio at the
    source's own sample rate and channels (see :func:`plan_audio`), interleaved with the video; the index
    (moov) before the media data (faststart). audio: an ``AudioClip``, a path, or None; it is muxed from
    time 0, so frame i shows time i / fps. num_frames: expected count, for progress only (frames beyond it
    are still written). The file appears at ``out_path`` only when complete (temp file + rename); on an
    error or cancel nothing is left behind. Returns the path.
    """
    import av

    out_path = Path(out_path)
    aud = plan_audio(audio)
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(out_path, suffix=".part.mp4") as tmp:
        with av.open(str(tmp), mode="w", format="mp4", options=dict(MP4_OPTIONS)) as container:
            worker = None
            n = 0
            try:
                for frame in frames:
                    check_cancel(cancel)
                    frame = np.ascontiguousarray(frame)
                    if worker is None:
                        H, W = frame.shape[:2]
                        if H % 2 or W % 2:
                            raise ValueError(f"frame size must be even for H.264 yuv420p, got {W}x{H}")
                        worker = _EncodeThread(_Muxer(container, rate, (H, W), aud))
                    elif frame.shape[:2] != (H, W):
                        raise ValueError(f"frame {n} is {frame.shape[1]}x{frame.shape[0]}, the video is {W}x{H}")
                    worker.put(rgb_to_yuv420(frame))
                    n += 1
                    if num_frames:
                        report(progress, n / num_frames, f"encoding frame {n}/{num_frames}")
                if worker is None:
                    raise ValueError("no frames to write")
                w, worker = worker, None
                w.finish()
            finally:
                if worker is not None:
                    worker.abort()
        check_cancel(cancel)
    return out_path


def probe_mp4(path: str | os.PathLike) -> dict:
    """Facts about an mp4 by decoding it: ``num_frames``, ``fps``, ``width``, ``height``,
    ``video_duration_s``, ``audio_duration_s`` (0 when no audio), ``video_codec``, ``audio_codec``,
    ``audio_rate`` (Hz), ``audio_channels``, ``audio_bit_rate`` (bits/s; 0 when unknown)."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v))
        fps = float(v.average_rate) if v.average_rate else 0.0
        info = {"num_frames": n, "fps": fps, "width": v.codec_context.width, "height": v.codec_context.height,
                "video_duration_s": n / fps if fps else 0.0, "video_codec": v.codec_context.name,
                "audio_duration_s": 0.0, "audio_codec": None, "audio_rate": 0, "audio_channels": 0,
                "audio_bit_rate": 0}
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            total = sum(fr.samples for fr in c.decode(a))
            cc = a.codec_context
            info.update(audio_duration_s=total / cc.sample_rate, audio_codec=cc.name, audio_rate=int(cc.sample_rate),
                        audio_channels=int(cc.channels), audio_bit_rate=int(a.bit_rate or cc.bit_rate or 0))
    return info


def mp4_boxes(path: str | os.PathLike) -> list[tuple[str, int, int]]:
    """The top-level boxes of an mp4 file in file order: (type, offset, size) with sizes in bytes.
    A web-ready (faststart) file has ``moov`` before ``mdat``."""
    import struct

    out = []
    with open(path, "rb") as f:
        f.seek(0, 2)
        end = f.tell()
        pos = 0
        while pos + 8 <= end:
            f.seek(pos)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
            elif size == 0:
                size = end - pos
            if size < 8:
                break
            out.append((kind.decode("latin-1"), pos, size))
            pos += size
    return out


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
