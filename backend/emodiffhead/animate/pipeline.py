"""The animator: audio (+ transcript, + emotion timeline) -> :class:`~emodiffhead.track.Track`.

Stages: decode -> prosody -> phones (alignment with a transcript, else allphone recognition, else the
acoustic fallback) -> coarticulated mouth -> idle motion -> emotion intensities -> composition (rules in
compose.py) -> retarget to the head model -> Track.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..audio import phonemes as ph
from ..audio.io import MIN_DURATION_S, AudioClip, check_speech_present, load_audio
from ..audio.prosody import Prosody, analyze, close_gaps, sustained_pitch_ratio
from ..emotion import EMOTIONS
from ..errors import AudioError
from ..facs import JAW_OPEN
from ..head.model import HeadModel, Joint
from ..progress import CancelFn, ProgressFn, check_cancel, report, scaled
from ..track import DEFAULT_FPS, MAX_FPS, Track, fps_in_range
from .acoustic import acoustic_mouth
from .breath import add_breaths, breath_intakes, breath_opening
from .coarticulation import PAUSE_S, MouthMotion, coarticulate
from .prominence import phone_prominence
from .emotion_timeline import EmotionTimeline
from .emotion_vectors import emotion_above_arkit, emotion_basis_arkit
from .compose import compose
from .idle import idle_motion
from .retarget import build_retarget
from .visemes import VOWELS

GENERATOR = "emodiffhead.animate"
SPEECH_MODES = ("auto", "allphone", "alignment", "words", "acoustic")
#: A clip whose voiced time is at least this share held notes is treated as singing (acoustic path).
HELD_NOTE_LIMIT = 0.12
#: Fewer speech phones per second of sound than this: not speech (acoustic path).
MIN_PHONE_RATE = 3.0
#: Less voiced time than this share of the sound: not speech (noise, percussion; acoustic path).
MIN_VOICED_SHARE = 0.25


def _activity_gate(pro: Prosody, times_s: np.ndarray, fps: float, hold_s: float = 0.0) -> np.ndarray:
    """(T,) 0..1 smoothed sound activity: 0 in silences, so the mouth rests there.

    hold_s: silences shorter than this are not rests. For speech, ``PAUSE_S`` (250 ms): a shorter silence lies
    inside the phrase - the closure of a voiceless stop (50-150 ms of near silence), a weak /dh/ or /f/, a gap
    between words - and the mouth holds its speaking posture through it (the lips do not close for /t/ or /k/;
    a p/b/m keeps its own closure). The same threshold makes a pause a phrase break for the pre-phonatory
    opening (:func:`.coarticulation.phrase_onsets`)."""
    act = np.asarray(pro.active, bool)
    if hold_s > 0 and len(pro.times_s) > 1:
        act = close_gaps(act, int(round(hold_s / float(pro.times_s[1] - pro.times_s[0]))))
    act = np.interp(times_s, pro.times_s, act.astype(np.float32))
    n = max(3, int(round(0.12 * fps)) | 1)
    k = np.hanning(n + 2)[1:-1]
    return np.clip(np.convolve(np.pad(act, n // 2, mode="edge"), k / k.sum(), mode="valid"), 0, 1).astype(np.float32)


def speech_motion(clip: AudioClip, pro: Prosody, times_s: np.ndarray, fps: float, transcript: str | None = None,
                  mode: str = "auto", progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None, phone_preset: str = "accurate",
                  phone_workers: int | None = 1, breaths: bool = True,
                  phones_started: ph.PhoneRecognition | None = None) -> tuple[MouthMotion, dict]:
    """Mouth motion (canonical ARKit) and a meta dict {"speech_path": ..., ...} for one clip.

    breaths: open the mouth where an inhalation is heard in a pause (:mod:`.breath`); ``meta.speech.breaths``
    counts them. phones_started: allphone recognition of ``clip`` already running (its result is used where
    allphone is).
    """
    if mode not in SPEECH_MODES:
        raise ValueError(f"speech mode must be one of {SPEECH_MODES}")
    info: dict = {}
    result = None
    if transcript and mode in ("auto", "alignment"):
        try:
            result = ph.align_transcript(clip, transcript)
        except AudioError as e:
            info["alignment_failed"] = str(e)
        report(progress, 1.0, "aligned transcript")
    if result is None and mode == "words":
        heard = ph.recognize_words(clip, progress=scaled(progress, 0.0, 0.6), cancel=cancel)
        info["recognized_words"] = heard
        if heard:
            try:
                result = ph.align_transcript(clip, heard)
                result.method = "words"
            except AudioError as e:
                info["alignment_failed"] = str(e)
    if result is None and mode in ("auto", "allphone", "alignment", "words"):
        result = (phones_started.result(progress, cancel) if phones_started is not None else
                  ph.recognize_phones(clip, progress=progress, cancel=cancel, preset=phone_preset,
                                      workers=phone_workers))
    if result is not None and mode == "auto" and result.method == "allphone":
        held = sustained_pitch_ratio(pro)
        sound_s = max(0.1, float(pro.active.sum()) * 0.01)
        rate = sum(p.label != "sil" for p in result.phones) / sound_s
        voiced = float(pro.voiced.sum() / max(1, pro.active.sum()))
        info.update(held_note_ratio=round(held, 3), phone_rate=round(rate, 2), voiced_share=round(voiced, 3))
        if held > HELD_NOTE_LIMIT or rate < MIN_PHONE_RATE or voiced < MIN_VOICED_SHARE:
            result = None
    if result is None:
        motion = acoustic_mouth(pro, times_s)
        info["speech_path"] = "acoustic"
    else:
        motion = _phones_motion([result.phones] + result.alternatives, pro, times_s, fps)
        info["speech_path"] = result.method
        if result.alternatives:
            info["phone_decodes"] = 1 + len(result.alternatives)
        info["num_phones"] = sum(p.label != "sil" for p in result.phones)
        if result.dropped_words:
            info["dropped_words"] = result.dropped_words
    gate = _activity_gate(pro, times_s, fps, hold_s=0.0 if result is None else PAUSE_S)
    if motion.onset is not None:  # the pre-phonatory opening precedes the sound by design
        gate = np.maximum(gate, motion.onset)
    w = motion.weights * np.maximum(gate, motion.closure)[:, None]
    if breaths:
        intakes = breath_intakes(pro, result.phones if result is not None else None)
        info["breaths"] = len(intakes)
        w = add_breaths(w, breath_opening(times_s, intakes), motion.closure)
    motion = MouthMotion(weights=w.astype(np.float32), closure=motion.closure, labiodental=motion.labiodental,
                         rounding=motion.rounding, onset=motion.onset)
    return motion, info


def _phones_motion(decodes: list[list[ph.Phone]], pro: Prosody, times_s: np.ndarray, fps: float) -> MouthMotion:
    """Coarticulated mouth motion of one phone sequence, or the mean of several decodes' motions (an ensemble:
    weights, closure, labiodental, rounding and onset averaged frame by frame)."""
    motions = [coarticulate(p, times_s, fps, prominence=phone_prominence(p, pro, VOWELS)) for p in decodes]
    if len(motions) == 1:
        return motions[0]

    def mean(name: str) -> np.ndarray | None:
        arrays = [getattr(m, name) for m in motions]
        if all(a is None for a in arrays):
            return None
        ref = next(a for a in arrays if a is not None)
        return np.mean([np.zeros_like(ref) if a is None else a for a in arrays], axis=0).astype(ref.dtype)

    return MouthMotion(weights=mean("weights"), closure=mean("closure"), labiodental=mean("labiodental"),
                       rounding=mean("rounding"), onset=mean("onset"))


def start_phone_recognition(clip: AudioClip, *, transcript: str | None = None, speech_mode: str = "auto",
                            phone_preset: str = "accurate",
                            phone_workers: int | None = 1) -> ph.PhoneRecognition | None:
    """The allphone recognition of ``clip``, started now (its worker processes forked and decoding) where
    :func:`animate` with these arguments recognises phones first (speech mode allphone, or auto / alignment
    without a transcript), else None. Pass it to :func:`animate` as ``phones_started`` and close it afterwards (it is a
    context manager): the caller can load the head and the rest meanwhile. Raises ValueError for an unknown
    preset."""
    if speech_mode not in SPEECH_MODES:
        raise ValueError(f"speech mode must be one of {SPEECH_MODES}")
    if not (speech_mode == "allphone" or (speech_mode in ("auto", "alignment") and not transcript)):
        return None  # speech_motion aligns the transcript or recognises words first
    return ph.PhoneRecognition(clip, phone_preset, phone_workers)


def animate(audio: str | os.PathLike | AudioClip, head: HeadModel, *, transcript: str | None = None,
            emotion: EmotionTimeline | None = None, fps: float = DEFAULT_FPS, seed: int = 0,
            speech_mode: str = "auto", phone_preset: str = "accurate", phone_workers: int | None = 1,
            progress: ProgressFn | None = None, cancel: CancelFn | None = None, breaths: bool = True,
            phones_started: ph.PhoneRecognition | None = None) -> Track:
    """Animate ``head`` to ``audio``: returns a validated Track of round(duration * fps) frames.

    audio: a file (refused when shorter than ``audio.io.MIN_DURATION_S``) or an in-memory AudioClip (any length).

    transcript: known text (force-aligned; much more accurate). emotion: intensity timeline (None:
    neutral). seed: idle motion (blinks, gaze, sway). speech_mode: "auto" (alignment if a transcript,
    else allphone, else acoustic for non-speech), "words" (recognise words, force-align them; slower), or
    force one path. phone_preset: a key of audio.phonemes.ALLPHONE_PRESETS ("accurate": the default, the
    reduced acoustic model; "full": the shipped model; "wide"; "fast"; "robust": the mean motion of three
    decodes, audio.phonemes.ENSEMBLE_PRESETS, steadier in noise and rooms at 3.2x the CPU). phone_workers: processes sharing the allphone
    recognition (None: by the input's length and the cores, audio.phonemes.auto_workers; the same result for any
    count; forked only where safe, else 1). progress/cancel: job hooks. breaths: the mouth opens where an
    inhalation is heard in a pause (animate/breath.py); False keeps it closed in every pause.
    phones_started: the recognition :func:`start_phone_recognition` started on this same ``audio`` clip with
    the same arguments (the caller closes it); None: started here, right after the audio is read.
    """
    if not fps_in_range(fps):
        raise ValueError(f"fps must be in (0, {MAX_FPS}]")
    report(progress, 0.0, "decoding audio")
    clip = audio if isinstance(audio, AudioClip) else load_audio(audio, min_duration_s=MIN_DURATION_S)
    if isinstance(audio, AudioClip):
        check_speech_present(clip)
    check_cancel(cancel)
    T = max(1, int(round(clip.duration_s * fps)))
    times = (np.arange(T) / fps).astype(np.float64)
    # allphone recognition first where it is the path: its worker processes decode while this one analyses prosody
    own = phones_started is None
    started = (start_phone_recognition(clip, transcript=transcript, speech_mode=speech_mode,
                                       phone_preset=phone_preset, phone_workers=phone_workers)
               if own else phones_started)
    try:
        report(progress, 0.05, "analysing prosody")
        pro = analyze(clip)
        idle = idle_motion(times, pro, seed=seed)  # here, while the workers decode, rather than after the phones
        check_cancel(cancel)
        motion, info = speech_motion(clip, pro, times, fps, transcript, speech_mode, scaled(progress, 0.1, 0.8),
                                     cancel, phone_preset, phone_workers, breaths, phones_started=started)
    finally:
        if own and started is not None:
            started.close()
    check_cancel(cancel)
    report(progress, 0.85, "emotion")
    base = motion.weights + idle.weights
    tl = emotion if emotion is not None else EmotionTimeline.neutral()
    inten = tl.sample(times)
    basis_arkit, above_arkit = emotion_basis_arkit(), emotion_above_arkit()
    comp = compose(base, inten, basis_arkit, closure=motion.closure, rounding=motion.rounding,
                   above_arkit=above_arkit)

    rt = build_retarget(head)
    final = comp.final.copy()
    base_c = comp.base.copy()
    pose = idle.pose.copy()
    jaw_angle = rt.jaw_angle(comp.speech_jaw)
    final[:, JAW_OPEN] = comp.emotion_jaw if rt.has_jaw_blendshape else 0.0
    base_c[:, JAW_OPEN] = 0.0
    if not rt.has_jaw_blendshape:
        jaw_angle = rt.jaw_angle(comp.speech_jaw + comp.emotion_jaw)
    pose[:, Joint.JAW, 0] = jaw_angle
    expr = rt.expression(final)
    expr_base = rt.expression(base_c)
    basis, above = rt.expression(basis_arkit), rt.expression(above_arkit)
    if head.expression_limits is not None:
        lim = np.asarray(head.expression_limits, np.float32)
        expr = np.clip(expr, lim[:, 0], lim[:, 1])
    track = Track(
        fps=float(fps), head_model=head.name, expression_names=list(head.expression_names),
        expression=expr, pose=pose, translation=np.zeros((T, 3), np.float32), emotion_names=list(EMOTIONS),
        emotion=inten, expression_base=expr_base, emotion_basis=basis, emotion_basis_above=above,
        meta={
            "audio": {"file": Path(clip.source).name if clip.source else "", "duration_s": round(clip.duration_s, 4),
                      "original_rate": clip.original_rate, "original_channels": clip.original_channels},
            "generator": GENERATOR, "generator_version": __version__, "seed": int(seed),
            "speech_path": info.pop("speech_path"), "speech": info,
            "retarget": rt.method, "jaw": "joint (pose[:, 2, 0]) for speech; jawOpen blendshape for emotion"
            if rt.has_jaw_blendshape else "joint (pose[:, 2, 0])",
            "composition": "base + emotion with conflict rules (docs/animator.md#composition)",
            "emotion_timeline": tl.to_dict(),
            "blinks": int(len(idle.blink_times_s)),
        })
    report(progress, 1.0, "done")
    return track.validate()
