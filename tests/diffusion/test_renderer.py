"""The "diffusion" renderer: a clear error without weights, never noise."""

from __future__ import annotations

import json

import pytest

from emodiffhead.errors import NotAvailableError


def test_registry_says_diffusion_needs_trained_weights():
    from emodiffhead.render.registry import available_renderers, get_renderer

    ok, reason = available_renderers()["diffusion"]
    assert not ok and "weights" in reason and "emodiffhead train" in reason
    with pytest.raises(NotAvailableError, match="emodiffhead train"):
        get_renderer("diffusion")


@pytest.mark.parametrize("weights", [None, "", "does/not/exist"])
def test_constructor_without_usable_weights_explains_how_to_train(weights):
    from emodiffhead.render.registry import get_renderer

    with pytest.raises(NotAvailableError) as e:
        get_renderer("diffusion", weights=weights) if weights is not None else get_renderer("diffusion", seed=0)
    msg = str(e.value)
    assert "weights" in msg and "emodiffhead prepare" in msg and "emodiffhead train" in msg


def test_a_folder_that_is_not_weights_is_refused(tmp_path):
    from emodiffhead.diffusion.renderer import DiffusionRenderer

    (tmp_path / "model_index.json").write_text("{}")
    with pytest.raises(NotAvailableError, match="emodiffhead_config.json"):
        DiffusionRenderer(weights=tmp_path)


def test_render_command_without_weights_fails_with_the_message(tmp_path, example_photo, example_audio, capsys):
    from emodiffhead.cli import main

    rc = main(["render", str(example_photo), str(example_audio), "--renderer", "diffusion",
               "-o", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err
    assert rc == 2 and "trained weights" in err and "emodiffhead train" in err
    assert not (tmp_path / "x.mp4").exists()


def _dummy_weights(w, head):
    """Seeded untrained weights for ``head`` in the trainer's layout (save_pretrained + the config file)."""
    import torch

    from emodiffhead.diffusion.config import CONFIG_FILE, load_config
    from emodiffhead.diffusion.models import EmoDenoiser
    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline, make_scheduler

    cfg = load_config(str(__import__("pathlib").Path(__file__).with_name("tiny_config.json")))
    cfg["model"].update(expression_dim=head.num_expression, pose_dim=18, num_emotions=8, audio_window=16,
                        audio_mels=40)
    torch.manual_seed(0)
    pipe = EmoDiffHeadPipeline(EmoDenoiser(**cfg["model"]), make_scheduler("ddim", cfg["scheduler"]))
    pipe.save_pretrained(w)
    (w / CONFIG_FILE).write_text(json.dumps(cfg))
    return w


def test_render_video_with_weights_writes_an_mp4_with_audio(tmp_path, example_photo, builtin_head):
    """Seeded dummy weights in the trainer's layout -> render_video(..., renderer="diffusion") -> mp4 + audio."""
    import numpy as np

    from emodiffhead.audio.io import AudioClip
    from emodiffhead.render.pipeline import render_video
    from emodiffhead.video import probe_mp4

    w = _dummy_weights(tmp_path / "weights", builtin_head)
    sr = 16000
    t = np.arange(int(0.4 * sr)) / sr
    clip = AudioClip.from_array((0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32))
    from emodiffhead.track import Track

    track = Track.neutral(10, 25.0, builtin_head.name, list(builtin_head.expression_names))
    track.expression[:, 0] = np.linspace(0, 0.8, 10)
    res = render_video(example_photo, clip, tmp_path / "out.mp4", track=track, renderer="diffusion",
                       renderer_options={"weights": str(w)}, size=128, head=builtin_head)
    info = probe_mp4(res.path)
    assert res.num_frames == 10 and info["num_frames"] == 10 and info["audio_duration_s"] > 0.3
    assert min(info["width"], info["height"]) == 128


def test_pasted_face_follows_the_face_oval_without_a_square_edge(tmp_path, example_photo, builtin_head):
    """The diffusion crop is blended under a mask that follows the posed face oval: the crop square's border
    (beyond the oval) keeps the warp frame's pixels exactly, and the face centre takes the model's pixels."""
    import numpy as np

    from emodiffhead.face.image import load_photo
    from emodiffhead.render.registry import get_renderer
    from emodiffhead.track import Track

    rend = get_renderer("diffusion", weights=str(_dummy_weights(tmp_path / "weights", builtin_head)))
    rend.prepare(load_photo(example_photo), builtin_head, size=128)
    track = Track.neutral(2, 25.0, builtin_head.name, list(builtin_head.expression_names))
    out = list(rend.frames(track))
    warp = list(rend.warp.frames(track))
    x0, y0, side = rend.crop
    H, W = rend.output_size
    ring = np.zeros((H, W), bool)  # a thin ring just inside the crop square (where the old paste had its edge)
    ring[max(0, y0 + 3):min(H, y0 + side - 3), max(0, x0 + 3):min(W, x0 + side - 3)] = True
    ring[max(0, y0 + 8):min(H, y0 + side - 8), max(0, x0 + 8):min(W, x0 + side - 8)] = False
    assert ring.any()
    for o, f in zip(out, warp):
        assert np.array_equal(o[ring], f[ring])  # untouched near the square: no edge to see
        cy, cx = y0 + side // 2, x0 + side // 2
        assert (o[cy - 5:cy + 5, cx - 5:cx + 5] != f[cy - 5:cy + 5, cx - 5:cx + 5]).any()  # the face was pasted
