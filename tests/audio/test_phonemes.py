"""Speech -> phones with pocketsphinx on the shipped ARCTIC clip, against its ground-truth labels."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.audio import phonemes as P
from emodiffhead.audio.io import AudioClip, load_audio
from emodiffhead.audio.prosody import analyze, sustained_pitch_ratio
from emodiffhead.errors import AudioError

TEXT = "He turned sharply, and faced Gregson across the table."


@pytest.fixture
def forking(request) -> bool:
    """Tests of the forked workers need a process with one thread (else nothing is forked and they would test
    only the fallback): True when this process has one; else the test is run in a fresh pytest process, which
    must pass, and this gives False (the caller then returns)."""
    import subprocess
    import sys

    if P.fork_is_safe():
        return True
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
                       cwd=request.config.rootpath, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and " passed" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
    return False


@pytest.fixture(scope="module")
def clip(example_audio):
    return load_audio(example_audio)


@pytest.fixture(scope="module")
def truth(example_audio):
    return P.read_lab(example_audio.with_name("arctic_a0009_phone.lab"))


def test_read_lab(truth):
    labels = [p.label for p in truth]
    assert labels[0] == "sil" and labels[-1] == "sil"
    assert labels[1:4] == ["hh", "iy", "t"] and "ax" not in labels  # ARCTIC's schwa mapped to CMU "ah"
    assert all(b.start_s == pytest.approx(a.end_s) for a, b in zip(truth, truth[1:]))


def test_normalize_label():
    assert P.normalize_label("AH1") == "ah"
    assert P.normalize_label("and(2)") == "and"
    assert P.normalize_label("+NSN+") == "sil"
    assert P.transcript_words(TEXT)[:3] == ["he", "turned", "sharply"]


def test_allphone_plausible(clip, truth):
    r = P.recognize_phones(clip)
    assert r.method == "allphone"
    speech = [p for p in r.phones if p.label != "sil"]
    assert 20 <= len(speech) <= 50  # 38 true phones
    assert r.phones[0].start_s == 0 and r.phones[-1].end_s == pytest.approx(clip.duration_s)
    labels = {p.label for p in speech}
    assert {"p", "l", "f", "s"} <= labels
    err = P.boundary_errors(r.phones, truth)
    assert np.median(err) < 0.04


def test_alignment_matches_labels(clip, truth):
    r = P.align_transcript(clip, TEXT)
    assert r.method == "alignment" and r.dropped_words == []
    speech = [p.label for p in r.phones if p.label != "sil"]
    true_speech = [p.label for p in truth if p.label != "sil"]
    assert speech == true_speech  # the dictionary pronunciation equals ARCTIC's here
    err = P.aligned_boundary_errors(r.phones, truth)
    assert len(err) == 2 * len(true_speech)
    assert np.median(err) <= 0.04 and np.percentile(err, 90) <= 0.08


def test_alignment_drops_unknown_words(clip):
    r = P.align_transcript(clip, TEXT + " zzqxv")
    assert r.dropped_words == ["zzqxv"]
    with pytest.raises(AudioError, match="no words"):
        P.align_transcript(clip, "  ,.; ")


def test_prosody_speech_vs_held_notes(clip):
    pro = analyze(clip)
    assert pro.active.mean() > 0.5 and 80 < np.nanmedian(pro.f0_hz) < 300
    assert sustained_pitch_ratio(pro) < 0.1
    t = np.arange(32000) / 16000
    notes = 0.4 * np.sin(2 * np.pi * np.where(t < 1, 220, 330) * t) * (1 + 0.3 * np.sin(2 * np.pi * 440 * t))
    sung = analyze(AudioClip(notes.astype(np.float32)))
    assert sustained_pitch_ratio(sung) > 0.5


@pytest.fixture(scope="module")
def three(clip):
    """ARCTIC a0009 three times with 0.5 s pauses: 3 utterances of <= 4 s."""
    gap = np.zeros(8000, np.float32)
    return AudioClip(np.concatenate([clip.samples, gap, clip.samples, gap, clip.samples]))


def test_allphone_same_phones_for_any_worker_count(three, forking):
    """The utterances are cut whatever the worker count; forked workers give exactly the serial phones."""
    if not forking:
        return
    assert len(P.split_points(three.samples, max_len_s=4.0)) == 4
    serial = P.recognize_phones(three, max_chunk_s=4.0)
    assert sum(p.label != "sil" for p in serial.phones) >= 60  # every copy recognised
    assert P.recognize_phones(three, max_chunk_s=4.0).phones == serial.phones
    for workers in (2, 3, 8):
        with P.PhoneRecognition(three, workers=workers, max_chunk_s=4.0) as rec:
            assert rec.workers == min(workers, 3)
            assert rec.result().phones == serial.phones


def test_allphone_workers_fall_back_to_this_process_where_fork_is_unsafe(three):
    """With another thread running (the job server runs jobs in threads) nothing is forked: same phones."""
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not P.fork_is_safe()
        rec = P.PhoneRecognition(three, workers=3, max_chunk_s=4.0)
        assert rec.workers == 1 and rec._kids == []
        assert rec.result().phones == P.recognize_phones(three, max_chunk_s=4.0).phones
    finally:
        stop.set()
        t.join()


def test_allphone_workers_progress_cancel_and_a_dead_worker(three, forking):
    """Progress rises to 1; cancel stops and reaps the workers; a killed worker's utterance is decoded here."""
    import os
    import signal

    from emodiffhead.errors import CancelledError

    if not forking:
        return
    serial = P.recognize_phones(three, max_chunk_s=4.0).phones
    seen = []
    assert P.recognize_phones(three, progress=lambda f, m: seen.append(f), workers=2, max_chunk_s=4.0).phones == serial
    assert seen == sorted(seen) and seen[-1] == 1.0

    rec = P.PhoneRecognition(three, workers=3, max_chunk_s=4.0)
    pids = [k.pid for k in rec._kids]
    assert len(pids) == 2
    with pytest.raises(CancelledError):
        rec.result(cancel=lambda: True)
    assert rec._kids == []
    for pid in pids:  # reaped: no such child any more
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)

    rec = P.PhoneRecognition(three, workers=2, max_chunk_s=4.0)
    os.kill(rec._kids[0].pid, signal.SIGKILL)
    assert len(os.read(rec._tasks, 4)) == 4  # an utterance taken by a worker that then died
    assert rec.result().phones == serial


def test_allphone_workers_when_fork_fails(three, monkeypatch):
    """No process can be forked (limits, memory): this process decodes everything, the same phones."""
    import os

    def no_fork():
        raise OSError("Resource temporarily unavailable")

    serial = P.recognize_phones(three, max_chunk_s=4.0).phones
    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setattr(P, "fork_is_safe", lambda: True)
    with P.PhoneRecognition(three, workers=3, max_chunk_s=4.0) as rec:
        assert rec.workers == 1
        assert rec.result().phones == serial


def test_auto_workers():
    assert P.auto_workers(5.0) == 1
    assert P.auto_workers(60.0) == max(1, min(P.MAX_AUTO_WORKERS, P.usable_cores()))


def test_allphone_presets_agree_on_arctic(clip, truth):
    """The default beams decode ARCTIC a0009 like the wide reference beams."""
    acc = P.recognize_phones(clip, preset="accurate")
    wide = P.recognize_phones(clip, preset="wide")
    t = np.arange(0, clip.duration_s, 0.04)

    def at(ph):
        ends = np.array([p.end_s for p in ph.phones])
        return [ph.phones[min(len(ph.phones) - 1, int(np.searchsorted(ends, x, side="right")))].label for x in t]

    assert np.mean(np.array(at(acc)) == np.array(at(wide))) >= 0.9
    with pytest.raises(ValueError, match="preset"):
        P.recognize_phones(clip, preset="nope")


def test_word_recognition_then_alignment_recovers_the_labelled_phones(clip, truth):
    heard = P.recognize_words(clip)
    assert {"turned", "sharply", "table"} <= set(heard.split())
    al = P.align_transcript(clip, heard)
    matched = P.aligned_boundary_errors(al.phones, truth)
    # word recognition + alignment matches far more of the labelled phones than allphone does
    assert len(matched) // 2 >= 34 > len(P.aligned_boundary_errors(P.recognize_phones(clip).phones, truth)) // 2
    assert np.median(matched) <= 0.04


def test_words_speech_mode(example_audio, builtin_head):
    from emodiffhead.animate import animate

    t = animate(example_audio, builtin_head, speech_mode="words")
    assert t.meta["speech_path"] == "words" and "table" in t.meta["speech"]["recognized_words"]


def test_animate_same_track_for_any_worker_count(three, builtin_head, forking):
    """animate() starts the allphone workers before the prosody analysis; the track does not depend on them."""
    from emodiffhead.animate import animate

    if not forking:
        return

    one = animate(three, builtin_head, phone_workers=1)
    for workers in (2, None):
        t = animate(three, builtin_head, phone_workers=workers)
        assert np.array_equal(t.expression, one.expression) and np.array_equal(t.pose, one.pose)
        assert t.meta["speech"] == one.meta["speech"]


def test_allphone_decoder_needs_no_pronunciation_dictionary(clip):
    """The allphone decoder loads an empty dictionary (fast to create): the same segments as with the default
    135k-word dictionary."""
    import os

    import pocketsphinx as ps

    cfg = P._allphone_config("accurate")
    assert cfg["dict"] == os.devnull
    full = ps.Decoder(**{k: v for k, v in cfg.items() if k != "dict"})
    assert full.config["dict"] != os.devnull  # pocketsphinx's default dictionary
    pcm = P._pcm16(clip)

    def segments(d):
        d.reinit_feat()
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        return [(s.word, s.start_frame, s.end_frame, s.ascore, s.lscore) for s in d.seg()]

    fast = segments(P._allphone_decoder("accurate"))
    assert len(fast) >= 25 and fast == segments(full)


def test_robust_ensemble_decodes_with_each_member(clip, three, forking):
    """The "robust" ensemble: the default decode's phones plus one alternative per other member, each the phones
    that member gives alone; the same for any worker count."""
    members = P.preset_members("robust")
    assert members[0] == "accurate" and len(members) == 3 and P.preset_members("fast") == ("fast",)
    r = P.recognize_phones(clip, preset="robust")
    assert r.phones == P.recognize_phones(clip).phones
    assert [a for a in r.alternatives] == [P.recognize_phones(clip, preset=m).phones for m in members[1:]]
    assert r.alternatives[0] != r.phones  # the members differ (else the ensemble would add nothing)
    for alt in r.alternatives:
        assert alt[0].start_s == 0.0 and alt[-1].end_s == pytest.approx(clip.duration_s)
    assert P.recognize_phones(clip).alternatives == []
    if not forking:
        return
    serial = P.recognize_phones(three, preset="robust", max_chunk_s=4.0)
    with P.PhoneRecognition(three, preset="robust", workers=2, max_chunk_s=4.0) as rec:
        par = rec.result()
    assert par.phones == serial.phones and par.alternatives == serial.alternatives


def test_allphone_preset_language_weight():
    """A preset's phone-LM weight ``lw`` reaches the decoder (2.0 where the preset does not set it); an ensemble
    is no single decoder's preset."""
    assert P._allphone_config("accurate")["lw"] == 2.0
    assert P._allphone_config("accurate-lw1.5")["lw"] == 1.5
    assert P._allphone_config("accurate-topn4")["topn"] == 4
    with pytest.raises(ValueError, match="single-decode"):
        P._allphone_config("robust")
