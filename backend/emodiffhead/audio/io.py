"""Decode any audio (wav, flac, mp3, m4a/aac, a video's audio track) to 16 kHz mono float32 with PyAV.

User problems raise :class:`~emodiffhead.errors.InputFileError` (missing / unreadable file) or
:class:`~emodiffhead.errors.AudioError` (not audio, zero length, all silence, too long).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AudioError, InputFileError

SAMPLE_RATE = 16000
#: Default longest accepted input, seconds (10 minutes).
MAX_DURATION_S = 600.0
#: Shortest speech file the CLI and the server take, seconds (a few frames of context for the animator).
MIN_DURATION_S = 0.75
#: A clip whose loudest 30 ms frame is below this RMS (dBFS) counts as all silence.
SILENCE_DBFS = -50.0


@dataclass(frozen=True)
class AudioClip:
    """Decoded audio.

    samples: (N,) float32 in [-1, 1], mono, at ``sample_rate`` (16 kHz).
    source: the file it came from ("" for in-memory audio).
    original_rate / original_channels: what the file held before resampling and down-mixing.
    """

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE
    source: str = ""
    original_rate: int = SAMPLE_RATE
    original_channels: int = 1

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    @classmethod
    def from_array(cls, samples: np.ndarray, sample_rate: int = SAMPLE_RATE, source: str = "") -> "AudioClip":
        """Wrap an array (N,) or (N, channels) at any rate; down-mixed (:func:`downmix`) and resampled to 16 kHz
        mono."""
        x = np.asarray(samples, np.float32)
        ch = 1 if x.ndim == 1 else x.shape[1]
        if x.ndim == 2:
            x = downmix(x.T)
        x = resample(x, int(sample_rate), SAMPLE_RATE)
        return cls(samples=x.astype(np.float32), source=source, original_rate=int(sample_rate), original_channels=ch)


#: A down-mix whose level (the channels' mean) is under this fraction of its loudest channel's has cancelled the
#: channels out. One channel silent gives exactly 0.5 (a mono microphone on one input: mixed as before), a
#: polarity-inverted pair about 0.
CANCELLED_MIX = 0.35


def downmix(channels: np.ndarray) -> np.ndarray:
    """(N,) float32 mono of decoded (C, N) ``channels``: their sum over sqrt(C) (the level FFmpeg's own stereo
    down-mix gives: the same samples as before this function), or the loudest channel where the channels cancel
    out (a stereo pair with one channel's polarity inverted, a wiring or recording fault: x and -x mixed to
    silence, and the clip was refused as "all silence")."""
    x = np.asarray(channels, np.float32)
    if x.ndim == 1 or len(x) == 1:
        return x.reshape(-1)
    c = np.float32(1.0 / np.sqrt(len(x)))
    mix = x[0] * c
    for ch in x[1:]:
        mix += ch * c  # channel by channel, as libswresample mixes: the same float32 samples
    rms = np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=1))
    mean_rms = float(np.sqrt(np.mean(np.square(mix, dtype=np.float64)))) / np.sqrt(len(x))
    if mean_rms < CANCELLED_MIX * float(rms.max()):
        return x[int(np.argmax(rms))].copy()
    return mix


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling of (N,) float32 from ``rate_in`` to ``rate_out`` Hz."""
    if rate_in == rate_out:
        return np.asarray(x, np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(rate_in), int(rate_out))
    return resample_poly(np.asarray(x, np.float64), rate_out // g, rate_in // g).astype(np.float32)


def check_wav_complete(path: Path) -> None:
    """Raise AudioError when a RIFF/WAVE file holds less sample data than its header declares (a cut-off
    download or copy). Other formats, and WAVs whose header leaves the size open (0 or 0xFFFFFFFF), pass."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return
            size = path.stat().st_size
            byte_rate = 0
            while True:
                ch = f.read(8)
                if len(ch) < 8:
                    return
                cid, clen = ch[:4], struct.unpack("<I", ch[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(clen + (clen & 1))
                    if len(fmt) >= 12:
                        byte_rate = struct.unpack("<I", fmt[8:12])[0]
                    continue
                if cid == b"data":
                    have = size - f.tell()
                    if clen in (0, 0xFFFFFFFF) or have >= clen or byte_rate <= 0:
                        return
                    raise AudioError(f"{path.name}: the file is cut short: its header declares "
                                     f"{clen / byte_rate:.2f} s of audio but only {have / byte_rate:.2f} s are "
                                     "there (an incomplete download or copy?)")
                f.seek(clen + (clen & 1), 1)
    except OSError:
        return


def load_audio(path: str | os.PathLike, *, max_duration_s: float = MAX_DURATION_S,
               require_sound: bool = True, min_duration_s: float = 0.0) -> AudioClip:
    """Decode the first audio stream of ``path`` to a 16 kHz mono :class:`AudioClip`.

    max_duration_s: longer inputs raise AudioError (the limit is named in the message).
    min_duration_s: shorter inputs raise AudioError (the CLI and the server pass MIN_DURATION_S).
    require_sound: raise AudioError when the clip is all silence (see :func:`check_speech_present`).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"audio file not found: {path}")
    if not path.is_file():
        raise InputFileError(f"audio path is not a file: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"{path.name}: the file is empty (zero length)")
    check_wav_complete(path)
    plain = _read_plain_wav(path, max_duration_s)
    if plain is not None:
        return _finish(path, plain, SAMPLE_RATE, 1, min_duration_s, require_sound)
    import av

    try:
        container = av.open(str(path))
    except (av.error.InvalidDataError, UnicodeDecodeError) as e:
        raise AudioError(f"{path.name}: not an audio file that can be decoded ({type(e).__name__})") from None
    except av.error.FFmpegError as e:
        raise AudioError(f"{path.name}: cannot be opened as audio ({e})") from None
    try:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise AudioError(f"{path.name}: contains no audio stream")
        stream = streams[0]
        orig_rate = int(stream.codec_context.sample_rate or 0)
        orig_ch = int(stream.codec_context.channels or 0)
        limit = max_duration_s
        if stream.duration is not None and stream.time_base is not None:
            dur = float(stream.duration * stream.time_base)
            if dur > limit + 1.0:
                raise AudioError(f"{path.name}: {dur:.1f} s is longer than the limit of {limit:g} s")
        # the channels are kept through the resampler and mixed here (:func:`downmix`: a polarity-inverted pair)
        layout = stream.layout.name if orig_ch in (1, 2) and stream.layout is not None else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        n = 0
        max_n = int(limit * SAMPLE_RATE) + 1
        try:
            for frame in container.decode(stream):
                orig_rate = orig_rate or int(frame.sample_rate)
                for out in resampler.resample(frame):
                    a = out.to_ndarray()
                    chunks.append(a)
                    n += a.shape[-1]
                if n > max_n:
                    raise AudioError(f"{path.name}: longer than the limit of {limit:g} s")
            for out in resampler.resample(None):
                a = out.to_ndarray()
                chunks.append(a)
                n += a.shape[-1]
        except av.error.FFmpegError as e:
            raise AudioError(f"{path.name}: the audio stream cannot be decoded ({e})") from None
    finally:
        container.close()
    if n > max_n:
        raise AudioError(f"{path.name}: longer than the limit of {limit:g} s")
    samples = downmix(np.concatenate(chunks, axis=-1)) if chunks else np.zeros(0, np.float32)
    return _finish(path, samples, orig_rate, orig_ch or 1, min_duration_s, require_sound)


def _read_plain_wav(path: Path, max_duration_s: float) -> np.ndarray | None:
    """(N,) float32 samples of a 16 kHz mono 16-bit PCM WAV, read with the standard library: the same values as
    the PyAV decode without importing PyAV (~0.1 s less per command). None for any other file, including WAVs
    whose header and data disagree (PyAV decodes those)."""
    import wave

    try:
        with wave.open(str(path), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) != (1, 2, SAMPLE_RATE, "NONE"):
                return None
            n = w.getnframes()
            data = w.readframes(n)
    except (wave.Error, EOFError, OSError):
        return None
    if len(data) != 2 * n:  # e.g. a streamed WAV whose header leaves the size open
        return None
    if n > int(max_duration_s * SAMPLE_RATE) + 1:
        raise AudioError(f"{path.name}: {n / SAMPLE_RATE:.1f} s is longer than the limit of {max_duration_s:g} s")
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768  # PyAV's s16 -> float conversion


def _finish(path: Path, samples: np.ndarray, orig_rate: int, orig_ch: int, min_duration_s: float,
            require_sound: bool) -> AudioClip:
    """The AudioClip of decoded 16 kHz ``samples`` after the length and silence checks."""
    if samples.size < SAMPLE_RATE // 100:
        raise AudioError(f"{path.name}: the audio has zero length")
    if samples.size < min_duration_s * SAMPLE_RATE:
        raise AudioError(f"{path.name}: {samples.size / SAMPLE_RATE:.2f} s of audio is too short; "
                         f"at least {min_duration_s:g} s is needed")
    clip = AudioClip(samples=np.clip(samples, -1.0, 1.0), source=str(path), original_rate=orig_rate,
                     original_channels=orig_ch)
    if require_sound:
        check_speech_present(clip)
    return clip


def frame_rms_db(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, win_s: float = 0.03) -> np.ndarray:
    """RMS level in dBFS of consecutive ``win_s`` windows: (N // win,) float32."""
    w = max(1, int(win_s * sample_rate))
    n = len(samples) // w
    if n == 0:  # shorter than one window: the level of the whole clip
        w, n = max(1, len(samples)), 1
    x = np.asarray(samples[: n * w], np.float64).reshape(n, w)
    rms = np.sqrt(np.mean(x * x, axis=1))
    return (20 * np.log10(np.maximum(rms, 1e-6))).astype(np.float32)


def check_speech_present(clip: AudioClip, threshold_dbfs: float = SILENCE_DBFS) -> None:
    """Raise AudioError when no 30 ms window of ``clip`` is louder than ``threshold_dbfs`` (all silence)."""
    peak = float(frame_rms_db(clip.samples, clip.sample_rate).max())
    if peak < threshold_dbfs:
        name = Path(clip.source).name if clip.source else "audio"
        raise AudioError(f"{name}: the audio is all silence (loudest part {peak:.0f} dBFS, "
                         f"below {threshold_dbfs:g} dBFS); nothing to animate")
