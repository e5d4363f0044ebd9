"""The warp renderer: identity, mouth interior, blinks, head turns."""

from __future__ import annotations

import numpy as np

from emodiffhead.diffusion.metrics import ssim
from emodiffhead.face import facemesh_topology as topo
from emodiffhead.head.model import Joint
from emodiffhead.render.warp import TriangleWarper, build_warp_mesh, drive_points


def test_unmoved_landmarks_reproduce_the_photo_exactly(warp_renderer):
    r = warp_renderer
    mesh = build_warp_mesh(r.fit.landmarks, r.output_size)
    out = TriangleWarper(r.photo, mesh).warp(drive_points(mesh, r.fit.landmarks))
    assert np.abs(out.astype(int) - r.photo).max() <= 1


def test_topology_has_the_three_openings():
    loops = topo.loops()
    assert len(topo.triangles()) == 852
    assert {k: len(v) for k, v in loops.items()} == {"face_oval": 36, "eye_right": 16, "eye_left": 16, "mouth": 20}
    up, lo = topo.mouth_lines()
    assert up[0] == lo[0] == topo.MOUTH_CORNER_RIGHT and up[-1] == lo[-1] == topo.MOUTH_CORNER_LEFT


def test_neutral_track_reproduces_the_photo(warp_renderer, neutral_track):
    frames = list(warp_renderer.frames(neutral_track(2)))
    assert frames[0].shape == warp_renderer.photo.shape
    assert ssim(frames[0], warp_renderer.photo) > 0.95
    # far from the face (top-left corner) nothing moves
    assert np.array_equal(frames[1][:20, :20], warp_renderer.photo[:20, :20])


def _mouth_box(lm, pad=2):
    up, lo = topo.mouth_lines()
    p = np.concatenate([lm[up, :2], lm[lo, :2]])
    x0, y0 = np.floor(p.min(0)).astype(int) + pad
    x1, y1 = np.ceil(p.max(0)).astype(int) - pad
    return x0, y0, x1, y1


def test_open_jaw_darkens_the_mouth(warp_renderer, neutral_track, builtin_head):
    tr = neutral_track(2)
    tr.expression[1, builtin_head.expression_index("jawOpen")] = 0.6
    d = warp_renderer.drive(tr)
    frames = list(warp_renderer.frames(tr))
    x0, y0, x1, y1 = _mouth_box(d.landmarks[1])
    assert y1 - y0 > 4, "the lips must part"
    closed = frames[0][y0:y1, x0:x1].astype(float).mean()
    opened = frames[1][y0:y1, x0:x1].astype(float)
    # dark cavity plus lighter teeth: darker on average and with a wide range of values
    assert opened.mean() < closed - 15
    assert opened.min() < 40


def test_blink_closes_the_eye_without_moving_the_mouth(warp_renderer, neutral_track, builtin_head):
    tr = neutral_track(2)
    tr.expression[1, builtin_head.expression_index("eyeBlinkLeft")] = 1.0
    tr.expression[1, builtin_head.expression_index("eyeBlinkRight")] = 1.0
    d = warp_renderer.drive(tr)
    for side in ("left", "right"):
        up, lo = topo.eye_lines(side)
        open_gap = (d.landmarks[0, lo, 1] - d.landmarks[0, up, 1]).max()
        shut_gap = (d.landmarks[1, lo, 1] - d.landmarks[1, up, 1]).max()
        assert shut_gap < 0.35 * open_gap
    mouth = topo.mouth_lines()[0]
    assert np.abs(d.landmarks[1, mouth, :2] - d.landmarks[0, mouth, :2]).max() < 1.0


def test_head_turn_keeps_the_background_and_moves_the_face(warp_renderer, neutral_track):
    tr = neutral_track(2)
    tr.pose[1, Joint.ROOT] = [0.0, 0.3, 0.0]  # yaw
    f0, f1 = list(warp_renderer.frames(tr))
    d = warp_renderer.drive(tr)
    assert abs(d.landmarks[1, topo.NOSE_TIP, 0] - d.landmarks[0, topo.NOSE_TIP, 0]) > 5
    # the image corners are pinned; the stretch fades out toward them
    assert np.abs(f1[:2, :2].astype(int) - f0[:2, :2]).max() <= 3
    assert np.abs(f1[:20, :20].astype(int) - f0[:20, :20]).mean() < 10
    assert not np.array_equal(f1, f0)
    # no holes: every pixel comes from the photo's colours (no black tears)
    assert (f1.reshape(-1, 3).max(1) > 0).mean() > 0.999


def test_cell_maps_equal_the_per_pixel_maps_under_speech_turn_and_blink(warp_renderer, neutral_track, builtin_head):
    """The fast map (bilinear inside cells that see one triangle, exact elsewhere) equals evaluating every
    pixel's triangle map, including folds (head turn) and closed openings (blink, open jaw)."""
    from emodiffhead.render.warp import affine_maps_by_cells, affine_maps_dense

    r = warp_renderer
    tr = neutral_track(3)
    tr.expression[1, builtin_head.expression_index("jawOpen")] = 0.7
    tr.expression[1, builtin_head.expression_index("eyeBlinkLeft")] = 1.0
    tr.pose[2, Joint.ROOT, 1] = 0.45  # ~26 deg yaw: the far cheek folds
    tr.pose[2, Joint.JAW, 0] = 0.2
    d = r.drive(tr)
    compared, offsets = 0, []
    for k in range(3):
        lm = d.landmarks[k]
        plan = r.warper.draw_plan(drive_points(r.mesh, lm[:, :2]), lm[:, 2])
        if plan is None:
            continue
        region, order, D, A = plan
        # (regions come from draw_plan, so no moved triangle is clipped by the region's edge: OpenCV's fill
        # rasterises a clipped triangle's edge pixels slightly differently for different canvas sizes)
        offsets.append(region[:2])
        for cell in (3, 5):
            fx, fy = affine_maps_by_cells(D, order, A, region, cell)
            ex, ey = affine_maps_dense(D, order, A, region)
            assert fx.shape == ex.shape == (region[3] - region[1], region[2] - region[0])
            assert np.abs(fx - ex).max() < 1e-3 and np.abs(fy - ey).max() < 1e-3
            compared += 1
    assert compared >= 4
    assert any(x0 > 0 and y0 > 0 for x0, y0 in offsets)  # a region away from the image corner was compared
    # and the maps really differ from the identity where the face moved
    assert np.abs(ex - np.arange(ex.shape[1])[None] - region[0]).max() > 2
