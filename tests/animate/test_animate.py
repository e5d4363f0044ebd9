"""The whole animator on the shipped ARCTIC clip and the built-in head (vertices, landmarks, metadata)."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.animate import EmotionTimeline, animate
from emodiffhead.animate.emotion_vectors import emotion_basis
from emodiffhead.animate.metrics import EXPECTED_EFFECTS, face_measures, lip_gap, track_vertices
from emodiffhead.animate.retarget import build_retarget
from emodiffhead.animate.visemes import BILABIALS, OPEN_VOWELS as OPEN
from emodiffhead.audio.io import AudioClip
from emodiffhead.audio.phonemes import read_lab
from emodiffhead.emotion import EMOTIONS
from emodiffhead.errors import CancelledError, NotAvailableError
from emodiffhead.head.model import HeadModel, Joint
from emodiffhead.track import Track

TEXT = "he turned sharply and faced gregson across the table"


@pytest.fixture(scope="module")
def lab(example_audio):
    return read_lab(example_audio.with_name("arctic_a0009_phone.lab"))


@pytest.fixture(scope="module")
def happy_aligned(example_audio, builtin_head):
    return animate(example_audio, builtin_head, transcript=TEXT, emotion=EmotionTimeline.constant("happy", 1.0))


@pytest.fixture(scope="module")
def surprised_allphone(example_audio, builtin_head):
    return animate(example_audio, builtin_head, emotion=EmotionTimeline.constant("surprised", 1.0), seed=5)


def _gaps(head, track, lab):
    g = lip_gap(head, track_vertices(head, track))
    fr = lambda p: min(track.num_frames - 1, int(np.floor(p.centre_s * track.fps + 0.5)))  # noqa: E731
    bil = np.array([g[fr(p)] for p in lab if p.label in BILABIALS])
    opn = np.array([g[fr(p)] for p in lab if p.label in OPEN])
    return bil, opn


def test_track_fields(happy_aligned, builtin_head):
    t = happy_aligned
    assert isinstance(t, Track) and t.num_frames == round(3.095 * 25)
    assert t.expression.shape == (t.num_frames, 52) and t.pose.shape == (t.num_frames, 5, 3)
    assert t.emotion.shape == (t.num_frames, len(EMOTIONS)) and np.allclose(t.emotion[:, EMOTIONS.index("happy")], 1)
    assert t.emotion_basis.shape == (len(EMOTIONS), 52) and t.expression_base.shape == t.expression.shape
    assert t.meta["speech_path"] == "alignment" and t.meta["generator"] == "emodiffhead.animate"
    assert t.meta["audio"]["file"] == "arctic_a0009.wav" and t.meta["seed"] == 0
    assert t.pose[:, Joint.JAW, 0].max() > 0.1  # the jaw joint opens the mouth
    assert np.abs(t.pose[:, Joint.NECK]).max() > 0.005  # head motion
    Track.from_dict(t.to_dict())


def test_bilabials_close_with_a_smile(happy_aligned, builtin_head, lab):
    bil, opn = _gaps(builtin_head, happy_aligned, lab)
    assert len(bil) == 2 and np.median(opn) > 0.006
    assert np.all(bil < 0.1 * np.median(opn)), (bil, np.median(opn))


def test_bilabials_close_allphone_surprised(surprised_allphone, builtin_head, lab):
    assert surprised_allphone.meta["speech_path"] == "allphone"
    bil, opn = _gaps(builtin_head, surprised_allphone, lab)
    assert np.all(bil < 0.1 * np.median(opn)), (bil, np.median(opn))


def test_reproducible_seed(example_audio, builtin_head, surprised_allphone):
    again = animate(example_audio, builtin_head, emotion=EmotionTimeline.constant("surprised", 1.0), seed=5)
    assert np.array_equal(again.expression, surprised_allphone.expression)
    assert np.array_equal(again.pose, surprised_allphone.pose)


def test_emotion_monotonic_on_landmarks(builtin_head):
    B = emotion_basis(builtin_head)
    steps = np.linspace(0, 1.5, 6)
    for c, name in enumerate(EMOTIONS):
        if name == "neutral":
            assert np.all(B[c] == 0)
            continue
        lm = builtin_head.forward(expression=np.outer(steps, B[c]).astype(np.float32)).landmarks
        m = face_measures(lm)
        for key, sign in EXPECTED_EFFECTS[name].items():
            d = np.diff(m[key]) * sign
            assert np.all(d > 0), (name, key, m[key])


def test_retarget_to_non_arkit_head(builtin_head):
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(52, 52)))
    h = builtin_head
    fake = HeadModel(name="fake", template=h.template, faces=h.faces, shape_basis=h.shape_basis[:, :, :2],
                     expression_basis=np.einsum("vce,ef->vcf", h.expression_basis, Q).astype(np.float32),
                     expression_names=[f"exp{i:03d}" for i in range(52)], joint_regressor=h.joint_regressor,
                     weights=h.weights, landmark_faces=h.landmark_faces, landmark_bary=h.landmark_bary,
                     landmark_scheme=h.landmark_scheme, regions=h.regions)
    rt = build_retarget(fake, reference=h)
    assert rt.method.startswith("landmark-fit")
    B_fake = emotion_basis(fake, rt)
    B_true = emotion_basis(h)
    B_true[:, h.expression_index("jawOpen")] = 0.0  # heads without a jawOpen blendshape open the jaw joint instead
    i = EMOTIONS.index("happy")
    lm_fake = fake.forward(expression=B_fake[i:i + 1]).landmarks[0] - fake.forward().landmarks[0]
    lm_true = h.forward(expression=B_true[i:i + 1]).landmarks[0] - h.forward().landmarks[0]
    assert np.linalg.norm(lm_fake - lm_true) < 0.2 * np.linalg.norm(lm_true)
    sub = np.arange(0, 478, 5)  # a MediaPipe subset, as MICA's embedding for FLAME
    mica = HeadModel(name="mica", template=h.template, faces=h.faces, shape_basis=h.shape_basis[:, :, :2],
                     expression_basis=fake.expression_basis, expression_names=fake.expression_names,
                     joint_regressor=h.joint_regressor, weights=h.weights, landmark_faces=h.landmark_faces[sub],
                     landmark_bary=h.landmark_bary[sub], landmark_scheme=f"mediapipe{len(sub)}",
                     meta={"landmark_indices": sub.tolist()})
    B_mica = emotion_basis(mica, build_retarget(mica, reference=h))
    lm_mica = h.forward(expression=(B_mica[i:i + 1] @ Q.T).astype(np.float32)).landmarks[0] - h.forward().landmarks[0]
    assert np.linalg.norm(lm_mica - lm_true) < 0.3 * np.linalg.norm(lm_true)
    other = HeadModel(name="other", template=h.template, faces=h.faces, shape_basis=h.shape_basis[:, :, :2],
                      expression_basis=fake.expression_basis, expression_names=fake.expression_names,
                      joint_regressor=h.joint_regressor, weights=h.weights, landmark_faces=h.landmark_faces[:68],
                      landmark_bary=h.landmark_bary[:68], landmark_scheme="ibug68")
    with pytest.raises(NotAvailableError, match="landmark scheme"):
        build_retarget(other, reference=h)


def test_acoustic_fallback_and_hooks(builtin_head):
    t = np.arange(16000 * 3) / 16000
    notes = 0.3 * np.sin(2 * np.pi * np.where(t < 1.5, 262, 330) * t) * (t % 1.5 < 1.2)
    seen = []
    track = animate(AudioClip(notes.astype(np.float32)), builtin_head, progress=lambda f, m: seen.append(f))
    assert track.meta["speech_path"] == "acoustic"
    jaw = track.pose[:, Joint.JAW, 0]
    assert jaw[(np.arange(track.num_frames) / 25) % 1.5 < 1.1].mean() > 3 * max(1e-4, jaw[(np.arange(track.num_frames) / 25) % 1.5 > 1.3].mean())
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(CancelledError):
        animate(AudioClip(notes.astype(np.float32)), builtin_head, cancel=lambda: True)
    rng = np.random.default_rng(0)
    drums = 0.5 * np.exp(-(t % 0.5) * 30) * rng.normal(size=t.size)  # unvoiced percussion
    assert animate(AudioClip(drums.astype(np.float32)), builtin_head).meta["speech_path"] == "acoustic"


@pytest.mark.parametrize("n", [160, 1600, 4000])
def test_very_short_clips(builtin_head, n):
    x = (0.3 * np.sin(np.arange(n) * 0.1)).astype(np.float32)
    t = animate(AudioClip(x), builtin_head, transcript="hello")
    assert t.num_frames == max(1, round(n / 16000 * 25))


def test_mouth_leads_the_audio_a_little(happy_aligned, lab):
    """Jaw opening vs the true phones' openness (ARCTIC labels): the gestures lead their sound (best at 0 to 2
    frames early, as articulation precedes acoustics), never late."""
    t = happy_aligned
    jaw = t.pose[:, Joint.JAW, 0]
    ends = np.array([p.end_s for p in lab])
    labels = [lab[min(len(lab) - 1, int(np.searchsorted(ends, x, side="right")))].label
              for x in np.arange(t.num_frames) / t.fps]
    ref = np.array([1.0 if s in OPEN else 0.0 if s in (*BILABIALS, "sil") else 0.5 for s in labels])
    idx = np.arange(5, t.num_frames - 5)
    r = {k: np.corrcoef(jaw[idx + k], ref[idx])[0, 1] for k in range(-4, 5)}  # jaw k frames later than the audio
    best = max(r, key=r.get)
    assert best in (-2, -1, 0)
    assert r[best] > r[1] + 0.05 and r[best] > r[2] + 0.1


def test_recognition_started_by_the_caller(example_audio, builtin_head):
    """The command line starts the phone recognition (and its workers) before it loads the head: the track is
    the one animate() makes on its own; a transcript or the acoustic path start nothing."""
    from emodiffhead.animate.pipeline import start_phone_recognition
    from emodiffhead.audio.io import load_audio

    one = load_audio(example_audio)
    clip = AudioClip.from_array(np.tile(one.samples, 5), source=str(example_audio))  # 15.5 s: 2 utterances
    alone = animate(clip, builtin_head, seed=3, phone_workers=1)
    with start_phone_recognition(clip, phone_workers=2) as rec:
        started = animate(clip, builtin_head, seed=3, phones_started=rec)
        assert sorted(rec._results) == [0, 1]  # its phones were used (animate() started no recognition of its own)
    for name in ("expression", "pose", "expression_base"):
        assert np.array_equal(getattr(started, name), getattr(alone, name))
    assert started.meta["speech"]["num_phones"] == alone.meta["speech"]["num_phones"] > 100
    assert start_phone_recognition(clip, transcript=TEXT) is None
    assert start_phone_recognition(clip, speech_mode="acoustic") is None
    with pytest.raises(ValueError, match="speech mode"):
        start_phone_recognition(clip, speech_mode="sing")


def test_robust_phones_average_the_decodes(example_audio, builtin_head, lab):
    """phone_preset "robust": the mouth is the frame-by-frame mean of the three decodes' motions (one decode
    repeated gives that decode's motion back); ARCTIC's p/b/m still close (every decode hears them)."""
    from emodiffhead.animate.pipeline import _phones_motion
    from emodiffhead.audio import phonemes as P
    from emodiffhead.audio.io import load_audio
    from emodiffhead.audio.prosody import analyze

    clip = load_audio(example_audio)
    pro = analyze(clip)
    times = np.arange(round(clip.duration_s * 25)) / 25.0
    r = P.recognize_phones(clip, preset="robust")
    one = _phones_motion([r.phones], pro, times, 25.0)
    twice = _phones_motion([r.phones, r.phones], pro, times, 25.0)
    assert np.allclose(twice.weights, one.weights) and np.allclose(twice.closure, one.closure)
    each = [_phones_motion([p], pro, times, 25.0) for p in [r.phones] + r.alternatives]
    mean = _phones_motion([r.phones] + r.alternatives, pro, times, 25.0)
    assert np.allclose(mean.weights, np.mean([m.weights for m in each], axis=0), atol=1e-6)
    assert np.allclose(mean.closure, np.mean([m.closure for m in each], axis=0), atol=1e-6)
    assert not np.allclose(mean.weights, one.weights)

    t = animate(example_audio, builtin_head, phone_preset="robust")
    assert t.meta["speech"]["phone_decodes"] == 3
    bil, opn = _gaps(builtin_head, t, lab)
    assert len(bil) == 2 and np.all(bil < 0.1 * np.median(opn)), (bil, np.median(opn))
