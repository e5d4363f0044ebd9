"""Speech -> timed phones with pocketsphinx 5 (en-US model shipped in the wheel).

Two paths:

- :func:`recognize_phones`: phoneme recognition (``allphone`` mode with the phonetic language model);
  needs no transcript. Settings in ``ALLPHONE_PRESETS`` (measured in docs/animator.md). Long inputs are cut at
  pauses and shared with forked worker processes (:class:`PhoneRecognition`; the same phones for any count).
- :func:`align_transcript`: forced alignment of a known transcript (``set_align_text`` then
  ``set_alignment``); much more accurate. Words missing from the CMU dictionary are dropped (and listed).
- :func:`recognize_words`: word recognition with the shipped en-US language model; its hypothesis can be
  force-aligned like a transcript (the animator's "words" speech mode). 3-10x slower than allphone and no
  better for lip sync as measured (docs/animator.md), so opt-in.

Phone labels are lower-case ARPAbet without stress digits (``"aa"``, ``"p"``, ``"sil"``).
"""

from __future__ import annotations

import os
import pickle
import re
import select
import signal
import struct
import sys
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import AudioError
from .io import SAMPLE_RATE, AudioClip
from .reduced_model import DEFAULT_GAUSSIANS

#: pocketsphinx frames are 10 ms.
FRAME_S = 0.01
#: Labels pocketsphinx emits for non-speech; mapped to "sil".
_NOISE = {"sil", "+spn+", "+nsn+", "+noise+", "+breath+", "+cough+", "+laugh+", "+um+", "+uh+", "<s>", "</s>", "<sil>"}

#: TIMIT/ARCTIC labels -> CMU ARPAbet.
_ALIASES = {"ax": "ah", "axr": "er", "ix": "ih", "pau": "sil", "h#": "sil", "dx": "d", "nx": "n", "el": "l",
            "em": "m", "en": "n", "ssil": "sil"}


@dataclass(frozen=True)
class Phone:
    """One phone: ARPAbet ``label`` (lower case, no stress) from ``start_s`` to ``end_s`` seconds."""

    label: str
    start_s: float
    end_s: float
    score: float = 0.0

    @property
    def centre_s(self) -> float:
        return 0.5 * (self.start_s + self.end_s)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class PhoneResult:
    """Phones of a clip plus how they were obtained.

    method: "allphone" or "alignment"; dropped_words: transcript words not in the dictionary;
    mean_score: mean acoustic log-score per 10 ms frame of speech phones (higher = better match).
    alternatives: the phones of an ensemble's other decodes (``ENSEMBLE_PRESETS``), each of the clip's duration.
    """

    phones: list[Phone]
    method: str
    dropped_words: list[str] = field(default_factory=list)
    mean_score: float = 0.0
    alternatives: list[list[Phone]] = field(default_factory=list)


def normalize_label(label: str) -> str:
    """``"AH1"`` / ``"and(2)"``-style / noise labels -> ``"ah"`` / ``"sil"``."""
    s = re.sub(r"\(\d+\)$", "", label.strip()).lower()
    s = re.sub(r"\d+$", "", s)
    s = _ALIASES.get(s, s)
    return "sil" if s in _NOISE or s.startswith("+") else s


def model_dir() -> Path:
    """Folder of pocketsphinx's shipped en-US model."""
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


def _pcm16(clip: AudioClip) -> bytes:
    if clip.sample_rate != SAMPLE_RATE:
        raise ValueError("phone recognition needs 16 kHz audio")
    x = np.asarray(clip.samples, np.float32)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if 0 < peak < 0.3:  # normalise quiet recordings (pocketsphinx uses CMN, but int16 precision matters)
        x = x * (0.5 / peak)
    return (np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes()


#: pocketsphinx allphone settings (measured in docs/animator.md, 60 s of the shared clips):
#:
#: - "accurate" (default): beam 1e-12, phone beam 1e-8, and the shipped acoustic model reduced to the 96 of 128
#:   Gaussians per codebook with the most mixture weight (:mod:`.reduced_model`, derived on first use): 20 % less
#:   decoding CPU; ARCTIC boundaries, lip sync in the real video and bilabials as with all 128.
#: - "full": the same beams with the shipped 128-Gaussian model (the default before), for reference. Agrees with a
#:   very wide-beam decode on 96 % of 40 ms viseme frames and gives the same ARCTIC boundaries as "wide".
#:   Beams near 1e-8 make the search die on some clips (29 % agreement on radio_address_a), so no narrower.
#: - "wide": the earlier default (beam 1e-20, phone beam 1e-10, the shipped model), for reference.
#: - "fast": "full" with acoustic scores on every 2nd frame (ds=2): ~1.3x faster, ~80 % agreement (with the
#:   reduced model too it agreed less: 75 % of visemes, 68 % of closures vs the wide-beam decode; not kept).
#: - "accurate-topn4", "accurate-lw1.5": "accurate" with the 4 best Gaussians per codebook scored (+15 % CPU) or a
#:   lighter phone LM (lw 1.5): alone no better in noise than "accurate" beyond a decode's own chaos; the other
#:   members of the "robust" ensemble (``ENSEMBLE_PRESETS``).
#: Most of the time is the acoustic model's Gaussian scoring (PTM, all 42 phones active every frame);
#: the features, the phone LM (a bigram saved < 15 %) and the search are small.
#: ``gaussians`` is not a pocketsphinx argument: the Gaussians kept per codebook and stream (absent: all).
#: ``lw``: the phone language-model weight (2.0 where absent). Feature options (cmn, varnorm, agc, remove_noise,
#: lowerf/upperf) cannot be set here: pocketsphinx takes them from the model's feat.params, over any argument.
ALLPHONE_PRESETS: dict[str, dict] = {
    "accurate": dict(beam=1e-12, pbeam=1e-8, topn=2, gaussians=DEFAULT_GAUSSIANS),
    "full": dict(beam=1e-12, pbeam=1e-8, topn=2),
    "wide": dict(beam=1e-20, pbeam=1e-10, topn=2),
    "fast": dict(beam=1e-12, pbeam=1e-8, topn=2, ds=2),
    "accurate-topn4": dict(beam=1e-12, pbeam=1e-8, topn=4, gaussians=DEFAULT_GAUSSIANS),
    "accurate-lw1.5": dict(beam=1e-12, pbeam=1e-8, topn=2, gaussians=DEFAULT_GAUSSIANS, lw=1.5),
}

#: Ensembles: the clip decoded with each member preset (the first one's phones are :attr:`PhoneResult.phones`,
#: the others' :attr:`PhoneResult.alternatives`); the animator averages the mouth motion of all of them, so a
#: phone the decodes disagree on weighs by how many heard it. A single allphone decode is chaotic in noise and
#: rooms (any setting moves a noisy clip's lip sync by +-0.05); averaging three is steadier there and no worse
#: clean, at 3.2x the recognition CPU (docs/animator.md, *Noisy recordings*). Opt-in (``--robust``).
ENSEMBLE_PRESETS: dict[str, tuple[str, ...]] = {
    "robust": ("accurate", "accurate-topn4", "accurate-lw1.5"),
}


def preset_members(preset: str) -> tuple[str, ...]:
    """The ``ALLPHONE_PRESETS`` keys ``preset`` decodes with: its ensemble's members, else itself."""
    _check_preset(preset)
    return ENSEMBLE_PRESETS.get(preset, (preset,))


def _check_preset(preset: str) -> None:
    """ValueError unless ``preset`` is a key of ``ALLPHONE_PRESETS`` or ``ENSEMBLE_PRESETS``."""
    if preset not in ALLPHONE_PRESETS and preset not in ENSEMBLE_PRESETS:
        raise ValueError(f"allphone preset must be one of {sorted(ALLPHONE_PRESETS) + sorted(ENSEMBLE_PRESETS)}")


def _allphone_config(preset: str) -> dict:
    """pocketsphinx Decoder arguments of an allphone preset."""
    if preset not in ALLPHONE_PRESETS:
        raise ValueError(f"not a single-decode allphone preset: {preset!r}")
    m = model_dir()
    args = dict(ALLPHONE_PRESETS[preset])
    gaussians = args.pop("gaussians", None)
    lw = args.pop("lw", 2.0)
    if gaussians is not None:  # means, variances and mixture weights of the reduced copy; the rest as shipped
        from .reduced_model import reduced_model_files

        args.update(reduced_model_files(m / "en-us", gaussians))
    # dict: an empty pronunciation dictionary. The phone loop does not use one, and pocketsphinx would otherwise
    # load its 135k-word default (0.08 of the 0.09 s it takes to create the decoder); the segments (phones,
    # frames, scores) are identical (tests/audio/test_phonemes.py).
    return dict(hmm=str(m / "en-us"), allphone=str(m / "en-us-phone.lm.bin"), dict=os.devnull, lw=lw, pip=0.3,
                cmn="batch", samprate=SAMPLE_RATE, logfn=os.devnull, **args)


@lru_cache(maxsize=4)
def _allphone_decoder(preset: str = "accurate"):
    """One Decoder per preset and process (~0.01 s to create; reinit_feat resets it per utterance)."""
    import pocketsphinx as ps

    return ps.Decoder(**_allphone_config(preset))


def split_points(samples: np.ndarray, max_len_s: float = 20.0, sample_rate: int = SAMPLE_RATE) -> list[int]:
    """Sample indices that cut ``samples`` into pieces of at most ``max_len_s``, at the quietest 100 ms
    in the last third of each piece (pauses), so utterances are decoded whole."""
    n = len(samples)
    step = int(max_len_s * sample_rate)
    cuts = [0]
    hop = sample_rate // 100
    while n - cuts[-1] > step:
        lo, hi = cuts[-1] + 2 * step // 3, cuts[-1] + step
        seg = np.asarray(samples[lo:hi], np.float64)
        m = len(seg) // hop
        e = (seg[: m * hop].reshape(m, hop) ** 2).mean(1)
        e = np.convolve(e, np.ones(10) / 10, mode="same")
        cuts.append(lo + int(np.argmin(e)) * hop)
    cuts.append(n)
    return cuts


@lru_cache(maxsize=2)
def _align_decoder(wide: bool):
    import pocketsphinx as ps

    m = model_dir()
    beams = dict(beam=1e-80, wbeam=1e-60, pbeam=1e-80) if wide else {}
    return ps.Decoder(hmm=str(m / "en-us"), dict=str(m / "cmudict-en-us.dict"), samprate=SAMPLE_RATE,
                      logfn=os.devnull, **beams)


def _merge(phones: list[Phone], duration_s: float) -> list[Phone]:
    """Merge adjacent silences, close gaps, clip to the clip's duration."""
    out: list[Phone] = []
    for p in phones:
        s, e = max(0.0, p.start_s), min(duration_s, p.end_s)
        if out:
            s = out[-1].end_s  # contiguous
        if e <= s:
            continue
        if out and p.label == "sil" and out[-1].label == "sil":
            out[-1] = Phone("sil", out[-1].start_s, e, out[-1].score)
        else:
            out.append(Phone(p.label, s, e, p.score))
    if out and out[-1].end_s < duration_s:
        last = out[-1]
        out[-1] = Phone(last.label, last.start_s, duration_s, last.score)
    if not out:
        out = [Phone("sil", 0.0, duration_s)]
    return out


def _mean_score(phones: list[Phone]) -> float:
    speech = [p for p in phones if p.label != "sil"]
    frames = sum(p.duration_s for p in speech) / FRAME_S
    return float(sum(p.score for p in speech) / frames) if frames > 0 else 0.0


def _decode_utterance(pcm: bytes, preset: str, offset_s: float) -> list[Phone]:
    """Allphone-decode one utterance of 16 kHz int16 ``pcm`` (feature state reset first); times + offset_s."""
    d = _allphone_decoder(preset)
    d.reinit_feat()  # resets CMN and noise estimates: the same audio always gives the same phones
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()
    return [Phone(normalize_label(s.word), offset_s + s.start_frame * FRAME_S, offset_s + (s.end_frame + 1) * FRAME_S,
                  float(s.ascore)) for s in (d.seg() or [])]  # None for utterances too short to decode


#: Utterances are cut at pauses into pieces of at most this many seconds, whatever the number of processes:
#: short enough to share a long input between processes, long enough that inputs of <= 10 s stay one utterance.
#: (Each utterance gets its own cepstral mean, so the cut points change 10-20 % of the 10 ms phone labels of long
#: inputs; 20 s pieces agree no better with each piece decoded alone: docs/animator.md.)
MAX_UTTERANCE_S = 10.0
#: The "auto" worker count decodes inputs shorter than this in one process.
PARALLEL_MIN_S = 12.0
#: The "auto" worker count uses at most this many processes.
MAX_AUTO_WORKERS = 4


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_workers(duration_s: float) -> int:
    """Default processes for the phone recognition of ``duration_s`` seconds of audio: the usable cores (at most
    ``MAX_AUTO_WORKERS``) for inputs of at least ``PARALLEL_MIN_S``, else 1."""
    return max(1, min(MAX_AUTO_WORKERS, usable_cores())) if duration_s >= PARALLEL_MIN_S else 1


def fork_is_safe() -> bool:
    """Whether worker processes may be forked from this one: the platform has fork (not macOS, whose system
    libraries are not fork-safe) and no other Python thread runs (the job server runs jobs in threads)."""
    return hasattr(os, "fork") and sys.platform != "darwin" and threading.active_count() == 1


_U32 = struct.Struct("<I")


def _forked_child(tasks: int, out: int, jobs: list[tuple[bytes, str, float]]) -> None:
    """Worker process: take utterance indices from the ``tasks`` pipe until it is empty and send (index, phones)
    of each to ``out``; never returns (os._exit: the parent's atexit handlers and buffers stay the parent's)."""
    code = 0
    try:
        while len(b := os.read(tasks, _U32.size)) == _U32.size:
            i = _U32.unpack(b)[0]
            msg = pickle.dumps((i, _decode_utterance(*jobs[i])))
            view = memoryview(_U32.pack(len(msg)) + msg)
            while view:
                view = view[os.write(out, view):]
    except BaseException:  # noqa: BLE001 - the parent decodes what a failed worker did not send
        code = 1
    os._exit(code)


class _Worker:
    """The parent's end of one forked worker: its pid and the pipe its results arrive on."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd, self.buf, self.open = pid, fd, bytearray(), True
        os.set_blocking(fd, False)

    def drain(self, results: dict[int, list[Phone]]) -> None:
        """Read what has arrived (without blocking) and store every complete (index, phones) message."""
        while self.open:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not data:
                self.open = False
            self.buf += data
        while len(self.buf) >= _U32.size and len(self.buf) >= _U32.size + (n := _U32.unpack_from(self.buf)[0]):
            i, phones = pickle.loads(bytes(self.buf[_U32.size: _U32.size + n]))
            results[i] = phones
            del self.buf[: _U32.size + n]

    def close(self, kill: bool) -> None:
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


class PhoneRecognition:
    """Allphone recognition of one clip, started on construction: with ``workers`` > 1 and where
    :func:`fork_is_safe`, forked worker processes (which inherit the loaded decoder) start decoding at once, so
    the caller can do other work before :meth:`result`, where this process joins in. Utterances are cut at
    pauses (<= ``max_chunk_s``, independent of the worker count) and shared longest first through a pipe; the
    phones are the same for any worker count. Use as a context manager (or call :meth:`close`) so the workers
    are stopped if :meth:`result` is never called.

    preset: a key of ``ALLPHONE_PRESETS`` or ``ENSEMBLE_PRESETS`` (every member decodes every utterance).
    workers: processes in all (None: :func:`auto_workers`).
    """

    def __init__(self, clip: AudioClip, preset: str = "accurate", workers: int | None = 1,
                 max_chunk_s: float = MAX_UTTERANCE_S) -> None:
        _check_preset(preset)
        self.duration_s = clip.duration_s
        self._members = preset_members(preset)
        pcm = _pcm16(clip)
        cuts = split_points(clip.samples, max_len_s=max_chunk_s)
        self._utterances = len(cuts) - 1
        self._jobs = [(pcm[2 * a: 2 * b], member, a / SAMPLE_RATE) for member in self._members
                      for a, b in zip(cuts, cuts[1:])]
        self._sizes = [b - a for _ in self._members for a, b in zip(cuts, cuts[1:])]
        self._results: dict[int, list[Phone]] = {}
        self._kids: list[_Worker] = []
        self._tasks = -1
        n = min(auto_workers(clip.duration_s) if workers is None else workers, len(self._jobs))
        self.workers = n if n > 1 and fork_is_safe() else 1
        if self.workers > 1:
            self._start()

    def _start(self) -> None:
        for member in self._members:  # loaded once, before forking: the workers inherit them
            _allphone_decoder(member)
        order = sorted(range(len(self._jobs)), key=lambda i: -self._sizes[i])
        self._tasks, feed = os.pipe()
        try:
            os.write(feed, b"".join(_U32.pack(i) for i in order))  # < 64 KiB (a pipe's buffer): < 16k utterances
        finally:
            os.close(feed)
        for _ in range(self.workers - 1):
            try:
                r, w = os.pipe()
            except OSError:  # out of file descriptors: fewer workers
                break
            try:
                pid = os.fork()
            except OSError:  # out of processes or memory: fewer workers
                os.close(r)
                os.close(w)
                break
            if pid == 0:  # pragma: no cover - the worker (coverage does not follow it)
                os.close(r)
                _forked_child(self._tasks, w, self._jobs)
            os.close(w)
            self._kids.append(_Worker(pid, r))
        self.workers = 1 + len(self._kids)

    def _next(self) -> int | None:
        """The next utterance to decode here, or None when every one has been taken."""
        if self._tasks < 0:
            return next((i for i in range(len(self._jobs)) if i not in self._results), None)
        b = os.read(self._tasks, _U32.size)
        return _U32.unpack(b)[0] if len(b) == _U32.size else None

    def result(self, progress=None, cancel=None) -> PhoneResult:
        """Decode (with the workers) and return the phones. progress/cancel: see :mod:`emodiffhead.progress`."""
        from ..progress import check_cancel, report

        total = max(1, sum(self._sizes))

        def step() -> None:
            check_cancel(cancel)
            for k in self._kids:
                k.drain(self._results)
            report(progress, sum(self._sizes[i] for i in self._results) / total, "recognising phones")

        try:
            while (i := self._next()) is not None:
                step()
                self._results[i] = _decode_utterance(*self._jobs[i])
            step()
            while any(k.open for k in self._kids):
                select.select([k.fd for k in self._kids if k.open], [], [], 0.1)
                step()
            self.close()
            for i in range(len(self._jobs)):  # what a worker that died (killed, out of memory) left undone
                if i not in self._results:
                    check_cancel(cancel)
                    self._results[i] = _decode_utterance(*self._jobs[i])
        finally:
            self.close()
        n = self._utterances
        decodes = [_merge([p for i in range(k * n, (k + 1) * n) for p in self._results[i]], self.duration_s)
                   for k in range(len(self._members))]
        return PhoneResult(phones=decodes[0], method="allphone", mean_score=_mean_score(decodes[0]),
                           alternatives=decodes[1:])

    def close(self) -> None:
        """Stop and reap the workers (those still running are killed); idempotent."""
        kids, self._kids = getattr(self, "_kids", []), []
        for k in kids:
            k.close(kill=k.open)
        if getattr(self, "_tasks", -1) >= 0:
            os.close(self._tasks)
            self._tasks = -1  # result() now decodes whatever is missing here

    def __enter__(self) -> "PhoneRecognition":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def recognize_phones(clip: AudioClip, progress=None, cancel=None, preset: str = "accurate",
                     workers: int | None = 1, max_chunk_s: float = MAX_UTTERANCE_S) -> PhoneResult:
    """Phoneme recognition without a transcript (pocketsphinx allphone mode), in utterances of <= max_chunk_s
    cut at pauses.

    progress(fraction, message) / cancel() -> bool: see :mod:`emodiffhead.progress`.
    preset: a key of ``ALLPHONE_PRESETS`` or ``ENSEMBLE_PRESETS``.
    workers: processes sharing the utterances (None: :func:`auto_workers`); the same phones for any count.
    See :class:`PhoneRecognition` (which also lets other work overlap the decoding).
    """
    with PhoneRecognition(clip, preset, workers, max_chunk_s) as rec:
        return rec.result(progress, cancel)


@lru_cache(maxsize=1)
def _word_decoder():
    import pocketsphinx as ps

    m = model_dir()
    return ps.Decoder(hmm=str(m / "en-us"), lm=str(m / "en-us.lm.bin"), dict=str(m / "cmudict-en-us.dict"),
                      samprate=SAMPLE_RATE, logfn=os.devnull)


def recognize_words(clip: AudioClip, progress=None, cancel=None, max_chunk_s: float = 20.0) -> str:
    """The words pocketsphinx hears in ``clip`` (en-US language model), utterances cut at pauses; "" if none."""
    from ..progress import check_cancel, report

    pcm = _pcm16(clip)
    cuts = split_points(clip.samples, max_len_s=max_chunk_s)
    d = _word_decoder()
    words: list[str] = []
    for a, b in zip(cuts, cuts[1:]):
        check_cancel(cancel)
        d.start_utt()
        d.process_raw(pcm[2 * a: 2 * b], full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        if hyp is not None and hyp.hypstr:
            words += hyp.hypstr.split()
        report(progress, b / max(1, cuts[-1]), "recognising words")
    return " ".join(words)


def transcript_words(text: str) -> list[str]:
    """Lower-case words of a transcript, punctuation removed (apostrophes kept)."""
    text = text.lower().replace("\u2019", "'")
    return [w.strip("'") for w in re.findall(r"[a-z0-9']+", text) if w.strip("'")]


def align_transcript(clip: AudioClip, text: str) -> PhoneResult:
    """Force-align ``text`` to ``clip``; raises AudioError if nothing of the text can be aligned."""
    words = transcript_words(text)
    if not words:
        raise AudioError("the transcript has no words to align")
    d = _align_decoder(True)
    known = [w for w in words if d.lookup_word(w) is not None]
    dropped = [w for w in words if d.lookup_word(w) is None]
    if not known:
        raise AudioError(f"no transcript word is in the pronunciation dictionary (e.g. {words[0]!r})")
    pcm = _pcm16(clip)
    phones: list[Phone] = []
    for wide in (True, False):
        d = _align_decoder(wide)
        try:
            d.set_align_text(" ".join(known))
            d.reinit_feat()
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            d.set_alignment()
            d.reinit_feat()
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            al = d.get_alignment()
        except (RuntimeError, ValueError):
            al = None
        if al is None:
            continue
        phones = []
        for w in al:
            for p in w:
                phones.append(Phone(normalize_label(p.name), p.start * FRAME_S, (p.start + p.duration) * FRAME_S,
                                    float(p.score)))
        if any(p.label != "sil" for p in phones):
            break
    if not any(p.label != "sil" for p in phones):
        raise AudioError("the transcript could not be aligned with the audio")
    phones = _merge(phones, clip.duration_s)
    return PhoneResult(phones=phones, method="alignment", dropped_words=dropped, mean_score=_mean_score(phones))


def read_lab(path: str | os.PathLike) -> list[Phone]:
    """Read an HTS/ARCTIC ``*_phone.lab`` (start end label, 100 ns units; phone between '-' and '+')."""
    phones = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        lab = parts[2]
        m = re.search(r"-([^+]+)\+", lab)
        name = m.group(1) if m else lab
        phones.append(Phone(normalize_label("sil" if name in ("pau", "h#") else name),
                            int(parts[0]) * 1e-7, int(parts[1]) * 1e-7))
    return phones


def boundary_errors(pred: list[Phone], truth: list[Phone]) -> np.ndarray:
    """Per true internal boundary, the distance (s) to the nearest predicted boundary: (B,) float64."""
    tb = np.array([p.start_s for p in truth[1:]], np.float64)
    pb = np.array([p.start_s for p in pred[1:]] or [0.0], np.float64)
    return np.abs(tb[:, None] - pb[None, :]).min(axis=1)


def aligned_boundary_errors(pred: list[Phone], truth: list[Phone]) -> np.ndarray:
    """Boundary error of phones matched in sequence order (same label sequence up to silences): (B,) s.

    Uses an edit-distance alignment of the label sequences and compares the start time of every
    matched phone pair; for forced alignment, where the sequence is known.
    """
    a = [p for p in pred if p.label != "sil"]
    b = [p for p in truth if p.label != "sil"]
    n, m = len(a), len(b)
    D = np.zeros((n + 1, m + 1))
    D[:, 0] = np.arange(n + 1)
    D[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            D[i, j] = min(D[i - 1, j] + 1, D[i, j - 1] + 1, D[i - 1, j - 1] + (a[i - 1].label != b[j - 1].label))
    i, j, errs = n, m, []
    while i > 0 and j > 0:
        if D[i, j] == D[i - 1, j - 1] + (a[i - 1].label != b[j - 1].label):
            if a[i - 1].label == b[j - 1].label:
                errs.append(abs(a[i - 1].start_s - b[j - 1].start_s))
                errs.append(abs(a[i - 1].end_s - b[j - 1].end_s))
            i, j = i - 1, j - 1
        elif D[i, j] == D[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return np.array(errs[::-1], np.float64)
