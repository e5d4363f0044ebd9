"""glTF export: read the .glb back with pygltflib, decode it and evaluate glTF's own skinning/morph rules."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pygltflib
import pytest

from emodiffhead.errors import TrackError
from emodiffhead.head import JOINT_NAMES
from emodiffhead.gltf import export_glb, export_glb_bytes, gltf_vertex_map
from emodiffhead.track import Track
from synthetic_heads import make_head

_DT = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32}
_N = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


class Glb:
    """A decoded .glb: the pygltflib document plus numpy accessors (sparse accessors included)."""

    def __init__(self, data: bytes) -> None:
        self.doc = pygltflib.GLTF2.load_from_bytes(data)
        self.bin = self.doc.binary_blob()

    def _view(self, index: int, dtype, count: int) -> np.ndarray:
        v = self.doc.bufferViews[index]
        return np.frombuffer(self.bin, dtype=dtype, count=count, offset=v.byteOffset or 0)

    def accessor(self, i: int) -> np.ndarray:
        a = self.doc.accessors[i]
        n = _N[a.type]
        dt = _DT[a.componentType]
        if a.bufferView is not None:
            out = self._view(a.bufferView, dt, a.count * n).reshape(a.count, n).copy()
        else:
            out = np.zeros((a.count, n), dt)
        if a.sparse is not None:
            idx = self._view(a.sparse.indices.bufferView, _DT[a.sparse.indices.componentType], a.sparse.count)
            out[idx] = self._view(a.sparse.values.bufferView, dt, a.sparse.count * n).reshape(-1, n)
        return out

    def node(self, name: str):
        return next(n for n in self.doc.nodes if n.name == name)


def quat_to_mat(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def evaluate(glb: Glb, rotations: dict | None = None, weights=None, root_translation=None) -> np.ndarray:
    """Vertices (N, 3) following the glTF spec: morph targets, then skinning with node hierarchy and IBMs."""
    doc = glb.doc
    mesh, skin = doc.meshes[0], doc.skins[0]
    prim = mesh.primitives[0]
    pos = glb.accessor(prim.attributes.POSITION).astype(np.float64)
    if weights is not None:
        for k, t in enumerate(prim.targets):
            pos += weights[k] * glb.accessor(t["POSITION"])
    world = {}

    def local(i):
        n = doc.nodes[i]
        m = np.eye(4)
        q = (rotations or {}).get(i, n.rotation or [0, 0, 0, 1])
        m[:3, :3] = quat_to_mat(q)
        m[:3, 3] = n.translation if not (i == 0 and root_translation is not None) else root_translation
        return m

    def visit(i, parent):
        world[i] = parent @ local(i)
        for c in doc.nodes[i].children or []:
            visit(c, world[i])

    visit(skin.skeleton, np.eye(4))
    ibm = glb.accessor(skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    jm = np.stack([world[j] @ ibm[k] for k, j in enumerate(skin.joints)])
    J = glb.accessor(prim.attributes.JOINTS_0).astype(int)
    W = glb.accessor(prim.attributes.WEIGHTS_0).astype(np.float64)
    M = np.einsum("nk,nkab->nab", W, jm[J])
    return np.einsum("nab,nb->na", M[:, :3, :3], pos) + M[:, :3, 3]


def rotvec_quat(rv):
    rv = np.asarray(rv, float)
    a = np.linalg.norm(rv)
    ax = rv / a if a > 0 else np.zeros(3)
    return [*(ax * np.sin(a / 2)), np.cos(a / 2)]


@pytest.fixture(scope="module")
def head():
    h = make_head(uv=True, num_expression=6)
    h.expression_basis[:, :, 0] = 0.0
    h.expression_basis[[3, 7, 9], :, 0] = 0.01  # component 0 moves 3 vertices: stored as a sparse accessor
    h.expression_basis[:, :, 5] = 0.002         # component 5 moves every vertex: dense
    return h


def top4(head):
    """The same head with at most 4 influences per vertex (what glTF can store), for forward comparisons."""
    w = head.weights.copy()
    for i in np.where((w > 0).sum(1) > 4)[0]:
        w[i, np.argmin(np.where(w[i] > 0, w[i], np.inf))] = 0
        w[i] /= w[i].sum()
    return dataclasses.replace(head, weights=w)


@pytest.fixture(scope="module")
def glb(head):
    return Glb(export_glb_bytes(head))


def test_glb_container_and_structure(head, glb):
    data = export_glb_bytes(head)
    magic, version, length = struct.unpack("<III", data[:12])
    assert (magic, version, length) == (0x46546C67, 2, len(data)) and len(data) % 4 == 0
    doc = glb.doc
    assert doc.asset.version == "2.0"
    assert doc.meshes[0].primitives[0].attributes.COLOR_0 is None  # colours only for the built-in head
    assert [n.name for n in doc.nodes[:5]] == list(JOINT_NAMES)
    assert doc.nodes[0].children == [1] and sorted(doc.nodes[1].children) == [2, 3, 4]
    assert doc.skins[0].joints == [0, 1, 2, 3, 4]
    mesh = doc.meshes[0]
    assert mesh.extras["targetNames"] == head.expression_names
    assert len(mesh.primitives[0].targets) == head.num_expression == len(mesh.weights)
    sparse = [doc.accessors[t["POSITION"]].sparse is not None for t in mesh.primitives[0].targets]
    assert sparse[0] and not sparse[5]
    for t in mesh.primitives[0].targets:  # POSITION accessors need min/max
        a = doc.accessors[t["POSITION"]]
        assert a.min is not None and a.max is not None


def test_vertices_targets_and_weights(head, glb):
    src, tris, uv = gltf_vertex_map(head)
    prim = glb.doc.meshes[0].primitives[0]
    assert len(src) > head.num_vertices  # the fixture's UV seam splits vertices
    np.testing.assert_allclose(glb.accessor(prim.attributes.POSITION), head.template[src], atol=1e-7)
    np.testing.assert_array_equal(glb.accessor(prim.indices).reshape(-1, 3), tris)
    np.testing.assert_array_equal(src[tris], head.faces)  # same triangles as the model
    np.testing.assert_allclose(glb.accessor(prim.attributes.TEXCOORD_0)[:, 1], 1 - head.uv[
        np.unique(np.stack([head.faces.ravel(), head.uv_faces.ravel()], 1), axis=0)[:, 1], 1], atol=1e-7)
    for k, t in enumerate(prim.targets):
        np.testing.assert_allclose(glb.accessor(t["POSITION"]), head.expression_basis[src, :, k], atol=1e-8)
    n = glb.accessor(prim.attributes.NORMAL)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1, atol=1e-5)
    assert np.mean(np.einsum("nc,nc->n", n, head.template[src])) > 0  # outward
    W = glb.accessor(prim.attributes.WEIGHTS_0)
    J = glb.accessor(prim.attributes.JOINTS_0)
    np.testing.assert_allclose(W.sum(1), 1, atol=1e-6)
    top = src == 0  # the vertex with five influences keeps its four strongest, renormalised
    assert sorted(J[top][0][W[top][0] > 0].tolist()) == [1, 2, 3, 4]
    np.testing.assert_allclose(W[top][0].max(), 0.4 / 0.9, atol=1e-6)


def test_rest_and_posed_match_forward(head, glb):
    full = head
    head = top4(head)
    assert np.abs(full.weights - head.weights).max() > 0.05  # the fixture has a 5-influence vertex
    src, _, _ = gltf_vertex_map(head)
    np.testing.assert_allclose(evaluate(glb), head.template[src], atol=1e-6)
    pose = np.zeros((1, 5, 3))
    pose[0, 0] = [0.05, 0.3, 0.0]
    pose[0, 1] = [0.2, -0.1, 0.1]
    pose[0, 2] = [0.35, 0.0, 0.02]
    pose[0, 3] = [0.0, 0.2, 0.0]
    rots = {j: rotvec_quat(pose[0, j]) for j in range(5)}
    np.testing.assert_allclose(evaluate(glb, rots), head.forward(pose=pose).vertices[0][src], atol=1e-6)
    w = np.linspace(-1, 1, head.num_expression)
    np.testing.assert_allclose(evaluate(glb, weights=w), head.forward(expression=w[None]).vertices[0][src],
                               atol=1e-6)


def test_identity_shape_is_baked(head):
    head = top4(head)
    shape = np.array([1.0, -2.0, 0.5, 0.0])
    g = Glb(export_glb_bytes(head, shape=shape, with_uv=False))
    prim = g.doc.meshes[0].primitives[0]
    np.testing.assert_allclose(g.accessor(prim.attributes.POSITION), head.forward(shape).vertices[0], atol=1e-6)
    assert prim.attributes.TEXCOORD_0 is None
    np.testing.assert_allclose(g.node("jaw").translation, head.rest_joints(shape)[2] - head.rest_joints(shape)[1],
                               atol=1e-6)
    pose = np.zeros((1, 5, 3))
    pose[0, 2] = [0.3, 0, 0]
    np.testing.assert_allclose(evaluate(g, {2: rotvec_quat(pose[0, 2])}), head.forward(shape, pose=pose).vertices[0],
                               atol=1e-6)
    with pytest.raises(Exception, match="shape has 2 coefficients"):
        export_glb_bytes(head, shape=np.zeros(2))


def make_track(head, T=5, fps=25.0):
    rng = np.random.default_rng(3)
    tr = Track.neutral(T, fps, head.name, head.expression_names)
    tr.expression = rng.normal(0, 0.5, (T, head.num_expression)).astype(np.float32)
    tr.pose[:, 2, 0] = np.linspace(0, 0.4, T)
    tr.pose[:, 1] = rng.normal(0, 0.1, (T, 3))
    tr.pose[:, 0, 1] = np.linspace(-0.2, 0.2, T)
    tr.translation[:] = rng.normal(0, 0.01, (T, 3))
    return tr


def test_track_animation(head):
    head = top4(head)
    tr = make_track(head)
    g = Glb(export_glb_bytes(head, track=tr, with_uv=False))
    anim = g.doc.animations[0]
    assert anim.name == "track"
    paths = sorted((g.doc.nodes[c.target.node].name, c.target.path) for c in anim.channels)
    assert paths == sorted([(f"{head.name}_head", "weights"), *((n, "rotation") for n in JOINT_NAMES),
                            ("root", "translation")])
    times = g.accessor(anim.samplers[0].input)[:, 0]
    np.testing.assert_allclose(times, np.arange(5) / 25.0, atol=1e-7)
    by_path = {(c.target.node, c.target.path): g.accessor(anim.samplers[c.sampler].output) for c in anim.channels}
    weights = by_path[(5, "weights")].reshape(5, -1)
    np.testing.assert_allclose(weights, tr.expression, atol=1e-7)
    root_j = head.rest_joints()[0]
    for t in range(5):
        rots = {j: by_path[(j, "rotation")][t] for j in range(5)}
        got = evaluate(g, rots, weights=weights[t], root_translation=by_path[(0, "translation")][t])
        ref = head.forward(expression=tr.expression[t:t + 1], pose=tr.pose[t:t + 1],
                           translation=tr.translation[t:t + 1]).vertices[0]
        # exact apart from FLAME's expression-dependent joint locations (not representable in glTF)
        assert np.abs(got - ref).max() < 2e-3
        np.testing.assert_allclose(by_path[(0, "translation")][t], root_j + tr.translation[t], atol=1e-7)
    # with zero expression the animation is exact
    tr.expression[:] = 0
    g = Glb(export_glb_bytes(head, track=tr, with_uv=False))
    by_path = {(c.target.node, c.target.path): g.accessor(g.doc.animations[0].samplers[c.sampler].output)
               for c in g.doc.animations[0].channels}
    for t in range(5):
        rots = {j: by_path[(j, "rotation")][t] for j in range(5)}
        got = evaluate(g, rots, root_translation=by_path[(0, "translation")][t])
        ref = head.forward(pose=tr.pose[t:t + 1], translation=tr.translation[t:t + 1]).vertices[0]
        np.testing.assert_allclose(got, ref, atol=1e-6)


def test_track_must_match_head(head, tmp_path):
    other = make_head(num_expression=3)
    tr = Track.neutral(3, 25, other.name, other.expression_names)
    out = tmp_path / "head.glb"
    out.write_bytes(b"old")
    with pytest.raises(TrackError, match="expression_names"):
        export_glb(head, out, track=tr)
    assert out.read_bytes() == b"old"  # failed export leaves the old file alone
    assert [p.name for p in tmp_path.iterdir()] == ["head.glb"]  # and no temp file


def test_export_file_atomic_and_same_bytes(head, tmp_path):
    out = export_glb(head, tmp_path / "sub" / "head.glb")
    assert out.read_bytes() == export_glb_bytes(head)
    assert [p.name for p in out.parent.iterdir()] == ["head.glb"]


def test_builtin_head_exports_52_targets(builtin_head, tmp_path):
    from emodiffhead.head.driven import driven_targets

    out = export_glb(builtin_head, tmp_path / "builtin.glb")
    g = Glb(out.read_bytes())
    names = g.doc.meshes[0].extras["targetNames"]
    driven = [t.name for t in driven_targets(builtin_head)]  # 7 correctives, 2 soft limits, 4 lid follows after the 52
    assert len(driven) == 13 and names == builtin_head.expression_names + driven and "jawOpen" in names
    assert [t["name"] for t in g.doc.extras["emodiffhead"]["driven_targets"]] == driven
    assert g.doc.extras["emodiffhead"]["expression_names"] == builtin_head.expression_names
    assert out.stat().st_size < 12_000_000
    from emodiffhead.head.builtin import builtin_vertex_colors

    prim = g.doc.meshes[0].primitives[0]
    np.testing.assert_allclose(g.accessor(prim.attributes.COLOR_0),
                               builtin_vertex_colors(builtin_head)[gltf_vertex_map(builtin_head)[0]], atol=1e-7)
    src, _, _ = gltf_vertex_map(builtin_head)
    pose = np.zeros((1, 5, 3))
    pose[0, 2] = [0.25, 0, 0]
    rots = {2: rotvec_quat(pose[0, 2])}
    ref = builtin_head.forward(pose=pose).vertices[0][src]
    assert np.abs(evaluate(g, rots) - ref).max() < 1e-5 + (0.0 if builtin_head.posedirs is None else 5e-3)


def test_builtin_head_driven_targets_pose_like_forward(builtin_head):
    """The glb's driven targets with the weights its formulas give (and the animation's weights channel) pose the
    built-in head as ``HeadModel.forward``: soft limits, correctives and the lids following the eyes' pitch
    (sad 1.5, angry 1.0, surprised 1.5; the eyes looking down, ahead, up)."""
    from emodiffhead.animate.emotion_vectors import emotion_above, emotion_basis, emotion_response
    from emodiffhead.emotion import EMOTIONS

    head = builtin_head
    intens = np.zeros((3, len(EMOTIONS)), np.float32)
    for i, (n, v) in enumerate((("sad", 1.5), ("angry", 1.0), ("surprised", 1.5))):
        intens[i, EMOTIONS.index(n)] = v
    expr = emotion_response(intens, emotion_basis(head), emotion_above(head))
    tr = Track.neutral(3, 25.0, head.name, head.expression_names)
    tr.expression[:] = expr
    tr.pose[:, 3:, 0] = np.array([0.25, 0.0, -0.2])[:, None]   # eye pitch: down, ahead, up
    g = Glb(export_glb_bytes(head, track=tr))
    src, _, _ = gltf_vertex_map(head)
    want = head.forward(expression=expr, pose=tr.pose).vertices[:, src]
    anim = g.doc.animations[0]
    by_path = {(c.target.node, c.target.path): g.accessor(anim.samplers[c.sampler].output) for c in anim.channels}
    weights = by_path[(5, "weights")].reshape(3, -1)
    env = {"__builtins__": {}, "min": np.minimum, "max": np.maximum}
    eyes = np.isin(src, np.r_[head.regions["eye_left"], head.regions["eye_right"]])
    driven = g.doc.extras["emodiffhead"]["driven_targets"]

    def values(t: int, d: dict) -> dict:
        """A driven target's variables at frame t: components' coefficients, joints' pitch."""
        return {**{v: expr[t, head.expression_index(c)] for v, c in d["variables"].items()},
                **{v: tr.pose[t, JOINT_NAMES.index(j), 0] for v, j in d["joints"].items()}}

    for t in range(3):
        formulas = [eval(d["expression"], env, values(t, d)) for d in driven]
        np.testing.assert_allclose(weights[t], np.r_[expr[t], formulas], atol=1e-6)
        rots = {j: by_path[(j, "rotation")][t] for j in range(5)}
        err = np.linalg.norm(evaluate(g, rots, weights=weights[t]) - want[t], axis=1)
        # exact but on the eyeballs: they turn about the rest joints in glTF, about the joints regressed from the
        # expressed mesh in forward (sadness's lowered gaze moves them; not representable in glTF)
        assert err[~eyes].max() < 1e-5 and err[eyes].max() < 3e-4
        assert np.abs(evaluate(g, rots, weights=np.r_[expr[t], np.zeros(len(formulas))]) - want[t]).max() > 1e-3
