"""A small vectorised z-buffer triangle rasteriser and Lambert shader (numpy only).

Used for pictures of heads, guidance images and the landmark embedding of the built-in head.

Image conventions: an image is (H, W); pixel (row r, column c) covers the square
[c, c+1) x [r, r+1) of continuous pixel coordinates and is sampled at its centre (c + 0.5, r + 0.5).
Projected points are ``(x, y, depth)`` in those coordinates, x to the right, y down; a smaller depth is
closer to the camera.

World conventions (as :mod:`emodiffhead.head.model`): metres, y up, the face looks along +z, x to the
subject's left. Cameras use OpenCV's camera frame (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "FRONT_ROTATION",
    "Camera",
    "RasterResult",
    "rasterize",
    "vertex_normals",
    "shade",
    "render_mesh",
    "rotation_yaw_pitch",
]

#: World-to-camera rotation of a camera in front of the face looking back at it (along -z).
FRONT_ROTATION = np.diag([1.0, -1.0, -1.0]).astype(np.float64)


def rotation_yaw_pitch(yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """World-to-camera rotation (3, 3) of a camera orbiting the head.

    yaw_deg: the camera orbits about the world y axis; positive moves it toward the subject's left (+x),
    90 shows the subject's left profile. pitch_deg: positive looks from above.
    """
    a, b = np.deg2rad(yaw_deg), np.deg2rad(pitch_deg)
    # camera-to-world orientation: start at the front camera and orbit about world y then camera x.
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    # world->camera = FRONT * (ry @ rx)^T  (rotate the world opposite to the orbit)
    return FRONT_ROTATION @ (ry @ rx.T).T


@dataclass(frozen=True)
class Camera:
    """A pinhole or orthographic camera.

    rotation: (3, 3) world-to-camera rotation (camera frame: x right, y down, z forward).
    translation: (3,) world-to-camera translation in metres (p_cam = R p + t).
    focal: pixels per unit: focal length in pixels (perspective) or pixels per metre (orthographic).
    principal: (2,) principal point (cx, cy) in pixel coordinates (image centre is (W/2, H/2)).
    orthographic: True for a parallel projection (depth is still z_cam).
    """

    rotation: np.ndarray = field(default_factory=lambda: FRONT_ROTATION.copy())
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    focal: float = 1.0
    principal: tuple[float, float] = (0.0, 0.0)
    orthographic: bool = True

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) camera-frame points (float64)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return p @ np.asarray(self.rotation, np.float64).T + np.asarray(self.translation, np.float64)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) ``(x, y, depth)``: pixel coordinates and camera-frame z (metres)."""
        pc = self.to_camera(points)
        z = pc[:, 2]
        if self.orthographic:
            xy = pc[:, :2] * self.focal
        else:
            xy = pc[:, :2] * (self.focal / np.where(np.abs(z) < 1e-9, 1e-9, z))[:, None]
        xy = xy + np.asarray(self.principal, np.float64)
        return np.concatenate([xy, z[:, None]], axis=1)

    @classmethod
    def framing(
        cls,
        vertices: np.ndarray,
        size: tuple[int, int],
        yaw_deg: float = 0.0,
        pitch_deg: float = 0.0,
        orthographic: bool = True,
        margin: float = 0.08,
        fov_deg: float = 20.0,
    ) -> "Camera":
        """A camera that looks at the centre of ``vertices`` (N, 3) and fits them in ``size`` (H, W).

        yaw_deg 0 is the front view; 90 the subject's left profile, -90 the right profile.
        margin: fraction of the image left free on each side. fov_deg: vertical field of view (perspective).
        """
        H, W = size
        R = rotation_yaw_pitch(yaw_deg, pitch_deg)
        v = np.asarray(vertices, np.float64).reshape(-1, 3)
        lo, hi = v.min(0), v.max(0)
        center = (lo + hi) / 2
        pc = (v - center) @ R.T
        half = np.abs(pc[:, :2]).max(0)  # (half width, half height) in metres
        radius = float(np.linalg.norm(hi - lo) / 2)
        usable = 1.0 - 2 * margin
        if orthographic:
            focal = float(min(W * usable / 2 / max(half[0], 1e-9), H * usable / 2 / max(half[1], 1e-9)))
            dist = 2 * radius + 1.0
        else:
            focal = float(H / 2 / np.tan(np.deg2rad(fov_deg) / 2))
            # distance at which every point (at its own depth) projects inside the usable frame
            lim = np.array([W * usable / 2, H * usable / 2]) / focal  # tan of the half-angles
            dist = float(np.max(np.abs(pc[:, :2]) / lim - pc[:, 2:3]))
        t = -R @ center + np.array([0.0, 0.0, dist])
        return cls(rotation=R, translation=t, focal=focal, principal=(W / 2, H / 2), orthographic=orthographic)


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


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) float32 of a mesh with counter-clockwise front faces."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return n.astype(np.float32)


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
