"""Topology of mediapipe's 478-point face mesh: triangles and ordered contours (cached, numpy).

The triangles are the 3-cliques of ``FACEMESH_TESSELATION`` minus the two spurious cliques that are not
faces (their three edges are each shared by three cliques). The mesh has four boundary loops: the face
oval, the inner lips (mouth opening) and the two eye openings; ``*_LOOP`` give them in order. Landmarks
468..477 are the irises (refine_landmarks=True); they are not part of the tessellation.
"""

from __future__ import annotations

import collections
import functools
import itertools

import numpy as np

#: A few named landmarks.
UPPER_LIP_INNER_MID = 13
LOWER_LIP_INNER_MID = 14
MOUTH_CORNER_RIGHT = 78  # inner corner, image left
MOUTH_CORNER_LEFT = 308
CHIN = 152
NOSE_TIP = 1
EYE_RIGHT_OUTER, EYE_RIGHT_INNER = 33, 133
EYE_LEFT_OUTER, EYE_LEFT_INNER = 263, 362
EYE_RIGHT_UPPER, EYE_RIGHT_LOWER = 159, 145
EYE_LEFT_UPPER, EYE_LEFT_LOWER = 386, 374
#: Each iris: its centre, then four points on its rim (refine_landmarks=True).
IRIS_RIGHT, IRIS_LEFT = 468, 473


def _edges(name: str) -> list[tuple[int, int]]:
    from mediapipe.python.solutions import face_mesh_connections as c

    return sorted({tuple(sorted(e)) for e in getattr(c, name)})


@functools.lru_cache(maxsize=None)
def triangles() -> np.ndarray:
    """(852, 3) int32 triangles over landmarks 0..467 (consistent orientation not guaranteed)."""
    E = _edges("FACEMESH_TESSELATION")
    adj = collections.defaultdict(set)
    for a, b in E:
        adj[a].add(b)
        adj[b].add(a)
    tris = set()
    for a, b in E:
        for k in adj[a] & adj[b]:
            tris.add(tuple(sorted((a, b, k))))
    count = collections.Counter(e for t in tris for e in itertools.combinations(t, 2))
    fake = {t for t in tris if all(count[e] >= 3 for e in itertools.combinations(t, 2))}
    return np.array(sorted(tris - fake), np.int32)


def _loop(edges: list[tuple[int, int]]) -> np.ndarray:
    """Order the edges of a closed polygon into a vertex loop."""
    adj = collections.defaultdict(list)
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    start = min(adj)
    loop, prev, cur = [start], None, start
    while True:
        nxt = [n for n in adj[cur] if n != prev]
        if not nxt or nxt[0] == start:
            break
        prev, cur = cur, nxt[0]
        loop.append(cur)
    return np.array(loop, np.int32)


def _boundary_edges() -> set[tuple[int, int]]:
    count = collections.Counter(e for t in triangles().tolist() for e in itertools.combinations(sorted(t), 2))
    return {e for e, n in count.items() if n == 1}


@functools.lru_cache(maxsize=None)
def loops() -> dict[str, np.ndarray]:
    """Ordered boundary loops: ``face_oval``, ``mouth`` (inner lips), ``eye_right``, ``eye_left``
    (subject's right eye is on the image left), each (K,) int32."""
    bd = _boundary_edges()
    out = {}
    for key, name in (("face_oval", "FACEMESH_FACE_OVAL"), ("eye_right", "FACEMESH_RIGHT_EYE"),
                      ("eye_left", "FACEMESH_LEFT_EYE"), ("mouth", "FACEMESH_LIPS")):
        out[key] = _loop([e for e in _edges(name) if e in bd])
    return out


@functools.lru_cache(maxsize=None)
def mouth_lines() -> tuple[np.ndarray, np.ndarray]:
    """Inner-lip lines from the right corner (78) to the left corner (308): (upper (K,), lower (K,)) int32."""
    loop = loops()["mouth"].tolist()
    i0, i1 = loop.index(MOUTH_CORNER_RIGHT), loop.index(MOUTH_CORNER_LEFT)
    a = loop[i0:] + loop[:i0]  # starts at 78
    j = a.index(MOUTH_CORNER_LEFT)
    path1, path2 = a[:j + 1], [MOUTH_CORNER_RIGHT] + a[j:][::-1]
    upper, lower = (path1, path2) if UPPER_LIP_INNER_MID in path1 else (path2, path1)
    return np.array(upper, np.int32), np.array(lower, np.int32)


@functools.lru_cache(maxsize=None)
def eye_lines(side: str) -> tuple[np.ndarray, np.ndarray]:
    """Lid lines of one eye (``"right"`` or ``"left"``) from its image-left to image-right corner:
    (upper (K,), lower (K,)) int32."""
    loop = loops()[f"eye_{side}"].tolist()
    c0, c1 = (EYE_RIGHT_OUTER, EYE_RIGHT_INNER) if side == "right" else (EYE_LEFT_INNER, EYE_LEFT_OUTER)
    up_mid = EYE_RIGHT_UPPER if side == "right" else EYE_LEFT_UPPER
    i0 = loop.index(c0)
    a = loop[i0:] + loop[:i0]
    j = a.index(c1)
    p1, p2 = a[:j + 1], [c0] + a[j:][::-1]
    upper, lower = (p1, p2) if up_mid in p1 else (p2, p1)
    return np.array(upper, np.int32), np.array(lower, np.int32)
