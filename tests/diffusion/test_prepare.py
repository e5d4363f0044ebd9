"""emodiffhead prepare: crop geometry, splits, bad files skipped and reported."""

from __future__ import annotations

import numpy as np
import pytest

from emodiffhead.diffusion.prepare import apply_crop, crop_box, split_entries
from emodiffhead.errors import InputFileError


def test_crop_box_is_square_around_the_face_and_pads_outside():
    x0, y0, side = crop_box(np.array([100, 100, 200, 220], np.float32), (300, 300))
    assert side == pytest.approx(1.7 * np.sqrt(100 * 120), abs=1)
    assert x0 < 100 and x0 + side > 200 and y0 < 100 and y0 + side > 220
    img = np.zeros((300, 300, 3), np.uint8)
    img[:, :150] = 255
    crop = apply_crop(img, (-50, -50, 300), 64)          # partly outside: replicated border, no crash
    assert crop.shape == (64, 64, 3)
    assert crop[:, :20].min() == 255 and crop[:, -10:].max() == 0


def test_split_single_video_by_time_and_many_by_video():
    one = split_entries(["a"], {"a": 200})
    assert one == [{"name": "a", "train": [0, 160], "val": [160, 200]}]
    many = split_entries([f"v{i}" for i in range(10)], {f"v{i}": 50 for i in range(10)})
    val = [e for e in many if e["val"][1] > 0]
    assert len(val) == 1 and val[0]["train"] == [0, 0]
    assert sum(e["train"][1] for e in many) == 450


def test_bad_files_are_skipped_and_reported(tmp_path):
    from emodiffhead.diffusion.prepare import prepare

    vids = tmp_path / "videos"
    vids.mkdir()
    (vids / "broken.mp4").write_bytes(b"not a video at all")
    (vids / "empty.mov").write_bytes(b"")
    with pytest.raises(InputFileError, match="no video could be prepared") as e:
        prepare(vids, tmp_path / "ds", log=None)
    assert "broken.mp4" in str(e.value) and "empty.mov" in str(e.value)


def test_prepare_real_video_slice(shared_data, tmp_path):
    """A short clip of the shared video: crops, track, audio and guidance line up frame by frame."""
    import av

    src = shared_data / "video" / "talking_head_real_a.mp4"
    clip = tmp_path / "in" / "clip.mp4"
    clip.parent.mkdir()
    from emodiffhead.video import read_video_frames, write_mp4

    frames = list(read_video_frames(src, max_frames=12))
    small = [f[::4, ::4].copy() for f in frames]  # 128 px keeps it fast
    write_mp4(small, clip, 25.0, audio=src)
    from emodiffhead.diffusion.data import load_videos
    from emodiffhead.diffusion.prepare import prepare

    res = prepare(clip.parent, tmp_path / "ds", crop_size=64, log=None)
    assert res.prepared == ["clip"] and not res.skipped
    v = load_videos(tmp_path / "ds", 64)[0]
    T = v.frames.shape[0]
    assert T == 12 and v.guidance.shape == (T, 64, 64, 3) and v.audio.shape[0] == T and v.expression.shape[0] == T
    assert v.train == (0, 10) and v.val == (10, 12)
    # the crop holds the face: the centre is brighter/more varied than a flat border
    assert v.frames[:, 16:48, 16:48].std() > 10
    # resumable: a second run finds it done
    res2 = prepare(clip.parent, tmp_path / "ds", crop_size=64, log=None)
    assert res2.prepared == ["clip"]
    del av
