"""Mesh geometry shared by the glTF export and the pictures of heads."""

from __future__ import annotations

import numpy as np

__all__ = ["vertex_normals"]

#: The normal of a vertex that touches no face with area (glTF needs unit normals): the face's forward.
_NO_AREA_NORMAL = (0.0, 0.0, 1.0)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) float32 of a mesh with counter-clockwise front faces.

    vertices: (V, 3); faces: (F, 3) int. A vertex on no face with area gets +z.
    """
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 0, n / np.maximum(length, 1e-20), _NO_AREA_NORMAL)
    return n.astype(np.float32)
