"""The track format: JSON/npz round trips, atomic saves, and malformed input named by field."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emodiffhead.emotion import EMOTIONS
from emodiffhead.errors import InputFileError, TrackError
from emodiffhead.track import (FORMAT_VERSION, MAX_FPS, Track, check_compatible, fps_in_range, json_schema, load_track,
                               save_track, track_from_json_bytes)

NAMES = ["jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft"]


def make_track(T: int = 6, with_optional: bool = True) -> Track:
    rng = np.random.default_rng(0)
    t = Track.neutral(T, 25.0, "builtin", NAMES)
    t.expression = rng.random((T, len(NAMES))).astype(np.float32)
    t.pose = rng.normal(0, 0.1, (T, 5, 3)).astype(np.float32)
    t.translation = rng.normal(0, 0.01, (T, 3)).astype(np.float32)
    t.emotion = rng.random((T, len(EMOTIONS))).astype(np.float32)
    if with_optional:
        t.expression_base = rng.random((T, len(NAMES))).astype(np.float32)
        t.emotion_basis = rng.normal(0, 0.3, (len(EMOTIONS), len(NAMES))).astype(np.float32)
    t.meta = {"audio": {"file": "a.wav", "duration_s": 0.24}, "generator": "test", "generator_version": "0"}
    return t


def assert_same(a: Track, b: Track, atol: float) -> None:
    assert (a.fps, a.head_model, a.expression_names, a.emotion_names, a.meta) == \
        (b.fps, b.head_model, b.expression_names, b.emotion_names, b.meta)
    for k in ("expression", "pose", "translation", "emotion", "expression_base", "emotion_basis"):
        x, y = getattr(a, k), getattr(b, k)
        assert (x is None) == (y is None), k
        if x is not None:
            assert y.dtype == np.float32 and x.shape == y.shape, k
            np.testing.assert_allclose(x, y, atol=atol, err_msg=k)


@pytest.mark.parametrize("suffix,atol", [(".json", 1e-6), (".npz", 0.0)])
@pytest.mark.parametrize("optional", [True, False])
def test_round_trip(tmp_path, suffix, atol, optional):
    t = make_track(with_optional=optional)
    path = save_track(t, tmp_path / f"clip{suffix}")
    back = load_track(path)
    assert_same(t, back, atol)
    assert back.num_frames == 6 and back.duration_s == pytest.approx(6 / 25)


def test_json_layout(tmp_path):
    path = save_track(make_track(), tmp_path / "t.json")
    d = json.loads(path.read_text())
    assert d["format"] == "emodiffhead.track" and d["version"] == FORMAT_VERSION
    assert d["num_frames"] == 6 and d["joint_names"] == ["root", "neck", "jaw", "eye_left", "eye_right"]
    assert np.array(d["pose"]).shape == (6, 5, 3) and np.array(d["emotion"]).shape == (6, len(EMOTIONS))
    assert track_from_json_bytes(path.read_bytes()).num_frames == 6


def test_atomic_save_keeps_old_file(tmp_path):
    path = save_track(make_track(), tmp_path / "t.json")
    old = path.read_bytes()
    bad = make_track()
    bad.expression[2, 1] = np.nan
    with pytest.raises(TrackError):
        save_track(bad, path)
    assert path.read_bytes() == old
    # a failure while writing (meta that JSON cannot encode) leaves neither a partial file nor a temp file
    bad = make_track()
    bad.meta = {"x": object()}
    with pytest.raises(TypeError):
        save_track(bad, path)
    assert path.read_bytes() == old
    new = tmp_path / "new.json"
    with pytest.raises(TypeError):
        save_track(bad, new)
    assert not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


def mutate(change):
    d = make_track().to_dict()
    change(d)
    return d


def _set(key, value):
    def f(d):
        d[key] = value
    return f


def _del(key):
    def f(d):
        del d[key]
    return f


def _nan(d):
    d["pose"][1][2][0] = math.nan


@pytest.mark.parametrize("change,field", [
    (_set("expression", [[0.0] * 3] * 6), "expression"),                 # wrong E
    (_set("pose", [[[0.0] * 3] * 4] * 6), "pose"),                        # 4 joints
    (_set("translation", [[0.0] * 2] * 6), "translation"),
    (_set("emotion", [[0.0] * 8] * 5), "emotion"),                        # 5 frames
    (_set("expression", [[0.0, 1.0], [1.0]]), "expression"),              # ragged
    (_nan, "pose"),
    (_set("version", 99), "version"),
    (_set("format", "something.else"), "format"),
    (_set("expression_names", ["a", "a", "b", "c"]), "expression_names"),  # not unique
    (_set("expression_names", ["a", "b"]), "expression"),                 # names vs coefficients
    (_set("joint_names", ["root", "neck", "jaw", "eye_r", "eye_l"]), "joint_names"),
    (_del("fps"), "fps"),
    (_del("emotion"), "emotion"),
    (_del("head_model"), "head_model"),
    (_set("emotion_names", ["happy", "elated"] + list(EMOTIONS[2:])), "emotion_names"),
    (_set("emotion", [[2.0] * 8] * 6), "emotion"),                        # intensity > 1.5
    (_set("emotion", [[-0.1] * 8] * 6), "emotion"),
    (_set("num_frames", 7), "num_frames"),
    (_set("fps", 0), "fps"),
    (_set("fps", "25"), "fps"),
    (_set("head_model", ""), "head_model"),
    (_set("meta", [1, 2]), "meta"),
    (_set("emotion_basis", [[0.0] * 4] * 3), "emotion_basis"),
])
def test_malformed_names_the_field(change, field):
    with pytest.raises(TrackError, match=f"'{field}'"):
        Track.from_dict(mutate(change))


def test_not_json_and_missing_file(tmp_path):
    p = tmp_path / "t.json"
    p.write_text("{not json")
    with pytest.raises(TrackError, match="not valid JSON"):
        load_track(p)
    p.write_text("[1, 2]")
    with pytest.raises(TrackError, match="JSON object"):
        load_track(p)
    with pytest.raises(TrackError, match="not valid JSON"):
        track_from_json_bytes(b"\xff\xfe")
    with pytest.raises(InputFileError, match="not found"):
        load_track(tmp_path / "missing.json")
    z = tmp_path / "t.npz"
    z.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(TrackError, match="not a valid track npz"):
        load_track(z)


def test_check_compatible_and_slice():
    t = make_track()
    check_compatible(t, NAMES)
    with pytest.raises(TrackError, match="missing \\['browDownLeft'\\]"):
        check_compatible(t, NAMES + ["browDownLeft"])
    s = t.slice(2, 5)
    assert s.num_frames == 3
    np.testing.assert_array_equal(s.pose, t.pose[2:5])


def test_schema_accepts_saved_track_shape():
    schema = json_schema()
    d = make_track().to_dict()
    assert set(schema["required"]) <= set(d)
    assert set(d) <= set(schema["properties"])


def test_published_schema_is_up_to_date(repo_root):
    """docs/track.schema.json is generated by backend/tools/write_track_schema.py; regenerate after changes."""
    published = json.loads((repo_root / "docs" / "track.schema.json").read_text(encoding="utf-8"))
    assert published == json_schema(), "docs/track.schema.json is stale: run backend/tools/write_track_schema.py"


def test_schema_validates_real_tracks():
    import jsonschema_rs  # comes with schemathesis (a test dependency)
    validator = jsonschema_rs.validator_for(json_schema())
    d = make_track().to_dict()
    assert validator.is_valid(d)
    for change in (_set("version", 2), _set("emotion", [[2.0] * 8] * 6), _del("pose"),
                   _set("pose", [[[0.0] * 3] * 4] * 6), _set("fps", -1)):
        assert not validator.is_valid(mutate(change))


def test_incompatible_track_names_the_head_it_was_made_for():
    from emodiffhead.errors import TrackError
    from emodiffhead.track import check_compatible

    tr = Track.neutral(2, 25.0, "flame", ["exp000", "exp001"])
    with pytest.raises(TrackError, match="made for head model 'flame', not 'builtin'.*expression_names"):
        check_compatible(tr, ["jawOpen", "mouthClose"], "builtin")
    with pytest.raises(TrackError) as info:
        check_compatible(tr, ["jawOpen", "mouthClose"])
    assert "made for" not in str(info.value)
    check_compatible(tr, ["exp000", "exp001"], "builtin")  # matching components pass whatever the name


def test_replace_changes_fields_and_copies_names_and_meta():
    t = make_track(T=4)
    louder = t.replace(emotion=t.emotion * 0.5, head_model="other")
    assert louder.head_model == "other" and t.head_model == "builtin"
    np.testing.assert_allclose(louder.emotion, t.emotion * 0.5)
    assert louder.pose is t.pose  # unchanged arrays are shared, not copied
    louder.meta["edited"] = True
    louder.expression_names.append("extra")
    assert "edited" not in t.meta and t.expression_names == NAMES


def test_take_frames_repeats_and_reorders_every_per_frame_array():
    t = make_track(T=4)
    idx = np.array([3, 3, 0])
    u = t.take_frames(idx).validate()
    assert u.num_frames == 3 and u.fps == t.fps
    for k in ("expression", "pose", "translation", "emotion", "expression_base"):
        np.testing.assert_array_equal(getattr(u, k), getattr(t, k)[idx], err_msg=k)
    np.testing.assert_array_equal(u.emotion_basis, t.emotion_basis)  # (C, E): not per frame
    s = t.slice(1, 3)
    np.testing.assert_array_equal(s.pose, t.pose[1:3])
    s.pose[:] = 9.0
    assert not np.any(t.pose == 9.0)  # a slice owns its frames


@pytest.mark.parametrize("fps, ok", [(25.0, True), (MAX_FPS, True), (MAX_FPS + 0.5, False), (0.0, False),
                                     (-1.0, False)])
def test_fps_range_is_the_one_the_format_checks(fps, ok):
    assert fps_in_range(fps) is ok
    t = make_track(T=2)
    t.fps = fps
    if ok:
        t.validate()
    else:
        with pytest.raises(TrackError, match="fps"):
            t.validate()


def test_emotion_basis_above_round_trips_and_needs_the_basis(tmp_path):
    t = make_track()
    C, E = len(t.emotion_names), len(t.expression_names)
    rng = np.random.default_rng(3)
    t.emotion_basis = rng.normal(size=(C, E)).astype(np.float32)
    t.emotion_basis_above = rng.normal(size=(C, E)).astype(np.float32)
    for suffix in (".json", ".npz"):
        back = load_track(save_track(t, tmp_path / f"t{suffix}"))
        np.testing.assert_allclose(back.emotion_basis_above, t.emotion_basis_above, atol=1e-6)
    no_basis = t.replace(emotion_basis=None)
    with pytest.raises(TrackError, match="emotion_basis_above.*without 'emotion_basis'"):
        no_basis.validate()
    d = t.to_dict()
    del d["emotion_basis"]
    with pytest.raises(TrackError, match="without 'emotion_basis'"):
        Track.from_dict(d)
    d = t.to_dict()
    d["emotion_basis_above"] = d["emotion_basis_above"][:-1]
    with pytest.raises(TrackError, match="emotion_basis_above"):
        Track.from_dict(d)


def test_transfer_and_resample_keep_the_emotion_response_above_1(builtin_head):
    # a track's response above intensity 1 travels with it through a frame-rate change and a head transfer: without
    # it the other head (or the resampled clip) would pose 1.5 linearly
    from emodiffhead.animate.emotion_vectors import emotion_above, emotion_basis
    from emodiffhead.animate.transfer import cached_expression_transfer, transfer_track
    from emodiffhead.face.extract import resample_track

    h = builtin_head
    t = Track.neutral(10, 25.0, h.name, list(h.expression_names))
    t.emotion_basis, t.emotion_basis_above = emotion_basis(h), emotion_above(h)
    assert np.abs(t.emotion_basis_above).max() > 0
    r = resample_track(t, 30.0)
    assert r.num_frames == 12
    np.testing.assert_array_equal(r.emotion_basis_above, t.emotion_basis_above)
    moved = transfer_track(t, h, h)
    W = cached_expression_transfer(h, h)
    assert moved.emotion_basis_above is not None and moved.meta["transferred_from"] == h.name
    np.testing.assert_allclose(moved.emotion_basis_above, t.emotion_basis_above @ W.T, atol=1e-6)  # mapped as the basis
