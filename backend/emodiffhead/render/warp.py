"""Dense piecewise-affine warp of a photo driven by moved face landmarks (numpy + OpenCV).

The source mesh is built once per photo (:func:`build_warp_mesh`): mediapipe's face tessellation over
the 468 face landmarks, strips that close the eye and mouth openings, and two rings of points around the
face oval (hair, ears, neck) joined by a Delaunay triangulation to fixed points on the image border, so
the background never tears. Each frame (:class:`TriangleWarper`) moves the landmarks, lets the rings
follow the face oval with a fall-off, rasterises the moved triangles into a triangle-id image in
back-to-front order (a fold hides the far side) and samples the photo through each triangle's inverse
affine map with one ``cv2.remap``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import facemesh_topology as topo

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


def build_warp_mesh(landmarks: np.ndarray, image_size: tuple[int, int]) -> WarpMesh:
    """Build the source mesh from (478, 2+) pixel landmarks of a photo of size (H, W)."""
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
        w = (1 - t) * RING_WEIGHTS_TOP[k] + t * RING_WEIGHTS_BOTTOM[k]
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

    map_scale: the backward map is computed on a grid this many times coarser (1 = every pixel, the
    default; 2 is about 1.6x faster but blurs the map where triangles fold, e.g. at the mouth corners)."""

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

    def backward_maps(self, dst_points: np.ndarray, depth: np.ndarray | None = None):
        """Per-pixel source coordinates for destination points (N, 2) inside the changing region.

        depth: (N,) per-point depth (smaller = closer) for back-to-front ordering, or None.
        The piecewise-affine map is continuous across triangle edges, so it is evaluated on a grid
        ``map_scale`` times coarser and interpolated bilinearly. Triangles that do not move are not drawn.
        Returns (x0, y0, map_x, map_y): the region's top-left corner and (h, w) float32 maps (cv2.remap
        convention); None for the maps when nothing moves.
        """
        import cv2

        H, W = self.mesh.image_size
        s = self.map_scale
        dst = np.asarray(dst_points, np.float64)
        tris = self.mesh.triangles
        D = dst[tris]  # (F, 3, 2)
        S = self._src
        moved = np.abs(D - S).max(axis=(1, 2)) > STATIC_PX
        if not moved.any():
            return 0, 0, None, None
        box = np.concatenate([D[moved].reshape(-1, 2), S[moved].reshape(-1, 2)])
        lo, hi = box.min(0), box.max(0)
        x0, y0 = int(max(0, np.floor(lo[0]) - 2)) // s * s, int(max(0, np.floor(lo[1]) - 2)) // s * s
        x1, y1 = int(min(W, np.ceil(hi[0]) + 3)), int(min(H, np.ceil(hi[1]) + 3))
        # coarse samples sit on the centres of pixels x0 + s*j, so the region's edges are sampled exactly
        gw, gh = (x1 - x0 - 1) // s + 2, (y1 - y0 - 1) // s + 2
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
        tri_id = np.full((gh, gw), -1, np.int32)
        pts = np.round(((D - (x0 + 0.5, y0 + 0.5)) / s) * (1 << _SHIFT)).astype(np.int32)
        for f in order.tolist():
            cv2.fillConvexPoly(tri_id, pts[f], int(f), lineType=cv2.LINE_8, shift=_SHIFT)
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
        ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
        xs = x0 + s * xs + 0.5
        ys = y0 + s * ys + 0.5
        valid = tri_id >= 0
        Af = A.reshape(-1, 6).astype(np.float32)[np.maximum(tri_id, 0)]  # (gh, gw, 6)
        map_x = np.where(valid, Af[..., 0] * xs + Af[..., 1] * ys + Af[..., 2], xs) - 0.5
        map_y = np.where(valid, Af[..., 3] * xs + Af[..., 4] * ys + Af[..., 5], ys) - 0.5
        if s > 1:  # full-res pixel x0 + k reads coarse coordinate k / s
            M = np.array([[1.0 / s, 0, 0], [0, 1.0 / s, 0]])
            size = (x1 - x0, y1 - y0)
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            map_x = cv2.warpAffine(map_x.astype(np.float32), M, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
            map_y = cv2.warpAffine(map_y.astype(np.float32), M, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        return x0, y0, map_x[:y1 - y0, :x1 - x0], map_y[:y1 - y0, :x1 - x0]

    def warp(self, dst_points: np.ndarray, depth: np.ndarray | None = None,
             out: np.ndarray | None = None, image: np.ndarray | None = None) -> np.ndarray:
        """The photo warped so source points move to ``dst_points`` (N, 2). Returns (H, W, 3) uint8.

        image: sample this (H, W, 3) uint8 instead of the photo (e.g. the photo with expression shading)."""
        import cv2

        src = self.image if image is None else image
        x0, y0, mx, my = self.backward_maps(dst_points, depth)
        if out is None:
            out = src.copy()
        else:
            out[:] = src
        if mx is None:
            return out
        h, w = mx.shape
        out[y0:y0 + h, x0:x0 + w] = cv2.remap(src, mx, my, interpolation=cv2.INTER_LINEAR,
                                              borderMode=cv2.BORDER_REFLECT)
        return out
