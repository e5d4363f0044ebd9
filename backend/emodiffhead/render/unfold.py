"""Keep the warp's face triangles from folding over (seams and specks at strong expressions).

A strong brow lowerer (anger, disgust) moves the brow and the lid crease down while the lid raiser moves
the upper lid up: in 2D the skin between them would have to pass over itself. A dense warp draws such a
fold as a jagged seam of white and black specks (pixels of the eye sampled through flipped triangles).
Real skin bunches up instead. :class:`Unfolder` gives each triangle a floor on its area (a fraction of its
area in the photo) and, where a moved triangle falls below it, relaxes the displacements of its corners
toward their common mean (the triangle moves more rigidly, as compressed skin does; pinned points such as
the lid lines keep their motion) until no triangle
is folded or too thin. Triangles that keep their shape cost nothing: a frame without folds is unchanged.
"""

from __future__ import annotations

import numpy as np

#: A moved triangle keeps at least this fraction of its area in the photo.
MIN_AREA_RATIO = 0.35
#: Relaxation steps per frame (each only touches the offending triangles).
ITERATIONS = 100
#: Fraction of the way to the triangle's mean displacement per step.
STEP = 1.0


def signed_area(p: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(F,) signed areas (pixels^2; positive counter-clockwise in x-right/y-up terms) of triangles ``tris``
    (F, 3) int over points ``p`` (N, 2); a sign flip against the photo means the triangle folded over."""
    a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
    e1, e2 = b - a, c - a
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


class Unfolder:
    """Fold repair for one photo's landmark triangulation.

    source: (N, 2) float pixel landmarks of the photo; triangles: (F, 3) int indices into them (the
    triangles to protect). min_area_px: triangles smaller than this in the photo (pixels^2) are ignored
    (their orientation is noise). pinned: indices whose motion is never changed (the lid lines: the
    skin around them absorbs the compression, so an eye keeps the opening the expression gives it).
    """

    def __init__(self, source: np.ndarray, triangles: np.ndarray, min_area_ratio: float = MIN_AREA_RATIO,
                 min_area_px: float = 0.5, pinned: np.ndarray | None = None) -> None:
        src = np.asarray(source, np.float64)[:, :2]
        tris = np.asarray(triangles, np.int64)
        a0 = signed_area(src, tris)
        keep = np.abs(a0) >= min_area_px
        self.source = src
        self.triangles = tris[keep]
        self.floor = (min_area_ratio * a0[keep]).astype(np.float64)  # signed: same orientation as the photo
        self.free = np.ones(len(src), bool)
        if pinned is not None:
            self.free[np.asarray(pinned, np.int64)] = False

    def bad(self, points: np.ndarray) -> np.ndarray:
        """(F,) bool: triangles whose moved area is below the floor (folded or crushed)."""
        return signed_area(points, self.triangles) * np.sign(self.floor) < np.abs(self.floor)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Moved landmarks (N, 2+) -> the same with folds relaxed (a new float32 array; extra columns kept)."""
        out = np.array(points, np.float32)
        p = out[:, :2].astype(np.float64)
        bad = self.bad(p)
        if not bad.any():
            return out
        n = len(p)
        src = self.source[:n]
        free = self.free[:n]
        d = p - src
        for _ in range(ITERATIONS):
            t = self.triangles[bad]
            flat = t.reshape(-1)
            diff = (d[t].mean(1, keepdims=True) - d[t]).reshape(-1, 2)  # corner -> triangle mean, (3B, 2)
            cnt = np.bincount(flat, minlength=n).astype(np.float64)
            px = np.bincount(flat, diff[:, 0], minlength=n)
            py = np.bincount(flat, diff[:, 1], minlength=n)
            hit = (cnt > 0) & free
            d[hit, 0] += STEP * px[hit] / cnt[hit]
            d[hit, 1] += STEP * py[hit] / cnt[hit]
            bad = self.bad(src + d)
            if not bad.any():
                break
        out[:, :2] = (self.source[: len(d)] + d).astype(np.float32)
        return out
