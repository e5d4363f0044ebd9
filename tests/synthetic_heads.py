"""Tiny synthetic head models and FLAME-format files for tests (no licensed data, no built-in asset).

``make_head()`` builds a 50-vertex sphere head with the five FLAME joints: the lower front cap is
skinned to the jaw, two small patches to the eyes, the bottom ring to the root and the rest to the neck
(with a few blended vertices), random expression/shape bases and optional pose correctives and UVs.
``write_flame_pickle()`` writes the same arrays as an official FLAME ``generic_model.pkl`` (protocol 2,
``chumpy.ch.Ch`` shapedirs, scipy csc ``J_regressor``) without needing chumpy installed.
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from emodiffhead.head.model import HeadModel

N_LAT, N_LON, RADIUS = 6, 8, 0.1


def sphere(n_lat: int = N_LAT, n_lon: int = N_LON, radius: float = RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """A UV sphere: vertices (2 + n_lat*n_lon, 3) and outward-facing triangles (F, 3)."""
    verts = [(0.0, radius, 0.0)]
    for i in range(n_lat):
        theta = np.pi * (i + 1) / (n_lat + 1)
        for j in range(n_lon):
            phi = 2 * np.pi * j / n_lon
            st = radius * np.sin(theta)
            verts.append((st * np.sin(phi), radius * np.cos(theta), st * np.cos(phi)))
    verts.append((0.0, -radius, 0.0))
    v = np.array(verts, np.float32)
    faces = []
    ring = lambda i, j: 1 + i * n_lon + (j % n_lon)  # noqa: E731
    for j in range(n_lon):
        faces.append((0, ring(0, j), ring(0, j + 1)))
    for i in range(n_lat - 1):
        for j in range(n_lon):
            a, b, c, d = ring(i, j), ring(i + 1, j), ring(i + 1, j + 1), ring(i, j + 1)
            faces += [(a, b, c), (a, c, d)]
    last = len(v) - 1
    for j in range(n_lon):
        faces.append((last, ring(n_lat - 1, j + 1), ring(n_lat - 1, j)))
    f = np.array(faces, np.int32)
    # orient outwards
    tri = v[f]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flip = np.einsum("fc,fc->f", n, tri.mean(1)) < 0
    f[flip] = f[flip][:, ::-1]
    return v, f


def make_head(num_shape: int = 4, num_expression: int = 6, posedirs: bool = False, landmarks: bool = True,
              uv: bool = False, seed: int = 0, name: str = "synthetic") -> HeadModel:
    """A small deterministic HeadModel (50 vertices) for exact hand-checkable tests."""
    rng = np.random.default_rng(seed)
    v, f = sphere()
    V = len(v)
    W = np.zeros((V, 5), np.float32)
    y, z, x = v[:, 1], v[:, 2], v[:, 0]
    jaw = (y < -0.02) & (z > 0.03)
    eye_l = (y > 0.02) & (y < 0.07) & (z > 0.05) & (x > 0.02)
    eye_r = (y > 0.02) & (y < 0.07) & (z > 0.05) & (x < -0.02)
    root = (y < -0.085) & ~jaw
    neck = ~(jaw | eye_l | eye_r | root)
    W[jaw, 2] = 1.0
    W[eye_l, 3] = 1.0
    W[eye_r, 4] = 1.0
    W[root, 0] = 1.0
    W[neck, 1] = 1.0
    # a few blended vertices: neck/jaw on the jaw border, and one vertex with all five influences
    border = np.where(neck & (y < 0.0) & (z > 0.0))[0][:2]
    W[border] = [0.0, 0.6, 0.4, 0.0, 0.0]
    top = 0
    W[top] = [0.1, 0.4, 0.2, 0.15, 0.15]
    assert np.allclose(W.sum(1), 1.0)
    # joints: exact points given by regressor rows over vertices
    reg = np.zeros((5, V), np.float32)
    bottom = V - 1
    reg[0, bottom] = 1.0                                   # root at the bottom pole
    ring_low = 1 + (N_LAT - 2) * N_LON + np.arange(N_LON)  # neck: centre of a low ring
    reg[1, ring_low] = 1.0 / N_LON
    reg[2, np.where(jaw)[0]] = 1.0 / jaw.sum()             # jaw: centroid of the jaw cap
    reg[3, np.where(eye_l)[0]] = 1.0 / max(1, eye_l.sum())
    reg[4, np.where(eye_r)[0]] = 1.0 / max(1, eye_r.sum())
    head = HeadModel(
        name=name,
        template=v,
        faces=f,
        shape_basis=rng.normal(0, 0.004, (V, 3, num_shape)).astype(np.float32),
        expression_basis=_sparse_basis(rng, V, num_expression),
        expression_names=[f"exp{i:03d}" for i in range(num_expression)],
        shape_names=[f"shape{i:03d}" for i in range(num_shape)],
        joint_regressor=reg,
        weights=W,
        posedirs=rng.normal(0, 0.002, (36, 3 * V)).astype(np.float32) if posedirs else None,
        landmark_faces=np.array([0, 5, 17, 40], np.int32) if landmarks else None,
        landmark_bary=np.array([[1, 0, 0], [0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3], [0, 0.5, 0.5]], np.float32)
        if landmarks else None,
        landmark_scheme="test4" if landmarks else "",
    )
    if uv:
        # a seam: every face gets its own 3 uv corners for faces touching longitude 0 (split vertices)
        uvs = np.stack([(np.arctan2(v[:, 0], v[:, 2]) / (2 * np.pi)) % 1.0, 0.5 + v[:, 1] / (2 * RADIUS)], 1)
        uv_list = [uvs]
        uv_faces = f.copy()
        extra = []
        for fi, tri in enumerate(f):
            if np.any(uvs[tri, 0] > 0.75) and np.any(uvs[tri, 0] < 0.25):
                for k, vi in enumerate(tri):
                    if uvs[vi, 0] < 0.25:
                        extra.append(uvs[vi] + [1.0, 0.0])
                        uv_faces[fi, k] = V + len(extra) - 1
        if extra:
            uv_list.append(np.array(extra))
        head.uv = np.concatenate(uv_list).astype(np.float32)
        head.uv_faces = uv_faces
    return head


def _sparse_basis(rng: np.random.Generator, V: int, E: int) -> np.ndarray:
    """(V, 3, E) expression basis where each component moves a random third of the vertices."""
    b = rng.normal(0, 0.01, (V, 3, E)).astype(np.float32)
    mask = rng.random((V, 1, E)) < 0.33
    return (b * mask).astype(np.float32)


# ---- FLAME-format files ------------------------------------------------------------------------

class _FakeCh:
    """Stands in for chumpy.ch.Ch while writing: pickles as ``chumpy.ch.Ch`` with chumpy's state dict."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.asarray(x, np.float64)
        self._dirty_vars = set()
        self._itr = None
        self._depends_on_deps = {}
        self._make_dense = False
        self._make_sparse = False

    def __reduce_ex__(self, protocol):
        import copyreg

        return (copyreg.__newobj__, (type(self),), dict(self.__dict__))


def flame_arrays(head: HeadModel, file_num_shape: int = 300, file_num_expression: int = 100) -> dict:
    """The dict of a FLAME ``generic_model.pkl`` built from ``head`` (zero-padded to 300 + 100 components)."""
    V = head.num_vertices
    shapedirs = np.zeros((V, 3, file_num_shape + file_num_expression), np.float64)
    shapedirs[:, :, :head.num_shape] = head.shape_basis
    shapedirs[:, :, file_num_shape:file_num_shape + head.num_expression] = head.expression_basis
    posedirs = np.zeros((V, 3, 36), np.float64)
    if head.posedirs is not None:
        posedirs = head.posedirs.T.reshape(V, 3, 36).astype(np.float64)
    return {
        "v_template": head.template.astype(np.float64),
        "f": head.faces.astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": sp.csc_matrix(head.joint_regressor.astype(np.float64)),
        "weights": head.weights.astype(np.float64),
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.int64),
        "J": (head.joint_regressor @ head.template).astype(np.float64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


class _OldSparse:
    """Pickles like a csc_matrix from the scipy of FLAME 2020's time: ``scipy.sparse.csc.csc_matrix`` + dict state."""

    def __init__(self, m: sp.csc_matrix) -> None:
        self.__dict__.update({"_shape": m.shape, "maxprint": 50, "format": "csc", "data": m.data,
                              "indices": m.indices, "indptr": m.indptr})

    def __reduce_ex__(self, protocol):
        import copyreg

        return (copyreg.__newobj__, (type(self),), dict(self.__dict__))


def write_flame_pickle(path: Path, head: HeadModel, drop: tuple[str, ...] = (), old_scipy: bool = True,
                       **overrides) -> Path:
    """Write ``head`` as a FLAME chumpy pickle (protocol 2, shapedirs a ``chumpy.ch.Ch``).

    Modules ``chumpy.ch`` (and, with ``old_scipy``, ``scipy.sparse.csc`` holding an old-style
    ``csc_matrix``) exist in ``sys.modules`` only while writing, so readers must cope without them.
    """
    d = flame_arrays(head)
    d.update(overrides)
    for k in drop:
        d.pop(k, None)
    names = ("chumpy", "chumpy.ch", "scipy.sparse.csc")
    saved = {k: sys.modules.get(k) for k in names}
    pkg, mod = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    Ch = type("Ch", (_FakeCh,), {"__module__": "chumpy.ch"})
    mod.Ch = Ch
    pkg.ch = mod
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = pkg, mod
    if old_scipy and isinstance(d.get("J_regressor"), sp.csc_matrix):
        old = types.ModuleType("scipy.sparse.csc")
        old.csc_matrix = type("csc_matrix", (_OldSparse,), {"__module__": "scipy.sparse.csc"})
        sys.modules["scipy.sparse.csc"] = old
        d["J_regressor"] = old.csc_matrix(d["J_regressor"])
    try:
        if isinstance(d.get("shapedirs"), np.ndarray):
            d["shapedirs"] = Ch(d["shapedirs"])
        with open(path, "wb") as fh:
            pickle.dump(d, fh, protocol=2)
    finally:
        for k, m in saved.items():
            if m is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = m
    return Path(path)


def write_flame_npz(path: Path, head: HeadModel) -> Path:
    """Write ``head`` as a FLAME npz variant (same keys, dense J_regressor, plain arrays)."""
    d = flame_arrays(head)
    d["J_regressor"] = d["J_regressor"].toarray()
    np.savez(path, **d)
    return Path(path)
