"""The head build tool's z-buffer rasteriser: coverage and barycentrics by hand, occlusion, shading."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from emodiffhead.head.camera import Camera

TOOLS = Path(__file__).resolve().parents[2] / "backend" / "tools"
sys.path.insert(0, str(TOOLS))
try:
    from mesh_raster import rasterize, render_mesh
finally:
    sys.path.remove(str(TOOLS))


def test_single_triangle_coverage_and_barycentrics():
    # right triangle with legs of 4 px: pixel centres (c+0.5, r+0.5) with c + r <= 3 lie inside
    pts = np.array([[0.0, 0.0, 1.0], [4.0, 0.0, 1.0], [0.0, 4.0, 1.0]])
    r = rasterize(pts, np.array([[0, 1, 2]]), (6, 6))
    rows, cols = np.nonzero(r.face_id == 0)
    inside = {(int(a), int(b)) for a, b in zip(rows, cols)}
    expected = {(y, x) for y in range(6) for x in range(6) if (x + 0.5) + (y + 0.5) <= 4.0}
    assert inside == expected
    assert (r.face_id[r.face_id != 0] == -1).all()
    # pixel (row 1, col 2): centre (2.5, 1.5) -> weights (1 - 2.5/4 - 1.5/4, 2.5/4, 1.5/4)
    np.testing.assert_allclose(r.bary[1, 2], [0.0, 0.625, 0.375], atol=1e-6)
    np.testing.assert_allclose(r.bary[0, 0], [0.75, 0.125, 0.125], atol=1e-6)
    assert r.depth[0, 0] == pytest.approx(1.0)
    assert np.isinf(r.depth[5, 5])


def test_nearer_triangle_wins_regardless_of_order():
    far = [[0, 0, 5.0], [8, 0, 5.0], [0, 8, 5.0]]
    near = [[0, 0, 2.0], [8, 0, 2.0], [0, 8, 2.0]]
    pts = np.array(far + near, float)
    for faces, near_id in (([[0, 1, 2], [3, 4, 5]], 1), ([[3, 4, 5], [0, 1, 2]], 0)):
        r = rasterize(pts, np.array(faces), (8, 8))
        assert (r.face_id[r.face_id >= 0] == near_id).all()
        assert r.depth[1, 1] == pytest.approx(2.0)


def test_depth_is_interpolated_and_decides_per_pixel():
    # two crossing triangles: one slopes from depth 0 (left) to 10 (right), the other is flat at 5
    pts = np.array([[0, 0, 0.0], [10, 0, 10.0], [0, 10, 0.0], [10, 10, 10.0],
                    [0, 0, 5.0], [10, 0, 5.0], [0, 10, 5.0], [10, 10, 5.0]])
    faces = np.array([[0, 1, 2], [2, 1, 3], [4, 5, 6], [6, 5, 7]])
    r = rasterize(pts, faces, (10, 10))
    assert set(np.unique(r.face_id[:, :4])) <= {0, 1}  # slope is nearer on the left
    assert set(np.unique(r.face_id[:, 6:])) <= {2, 3}  # flat one on the right
    np.testing.assert_allclose(r.depth[3, 2], 2.5, atol=1e-5)


def test_large_triangle_is_chunked_consistently():
    pts = np.array([[-50, -50, 1.0], [200, -50, 1.0], [-50, 200, 1.0]])
    a = rasterize(pts, np.array([[0, 1, 2]]), (64, 64))
    b = rasterize(pts, np.array([[0, 1, 2]]), (64, 64), chunk=100)
    assert (a.face_id == 0).all()
    np.testing.assert_array_equal(a.face_id, b.face_id)
    np.testing.assert_allclose(a.bary, b.bary)


def test_render_mesh_shades_a_sphere_like_mesh():
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=2)
    cam = Camera.framing(m.vertices, (48, 48))
    img, raster, proj = render_mesh(m.vertices, m.faces, cam, (48, 48), return_raster=True)
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    assert (img[0, 0] == 255).all() and raster.mask[24, 24]
    left = int(np.nonzero(raster.mask[24])[0].min())
    centre, rim = img[24, 24, 0], img[24, left + 1, 0]
    assert centre > rim  # Lambert: facing the light/camera is brighter than grazing
    colors = np.tile([[1.0, 0.0, 0.0]], (len(m.vertices), 1))
    red = render_mesh(m.vertices, m.faces, cam, (48, 48), colors=colors)
    assert red[24, 24, 0] > 0 and red[24, 24, 1] == 0
