"""Export a head model (and optionally a track) as glTF 2.0 binary (.glb) for Blender and other tools.

It sits above both ``head`` and ``track`` (it reads a head model and a track), see docs/architecture.md.
What the file holds (written with numpy following the glTF 2.0 spec; ``pygltflib``, ``trimesh`` and Blender
read it back in the tests):

- one mesh: the shaped neutral head (POSITION, NORMAL, TEXCOORD_0 when the model has UVs; vertices are
  split along UV seams; COLOR_0 part colours for the built-in head), one morph target per expression
  component (POSITION deltas for coefficient 1, sparse accessors where a component moves few vertices),
  names in ``mesh.extras.targetNames`` (Blender's importer uses them as shape key names);
- a skin with the five joints as nodes named as :data:`JOINT_NAMES` (root > neck > jaw, eye_left, eye_right),
  rest positions from the shaped head, inverse bind matrices, up to 4 influences per vertex (renormalised);
- optionally the track as an animation "track" at the track's fps: morph weights on the mesh node, joint
  rotations as quaternions and the track's translation on the root joint (LINEAR interpolation).

Coordinates: the head model's space (metres, y up, face toward +z) is glTF's space, so no conversion.

Morph targets are linear; what ``HeadModel.forward`` adds on top of the linear expression basis travels as
**driven targets** (:mod:`.head.driven`): one morph target per combination corrective
(``expression_correctives``: sadness's inner-lid lift, anger's V brows, the upper lip carried by the chin raiser;
named ``corrective_<k> <driver component>``), one per soft-limited component (``expression_soft_limits``: the
upper-lid raiser above 0.6; named ``soft_limit <component>``, the component's offsets negated) and one per eye and
direction of the upper lid following the eye joint's pitch (``head.lid_follow``; named ``lid_follow <shape>``),
after the E expression targets. ``extras.emodiffhead.driven_targets`` lists them in that order with their weight
formula (``expression``, a Blender simple expression), its ``variables`` (variable -> expression component, valued
at the component's whole coefficient), ``joints`` (variable -> joint, valued at its pitch in radians) and the
weight's ``range``; the Blender add-on drives shape keys with them (docs/blender.md). The animation's weights
channel carries the driven targets' weights too (computed by :func:`.head.driven.driven_weights`), so a glTF
player shows the expression as ``forward`` poses it. Not representable and left out: FLAME pose correctives and
the small shift of joint locations with expression (FLAME regresses joints from the expressed mesh), both
millimetre effects.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from . import __version__
from .errors import InputFileError
from .fileio import atomic_write_bytes
from .head.builtin import builtin_vertex_colors
from .head.driven import DrivenTarget, driven_targets, driven_weights
from .head.mesh import vertex_normals
from .head.model import JOINT_NAMES, HeadModel
from .track import Track, check_compatible

__all__ = ["export_glb", "export_glb_bytes", "gltf_vertex_map"]

_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_SKIN_RGBA = [0.80, 0.62, 0.52, 1.0]


def gltf_vertex_map(head: HeadModel, with_uv: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """How model vertices become glTF vertices.

    Returns (source vertex per glTF vertex (N,) int64, triangles (F, 3) into glTF vertices,
    uv per glTF vertex (N, 2) in glTF convention (origin top left) or None). Without UVs it is the identity.
    """
    if with_uv and head.uv is not None and head.uv_faces is not None:
        pairs = np.stack([head.faces.reshape(-1), np.asarray(head.uv_faces).reshape(-1)], axis=1).astype(np.int64)
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        uv = np.asarray(head.uv, np.float32)[uniq[:, 1]]
        uv = np.stack([uv[:, 0], 1.0 - uv[:, 1]], axis=1).astype(np.float32)
        return uniq[:, 0], inverse.reshape(-1, 3), uv
    return np.arange(head.num_vertices), head.faces.astype(np.int64), None


def _top4_weights(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Up to 4 strongest influences per vertex: joints (N, 4) uint8, weights (N, 4) float32 summing to 1."""
    order = np.argsort(-weights, axis=1, kind="stable")[:, :4]
    w = np.take_along_axis(weights, order, axis=1).astype(np.float64)
    w = np.clip(w, 0.0, None)
    s = w.sum(axis=1, keepdims=True)
    w = np.where(s > 0, w / np.where(s > 0, s, 1.0), [1.0, 0.0, 0.0, 0.0])
    j = np.where(w > 0, order, 0).astype(np.uint8)
    return j, w.astype(np.float32)


class _Builder:
    """Accumulates one binary buffer with its bufferViews and accessors."""

    def __init__(self) -> None:
        self.bin = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, data: bytes, target: int | None = None) -> int:
        while len(self.bin) % 4:
            self.bin.append(0)
        v: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)}
        if target is not None:
            v["target"] = target
        self.bin += data
        self.views.append(v)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, component: int = _FLOAT, target: int | None = None,
                 minmax: bool = False, normalized: bool = False) -> int:
        dtype = {_FLOAT: np.float32, _UBYTE: np.uint8, _USHORT: np.uint16, _UINT: np.uint32}[component]
        a = np.ascontiguousarray(array, dtype=dtype)
        acc: dict[str, Any] = {"bufferView": self.view(a.tobytes(), target), "componentType": component,
                               "count": int(a.shape[0]), "type": kind}
        if normalized:
            acc["normalized"] = True
        if minmax:
            flat = a.reshape(a.shape[0], -1)
            acc["min"] = flat.min(axis=0).tolist()
            acc["max"] = flat.max(axis=0).tolist()
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def morph_accessor(self, deltas: np.ndarray) -> int:
        """VEC3 float deltas (N, 3); sparse when under a third of the vertices move."""
        d = np.ascontiguousarray(deltas, np.float32)
        moving = np.nonzero(np.any(d != 0, axis=1))[0]
        if len(moving) == 0 or len(moving) * 3 >= len(d):
            return self.accessor(d, "VEC3", minmax=True, target=_ARRAY_BUFFER)
        idx_type = _USHORT if len(d) <= 65535 else _UINT
        idx = moving.astype(np.uint16 if idx_type == _USHORT else np.uint32)
        acc = {
            "componentType": _FLOAT, "count": int(len(d)), "type": "VEC3",
            "min": np.minimum(d.min(axis=0), 0).tolist(), "max": np.maximum(d.max(axis=0), 0).tolist(),
            "sparse": {
                "count": int(len(moving)),
                "indices": {"bufferView": self.view(idx.tobytes()), "componentType": idx_type},
                "values": {"bufferView": self.view(np.ascontiguousarray(d[moving]).tobytes())},
            },
        }
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _continuous(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs along axis 0 so consecutive keys take the short way (T, 4)."""
    q = q.copy()
    for t in range(1, len(q)):
        if np.dot(q[t], q[t - 1]) < 0:
            q[t] = -q[t]
    return q


def _default_colors(head: HeadModel) -> np.ndarray | None:
    """The built-in head's part colours (skin, lips, teeth, eyes); None for other models."""
    if head.name != "builtin":
        return None
    return builtin_vertex_colors(head)


def _identity(head: HeadModel, shape: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shape (S,), shaped neutral vertices (V, 3), rest joints (5, 3)) of this identity."""
    S = head.num_shape
    shape = np.zeros(S, np.float32) if shape is None else np.asarray(shape, np.float32).reshape(-1)
    if shape.shape[0] != S:
        raise InputFileError(f"shape has {shape.shape[0]} coefficients; model {head.name!r} has {S}")
    verts = head.template + np.einsum("vck,k->vc", head.shape_basis, shape)
    return shape, verts, head.joint_regressor @ verts


def _mesh(b: _Builder, head: HeadModel, verts: np.ndarray, with_uv: bool,
          vertex_colors: np.ndarray | None, driven: list[DrivenTarget]) -> tuple[dict, bool]:
    """The glTF mesh (one skinned primitive with a morph target per expression component, then one per driven
    target); and whether it carries vertex colours."""
    src, tris, uv = gltf_vertex_map(head, with_uv)
    normals = vertex_normals(verts.astype(np.float64), head.faces)[src]
    pos = verts[src].astype(np.float32)
    attrs = {
        "POSITION": b.accessor(pos, "VEC3", minmax=True, target=_ARRAY_BUFFER),
        "NORMAL": b.accessor(normals, "VEC3", target=_ARRAY_BUFFER),
    }
    if uv is not None:
        attrs["TEXCOORD_0"] = b.accessor(uv, "VEC2", target=_ARRAY_BUFFER)
    colors = _default_colors(head) if vertex_colors is None else np.asarray(vertex_colors, np.float32)
    if colors is not None:
        if colors.shape != (head.num_vertices, 3):
            raise ValueError(f"vertex_colors must be ({head.num_vertices}, 3), got {colors.shape}")
        attrs["COLOR_0"] = b.accessor(np.clip(colors[src], 0.0, 1.0), "VEC3", target=_ARRAY_BUFFER)
    jw_j, jw_w = _top4_weights(head.weights[src])
    attrs["JOINTS_0"] = b.accessor(jw_j, "VEC4", component=_UBYTE, target=_ARRAY_BUFFER)
    attrs["WEIGHTS_0"] = b.accessor(jw_w, "VEC4", target=_ARRAY_BUFFER)
    idx_type = _USHORT if len(pos) <= 65535 else _UINT
    indices = b.accessor(tris.reshape(-1), "SCALAR", component=idx_type, target=_ELEMENT_ARRAY_BUFFER)
    targets = [{"POSITION": b.morph_accessor(head.expression_basis[src, :, e])} for e in range(head.num_expression)]
    targets += [{"POSITION": b.morph_accessor(t.offsets[src])} for t in driven]

    primitive = {"attributes": attrs, "indices": indices, "material": 0, "mode": 4}
    if targets:
        primitive["targets"] = targets
    mesh: dict[str, Any] = {"name": head.name, "primitives": [primitive]}
    if targets:  # glTF: weights and target names only with at least one target
        mesh["weights"] = [0.0] * len(targets)
        mesh["extras"] = {"targetNames": list(head.expression_names) + [t.name for t in driven]}
    return mesh, colors is not None


def _skeleton(b: _Builder, head: HeadModel, joints: np.ndarray) -> tuple[list[dict], dict]:
    """Joint nodes (0..4, root first) plus the mesh node (last), and the skin binding them."""
    parents = [int(p) for p in head.parents]
    nodes: list[dict] = []
    for j, name in enumerate(JOINT_NAMES):
        rel = joints[j] - (joints[parents[j]] if parents[j] >= 0 else 0.0)
        node: dict[str, Any] = {"name": name, "translation": [float(x) for x in rel]}
        children = [k for k in range(len(JOINT_NAMES)) if parents[k] == j]
        if children:
            node["children"] = children
        nodes.append(node)
    nodes.append({"name": f"{head.name}_head", "mesh": 0, "skin": 0})
    ibm = np.tile(np.eye(4, dtype=np.float32), (len(JOINT_NAMES), 1, 1))
    ibm[:, :3, 3] = -joints
    skin = {"name": "head_rig", "joints": list(range(len(JOINT_NAMES))), "skeleton": 0,
            "inverseBindMatrices": b.accessor(ibm.transpose(0, 2, 1).reshape(-1, 16), "MAT4")}  # column-major
    return nodes, skin


def _build(head: HeadModel, shape: np.ndarray | None, track: Track | None, with_uv: bool,
           vertex_colors: np.ndarray | None) -> tuple[dict, bytes]:
    """The glTF JSON document and its binary buffer."""
    shape, verts, joints = _identity(head, shape)
    b = _Builder()
    driven = driven_targets(head)
    mesh, colored = _mesh(b, head, verts, with_uv, vertex_colors, driven)
    nodes, skin = _skeleton(b, head, joints)
    mesh_node = len(nodes) - 1
    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": f"emodiffhead {__version__}"},
        "scene": 0,
        "scenes": [{"name": head.name, "nodes": [0, mesh_node]}],
        "nodes": nodes,
        "meshes": [mesh],
        "skins": [skin],
        "materials": [{"name": "skin", "pbrMetallicRoughness": {
            "baseColorFactor": [1.0, 1.0, 1.0, 1.0] if colored else _SKIN_RGBA, "metallicFactor": 0.0,
                                                                "roughnessFactor": 0.6}}],
        "extras": {"emodiffhead": {"head_model": head.name, "expression_names": list(head.expression_names),
                                   "shape": [float(x) for x in shape], "joint_names": list(JOINT_NAMES),
                                   "driven_targets": [t.to_json() for t in driven]}},
    }
    if track is not None:
        gltf["animations"] = [_animation(b, head, track, joints, mesh_node)]
        gltf["extras"]["emodiffhead"]["fps"] = float(track.fps)
    gltf["accessors"] = b.accessors
    gltf["bufferViews"] = b.views
    while len(b.bin) % 4:
        b.bin.append(0)
    gltf["buffers"] = [{"byteLength": len(b.bin)}]
    return gltf, bytes(b.bin)


def _animation(b: _Builder, head: HeadModel, track: Track, joints: np.ndarray, mesh_node: int) -> dict:
    """The track as animation "track": morph weights, joint rotations and root translation per frame."""
    track.validate()
    check_compatible(track, head.expression_names, head.name)
    T, E = track.num_frames, head.num_expression
    times = b.accessor(np.arange(T, dtype=np.float32) / np.float32(track.fps), "SCALAR", minmax=True)
    samplers: list[dict] = []
    channels: list[dict] = []

    def add(node: int, path: str, values: np.ndarray, kind: str) -> None:
        samplers.append({"input": times, "output": b.accessor(values, kind), "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    if E:  # every target's weight per frame: the expression, then the driven targets' (head.driven)
        w = np.asarray(track.expression, np.float32)
        w = np.concatenate([w, driven_weights(head, w, track.pose)], axis=1)
        add(mesh_node, "weights", w.reshape(-1), "SCALAR")
    for j in range(len(JOINT_NAMES)):
        q = _continuous(Rotation.from_rotvec(np.asarray(track.pose[:, j], np.float64)).as_quat())  # (x, y, z, w)
        add(j, "rotation", q.astype(np.float32), "VEC4")
    add(0, "translation", (joints[0][None] + np.asarray(track.translation, np.float32)).astype(np.float32), "VEC3")
    return {"name": "track", "samplers": samplers, "channels": channels}


def _glb(gltf: dict, binary: bytes) -> bytes:
    js = json.dumps(gltf, separators=(",", ":"), allow_nan=False).encode("utf-8")
    js += b" " * (-len(js) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(js) + 8 + len(binary)
    return b"".join([
        struct.pack("<III", 0x46546C67, 2, total),
        struct.pack("<II", len(js), 0x4E4F534A), js,
        struct.pack("<II", len(binary), 0x004E4942), binary,
    ])


def export_glb_bytes(head: HeadModel, shape: np.ndarray | None = None, track: Track | None = None,
                     with_uv: bool = True, vertex_colors: np.ndarray | None = None) -> bytes:
    """The head as a .glb file in memory.

    head: the model; shape: (S,) identity coefficients (zeros if None); track: optional
    :class:`emodiffhead.track.Track` whose expression names match the head, written as animation "track";
    with_uv: include TEXCOORD_0 (splitting vertices on seams) when the model has UVs;
    vertex_colors: (V, 3) linear RGB in [0, 1] as COLOR_0 (default: the built-in head's part colours,
    none for other models).
    """
    gltf, binary = _build(head, shape, track, with_uv, vertex_colors)
    return _glb(gltf, binary)


def export_glb(head: HeadModel, path: str | os.PathLike, shape: np.ndarray | None = None,
               track: Track | None = None, with_uv: bool = True, vertex_colors: np.ndarray | None = None) -> Path:
    """Write :func:`export_glb_bytes` to ``path`` atomically (temp file + rename). Returns the path."""
    data = export_glb_bytes(head, shape=shape, track=track, with_uv=with_uv, vertex_colors=vertex_colors)
    return atomic_write_bytes(path, data)
