"""Shared mesh geometry: vertex normals."""

from __future__ import annotations

import numpy as np

from emodiffhead.head.mesh import vertex_normals


def test_vertex_normals_of_a_sphere_point_outward():
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=2)
    n = vertex_normals(m.vertices, m.faces)
    assert n.dtype == np.float32 and n.shape == m.vertices.shape
    np.testing.assert_allclose(np.einsum("ij,ij->i", n, m.vertices / np.linalg.norm(m.vertices, axis=1)[:, None]),
                               1.0, atol=0.02)


def test_area_weighting_and_vertices_without_area():
    # a unit square in the xy plane (two counter-clockwise triangles) plus a vertex on no face
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [5, 5, 5]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    n = vertex_normals(v, f)
    np.testing.assert_allclose(n[:4], [[0, 0, 1]] * 4, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-6)  # glTF needs unit normals
    flipped = vertex_normals(v, f[:, ::-1])
    np.testing.assert_allclose(flipped[:4], [[0, 0, -1]] * 4, atol=1e-7)
