"""The refiner: region boxes and masks, exact warp pixels outside the mask, SDEdit sampling, training
(budgets, resume, cancel), the renderer through the registry and the identity guard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emodiffhead.errors import CancelledError, NotAvailableError

TINY = {
    "name": "refine-test", "kind": "refiner", "region": "mouth", "resolution": 32, "residual_scale": 1.0,
    "model": {"expression_tokens": 2, "cross_attention_dim": 16, "block_out_channels": [8, 16],
              "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
              "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "layers_per_block": 1,
              "attention_head_dim": 4, "norm_num_groups": 4},
    "scheduler": {"num_train_timesteps": 100, "beta_schedule": "squaredcos_cap_v2", "prediction_type": "sample"},
    "train": {"batch_size": 2, "patches": [16, 32], "patch_weights": [0.5, 0.5], "learning_rate": 0.01,
              "warmup_steps": 1, "max_strength": 0.8, "mask_weight": 4.0, "ema": 0.0, "checkpoint_every": 1,
              "validate_every": 0, "threads": 1},
    "inference": {"strength": 0.5, "num_inference_steps": 2, "batch": 2},
}


def _face_landmarks(cx=100.0, cy=120.0, mouth_open=0.0) -> np.ndarray:
    """(478, 3) landmarks with the points the refiner uses: outer lips on an ellipse, eye corners."""
    from emodiffhead.diffusion import refiner_region as rr

    lm = np.zeros((478, 3), np.float32)
    lm[:, 0], lm[:, 1] = cx, cy - 40
    ang = np.linspace(0, 2 * np.pi, len(rr.OUTER_LIPS), endpoint=False)
    lm[rr.OUTER_LIPS, 0] = cx + 20 * np.cos(ang)
    lm[rr.OUTER_LIPS, 1] = cy + (6 + mouth_open) * np.sin(ang)
    lm[rr.MOUTH_CORNERS[0], :2] = (cx - 20, cy)
    lm[rr.MOUTH_CORNERS[1], :2] = (cx + 20, cy)
    lm[rr.EYE_CORNERS[0], :2] = (cx - 40, cy - 60)
    lm[rr.EYE_CORNERS[1], :2] = (cx + 40, cy - 60)
    return lm


def test_mask_follows_the_lips_and_is_exactly_zero_outside():
    from emodiffhead.diffusion import refiner_region as rr

    closed, opened = _face_landmarks(), _face_landmarks(mouth_open=12.0)
    box = rr.region_boxes(closed[None], "mouth")[0]
    assert np.allclose(box[:2], (100, 120), atol=0.5) and box[2] == pytest.approx(1.1 * 80, rel=1e-4)
    rect = rr.box_bounds(box, (240, 200))
    m0 = rr.region_mask(closed, None, box, rect, "mouth")
    m1 = rr.region_mask(opened, None, box, rect, "mouth")
    assert m0.shape == (rect[3] - rect[1], rect[2] - rect[0])
    assert m0.max() > 0.95 and m0[0].max() == 0 and m0[-1].max() == 0 and m0[:, 0].max() == 0  # box border
    ys, xs = np.nonzero(m0 > 0.5)
    assert abs(xs.mean() + rect[0] - 100) < 2 and abs(ys.mean() + rect[1] - 120) < 2  # centred on the lips
    assert (m1 > 0.5).sum() > (m0 > 0.5).sum() * 1.1  # an open mouth gets a taller mask
    assert ((m0 > 0) & (m0 < rr.MASK_FLOOR)).sum() == 0


def test_blend_keeps_the_warp_pixels_exactly_where_the_mask_is_zero():
    from emodiffhead.diffusion import refiner_region as rr

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (240, 200, 3), dtype=np.uint8)
    lm = _face_landmarks()
    box = rr.region_boxes(lm[None], "mouth")[0]
    rect = rr.box_bounds(box, frame.shape[:2])
    mask = rr.region_mask(lm, None, box, rect, "mouth")
    residual = np.full((32, 32, 3), 40.0, np.float32)
    out = rr.blend_residual(frame, residual, box, mask, rect)
    full = np.zeros(frame.shape[:2], np.float32)
    full[rect[1]:rect[3], rect[0]:rect[2]] = mask
    assert np.array_equal(out[full == 0], frame[full == 0])
    inside = full > 0.9
    assert inside.any() and np.abs(out[inside].astype(int) - frame[inside].astype(int)).mean() > 30


def test_crop_and_uncrop_round_trip():
    from emodiffhead.diffusion import refiner_region as rr

    yy, xx = np.mgrid[0:120, 0:160].astype(np.float32)
    img = np.stack([xx, yy, xx + yy], -1)
    box = np.array([70.3, 55.7, 48.0], np.float32)
    c = rr.crop(img, box, 48)  # 1 crop pixel = 1 frame pixel
    rect = rr.box_bounds(box, img.shape[:2])
    back = rr.uncrop(c, box, rect)
    inner = (slice(4, -4), slice(4, -4))
    np.testing.assert_allclose(back[inner], img[rect[1]:rect[3], rect[0]:rect[2]][inner], atol=0.6)


def test_sdedit_timesteps():
    from emodiffhead.diffusion.refiner import sdedit_timesteps

    assert sdedit_timesteps(0.0, 4, 1000) == []
    ts = sdedit_timesteps(0.5, 4, 1000)
    assert ts[0] == 499 and ts == sorted(ts, reverse=True) and len(ts) == 4 and ts[-1] > 0
    assert len(sdedit_timesteps(1.0, 50, 10)) == 10


# ---- a synthetic refiner dataset -----------------------------------------------------------------------------
def make_refiner_dataset(root: Path, head, signature=None, num_frames: int = 10, size: int = 32) -> Path:
    from emodiffhead.diffusion.refiner_data import FORMAT, MANIFEST, VERSION, store_size
    from emodiffhead.track import Track, save_track

    rng = np.random.default_rng(0)
    S = store_size(size)
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S
    base = np.stack([150 + 60 * yy, 110 + 40 * xx, np.full_like(xx, 100)], -1)
    disc = ((xx - 0.5) ** 2 + (yy - 0.55) ** 2 < 0.04)
    real = np.repeat(base[None], num_frames, 0)
    real[:, disc] = (200, 60, 70)  # "lips"
    warp = real.copy()
    warp[:, disc] = (150, 90, 90)  # the warp's duller lips: what the refiner learns to fix
    np.save(root / "real.npy", real.astype(np.uint8))
    np.save(root / "warp.npy", warp.astype(np.uint8))
    np.save(root / "mask.npy", np.repeat((disc * 255).astype(np.uint8)[None], num_frames, 0))
    np.save(root / "audio.npy", rng.normal(size=(num_frames, 16, 40)).astype(np.float32))
    np.save(root / "boxes.npy", np.zeros((num_frames, 3), np.float32))
    tr = Track.neutral(num_frames, 25.0, head.name, head.expression_names)
    tr.expression = rng.normal(size=tr.expression.shape).astype(np.float32) * 0.1
    save_track(tr, root / "track.npz")
    cut = int(num_frames * 0.8)
    (root / MANIFEST).write_text(json.dumps({
        "format": FORMAT, "version": VERSION, "source": "synthetic", "region": "mouth", "size": size,
        "margin": S / size, "store_size": S, "fps": 25.0, "num_frames": num_frames, "image_size": [S, S],
        "train": [0, cut], "val": [cut, num_frames], "signature": signature}))
    return root


@pytest.fixture(scope="session")
def einstein_signature(example_photo, builtin_head):
    from emodiffhead.diffusion.identity import fit_signature
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    w = WarpRenderer()
    fit = w.prepare(load_photo(example_photo), builtin_head, size=128)
    return fit_signature(w.photo, fit)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, builtin_head, einstein_signature):
    from emodiffhead.diffusion.refiner_train import train_refiner

    tmp = tmp_path_factory.mktemp("refiner")
    cfg = tmp / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    ds = make_refiner_dataset(tmp / "ds", builtin_head, signature=[einstein_signature])
    res = train_refiner(ds, tmp / "w", cfg, steps=3, seed=0, log=None, val_frames=2)
    return tmp, res


def test_training_writes_weights_logs_and_budgets(tiny_weights):
    tmp, res = tiny_weights
    w = tmp / "w"
    assert res.steps == 3 and res.cpu_s > 0 and res.wall_s > 0 and res.steps_per_s > 0
    for f in ("emodiffhead_refiner.json", "refiner/config.json", "checkpoint.pt", "train_log.jsonl"):
        assert (w / f).is_file(), f
    cfg = json.loads((w / "emodiffhead_refiner.json").read_text())
    assert cfg["training"]["steps"] == 3 and cfg["training"]["cpu_s"] > 0
    assert cfg["signature"] and "thumb" in cfg["signature"][0]
    v = res.validation
    assert v is not None and np.isfinite(v["psnr_warp"]) and np.isfinite(v["psnr_refined"])
    assert (w / "validation" / "step_3.png").is_file()


def test_training_resumes_from_the_checkpoint(tiny_weights, tmp_path):
    import shutil

    from emodiffhead.diffusion.refiner_train import train_refiner

    tmp, _ = tiny_weights
    w = tmp_path / "w"
    shutil.copytree(tmp / "w", w)
    before = torch.load(w / "checkpoint.pt", weights_only=False)
    res = train_refiner(tmp / "ds", w, tmp / "tiny.json", steps=5, resume=True, log=None, val_frames=2)
    assert res.steps == 5 and res.cpu_s > before["cpu_s"]  # budgets count the whole run
    lines = [json.loads(x) for x in (w / "train_log.jsonl").read_text().splitlines()]
    assert max(x.get("step", 0) for x in lines) == 5


def test_training_cancel_saves_and_says_how_to_resume(tiny_weights, tmp_path):
    from emodiffhead.diffusion.refiner_train import train_refiner

    tmp, _ = tiny_weights
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(CancelledError, match="--resume"):
        train_refiner(tmp / "ds", tmp_path / "w", tmp / "tiny.json", steps=50, log=None, cancel=cancel, val_frames=2)
    ck = torch.load(tmp_path / "w" / "checkpoint.pt", weights_only=False)
    assert 1 <= ck["step"] < 50


def test_training_needs_a_budget_and_a_refiner_config(tiny_weights, tmp_path):
    from emodiffhead.diffusion.refiner_train import train_refiner
    from emodiffhead.errors import InputFileError

    tmp, _ = tiny_weights
    with pytest.raises(InputFileError, match="--steps"):
        train_refiner(tmp / "ds", tmp_path / "w", tmp / "tiny.json", log=None)
    with pytest.raises(InputFileError, match="not a refiner config"):
        train_refiner(tmp / "ds", tmp_path / "w", "tiny", steps=1, log=None)


def test_untrained_refiner_returns_the_warp_and_strength_zero_too(tiny_weights):
    from emodiffhead.diffusion.refiner import Refiner, load_refiner
    from emodiffhead.diffusion.refiner_model import RefinerNet

    tmp, _ = tiny_weights
    trained = load_refiner(tmp / "w")
    rng = np.random.default_rng(1)
    N = 3
    args = (rng.integers(0, 256, (N, 32, 32, 3), dtype=np.uint8), rng.normal(size=(N, 16, 40)).astype(np.float32),
            np.zeros((N, 52), np.float32), np.zeros((N, 18), np.float32), np.zeros((N, 8), np.float32))
    fresh = Refiner(RefinerNet(**trained.model.config), trained.config)  # zero-initialised output layer
    assert np.abs(fresh.refine(*args)).max() == 0
    assert np.abs(trained.refine(*args, strength=0.0)).max() == 0
    r1 = trained.refine(*args, generator=torch.Generator().manual_seed(0))
    r2 = trained.refine(*args, generator=torch.Generator().manual_seed(0))
    assert np.abs(r1).max() > 0 and np.array_equal(r1, r2)  # trained: a residual; seeded: deterministic


# ---- the renderer ------------------------------------------------------------------------------------------------
def _track(head, T=4):
    from emodiffhead.track import Track

    tr = Track.neutral(T, 25.0, head.name, head.expression_names)
    j = head.expression_names.index("jawOpen") if "jawOpen" in head.expression_names else 0
    tr.expression[:, j] = np.linspace(0, 0.8, T)
    return tr


def test_registry_offers_the_refiner_and_explains_what_it_needs(monkeypatch, tiny_weights):
    from emodiffhead.render.registry import available_renderers, get_renderer

    monkeypatch.delenv("EMODIFFHEAD_REFINER_WEIGHTS", raising=False)
    ok, reason = available_renderers()["refiner"]
    assert not ok and "refine-mouth-128" in reason
    with pytest.raises(NotAvailableError, match="emodiffhead prepare"):
        get_renderer("refiner", seed=0)
    monkeypatch.setenv("EMODIFFHEAD_REFINER_WEIGHTS", str(tiny_weights[0] / "w"))
    ok, reason = available_renderers()["refiner"]
    assert ok, reason
    assert get_renderer("refiner").weights == tiny_weights[0] / "w"


def test_refined_frames_equal_the_warp_outside_the_mouth_mask(tiny_weights, example_photo,
                                                              builtin_head):
    from emodiffhead.diffusion import refiner_region as rr
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.registry import get_renderer

    head = builtin_head
    photo = load_photo(example_photo)
    rend = get_renderer("refiner", weights=str(tiny_weights[0] / "w"), strength=0.6)
    fit = rend.prepare(photo, head, size=128)
    assert not [w for w in fit.warnings if "does not look like" in w]  # the face it learned
    track = _track(head)
    calls = []
    out = list(rend.frames(track, audio=np.zeros(16000, np.float32), progress=lambda f, m="": calls.append(f)))
    warp = list(rend.warp.frames(track))
    d = rend.warp.drive(track)
    boxes = rr.region_boxes(d.landmarks, "mouth")
    changed = 0
    for k, (o, w) in enumerate(zip(out, warp)):
        rect = rr.box_bounds(boxes[k], w.shape[:2])
        m = np.zeros(w.shape[:2], np.float32)
        m[rect[1]:rect[3], rect[0]:rect[2]] = rr.region_mask(d.landmarks[k], d.rigid[k], boxes[k], rect, "mouth")
        assert np.array_equal(o[m == 0], w[m == 0])  # identity kept exactly outside the refined region
        changed += int((o != w).any())
    assert changed == len(out)  # the trained refiner did change the mouth of every frame
    assert calls and calls[-1] == pytest.approx(1.0)


def test_refiner_rendering_can_be_cancelled(tiny_weights, example_photo, builtin_head):
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.registry import get_renderer

    rend = get_renderer("refiner", weights=str(tiny_weights[0] / "w"))
    rend.prepare(load_photo(example_photo), builtin_head, size=128)
    with pytest.raises(CancelledError):
        list(rend.frames(_track(builtin_head), cancel=lambda: True))


def test_identity_guard_refuses_another_face_unless_forced(tiny_weights, example_photo,
                                                           builtin_head, einstein_signature, tmp_path):
    import shutil

    from emodiffhead.diffusion.identity import IdentityMismatchError
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.registry import get_renderer

    other = dict(einstein_signature)
    other["thumb"] = (-np.asarray(einstein_signature["thumb"])).tolist()  # another face pattern
    other["skin"] = [einstein_signature["skin"][0] - 30, 20.0, 25.0]  # and another skin colour
    w = tmp_path / "w"
    shutil.copytree(tiny_weights[0] / "w", w)
    cfg = json.loads((w / "emodiffhead_refiner.json").read_text())
    cfg["signature"] = [other]
    (w / "emodiffhead_refiner.json").write_text(json.dumps(cfg))
    photo = load_photo(example_photo)
    rend = get_renderer("refiner", weights=str(w))
    with pytest.raises(IdentityMismatchError) as e:
        rend.prepare(photo, builtin_head, size=128)
    msg = str(e.value)
    assert "does not look like" in msg and "face pattern" in msg and "skin colour" in msg and "--force-identity" in msg
    forced = get_renderer("refiner", weights=str(w), force_identity=True)
    fit = forced.prepare(photo, builtin_head, size=128)
    assert any("does not look like" in x and "force_identity" in x for x in fit.warnings)
    assert len(list(forced.frames(_track(builtin_head, 2)))) == 2


def test_identity_signature_separates_real_people(shared_data):
    """On the shared data: held-out frames of the clip match its training frames; other people's photos do not."""
    from emodiffhead.diffusion.identity import check_identity, face_signature
    from emodiffhead.face.detect import detect_face
    from emodiffhead.face.image import load_photo
    from emodiffhead.video import read_video_frames
    from emodiffhead.render.framing import resize_photo

    frames = list(read_video_frames(shared_data / "video" / "talking_head_real_a.mp4", max_frames=200))
    sig = lambda im: face_signature(im, detect_face(im).landmarks)  # noqa: E731
    trained = [sig(frames[t]) for t in (0, 40, 80, 120, 159)]
    for t in (170, 199):
        assert check_identity(trained, sig(frames[t])).same
    for name in ("einstein_1921.jpg", "man_bw_portrait.jpg", "woman_portrait.jpg"):
        v = check_identity(trained, sig(resize_photo(load_photo(shared_data / "photos" / name), 512)))
        assert not v.same, (name, v.reason)


def test_train_command_trains_a_refiner_and_reports_cpu_time(tiny_weights, tmp_path, capsys):
    from emodiffhead.cli import main

    tmp, _ = tiny_weights
    rc = main(["train", str(tmp / "ds"), "--config", str(tmp / "tiny.json"), "-o", str(tmp_path / "w"),
               "--steps", "2", "--threads", "1"])
    out = capsys.readouterr().out
    assert rc == 0
    res = json.loads(out.strip().splitlines()[-1])
    assert res["steps"] == 2 and res["cpu_s"] > 0 and res["steps_per_s"] > 0
    assert (tmp_path / "w" / "refiner" / "config.json").is_file()


def test_force_identity_is_for_the_refiner_only(tmp_path, example_photo, example_audio, capsys):
    from emodiffhead.cli import main

    rc = main(["render", str(example_photo), str(example_audio), "--force-identity", "-o", str(tmp_path / "x.mp4")])
    assert rc == 2 and "--force-identity applies to the refiner" in capsys.readouterr().err


def test_prepare_refiner_on_a_real_clip_gives_aligned_pairs(shared_data, tmp_path):
    """The shared talking-head clip: crops of the real and the warp frames are aligned on the mouth (each boxed on
    its own landmarks), the split holds out the last 20 %, and a signature is recorded."""
    from emodiffhead.diffusion.refiner_data import load_refiner_data, prepare_refiner

    m = prepare_refiner(shared_data / "video" / "talking_head_real_a.mp4", tmp_path / "ds", size=64)
    T = m["num_frames"]
    assert m["train"] == [0, round(T * 0.8)] and m["val"] == [round(T * 0.8), T]
    assert len(m["signature"]) >= 2 and "thumb" in m["signature"][0]
    assert not (tmp_path / "ds.partial").exists()
    d = load_refiner_data(tmp_path / "ds")
    inside = d.mask > 127
    err = np.abs(d.real.astype(np.float32) - d.warp.astype(np.float32)).mean(-1)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean(err[inside] ** 2))
    assert psnr > 15, psnr  # aligned mouths (boxed on the warp's landmarks for both: about 11 dB)
    # the mouth is in the middle of the crops: the mask's centre of mass is near the crop centre
    ys, xs = np.nonzero(inside[0])
    assert abs(xs.mean() - d.mask.shape[2] / 2) < 8 and abs(ys.mean() - d.mask.shape[1] / 2) < 8


def test_refiner_config_on_a_denoiser_dataset_says_what_to_prepare(tmp_path, capsys):
    from emodiffhead.cli import main

    from .synthetic import make_dataset

    ds = make_dataset(tmp_path / "ds")
    rc = main(["train", str(ds), "--config", "refine-mouth-128", "-o", str(tmp_path / "w"), "--steps", "1"])
    assert rc != 0 and "--kind refiner" in capsys.readouterr().err
