"""Write a track as keyframes, and the F-curve helpers (Blender 5.0 layered actions).

- Expression (the speech and idle motion: ``expression`` less the emotion term) -> shape-key F-curves
  ``key_blocks["<component>"].value`` in the shape keys' action, one key per frame (linear).
- Emotion intensities -> ``key_blocks["emotion_<name>"].value`` F-curves in the same action, thinned to
  the points where the curve bends (so an artist can grab and move a handful of keys).
- Pose -> XYZ Euler rotation curves on the neck/jaw/eye bones (and root, plus root location for the
  head translation) in the armature's action.

Writing into a frame range deletes only the keys inside that range; keys elsewhere survive. Each dialogue
line has its own actions (:mod:`.lines`); the rig mapping (:mod:`.mapping`) says which shape keys and bones
receive the channels; ``tolerance`` > 0 keeps only the keys needed to stay within that error.
"""

from __future__ import annotations

import bpy
from bpy_extras import anim_utils

from ..track_io import TrackData, emotion_term
from . import head as head_scene
from . import rig

EMOTION_TOLERANCE = 0.005  # intensity error allowed when thinning emotion curves


def _layered() -> bool:
    """True on Blender 4.4+ (slotted actions: F-curves live in a channelbag per action slot)."""
    return hasattr(anim_utils, "action_ensure_channelbag_for_slot")


def ensure_action(id_data, name: str):
    """The F-curve container of ``id_data``'s action, created (with a slot) when missing.

    Blender 4.4+ (5.0: ``Action.fcurves`` is gone): the channelbag of the assigned slot.
    Blender 4.2/4.3: the action itself. Either way, use its ``.fcurves``.
    """
    ad = id_data.animation_data or id_data.animation_data_create()
    if ad.action is None:
        ad.action = bpy.data.actions.new(name)
    action = ad.action
    if not _layered():
        return action
    if ad.action_slot is None:
        slot = anim_utils.action_get_first_suitable_slot(action, id_data.id_type) if hasattr(
            anim_utils, "action_get_first_suitable_slot") else None
        if slot is None:
            slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
        ad.action_slot = slot
    return anim_utils.action_ensure_channelbag_for_slot(action, ad.action_slot)


def channelbag(id_data):
    """The F-curve container (channelbag, or legacy action) of ``id_data``'s action, or None.
    Use its ``.fcurves``."""
    ad = id_data.animation_data if id_data is not None else None
    if ad is None or ad.action is None:
        return None
    if not _layered():
        return ad.action
    if ad.action_slot is None:
        return None
    return anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot)


def fcurve(bag, data_path: str, index: int = 0, group: str = ""):
    """Find or create the F-curve ``data_path[index]`` in ``bag`` (a channelbag or legacy fcurves)."""
    curves = getattr(bag, "fcurves", bag)
    fc = curves.find(data_path, index=index)
    if fc is None:
        if not group:
            fc = curves.new(data_path, index=index)
        elif _layered():
            fc = curves.new(data_path, index=index, group_name=group)
        else:
            fc = curves.new(data_path, index=index, action_group=group)
    return fc


def replace_keys(fc, frames: list[float], values: list[float], lo: float, hi: float,
                 interpolation: str = "LINEAR") -> None:
    """Delete ``fc``'s keys with lo <= frame <= hi, then insert (frames, values)."""
    kps = fc.keyframe_points
    for i in range(len(kps) - 1, -1, -1):
        x = kps[i].co.x
        if lo - 1e-3 <= x <= hi + 1e-3:
            kps.remove(kps[i], fast=True)
    for f, v in zip(frames, values):
        kp = kps.insert(f, v, options={"FAST"})
        kp.interpolation = interpolation
    fc.update()


def thin(values: list[float], tol: float, chunk: int = 500) -> list[int]:
    """Indices of the points a polyline needs to stay within ``tol`` of ``values`` (Ramer-Douglas-Peucker)."""
    n = len(values)
    if n <= 2:
        return list(range(n))
    if n > chunk + 1:  # bounded cost on long clips: thin windows that share their end points
        out: set[int] = set()
        for a in range(0, n - 1, chunk):
            b = min(n - 1, a + chunk)
            out.update(a + i for i in thin(values[a:b + 1], tol, chunk))
        return sorted(out)
    keep = {0, n - 1}
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        worst, idx = 0.0, -1
        for i in range(a + 1, b):
            y = values[a] + (values[b] - values[a]) * (i - a) / (b - a)
            d = abs(values[i] - y)
            if d > worst:
                worst, idx = d, i
        if worst > tol:
            keep.add(idx)
            stack += [(a, idx), (idx, b)]
    return sorted(keep)


def speech_curves(track: TrackData) -> list[list[float]]:
    """(T, E) what the expression shape keys carry: expression - the emotion term (``emotion @ emotion_basis``
    plus ``max(0, emotion - 1) @ emotion_basis_above``).

    The backend's composition adjusts the emotion term frame by frame (a /p/ still closes the lips
    under a smile); keying this residual instead of ``expression_base`` keeps those corrections, so
    shape keys + emotion keys (with their above-1 keys) reproduce the track's final ``expression`` exactly.
    """
    B = track.emotion_basis or []
    out = []
    for x, w in zip(track.expression, track.emotion):
        term = emotion_term(w, B, track.emotion_basis_above)
        out.append([v - t for v, t in zip(x, term)] if term else list(x))
    return out


def frames_for(track: TrackData, frame_start: int, scene_fps: float) -> list[float]:
    """Scene frame of each track frame: frame_start + i * scene_fps / track_fps."""
    s = scene_fps / track.fps
    return [frame_start + i * s for i in range(track.num_frames)]


def _sparse(frames: list[float], values: list[float], tol: float) -> tuple[list[float], list[float]]:
    """Keys a linear curve needs to stay within ``tol`` of ``values`` (all of them when tol <= 0)."""
    if tol <= 0:
        return frames, values
    keep = thin(values, tol)
    return [frames[k] for k in keep], [values[k] for k in keep]


def emotion_fingerprint(bag, names: list[str]) -> list:
    """[(curve, [[frame, value], ...])] of the emotion curves in ``bag``, rounded: tells whether the artist
    changed them since Animate wrote them."""
    out = []
    for n in names:
        fc = getattr(bag, "fcurves", bag).find(f'key_blocks["{head_scene.EMOTION_PREFIX}{n}"].value')
        if fc is not None:
            out.append([n, [[round(k.co.x, 3), round(k.co.y, 4), k.interpolation] for k in fc.keyframe_points]])
    return out


def apply_track(context, mesh_obj, track: TrackData, frame_start: int, region: tuple[int, int] | None = None,
                line: str = "", tolerance: float = 0.0, keep_emotion: bool = False) -> dict:
    """Key ``track`` onto the head from ``frame_start`` into the actions of dialogue line ``line`` (see
    :mod:`.lines`: its own action per line, never the artist's); only keys inside ``region`` (scene
    frames, inclusive; default the track's whole span) are replaced.

    tolerance: 0 keys every frame; > 0 keeps only the keys a linear curve needs to stay within that
    error (shape-key units, radians, metres). keep_emotion: leave the line's emotion curves as they are
    (they were sent as the emotion timeline). Channels go where the head's rig mapping says
    (:mod:`.mapping`). Returns a summary dict.
    """
    from . import lines, mapping

    scene = context.scene
    fps = scene.render.fps / scene.render.fps_base
    frames = frames_for(track, frame_start, fps)
    lo, hi = (frames[0], frames[-1]) if region is None else (float(region[0]), float(region[1]))
    sel = [i for i, f in enumerate(frames) if lo - 1e-3 <= f <= hi + 1e-3]
    if not sel:
        raise ValueError(f"frame range {lo:g}-{hi:g} does not overlap the audio (frames {frames[0]:g}-{frames[-1]:g})")
    if region is None:  # the whole line: its actions are its own, so none of their old keys stay
        lo, hi = float("-inf"), float("inf")
    key = head_scene.key_of(mesh_obj)
    names = track.expression_names
    blocks = key.key_blocks
    missing = [n for n in names if n not in blocks]
    if len(missing) == len(names):
        raise ValueError("none of the track's expression components is a shape key of this head "
                         f"(track has {names[:3]}...; was it made for another head model?)")
    have_split = track.emotion_basis is not None
    base = speech_curves(track) if have_split else track.expression
    if not line:  # the line already keyed at frame_start, else a new one
        at = lines.line_at(key, frame_start, nearest=False)
        line = at.get(lines.LINE_PROP) if at is not None else "line"

    _remember_track(mesh_obj, track, frames)
    jaw_key = mapping.jaw_shape_key(mesh_obj)
    action, _ = lines.ensure(key, line, f"{mesh_obj.name} {line} expression")
    bag = lines.bag(key, action)
    n_keys = _key_expression(bag, track, base, missing, jaw_key, frames, sel, lo, hi, tolerance)
    n_emotion = _key_emotion(bag, track, frames, sel, lo, hi) if have_split and not keep_emotion else 0
    lines.place(key, action)
    sp = lines.span(action) or {}
    first = min(sp.get("first", frames[0]), frames[0]) if region else frames[0]
    last = max(sp.get("last", frames[-1]), frames[-1]) if region else frames[-1]
    lines.set_span(action, first=int(round(first)), last=int(round(last)),
                   emotion=emotion_fingerprint(bag, track.emotion_names))

    arm = mapping.armature(mesh_obj)
    n_bones = 0
    bones = mapping.joint_bones(mesh_obj)
    if arm is not None and bones:
        aact, _ = lines.ensure(arm, line, f"{arm.name} {line} pose")
        n_bones = _apply_pose(arm, lines.bag(arm, aact), bones, track, frames, sel, lo, hi, tolerance)
        lines.place(arm, aact)
        lines.set_span(aact, first=int(round(first)), last=int(round(last)))
    return {"frames": [frames[sel[0]], frames[sel[-1]]], "expression_curves": len(names) - len(missing),
            "emotion_keys": n_emotion, "bone_curves": n_bones, "missing": missing, "speech_keys": n_keys,
            "jaw_shape_key": jaw_key[0] if jaw_key else "", "action": action.name}


def _remember_track(mesh_obj, track: TrackData, frames: list[float]) -> None:
    """Store the track's component names (and emotion basis, adding the emotion shape keys) on the head, and
    widen its animated frame range to ``frames``."""
    names = track.expression_names
    head_scene.remember(mesh_obj, expression_names=names, emotion_names=track.emotion_names,
                        head_model=track.head_model)
    if track.emotion_basis is not None:
        head_scene.remember(mesh_obj, emotion_basis=track.emotion_basis, emotion_basis_above=track.emotion_basis_above)
        head_scene.ensure_emotion_keys(mesh_obj, track.emotion_names, track.emotion_basis, names,
                                       track.emotion_basis_above)
    old = head_scene.recall(mesh_obj, "range", None)
    span = [frames[0], frames[-1]] if old is None else [min(old[0], frames[0]), max(old[1], frames[-1])]
    head_scene.remember(mesh_obj, range=[int(round(span[0])), int(round(span[1]))])


def _key_expression(bag, track: TrackData, base, missing: list[str], jaw_key, frames: list[float],
                    sel: list[int], lo: float, hi: float, tolerance: float) -> int:
    """Key the expression shape keys (``base``: (T, K) speech or full expression) at the selected frames,
    replacing keys in lo..hi; with ``jaw_key`` (shape key, per radian) the jaw rotation opens the mouth through
    that key. Returns the number of keys written."""
    fsel = [frames[i] for i in sel]
    jaw_j = (track.joint_names or list(head_scene.JOINTS)).index("jaw") if jaw_key else -1
    n_keys = 0
    for e, name in enumerate(track.expression_names):
        if name in missing:
            continue
        vals = [base[i][e] for i in sel]
        if jaw_key and name == jaw_key[0]:  # no jaw bone: the jaw rotation opens the mouth through this key
            vals = [v + max(0.0, track.pose[i][jaw_j][0]) * jaw_key[1] for v, i in zip(vals, sel)]
        fc = fcurve(bag, f'key_blocks["{name}"].value', group="Expression")
        kf, kv = _sparse(fsel, vals, tolerance)
        replace_keys(fc, kf, kv, lo, hi)
        n_keys += len(kf)
    return n_keys


def _key_emotion(bag, track: TrackData, frames: list[float], sel: list[int], lo: float, hi: float) -> int:
    """Key the emotion shape keys (thinned to EMOTION_TOLERANCE) at the selected frames, replacing keys in
    lo..hi. Returns the number of keys written."""
    fsel = [frames[i] for i in sel]
    n_emotion = 0
    for c, name in enumerate(track.emotion_names):
        fc = fcurve(bag, f'key_blocks["{head_scene.EMOTION_PREFIX}{name}"].value', group="Emotion")
        vals = [track.emotion[i][c] for i in sel]
        keep = thin(vals, EMOTION_TOLERANCE)
        replace_keys(fc, [fsel[k] for k in keep], [vals[k] for k in keep], lo, hi)
        n_emotion += len(keep)
    return n_emotion


def _apply_pose(arm, bag, bones: dict[str, str], track: TrackData, frames: list[float], sel: list[int],
                lo: float, hi: float, tolerance: float = 0.0) -> int:
    joint_names = track.joint_names or list(head_scene.JOINTS)
    count = 0
    fsel = [frames[i] for i in sel]
    for j, jname in enumerate(joint_names):
        bname = bones.get(jname)
        pb = arm.pose.bones.get(bname) if bname else None
        if pb is None:
            continue
        pb.rotation_mode = "XYZ"
        m = rig.head_to_bone_matrix(arm, bname)
        eulers, prev = [], None
        for i in sel:
            prev = rig.axis_angle_to_euler(m, track.pose[i][j], prev)
            eulers.append(prev.copy())
        for axis in range(3):
            fc = fcurve(bag, f'pose.bones["{bname}"].rotation_euler', axis, group=bname)
            replace_keys(fc, *_sparse(fsel, [e[axis] for e in eulers], tolerance), lo, hi)
            count += 1
        if jname == "root":
            locs = [rig.translation_to_location(arm, bname, track.translation[i]) for i in sel]
            for axis in range(3):
                fc = fcurve(bag, f'pose.bones["{bname}"].location', axis, group=bname)
                replace_keys(fc, *_sparse(fsel, [v[axis] for v in locs], tolerance), lo, hi)
                count += 1
    return count


def emotion_timeline(mesh_obj, frame_start: float, num_frames: int, scene_fps: float, bag=None) -> dict | None:
    """The emotion curves in ``bag`` (default: the head's active action) over frames
    [frame_start, frame_start + num_frames) as the backend's emotion-timeline JSON (keys at the frames where
    any curve bends; times in seconds from frame_start), or None when there are no emotion curves."""
    key = head_scene.key_of(mesh_obj)
    bag = channelbag(key) if bag is None else bag
    names = head_scene.emotion_names(mesh_obj)
    if bag is None or not names:
        return None
    curves = {n: bag.fcurves.find(f'key_blocks["{head_scene.EMOTION_PREFIX}{n}"].value') for n in names}
    curves = {n: fc for n, fc in curves.items() if fc is not None and len(fc.keyframe_points)}
    if not curves:
        return None
    frames = [frame_start + i for i in range(max(1, num_frames))]
    values = {n: [min(head_scene.MAX_INTENSITY, max(0.0, fc.evaluate(f))) for f in frames] for n, fc in curves.items()}
    idx = sorted(set().union(*(thin(v, EMOTION_TOLERANCE) for v in values.values())))
    keys = [{"t": round(i / scene_fps, 6), "emotions": {n: round(values[n][i], 6) for n in values},
             "interp": "linear"} for i in idx]
    return {"keys": keys}
