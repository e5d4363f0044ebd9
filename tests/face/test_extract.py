"""Expression extraction: a short rendered clip -> track, smoothing without lag, DECA availability."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.errors import NotAvailableError
from emodiffhead.face.extract import extract_track
from emodiffhead.face.smoothing import smooth_track_arrays


def test_smoothing_removes_jitter_without_lag():
    fps = 25.0
    t = np.arange(100) / fps
    clean = np.sin(2 * np.pi * 1.5 * t)[:, None]
    noisy = clean + 0.1 * np.random.default_rng(0).standard_normal(clean.shape)
    sm = smooth_track_arrays(noisy, fps, 5)
    assert np.abs(sm - clean).mean() < 0.85 * np.abs(noisy - clean).mean()
    # no lag: the cross-correlation with the clean signal peaks at shift 0
    lags = range(-3, 4)
    corr = [np.corrcoef(np.roll(sm[:, 0], k)[5:-5], clean[5:-5, 0])[0, 1] for k in lags]
    assert list(lags)[int(np.argmax(corr))] == 0


def test_extract_from_a_rendered_clip_follows_the_driving_jaw(tmp_path, example_photo, builtin_head):
    from emodiffhead.face.image import load_photo
    from emodiffhead.video import write_mp4
    from emodiffhead.render.warp_renderer import WarpRenderer
    from emodiffhead.track import Track

    warp_renderer = WarpRenderer()
    warp_renderer.prepare(load_photo(example_photo), builtin_head, size=256)
    T = 12
    jaw = builtin_head.expression_index("jawOpen")
    tr = Track.neutral(T, 25.0, builtin_head.name, builtin_head.expression_names)
    tr.expression[:, jaw] = 0.5 * (1 - np.cos(2 * np.pi * np.arange(T) / T)) / 2
    path = write_mp4(warp_renderer.frames(tr), tmp_path / "clip.mp4", 25.0)
    got = extract_track(path, builtin_head)
    assert got.num_frames == T and got.fps == 25.0
    assert got.expression_names == builtin_head.expression_names
    r = np.corrcoef(got.expression[:, jaw], tr.expression[:, jaw])[0, 1]
    assert r > 0.8
    assert np.abs(np.rad2deg(got.pose[:, 0])).max() < 5  # the clip has no head motion


def test_extract_from_a_photo_gives_one_frame(example_photo, builtin_head):
    tr = extract_track(example_photo, builtin_head)
    assert tr.num_frames == 1 and tr.fps == 25.0


def test_deca_says_plainly_when_it_is_not_installed(example_photo, builtin_head):
    import importlib.util

    if importlib.util.find_spec("decalib") is not None:
        pytest.skip("decalib is installed here")
    with pytest.raises(NotAvailableError, match="DECA is not installed"):
        extract_track(example_photo, builtin_head, extractor="deca")


def test_a_text_file_named_mp4_is_a_user_error(tmp_path, builtin_head):
    from emodiffhead.errors import InputFileError

    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video")
    with pytest.raises(InputFileError, match="clip.mp4: not a video"):
        extract_track(fake, builtin_head)


def test_extract_cli_on_a_video_prints_no_native_log_noise(tmp_path, example_photo, builtin_head):
    """mediapipe's TFLite/absl start-up notes (written from its threads) must not reach the terminal."""
    import subprocess
    import sys

    from emodiffhead.face.image import load_photo
    from emodiffhead.video import write_mp4
    from emodiffhead.render.warp_renderer import WarpRenderer
    from emodiffhead.track import Track

    r = WarpRenderer()
    r.prepare(load_photo(example_photo), builtin_head, size=128)
    clip = write_mp4(r.frames(Track.neutral(3, 25.0, builtin_head.name, builtin_head.expression_names)),
                     tmp_path / "clip.mp4", 25.0)
    proc = subprocess.run([sys.executable, "-m", "emodiffhead", "extract", str(clip), "-o",
                           str(tmp_path / "t.json"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""
    assert (tmp_path / "t.json").is_file()


def test_a_video_without_a_face_says_video_not_photo(tmp_path, builtin_head):
    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.video import write_mp4

    rng = np.random.default_rng(0)
    clip = write_mp4((rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(3)), tmp_path / "n.mp4", 25.0)
    with pytest.raises(FaceNotFoundError, match="n.mp4, first frame: no face found") as info:
        extract_track(clip, builtin_head)
    assert "photo" not in str(info.value)
