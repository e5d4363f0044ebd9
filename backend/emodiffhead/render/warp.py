"""Dense piecewise-affine warp of a photo driven by moved face landmarks (numpy + OpenCV).

The source mesh is built once per photo (:func:`build_warp_mesh`): mediapipe's face tessellation over
the 468 face landmarks, strips that close the eye and mouth openings, and two rings of points around the
face oval (hair, ears, neck) joined by a Delaunay triangulation to fixed points on the image border, so
the background never tears. Each frame (:class:`TriangleWarper`) moves the landmarks, lets the rings
follow the face oval with a fall-off, rasterises the moved triangles into a triangle-id image in
back-to-front order (a fold hides the far side) and samples the photo through each triangle's inverse
affine map with one ``cv2.remap``. On large frames the per-pixel map is computed cell by cell
(:func:`affine_maps_by_cells`): interpolated inside cells that see one triangle, evaluated per pixel only
where a triangle edge crosses, with the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face import facemesh_topology as topo

#: Ring radii around the face oval, as multiples of the oval's distance from the face centre.
RING_SCALES = (1.15, 1.4, 1.8, 2.4)
#: How much of the oval's motion each ring follows, above (top) and below (bottom) the face centre: a
#: smooth fall-off spreads the stretch of a head turn over the hair, neck and collar.
RING_WEIGHTS_TOP = (0.95, 0.8, 0.5, 0.2)
RING_WEIGHTS_BOTTOM = (0.8, 0.5, 0.25, 0.05)
#: Triangle layers.
LAYER_OUTER, LAYER_FACE, LAYER_EYE, LAYER_MOUTH = 0, 1, 2, 3
_SHIFT = 4  # sub-pixel bits for cv2.fillConvexPoly
#: Triangles whose corners all move less than this (pixels) keep the photo's pixels.
STATIC_PX = 0.05
#: Side of the cells (pixels, odd) of the fast exact map: a cell whose pixels and corners all see one triangle
#: is filled by bilinear interpolation of its corners (exact for an affine map), the others pixel by pixel.
CELL = 3
#: Regions smaller than this (pixels) evaluate every pixel directly: their triangles are only a few cells
#: wide, so the cell bookkeeping would cost more than it saves (measured: 512 px frames are faster dense).
CELL_MIN_PIXELS = 600_000


@dataclass(frozen=True)
class WarpMesh:
    """Source triangulation of one photo.

    points: (N, 2) float32 source pixel positions; the first 478 are the face landmarks (irises 468..477
        are carried but not triangulated), then ring points, then fixed border points.
    triangles: (F, 3) int32 into points. layer: (F,) int8 LAYER_* per triangle.
    ring_anchor: (R,) int32 face-oval landmark each ring point follows; ring_weight: (R,) float32.
    ring_start: index of the first ring point; border_start: index of the first border point.
    image_size: (H, W).
    """

    points: np.ndarray
    triangles: np.ndarray
    layer: np.ndarray
    ring_anchor: np.ndarray
    ring_weight: np.ndarray
    ring_start: int
    border_start: int
    image_size: tuple[int, int]


def _strip(upper: np.ndarray, lower: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangles closing the opening between two lines with shared end points (corner to corner)."""
    tris = []
    for i in range(len(upper) - 1):
        a, b, c, d = upper[i], upper[i + 1], lower[i + 1], lower[i]
        if a != d:
            tris.append((a, b, d))
        if b != c:
            tris.append((b, c, d))
    return tris


def build_warp_mesh(landmarks: np.ndarray, image_size: tuple[int, int],
                    ring_weights_bottom: tuple[float, ...] = RING_WEIGHTS_BOTTOM) -> WarpMesh:
    """Build the source mesh from (478, 2+) pixel landmarks of a photo of size (H, W); ``ring_weights_bottom``:
    how much of the oval's motion each ring follows below the face (one per ``RING_SCALES``)."""
    from scipy.spatial import Delaunay

    H, W = int(image_size[0]), int(image_size[1])
    lmk = np.asarray(landmarks, np.float32)[:, :2]
    oval = topo.loops()["face_oval"]
    c = lmk[oval].mean(0)
    rings, anchors, weights = [], [], []
    ext = lmk[oval] - c
    dy = ext[:, 1] / np.maximum(np.linalg.norm(ext, axis=1), 1e-6)  # -1 top .. +1 bottom
    t = (dy + 1) / 2
    for k, s in enumerate(RING_SCALES):
        p = c + s * ext
        w = (1 - t) * RING_WEIGHTS_TOP[k] + t * ring_weights_bottom[k]
        rings.append(p)
        anchors.append(oval)
        weights.append(w)
    ring = np.concatenate(rings)
    anchor = np.concatenate(anchors)
    weight = np.concatenate(weights).astype(np.float32)
    # keep ring points that are inside the image and not too close to each other or to the face
    keep = (ring[:, 0] > 2) & (ring[:, 0] < W - 3) & (ring[:, 1] > 2) & (ring[:, 1] < H - 3)
    ring, anchor, weight = ring[keep], anchor[keep], weight[keep]
    sel = []
    for i, p in enumerate(ring):
        if all(np.hypot(*(p - ring[j])) > 6 for j in sel):
            sel.append(i)
    ring, anchor, weight = ring[sel], anchor[sel], weight[sel]
    # fixed border points
    n = 8
    xs, ys = np.linspace(0, W - 1, n + 1), np.linspace(0, H - 1, n + 1)
    border = np.unique(np.concatenate([
        np.stack([xs, np.zeros_like(xs)], 1), np.stack([xs, np.full_like(xs, H - 1)], 1),
        np.stack([np.zeros_like(ys), ys], 1), np.stack([np.full_like(ys, W - 1), ys], 1)]), axis=0)
    points = np.concatenate([lmk, ring, border]).astype(np.float32)
    ring_start = len(lmk)
    border_start = ring_start + len(ring)
    # face layer + openings
    tris = [tuple(t) for t in topo.triangles().tolist()]
    layers = [LAYER_FACE] * len(tris)
    mu, ml = topo.mouth_lines()
    m = _strip(mu.tolist(), ml.tolist())
    tris += m
    layers += [LAYER_MOUTH] * len(m)
    for side in ("right", "left"):
        eu, el = topo.eye_lines(side)
        e = _strip(eu.tolist(), el.tolist())
        tris += e
        layers += [LAYER_EYE] * len(e)
    # outer layer: Delaunay of oval + ring + border, triangles outside the oval
    outer_idx = np.concatenate([oval, np.arange(ring_start, len(points))])
    dl = Delaunay(points[outer_idx].astype(np.float64))
    import cv2

    oval_poly = lmk[oval].astype(np.float32).reshape(-1, 1, 2)
    for simplex in dl.simplices:
        g = outer_idx[simplex]
        cen = points[g].mean(0)
        if cv2.pointPolygonTest(oval_poly, (float(cen[0]), float(cen[1])), False) < 0:
            tris.append(tuple(int(v) for v in g))
            layers.append(LAYER_OUTER)
    return WarpMesh(points=points, triangles=np.array(tris, np.int32), layer=np.array(layers, np.int8),
                    ring_anchor=anchor.astype(np.int32), ring_weight=weight, ring_start=ring_start,
                    border_start=border_start, image_size=(H, W))


def drive_points(mesh: WarpMesh, target_landmarks: np.ndarray) -> np.ndarray:
    """All (N, 2) destination points for (478, 2+) moved landmarks: rings follow the face oval's
    displacement with their weights, border points stay."""
    tgt = np.asarray(target_landmarks, np.float32)[:, :2]
    dst = mesh.points.copy()
    L = mesh.ring_start
    dst[:L] = tgt
    disp = tgt[mesh.ring_anchor] - mesh.points[mesh.ring_anchor]
    dst[L:mesh.border_start] += disp * mesh.ring_weight[:, None]
    return dst


class TriangleWarper:
    """Warps one photo (H, W, 3) uint8 through a :class:`WarpMesh`; reuse it for every frame.

    map_scale: 1 (default) gives the exact per-pixel backward map (:meth:`backward_maps`: every pixel on
    small frames, :func:`affine_maps_by_cells` on large ones, same values); 2 or more computes it on a grid
    that many times coarser and interpolates (faster but blurs the map where triangles fold, e.g. at the
    mouth corners)."""

    def __init__(self, image: np.ndarray, mesh: WarpMesh, map_scale: int = 1) -> None:
        self.image = np.ascontiguousarray(image)
        self.mesh = mesh
        self.map_scale = int(map_scale)
        H, W = mesh.image_size
        if self.image.shape[:2] != (H, W):
            raise ValueError(f"image is {self.image.shape[:2]}, mesh was built for {(H, W)}")
        src = mesh.points[mesh.triangles]  # (F, 3, 2)
        self._src = src.astype(np.float64)
        moving = mesh.points[:mesh.border_start]
        self._src_box = (moving.min(0), moving.max(0))

    def draw_plan(self, dst_points: np.ndarray, depth: np.ndarray | None = None):
        """What one frame draws: (region, order, D, A), or None when nothing moves.

        region: (x0, y0, x1, y1) pixel box that can change; order: (K,) int triangle ids in drawing order
        (later ones cover earlier ones; still triangles are left out); D: (F, 3, 2) float64 destination
        triangles; A: (F + 1, 2, 3) float64 backward affine maps, destination pixel centre -> source
        position (row F: the identity, for pixels no triangle covers).
        """
        H, W = self.mesh.image_size
        s = self.map_scale
        dst = np.asarray(dst_points, np.float64)
        tris = self.mesh.triangles
        D = dst[tris]  # (F, 3, 2)
        S = self._src
        moved = np.abs(D - S).max(axis=(1, 2)) > STATIC_PX
        if not moved.any():
            return None
        box = np.concatenate([D[moved].reshape(-1, 2), S[moved].reshape(-1, 2)])
        lo, hi = box.min(0), box.max(0)
        x0, y0 = int(max(0, np.floor(lo[0]) - 2)) // s * s, int(max(0, np.floor(lo[1]) - 2)) // s * s
        x1, y1 = int(min(W, np.ceil(hi[0]) + 3)), int(min(H, np.ceil(hi[1]) + 3))
        # draw order: outer ring, then the eye and mouth openings, then face triangles far to near
        layer = self.mesh.layer
        base = np.where(layer == LAYER_OUTER, -2e9, np.where(layer == LAYER_FACE, 0.0, -1e9))
        order_key = base
        if depth is not None:
            z = np.asarray(depth, np.float64).reshape(-1)
            if len(z) < len(dst):
                z = np.concatenate([z, np.full(len(dst) - len(z), z.max())])
            dz = z[tris].mean(1)
            order_key = np.where(layer == LAYER_FACE, -dz, base)
        e1, e2 = D[:, 1] - D[:, 0], D[:, 2] - D[:, 0]
        det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        area = 0.5 * np.abs(det)
        # collapsed openings go first of all: they only fill pixels that no other triangle covers
        hole = (layer == LAYER_EYE) | (layer == LAYER_MOUTH)
        order_key = np.where(hole & (area <= 0.25), -3e9, order_key)
        order = np.argsort(order_key, kind="stable")
        order = order[moved[order]]
        # inverse affine per triangle, in closed form: src = s0 + [s1-s0, s2-s0] M^-1 (p - d0)
        ok = np.abs(det) > 1e-9
        inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        Minv = np.stack([np.stack([e2[:, 1], -e2[:, 0]], 1), np.stack([-e1[:, 1], e1[:, 0]], 1)], 1) \
            * inv_det[:, None, None]  # (F, 2, 2)
        Sm = np.stack([S[:, 1] - S[:, 0], S[:, 2] - S[:, 0]], 2)  # (F, 2, 2) columns
        Alin = Sm @ Minv
        At = S[:, 0] - np.einsum("fij,fj->fi", Alin, D[:, 0])
        A = np.concatenate([Alin, At[:, :, None]], 2)  # (F, 2, 3)
        A[~ok] = 0.0
        A[~ok, :, 2] = S[~ok].mean(1)
        A = np.concatenate([A, np.array([[[1.0, 0, 0], [0, 1.0, 0]]])])  # identity for uncovered pixels
        return (x0, y0, x1, y1), order, D, A

    def backward_maps(self, dst_points: np.ndarray, depth: np.ndarray | None = None):
        """Per-pixel source coordinates for destination points (N, 2) inside the changing region.

        depth: (N,) per-point depth (smaller = closer) for back-to-front ordering, or None.
        Triangles that do not move are not drawn.
        Returns (x0, y0, map_x, map_y): the region's top-left corner and (h, w) float32 maps (cv2.remap
        convention); None for the maps when nothing moves.
        """
        plan = self.draw_plan(dst_points, depth)
        if plan is None:
            return 0, 0, None, None
        (x0, y0, x1, y1), order, D, A = plan
        if self.map_scale == 1 and (x1 - x0) * (y1 - y0) >= CELL_MIN_PIXELS:
            mx, my = affine_maps_by_cells(D, order, A, (x0, y0, x1, y1))
        elif self.map_scale == 1:
            mx, my = affine_maps_dense(D, order, A, (x0, y0, x1, y1))
        else:
            mx, my = affine_maps_coarse(D, order, A, (x0, y0, x1, y1), self.map_scale)
        return x0, y0, mx, my

    def warp(self, dst_points: np.ndarray, depth: np.ndarray | None = None,
             out: np.ndarray | None = None, image: np.ndarray | None = None) -> np.ndarray:
        """The photo warped so source points move to ``dst_points`` (N, 2). Returns (H, W, 3) uint8.

        image: sample this (H, W, 3) uint8 instead of the photo (e.g. the photo with expression shading).
        Only the changing region is resampled (``cv2.remap``); the still background is copied."""
        import cv2

        src = self.image if image is None else image
        x0, y0, mx, my = self.backward_maps(dst_points, depth)
        H, W = self.mesh.image_size
        if mx is None:
            if out is None:
                return src.copy()
            out[:] = src
            return out
        h, w = mx.shape
        if out is None and (h, w) == (H, W):  # the whole frame moves: no background to copy
            return cv2.remap(src, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if out is None:
            out = src.copy()
        else:
            out[:] = src
        out[y0:y0 + h, x0:x0 + w] = cv2.remap(src, mx, my, interpolation=cv2.INTER_LINEAR,
                                              borderMode=cv2.BORDER_REFLECT)
        return out


def triangle_ids(D: np.ndarray, order: np.ndarray, origin: tuple[float, float], step: int,
                 shape: tuple[int, int], empty: int) -> np.ndarray:
    """(gh, gw) int16 (int32 beyond 32766 triangles) id of the triangle seen at the points
    ``origin + step * (j, i)`` (continuous pixel coordinates: pixel (r, c) has its centre at (c + 0.5, r + 0.5)).

    D: (F, 3, 2) destination triangles in pixels; order: triangle ids, later ones drawn over earlier ones;
    empty: the id of points no triangle covers.
    """
    import cv2

    tri_id = np.full(shape, empty, np.int16 if empty < np.iinfo(np.int16).max else np.int32)
    pts = np.round(((D - np.asarray(origin, np.float64)) / step) * (1 << _SHIFT)).astype(np.int32)
    for f in order.tolist():
        cv2.fillConvexPoly(tri_id, pts[f], int(f), lineType=cv2.LINE_8, shift=_SHIFT)
    return tri_id


def _apply_affine(A6: np.ndarray, tri: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps of pixel centres (xs, ys) float32 through the affine rows ``A6[tri]`` (A6: (6, F+1)
    float32, one row per coefficient)."""
    out = []
    for k in (0, 3):
        m = A6[k].take(tri) * xs
        m += A6[k + 1].take(tri) * ys
        m += A6[k + 2].take(tri)
        m -= np.float32(0.5)
        out.append(m)
    return out[0], out[1]


def _centres(start: int, n: int) -> np.ndarray:
    """(n,) float32 continuous coordinates of the centres of pixels start .. start + n - 1."""
    return (np.arange(n) + (start + 0.5)).astype(np.float32)


def affine_maps_by_cells(D: np.ndarray, order: np.ndarray, A: np.ndarray, region: tuple[int, int, int, int],
                         cell: int = CELL) -> tuple[np.ndarray, np.ndarray]:
    """Exact backward maps (h, w) float32 of ``region`` (x0, y0, x1, y1): the values of
    :func:`affine_maps_dense` (up to float rounding, < 0.001 px) at a fraction of the cost on large frames.

    Inside one triangle the map is affine, and bilinear interpolation of an affine function is exact. The map
    is evaluated at every ``cell``-th pixel (odd: ``cv2.resize``'s samples then sit on pixel centres,
    ``cell // 2`` pixels in from the region's corner) and the whole region interpolated at once; then every
    cell whose pixels and corner samples do not all see one triangle (a triangle edge, a fold or an opening
    crosses it), and the strips before the first samples, are evaluated pixel by pixel.
    D: (F, 3, 2) destination triangles; order: drawing order; A: (F + 1, 2, 3) backward affine maps.
    """
    import cv2

    x0, y0, x1, y1 = region
    h, w = y1 - y0, x1 - x0
    c = int(cell)
    if c < 3 or c % 2 == 0:
        raise ValueError(f"cell must be odd and at least 3, got {c}")
    half = c // 2
    nv, nu = max(1, -(-(h - half) // c)), max(1, -(-(w - half) // c))  # cells; sample v at pixel half + c v
    gh, gw = (nv + 1) * c, (nu + 1) * c
    A6 = np.ascontiguousarray(A.reshape(-1, 6).T, np.float32)
    tri = triangle_ids(D, order, (x0 + 0.5, y0 + 0.5), 1, (gh, gw), len(A) - 1)
    samples = tri[half::c, half::c]  # (nv + 1, nu + 1)
    cx, cy = _apply_affine(A6, samples, _centres(x0 + half, (nu + 1) * c)[None, ::c],
                           _centres(y0 + half, (nv + 1) * c)[::c, None])
    map_x = cv2.resize(cx, (gw, gh), interpolation=cv2.INTER_LINEAR)
    map_y = cv2.resize(cy, (gw, gh), interpolation=cv2.INTER_LINEAR)
    # a cell is clean when no pixel of it differs from its right or lower neighbour and the far corner
    # sample agrees: then the closed square between its four samples sees one triangle
    edge = cv2.bitwise_or(cv2.compare(tri[:-1, :-1], tri[:-1, 1:], cv2.CMP_NE),
                          cv2.compare(tri[:-1, :-1], tri[1:, :-1], cv2.CMP_NE))
    mixed = cv2.resize(edge[half:half + c * nv, half:half + c * nu], (nu, nv), interpolation=cv2.INTER_AREA) > 0
    clean = ~mixed & (samples[1:, 1:] == samples[:-1, :-1])
    cv_, cu = np.nonzero(~clean)
    if len(cv_):  # every pixel of the mixed cells, as flat indices into the (gh, gw) arrays
        oy, ox = np.divmod(np.arange(c * c, dtype=np.int32), c)
        ys = (half + c * cv_.astype(np.int32))[:, None] + oy[None, :]
        xs = (half + c * cu.astype(np.int32))[:, None] + ox[None, :]
        idx = (ys * gw + xs).reshape(-1)
        ex, ey = _apply_affine(A6, tri.reshape(-1).take(idx), xs.reshape(-1).astype(np.float32) + np.float32(x0 + 0.5),
                               ys.reshape(-1).astype(np.float32) + np.float32(y0 + 0.5))
        map_x.reshape(-1)[idx] = ex
        map_y.reshape(-1)[idx] = ey
    # the strips above and left of the first samples
    tx, ty = _apply_affine(A6, tri[:half, :w], _centres(x0, w)[None, :], _centres(y0, half)[:, None])
    lx, ly = _apply_affine(A6, tri[:h, :half], _centres(x0, half)[None, :], _centres(y0, h)[:, None])
    map_x[:half, :w], map_y[:half, :w] = tx, ty
    map_x[:h, :half], map_y[:h, :half] = lx, ly
    return map_x[:h, :w], map_y[:h, :w]


def affine_maps_dense(D: np.ndarray, order: np.ndarray, A: np.ndarray,
                      region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Reference backward maps (h, w) float32: every pixel's triangle map evaluated at that pixel (slow on
    large frames; :func:`affine_maps_by_cells` gives the same values). Arguments as there."""
    x0, y0, x1, y1 = region
    tri = triangle_ids(D, order, (x0 + 0.5, y0 + 0.5), 1, (y1 - y0, x1 - x0), len(A) - 1)
    xs = (x0 + np.arange(x1 - x0) + 0.5).astype(np.float32)[None, :]
    ys = (y0 + np.arange(y1 - y0) + 0.5).astype(np.float32)[:, None]
    return _apply_affine(np.ascontiguousarray(A.reshape(-1, 6).T, np.float32), tri, xs, ys)


def affine_maps_coarse(D: np.ndarray, order: np.ndarray, A: np.ndarray, region: tuple[int, int, int, int],
                       scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate backward maps (h, w) float32: evaluated every ``scale`` pixels and interpolated bilinearly
    (blurs the map where triangles fold). Arguments as :func:`affine_maps_by_cells`."""
    import cv2

    x0, y0, x1, y1 = region
    s = int(scale)
    gw, gh = (x1 - x0 - 1) // s + 2, (y1 - y0 - 1) // s + 2
    tri = triangle_ids(D, order, (x0 + 0.5, y0 + 0.5), s, (gh, gw), len(A) - 1)
    xs = (x0 + s * np.arange(gw) + 0.5).astype(np.float32)[None, :]
    ys = (y0 + s * np.arange(gh) + 0.5).astype(np.float32)[:, None]
    mx, my = _apply_affine(np.ascontiguousarray(A.reshape(-1, 6).T, np.float32), tri, xs, ys)
    M = np.array([[1.0 / s, 0, 0], [0, 1.0 / s, 0]])
    size = (x1 - x0, y1 - y0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return (cv2.warpAffine(mx, M, size, flags=flags, borderMode=cv2.BORDER_REPLICATE),
            cv2.warpAffine(my, M, size, flags=flags, borderMode=cv2.BORDER_REPLICATE))
