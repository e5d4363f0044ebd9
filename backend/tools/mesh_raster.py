"""A small vectorised z-buffer triangle rasteriser and Lambert shader (numpy only).

Used by the head build tool (``build_builtin_head.py``: pictures of the head and the landmark embedding
of the built-in head) and its tests; the product itself never rasterises meshes.

Image and camera conventions: see :mod:`emodiffhead.head.camera`. Projected points are ``(x, y, depth)``
in pixel coordinates, x to the right, y down; a smaller depth is closer to the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emodiffhead.head.camera import Camera
from emodiffhead.head.mesh import vertex_normals

__all__ = ["RasterResult", "rasterize", "shade", "render_mesh"]


@dataclass(frozen=True)
class RasterResult:
    """Per-pixel visibility from :func:`rasterize`.

    face_id: (H, W) int32 index of the visible face, -1 for background.
    bary: (H, W, 3) float32 barycentric weights of the face's corners at the pixel centre (0 off-mesh).
    depth: (H, W) float32 depth of the visible surface (inf for background).
    """

    face_id: np.ndarray
    bary: np.ndarray
    depth: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool, True where a face is visible."""
        return self.face_id >= 0

    def interpolate(self, values: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """Interpolate per-vertex ``values`` (V, C) over the image -> (H, W, C) float32 (0 on background)."""
        vals = np.asarray(values, np.float32)
        fid = self.face_id
        m = fid >= 0
        out = np.zeros(fid.shape + vals.shape[1:], np.float32)
        corners = vals[np.asarray(faces)[fid[m]]]  # (n, 3, C)
        out[m] = np.einsum("nk,nk...->n...", self.bary[m], corners)
        return out


def rasterize(
    points: np.ndarray,
    faces: np.ndarray,
    size: tuple[int, int],
    perspective_correct: bool = False,
    cull_backfaces: bool = False,
    chunk: int = 2_000_000,
) -> RasterResult:
    """Z-buffer rasterisation of triangles.

    points: (V, 3) projected vertices ``(x, y, depth)`` in pixel coordinates (see module docstring).
    faces: (F, 3) int vertex indices. size: (H, W).
    perspective_correct: the barycentrics are corrected for perspective (depth must be positive view z).
    cull_backfaces: drop triangles that are clockwise on screen (front faces are counter-clockwise in
        world space as seen by the camera, i.e. clockwise in y-down pixel coordinates are back faces).
    chunk: maximum (triangle, pixel) candidate pairs processed at once (memory bound).
    Returns :class:`RasterResult`.
    """
    H, W = int(size[0]), int(size[1])
    pts = np.asarray(points, np.float64)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    face_id = np.full(H * W, -1, np.int32)
    best = np.full(H * W, np.inf, np.float64)
    bary_out = np.zeros((H * W, 3), np.float32)
    if faces.size == 0:
        return RasterResult(face_id.reshape(H, W), bary_out.reshape(H, W, 3), best.astype(np.float32).reshape(H, W))
    tri = pts[faces]  # (F, 3, 3)
    x0, y0 = tri[:, 0, 0], tri[:, 0, 1]
    e1 = tri[:, 1, :2] - tri[:, 0, :2]
    e2 = tri[:, 2, :2] - tri[:, 0, :2]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # twice the signed area (y down)
    valid = (np.abs(area) > 1e-12) & np.isfinite(area)
    valid &= np.all(np.isfinite(tri), axis=(1, 2))
    if cull_backfaces:
        valid &= area < 0  # counter-clockwise in world/y-up = negative signed area in y-down pixels
    # pixel index ranges whose centres can lie inside the triangle's bounding box
    xmin = np.ceil(tri[:, :, 0].min(1) - 0.5).clip(0, W)
    xmax = np.floor(tri[:, :, 0].max(1) - 0.5).clip(-1, W - 1)
    ymin = np.ceil(tri[:, :, 1].min(1) - 0.5).clip(0, H)
    ymax = np.floor(tri[:, :, 1].max(1) - 0.5).clip(-1, H - 1)
    bw = (xmax - xmin + 1).astype(np.int64)
    bh = (ymax - ymin + 1).astype(np.int64)
    valid &= (bw > 0) & (bh > 0)
    idx = np.nonzero(valid)[0]
    counts = (bw[idx] * bh[idx]).astype(np.int64)
    # process triangles in groups whose candidate count fits in ``chunk``
    csum = np.cumsum(counts)
    start = 0
    while start < len(idx):
        base = csum[start - 1] if start > 0 else 0
        stop = int(np.searchsorted(csum, base + chunk, side="right"))
        stop = max(stop, start + 1)
        sel = idx[start:stop]
        cnt = counts[start:stop]
        _raster_chunk(sel, cnt, xmin, ymin, bw, tri, x0, y0, e1, e2, area, W, face_id, best, bary_out,
                      perspective_correct)
        start = stop
    depth = best.astype(np.float32)
    return RasterResult(face_id.reshape(H, W), bary_out.reshape(H, W, 3), depth.reshape(H, W))


def _raster_chunk(sel, cnt, xmin, ymin, bw, tri, x0, y0, e1, e2, area, W, face_id, best, bary_out,
                  perspective_correct):
    """Test every (triangle, pixel) candidate of triangles ``sel`` and merge into the z-buffer in place."""
    total = int(cnt.sum())
    n = len(sel)
    # per-triangle attributes of this chunk (small, contiguous), then one gather per candidate
    owner = np.repeat(np.arange(n, dtype=np.int32), cnt)
    starts = np.cumsum(cnt) - cnt
    offs = np.arange(total, dtype=np.int64) - np.repeat(starts, cnt)
    ry, rx = np.divmod(offs, bw[sel][owner])
    px = xmin[sel].astype(np.int64)[owner] + rx
    py = ymin[sel].astype(np.int64)[owner] + ry
    dx = (px + 0.5) - x0[sel][owner]
    dy = (py + 0.5) - y0[sel][owner]
    inv = 1.0 / area[sel]
    a1, a2 = (e2[sel, 1] * inv)[owner], (e2[sel, 0] * inv)[owner]
    b1 = dx * a1 - dy * a2
    c1, c2 = (e1[sel, 0] * inv)[owner], (e1[sel, 1] * inv)[owner]
    b2 = dy * c1 - dx * c2
    eps = -1e-9
    inside = (b1 >= eps) & (b2 >= eps) & (b1 + b2 <= 1.0 - eps)
    if not inside.any():
        return
    k = np.nonzero(inside)[0]
    o, px, py, b1, b2 = owner[k], px[k], py[k], b1[k], b2[k]
    f = sel[o]
    z = tri[f, :, 2]  # (n, 3)
    bary = np.stack([1.0 - b1 - b2, b1, b2], axis=1)
    if perspective_correct:
        wz = bary / np.where(np.abs(z) < 1e-12, 1e-12, z)
        s = wz.sum(1, keepdims=True)
        depth = 1.0 / s[:, 0]
        bary = wz / s
    else:
        depth = (bary * z).sum(1)
    pix = py * W + px
    # nearest candidate per pixel: scatter-min into the z-buffer, then the candidates that reached it
    # write their face (on exact depth ties the last one written wins, deterministically)
    np.minimum.at(best, pix, depth)
    win = depth <= best[pix]
    p = pix[win]
    face_id[p] = f[win].astype(np.int32)
    bary_out[p] = bary[win].astype(np.float32)


def shade(
    raster: RasterResult,
    faces: np.ndarray,
    normals_cam: np.ndarray,
    colors: np.ndarray | None = None,
    light_dir: tuple[float, float, float] = (0.3, -0.4, -1.0),
    ambient: float = 0.3,
    background: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """Lambert shading of a rasterised mesh.

    faces: (F, 3); normals_cam: (V, 3) vertex normals in the camera frame (z forward);
    colors: (V, 3) albedo in [0, 1] (grey 0.75 if None); light_dir: direction *towards* the light in the
    camera frame (default: from the viewer's upper right, in front of the face); ambient: constant term.
    Returns (H, W, 3) uint8.
    """
    H, W = raster.face_id.shape
    img = np.empty((H, W, 3), np.float32)
    img[:] = np.asarray(background, np.float32) / 255.0
    m = raster.mask
    if not m.any():
        return (img * 255).astype(np.uint8)
    f = np.asarray(faces)[raster.face_id[m]]
    b = raster.bary[m]
    n = np.einsum("nk,nkc->nc", b, np.asarray(normals_cam, np.float32)[f])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    L = np.asarray(light_dir, np.float32)
    L = L / np.linalg.norm(L)
    # normals face the camera when their z is negative; light_dir points from the surface to the light
    lam = np.clip(n @ L, 0.0, 1.0)
    if colors is None:
        alb = np.full((len(f), 3), 0.75, np.float32)
    else:
        alb = np.einsum("nk,nkc->nc", b, np.asarray(colors, np.float32)[f])
    img[m] = alb * (ambient + (1.0 - ambient) * lam)[:, None]
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def render_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    camera: Camera,
    size: tuple[int, int],
    colors: np.ndarray | None = None,
    light_dir: tuple[float, float, float] = (0.3, -0.4, -1.0),
    ambient: float = 0.3,
    background: tuple[int, int, int] = (255, 255, 255),
    return_raster: bool = False,
):
    """Render a mesh with smooth Lambert shading.

    vertices: (V, 3) world points (metres); faces: (F, 3); camera: :class:`Camera`; size: (H, W);
    colors: (V, 3) albedo in [0, 1] or None for grey. Returns (H, W, 3) uint8, or
    ``(image, RasterResult, projected (V, 3))`` when ``return_raster``.
    """
    proj = camera.project(vertices)
    raster = rasterize(proj, faces, size, perspective_correct=not camera.orthographic)
    nrm = vertex_normals(vertices, faces) @ np.asarray(camera.rotation, np.float32).T
    img = shade(raster, faces, nrm, colors=colors, light_dir=light_dir, ambient=ambient, background=background)
    if return_raster:
        return img, raster, proj
    return img
