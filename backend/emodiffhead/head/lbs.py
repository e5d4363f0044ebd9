"""Linear blend skinning as FLAME defines it, as pure numpy functions (float32, batched over frames).

Shapes use: T frames, V vertices, J joints, S shape components, E expression components,
P = 9 * (J - 1) pose-corrective features, L landmarks, F faces.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "batch_rodrigues",
    "blend_shapes",
    "vertices2joints",
    "pose_features",
    "batch_rigid_transform",
    "skin_vertices",
    "lbs",
    "barycentric_points",
]


def batch_rodrigues(rot_vecs: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Axis-angle vectors to rotation matrices.

    rot_vecs: (..., 3) axis * angle in radians. Returns (..., 3, 3) float32.
    """
    rv = np.asarray(rot_vecs, dtype=np.float64)
    angle = np.linalg.norm(rv, axis=-1, keepdims=True)  # (...,1)
    axis = rv / np.maximum(angle, eps)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zeros = np.zeros_like(x)
    K = np.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], axis=-1).reshape(rv.shape[:-1] + (3, 3))
    s = np.sin(angle)[..., None]
    c = np.cos(angle)[..., None]
    eye = np.eye(3)
    R = eye + s * K + (1.0 - c) * (K @ K)
    return R.astype(np.float32)


def blend_shapes(coeffs: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Per-vertex offsets of a linear blendshape basis.

    coeffs: (T, K); basis: (V, 3, K). Returns offsets (T, V, 3) float32.
    """
    coeffs = np.asarray(coeffs, dtype=np.float32)
    V = basis.shape[0]
    flat = basis.reshape(V * 3, -1)  # (3V, K)
    return (coeffs @ flat.T).reshape(coeffs.shape[0], V, 3).astype(np.float32)


def vertices2joints(regressor: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Joint locations regressed from vertices.

    regressor: (J, V); vertices: (T, V, 3). Returns (T, J, 3) float32.
    """
    return np.einsum("jv,tvc->tjc", regressor, vertices).astype(np.float32)


def pose_features(rot_mats: np.ndarray) -> np.ndarray:
    """FLAME's pose-corrective features: (R_j - I) for every joint but the root, flattened.

    rot_mats: (T, J, 3, 3). Returns (T, 9 * (J - 1)) float32.
    """
    T = rot_mats.shape[0]
    return (rot_mats[:, 1:] - np.eye(3, dtype=np.float32)).reshape(T, -1).astype(np.float32)


def batch_rigid_transform(
    rot_mats: np.ndarray, joints: np.ndarray, parents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Compose local joint rotations along the kinematic chain.

    rot_mats: (T, J, 3, 3) local rotations; joints: (T, J, 3) rest joint positions;
    parents: (J,) parent index, -1 for the root (parents must precede children).
    Returns (posed_joints (T, J, 3), rel_transforms (T, J, 4, 4)) where rel_transforms map a
    rest-pose point to its posed position for that joint (the skinning transforms).
    """
    T, J = joints.shape[:2]
    rel_joints = joints.copy()
    for j in range(1, J):
        rel_joints[:, j] = joints[:, j] - joints[:, parents[j]]
    local = np.zeros((T, J, 4, 4), dtype=np.float32)
    local[:, :, :3, :3] = rot_mats
    local[:, :, :3, 3] = rel_joints
    local[:, :, 3, 3] = 1.0
    world = np.empty_like(local)
    world[:, 0] = local[:, 0]
    for j in range(1, J):
        world[:, j] = world[:, parents[j]] @ local[:, j]
    posed_joints = world[:, :, :3, 3].copy()
    # Remove the rest-pose joint location: A_j = G_j * [I, -j_rest]
    rest_h = np.concatenate([joints, np.zeros((T, J, 1), dtype=np.float32)], axis=-1)  # (T,J,4)
    shift = np.einsum("tjab,tjb->tja", world, rest_h)  # (T,J,4)
    rel = world.copy()
    rel[:, :, :, 3] -= shift
    return posed_joints, rel


def skin_vertices(vertices: np.ndarray, weights: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Apply per-joint transforms blended by skinning weights.

    vertices: (T, V, 3) rest-pose vertices; weights: (V, J); transforms: (T, J, 4, 4).
    Returns (T, V, 3) float32.
    """
    Tv = np.einsum("vj,tjab->tvab", weights, transforms[:, :, :3, :])  # (T,V,3,4)
    out = np.einsum("tvab,tvb->tva", Tv[..., :3], vertices) + Tv[..., 3]
    return out.astype(np.float32)


def lbs(
    coeffs: np.ndarray,
    pose: np.ndarray,
    template: np.ndarray,
    basis: np.ndarray,
    posedirs: np.ndarray | None,
    regressor: np.ndarray,
    parents: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FLAME linear blend skinning.

    coeffs: (T, K) shape and expression coefficients stacked; basis: (V, 3, K) the matching bases;
    pose: (T, J, 3) axis-angle per joint; template: (V, 3); posedirs: (P, 3V) or None;
    regressor: (J, V); parents: (J,); weights: (V, J).
    Returns (vertices (T, V, 3), posed joints (T, J, 3), rest-pose shaped vertices (T, V, 3)).
    """
    pose = np.asarray(pose, dtype=np.float32)
    v_shaped = template[None] + blend_shapes(coeffs, basis)  # (T,V,3)
    joints = vertices2joints(regressor, v_shaped)
    rot_mats = batch_rodrigues(pose)  # (T,J,3,3)
    v_posed = v_shaped
    if posedirs is not None:
        T, V = v_shaped.shape[:2]
        v_posed = v_shaped + (pose_features(rot_mats) @ posedirs).reshape(T, V, 3)
    posed_joints, transforms = batch_rigid_transform(rot_mats, joints, parents)
    verts = skin_vertices(v_posed, weights, transforms)
    return verts, posed_joints, v_shaped


def barycentric_points(vertices: np.ndarray, faces: np.ndarray, face_idx: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Points given by barycentric coordinates on mesh faces (landmarks).

    vertices: (T, V, 3); faces: (F, 3); face_idx: (L,); bary: (L, 3). Returns (T, L, 3) float32.
    """
    tri = vertices[:, faces[face_idx]]  # (T,L,3,3)
    return np.einsum("tlkc,lk->tlc", tri, bary).astype(np.float32)
