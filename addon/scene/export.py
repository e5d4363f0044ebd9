"""Read the evaluated animation back into a track (after the artist's edits).

Per frame: expression_base[e] = value of shape key e; emotion[c] = value of ``emotion_<c>``;
expression = expression_base + emotion @ emotion_basis + max(0, emotion - 1) @ emotion_basis_above (the
backend's emotion response, ``track_io.emotion_term``);
pose = each joint bone's ``matrix_basis`` rotation, translation = the root bone's location (head space).

Two ways to sample, same numbers:

- **F-curves** (fast, the default when allowed): each shape-key / bone-channel F-curve of the shape keys'
  and the armature's action (Blender 5.0 layered actions: the channelbag of the assigned slot) is
  evaluated with ``fcurve.evaluate(frame)`` (keys, interpolation and F-curve modifiers included), then
  stored the way the animation system stores it (clamped to the shape key's slider range, float32); a
  channel without a curve keeps its current value, as it does under ``frame_set``.
- **frame_set** (exact fallback): ``scene.frame_set(f)`` at every frame and read the properties back.

The F-curve path is used only when nothing else can change those properties while the frame changes; the
scene is sampled with ``frame_set`` when any of these holds (see :func:`fast_path_blockers`):
drivers on the shape keys (other than the add-on's own: the above-1 emotion keys, the driven soft-limit and
corrective keys and their totals, whose values are not read) or on
the armature; NLA tracks, tweak mode, or an active action with influence
!= 1, a blend mode other than Replace or extrapolation other than Hold; an action with a manual frame
range, more than one layer or strip; a muted F-curve or group, an empty F-curve or two curves for one
channel; an F-curve on any other property (e.g. ``eval_time``, ``slider_max``, the armature object's
transform); a joint bone whose rotation mode is not Euler; an armature with a parent or object
constraints; any ``frame_change_pre/post`` handler. Things that do not change the values read here
(bone constraints and parents, shape-key ``relative_key``, mute, vertex group, which change the *shape* but
not ``value``/``matrix_basis``) need no fallback: both paths export the same numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import bpy
import numpy as np
from mathutils import Euler, Matrix, Vector

from ..track_io import TrackData, emotion_term
from . import head as head_scene
from . import keyframes, mapping
from . import rig

SAMPLING = ("auto", "fcurves", "frame_set")

_KEY_PATH = re.compile(r'^key_blocks\["(.*)"\]\.value$')
_BONE_PATH = re.compile(r'^pose\.bones\["(.*)"\]\.(location|rotation_euler|rotation_quaternion|'
                        r'rotation_axis_angle|scale)$')
_EULER_MODES = {"XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"}


def head_frame_range(scene, mesh_obj) -> tuple[int, int]:
    """The range of the head's last animation, else the scene's frame range (inclusive)."""
    r = head_scene.recall(mesh_obj, "range", None)
    return (int(r[0]), int(r[1])) if r else (scene.frame_start, scene.frame_end)


def _anim_blockers(id_data, label: str, pattern: re.Pattern,
                   own_driver: Callable[[str], bool] | None = None) -> list[str]:
    """Why ``id_data``'s animation cannot be replaced by evaluating its action's F-curves (empty: it can).
    ``own_driver(data_path)``: True for the add-on's own drivers, which drive nothing the export reads (None: no
    driver is the add-on's)."""
    ad = id_data.animation_data if id_data is not None else None
    if ad is None:
        return []
    out = []
    if any(own_driver is None or not own_driver(d.data_path) for d in ad.drivers):
        out.append(f"{label} has drivers")
    if len(ad.nla_tracks) or ad.use_tweak_mode:
        out.append(f"{label} uses NLA tracks")
    if ad.action is None:
        return out
    if abs(ad.action_influence - 1.0) > 0 or ad.action_blend_type != "REPLACE" or ad.action_extrapolation != "HOLD":
        out.append(f"{label}'s action has influence/blend/extrapolation settings")
    action = ad.action
    if action.use_frame_range:
        out.append(f"{label}'s action has a manual frame range")
    if getattr(action, "is_action_layered", False) and (
            len(action.layers) > 1 or any(len(layer.strips) > 1 for layer in action.layers)):
        out.append(f"{label}'s action has several layers or strips")
    bag = keyframes.channelbag(id_data)
    if bag is None:
        return out
    seen = set()
    for fc in bag.fcurves:
        ch = (fc.data_path, fc.array_index)
        if not pattern.match(fc.data_path):
            out.append(f"{label} has an F-curve on {fc.data_path}")
        elif ch in seen:
            out.append(f"{label} has two F-curves for {fc.data_path}[{fc.array_index}]")
        elif fc.mute or (fc.group is not None and fc.group.mute):
            out.append(f"{label} has a muted F-curve ({fc.data_path})")
        elif fc.is_empty:
            out.append(f"{label} has an empty F-curve ({fc.data_path})")
        seen.add(ch)
    return out


def fast_path_blockers(mesh_obj) -> list[str]:
    """Reasons the head must be sampled with ``frame_set`` (empty list: F-curve sampling is exact)."""
    out = []
    h = bpy.app.handlers
    foreign = [f for f in (*h.frame_change_pre, *h.frame_change_post) if not getattr(f, "emodiffhead_readonly", False)]
    if foreign:  # the add-on's own preview handler only reads the scene
        out.append("frame-change handlers are registered")
    key = head_scene.key_of(mesh_obj)
    out += _anim_blockers(key, "the shape keys", _KEY_PATH, lambda path: head_scene.is_own_driver(key, path))
    arm = mapping.armature(mesh_obj)
    if arm is not None:
        out += _anim_blockers(arm, "the armature", _BONE_PATH)
        if arm.parent is not None:
            out.append("the armature has a parent")
        if len(arm.constraints):
            out.append("the armature has object constraints")
        for j, b in mapping.joint_bones(mesh_obj).items():
            pb = arm.pose.bones.get(b)
            if pb is not None and pb.rotation_mode not in _EULER_MODES:
                out.append(f"bone {b} rotates in {pb.rotation_mode} mode")
    return out


def evaluate_track(context, mesh_obj, frame_range: tuple[int, int] | None = None,
                   meta: dict | None = None, sampling: str = "auto") -> TrackData:
    """Sample the head at every scene frame of ``frame_range`` (inclusive) into a track.

    ``sampling``: "auto" (F-curves when :func:`fast_path_blockers` is empty, else ``frame_set``),
    "frame_set" (always), "fcurves" (raises ValueError when blocked).
    """
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}, not {sampling!r}")
    scene = context.scene
    first, last = frame_range or head_frame_range(scene, mesh_obj)
    if last < first:
        raise ValueError(f"empty frame range {first}-{last}")
    key = head_scene.key_of(mesh_obj)
    names = head_scene.expression_names(mesh_obj)
    emo_names = head_scene.emotion_names(mesh_obj)
    basis = head_scene.emotion_basis(mesh_obj)
    above = head_scene.emotion_basis_above(mesh_obj)
    blocks = key.key_blocks
    emo_blocks = [blocks.get(head_scene.EMOTION_PREFIX + n) for n in emo_names]
    if basis is None or any(b is None for b in emo_blocks):
        basis = None
    arm = mapping.armature(mesh_obj)
    joints = list(head_scene.JOINTS)
    mats = {}
    if arm is not None:  # joint -> (bone name, head-to-bone matrix), as the rig mapping says
        mats = {j: (b, rig.head_to_bone_matrix(arm, b)) for j, b in mapping.joint_bones(mesh_obj).items()}
    fps = scene.render.fps / scene.render.fps_base
    frames = list(range(first, last + 1))
    if sampling != "frame_set":
        blockers = fast_path_blockers(mesh_obj)
        if blockers and sampling == "fcurves":
            raise ValueError("cannot sample F-curves: " + "; ".join(blockers))
        if blockers:
            sampling = "frame_set"
    if sampling == "frame_set":
        base, raw_w, pose, trans = _sample_frame_set(scene, frames, blocks, names, emo_blocks, basis, arm, joints, mats)
    else:
        base, raw_w, pose, trans = _sample_fcurves(frames, key, names, emo_blocks, basis, arm, joints, mats)
    expr, emotion = [], []
    for b, w in zip(base, raw_w):
        w = [min(head_scene.MAX_INTENSITY, max(0.0, x)) for x in w]
        e = [x + t for x, t in zip(b, emotion_term(w, basis, above))] if basis is not None else list(b)
        expr.append(e)
        emotion.append(w)
    model = head_scene.recall(mesh_obj, "head_model", "builtin")
    m = {"generator": "emodiffhead blender add-on", "frame_start": first, **(meta or {})}
    return TrackData(fps=fps, head_model=model, expression_names=list(names), expression=expr,
                     joint_names=joints, pose=pose, translation=trans, emotion_names=list(emo_names),
                     emotion=emotion, expression_base=base if basis is not None else None,
                     emotion_basis=basis, emotion_basis_above=above if basis is not None else None, meta=m)


def _sample_frame_set(scene, frames, blocks, names, emo_blocks, basis, arm, joints, mats):
    """(base, raw emotion, pose, translation) per frame, by ``scene.frame_set`` at every frame."""
    base, raw_w, pose, trans = [], [], [], []
    current = scene.frame_current
    try:
        for f in frames:
            scene.frame_set(f)
            base.append([blocks[n].value if n in blocks else 0.0 for n in names])
            raw_w.append([kb.value for kb in emo_blocks] if basis is not None else [0.0] * len(emo_blocks))
            p, t = [], [0.0, 0.0, 0.0]
            for j in joints:
                if j in mats:
                    b, m = mats[j]
                    pb = arm.pose.bones[b]
                    p.append(rig.euler_to_axis_angle(m, pb.matrix_basis.to_euler("XYZ")))
                    if j == "root":
                        t = rig.location_to_translation(arm, b, pb.location)
                else:
                    p.append([0.0, 0.0, 0.0])
            pose.append(p)
            trans.append(t)
    finally:
        scene.frame_set(current)
    return base, raw_w, pose, trans


def _curve_values(bag, data_path: str, n: int, frames, current, lo=None, hi=None) -> list[list[float]]:
    """(n, F) channel values ``data_path[0..n-1]`` as the animation system stores them: each F-curve
    evaluated at ``frames`` (clamped to [lo, hi], float32), else the channel's ``current`` value."""
    curves = getattr(bag, "fcurves", None) if bag is not None else None
    out = []
    for i in range(n):
        fc = curves.find(data_path, index=i) if curves is not None else None
        if fc is None:
            out.append([float(current[i])] * len(frames))
            continue
        v = np.array([fc.evaluate(f) for f in frames], np.float64)
        if lo is not None:
            v = np.clip(v, lo, hi)
        out.append(v.astype(np.float32).astype(np.float64).tolist())
    return out


def _sample_fcurves(frames, key, names, emo_blocks, basis, arm, joints, mats):
    """Same as :func:`_sample_frame_set`, from the actions' F-curves (see the module docstring)."""
    ff = [float(f) for f in frames]
    bag = keyframes.channelbag(key)
    blocks = key.key_blocks

    def key_values(kb):
        p = f'key_blocks["{bpy.utils.escape_identifier(kb.name)}"].value'
        return _curve_values(bag, p, 1, ff, [kb.value], kb.slider_min, kb.slider_max)[0]

    nf = len(frames)
    cols = [key_values(blocks[n]) if n in blocks else [0.0] * nf for n in names]
    base = [list(r) for r in zip(*cols)] if cols else [[] for _ in frames]
    if basis is not None:
        wcols = [key_values(kb) for kb in emo_blocks]
        raw_w = [list(r) for r in zip(*wcols)] if wcols else [[] for _ in frames]
    else:
        raw_w = [[0.0] * len(emo_blocks) for _ in frames]
    pose = [[] for _ in frames]
    trans = [[0.0, 0.0, 0.0] for _ in frames]
    abag = keyframes.channelbag(arm) if arm is not None else None
    for j in joints:
        if j not in mats:
            for p in pose:
                p.append([0.0, 0.0, 0.0])
            continue
        b, m = mats[j]
        pb = arm.pose.bones[b]
        prefix = f'pose.bones["{bpy.utils.escape_identifier(b)}"].'
        loc = list(zip(*_curve_values(abag, prefix + "location", 3, ff, pb.location)))
        rot = list(zip(*_curve_values(abag, prefix + "rotation_euler", 3, ff, pb.rotation_euler)))
        scl = list(zip(*_curve_values(abag, prefix + "scale", 3, ff, pb.scale)))
        mode = pb.rotation_mode
        for i in range(nf):
            basis_m = Matrix.LocRotScale(Vector(loc[i]), Euler(rot[i], mode), Vector(scl[i]))
            pose[i].append(rig.euler_to_axis_angle(m, basis_m.to_euler("XYZ")))
            if j == "root":
                trans[i] = rig.location_to_translation(arm, b, Vector(loc[i]))
    return base, raw_w, pose, trans
