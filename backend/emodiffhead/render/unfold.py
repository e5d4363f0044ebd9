"""Keep the warp's face triangles from folding over (seams and specks at strong expressions and blinks).

A strong brow lowerer (anger, disgust) moves the brow and the lid crease down while the lid raiser moves
the upper lid up: in 2D the skin between them would have to pass over itself. A dense warp draws such a
fold as a jagged seam of white and black specks (pixels of the eye sampled through flipped triangles).
Real skin bunches up instead. :class:`Unfolder` gives each triangle a floor on its area (a fraction of its
area in the photo) and, where a moved triangle falls below it, relaxes the displacements of its corners
toward their common mean (the triangle moves more rigidly, as compressed skin does) *only as far as it takes
to lift it back onto the floor* (the smallest blend that reaches it, a quadratic in the blend), until no
triangle is folded or too thin. A stronger expression therefore presses the compressed skin onto its floor
and stops there while the rest keeps moving: the repair saturates, it never takes back motion (relaxing to
the full mean did: knit brows drew apart again and a broad smile's corners came down between intensity 1.25
and 1.5). Where that leaves a tangle, full relaxation takes over (from there, then from the start), and as a last
resort (a lid line kinked by a blink over raised lids, where no motion of the free corners can unfold the
triangles on it) the lid points give way too. Triangles that keep their shape cost nothing: a frame without
folds is unchanged.

Pinned points (the lid lines) keep their motion, so an eye keeps the opening the expression gives it. A
triangle standing on a pinned edge (two corners on a lid line, e.g. the thin wedges between the outer
canthus, the lid line next to it and the skin above) cannot be repaired by averaging: its free corner would
only go halfway, and a closing lid that bends its edge down past the canthus leaves it folded. Such a
triangle keeps a floor on its *height* above that edge instead (the same fraction of its height in the
photo), and its free corner is pushed straight away from the edge to reach it.
"""

from __future__ import annotations

import numpy as np

#: A moved triangle keeps at least this fraction of its area in the photo (of its height above a pinned edge).
MIN_AREA_RATIO = 0.35
#: Relaxation steps per frame to the floor only, then at most ITERATIONS full ones (each only touches the
#: offending triangles).
PARTIAL_ITERATIONS = 60
ITERATIONS = 100
#: A relaxed triangle is lifted to this multiple of its floor: a margin, so that it leaves the set of offending
#: triangles instead of hovering on the floor while its neighbours' corrections (averaged at shared corners)
#: pull it back. A larger margin converges in fewer steps (1.3: about half those of 1.05) but takes more of the
#: expression's motion back; 1.1 is the value kept with the sqrt-damped sums and the full-relaxation fallback.
LIFT = 1.1


def signed_area(p: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(F,) signed areas (pixels^2; positive counter-clockwise in x-right/y-up terms) of triangles ``tris``
    (F, 3) int over points ``p`` (N, 2); a sign flip against the photo means the triangle folded over."""
    a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
    e1, e2 = b - a, c - a
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def _blend_to_floor(p: np.ndarray, q: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(B,) smallest blend t in [0, 1] that brings triangles from corners ``p`` (B, 3, 2) toward ``q`` (B, 3, 2)
    (their relaxed, rigidly moved shape) until their signed area, times the sign of ``target`` (B,), reaches
    ``|target|``; 1 where no smaller blend reaches it. The area along the blend is quadratic in t."""
    def cross(a, b):
        return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]

    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    f1, f2 = (q[:, 1] - q[:, 0]) - e1, (q[:, 2] - q[:, 0]) - e2
    s = np.sign(target)
    c0 = s * 0.5 * cross(e1, e2) - np.abs(target)  # s * area(t) - |target| = c0 + c1 t + c2 t^2
    c1 = s * 0.5 * (cross(e1, f2) + cross(f1, e2))
    c2 = s * 0.5 * cross(f1, f2)
    t = np.ones(len(p))
    lin = np.abs(c2) < 1e-9 * np.maximum(np.abs(c1), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lin = np.where(c1 > 0, -c0 / c1, 1.0)
        disc = np.sqrt(np.maximum(c1 * c1 - 4 * c2 * c0, 0.0))
        r1, r2 = (-c1 - disc) / (2 * c2), (-c1 + disc) / (2 * c2)
    roots = np.stack([np.where(lin, t_lin, r1), np.where(lin, t_lin, r2)], 1)
    roots = np.where((roots >= 0) & (roots <= 1) & np.isfinite(roots), roots, np.inf)
    t = np.minimum(t, roots.min(1))
    return np.clip(t, 0.0, 1.0)


def _edge_first(tris: np.ndarray, free: np.ndarray) -> np.ndarray:
    """(F, 3) the same triangles rotated (orientation kept) so that the one free corner of each comes last."""
    k = np.argmax(free[tris], axis=1)  # index of the free corner
    order = (np.arange(3)[None, :] + (k[:, None] + 1)) % 3
    return np.take_along_axis(tris, order, axis=1)


def _heights(p: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For triangles (F, 3) whose last corner is free: (F,) signed height (px) of it above the edge of the
    first two, and (F, 2) the unit normal of that edge pointing to positive heights (zero for a null edge)."""
    a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
    e = b - a
    length = np.hypot(e[:, 0], e[:, 1])
    ok = length > 1e-3
    inv = np.where(ok, 1.0 / np.maximum(length, 1e-3), 0.0)
    n = np.stack([-e[:, 1], e[:, 0]], 1) * inv[:, None]
    h = ((c - a) * n).sum(1)
    return h, n


class Unfolder:
    """Fold repair for one photo's landmark triangulation.

    source: (N, 2) float pixel landmarks of the photo; triangles: (F, 3) int indices into them (the
    triangles to protect). min_area_px: triangles smaller than this in the photo (pixels^2) are ignored
    (their orientation is noise). pinned: indices whose motion is never changed (the lid lines: the
    skin around them absorbs the compression, so an eye keeps the opening the expression gives it).
    Triangles with three pinned corners are left alone; those with two keep a height floor (module doc).
    """

    def __init__(self, source: np.ndarray, triangles: np.ndarray, min_area_ratio: float = MIN_AREA_RATIO,
                 min_area_px: float = 0.5, pinned: np.ndarray | None = None) -> None:
        src = np.asarray(source, np.float64)[:, :2]
        tris = np.asarray(triangles, np.int64)
        self.free = np.ones(len(src), bool)
        if pinned is not None:
            self.free[np.asarray(pinned, np.int64)] = False
        a0 = signed_area(src, tris)
        nfree = self.free[tris].sum(1)
        keep = np.abs(a0) >= min_area_px
        self.source = src
        general = keep & (nfree >= 2)
        self.triangles = tris[general]
        self.floor = (min_area_ratio * a0[general]).astype(np.float64)  # signed: same orientation as the photo
        edge = _edge_first(tris[keep & (nfree == 1)], self.free)
        h0, _ = _heights(src, edge)
        self.edge_triangles = edge
        self.height_floor = min_area_ratio * h0  # signed like the photo's height
        # the last resort (a lid line kinked past what its neighbours can follow): every triangle, nothing pinned
        self.all_triangles = tris[keep & (nfree >= 1)]
        self.all_floor = (min_area_ratio * a0[keep & (nfree >= 1)]).astype(np.float64)

    def bad(self, points: np.ndarray) -> np.ndarray:
        """(F,) bool over the general triangles: moved area below the floor (folded or crushed)."""
        return signed_area(points, self.triangles) * np.sign(self.floor) < np.abs(self.floor)

    def bad_edges(self, points: np.ndarray) -> np.ndarray:
        """(G,) bool over the triangles standing on a pinned edge: height below the floor."""
        h, _ = _heights(points, self.edge_triangles)
        return h * np.sign(self.height_floor) < np.abs(self.height_floor)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Moved landmarks (N, 2+) -> the same with folds relaxed (a new float32 array; extra columns kept)."""
        out = np.array(points, np.float32)
        p = out[:, :2].astype(np.float64)
        bad, bad_e = self.bad(p), self.bad_edges(p)
        self.last_iterations = 0  # relaxation steps the last call took (a measure of its cost)
        if not (bad.any() or bad_e.any()):
            return out
        n = len(p)
        src = self.source[:n]
        free = self.free[:n]
        d = p - src
        steps = 0
        # first to the floor only (PARTIAL_ITERATIONS steps); where that leaves a tangle of triangles pushing each
        # other back, full relaxation from there, and if even that stays tangled (a closing lid under a strongly
        # lowered brow), full relaxation from the start
        for phase in ("partial", "full", "restart"):
            partial = phase == "partial"
            if phase == "restart":
                d = p - src
                bad, bad_e = self.bad(p), self.bad_edges(p)
            for k in range(PARTIAL_ITERATIONS if partial else ITERATIONS):
                steps += 1
                # the partial blend grows toward a full one over the steps: a slow knot still comes undone
                d += self._step(src, d, free, bad, bad_e, (k / PARTIAL_ITERATIONS) ** 2 if partial else 1.0)
                bad, bad_e = self.bad(src + d), self.bad_edges(src + d)
                if not (bad.any() or bad_e.any()):
                    break
            if not (bad.any() or bad_e.any()):
                break
        if bad.any() or bad_e.any():  # still tangled: the lid points give way too, as skin would
            steps += self._relax_unpinned(src, d)
        self.last_iterations = steps
        out[:, :2] = (self.source[: len(d)] + d).astype(np.float32)
        return out

    def _relax_unpinned(self, src: np.ndarray, d: np.ndarray) -> int:
        """Full relaxation of displacements ``d`` (N, 2) in place over every triangle with a free corner, the
        pinned points free too, until none is under its floor; returns the steps taken."""
        n = len(d)
        tris, floor = self.all_triangles, self.all_floor
        for k in range(ITERATIONS):
            bad = signed_area(src + d, tris) * np.sign(floor) < np.abs(floor)
            if not bad.any():
                return k
            t = tris[bad]
            flat = t.reshape(-1)
            diff = (d[t].mean(1, keepdims=True) - d[t]).reshape(-1, 2)
            cnt = np.bincount(flat, minlength=n)
            hit = cnt > 0
            step = np.stack([np.bincount(flat, diff[:, 0], minlength=n), np.bincount(flat, diff[:, 1], minlength=n)], 1)
            d[hit] += step[hit] / cnt[hit, None]
        return ITERATIONS

    def _step(self, src: np.ndarray, d: np.ndarray, free: np.ndarray, bad: np.ndarray, bad_e: np.ndarray,
              least: float) -> np.ndarray:
        """(N, 2) one relaxation step of the displacements ``d`` (N, 2) for the offending triangles: toward each
        triangle's mean displacement, as far as its floor but at least the fraction ``least`` of the way (1: all
        the way, the triangle moved rigidly), averaged over the triangles sharing a corner; free corners of edge
        triangles pushed off their edge."""
        partial = least < 1.0
        n = len(d)
        step = np.zeros((n, 2))
        cnt = np.zeros(n)
        if bad.any():
            t = self.triangles[bad]
            flat = t.reshape(-1)
            diff = d[t].mean(1, keepdims=True) - d[t]  # corner -> triangle mean, (B, 3, 2)
            if partial:
                diff = diff * free[t][..., None]  # the pinned corners do not move: the others go further
                pt = src[t] + d[t]
                blend = np.maximum(_blend_to_floor(pt, pt + diff, LIFT * self.floor[bad]), least)
                diff = diff * blend[:, None, None]
            diff = diff.reshape(-1, 2)
            cnt += np.bincount(flat, minlength=n)
            step[:, 0] += np.bincount(flat, diff[:, 0], minlength=n)
            step[:, 1] += np.bincount(flat, diff[:, 1], minlength=n)
        if bad_e.any():  # the free corner straight off its pinned edge, to the height floor
            t = self.edge_triangles[bad_e]
            h, nrm = _heights(src + d, t)
            sgn = np.sign(self.height_floor[bad_e])
            push = (np.abs(self.height_floor[bad_e]) - h * sgn) * sgn
            c = t[:, 2]
            cnt += np.bincount(c, minlength=n)
            step[:, 0] += np.bincount(c, push * nrm[:, 0], minlength=n)
            step[:, 1] += np.bincount(c, push * nrm[:, 1], minlength=n)
        hit = (cnt > 0) & free
        out = np.zeros((n, 2))
        # a corner shared by several offending triangles: partial corrections summed, damped by sqrt(count) (their
        # mean diluted each one and took many more steps); full ones averaged
        out[hit] = step[hit] / (np.sqrt(cnt[hit, None]) if partial else cnt[hit, None])
        return out
