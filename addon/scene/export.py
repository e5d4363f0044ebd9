"""Read the evaluated animation back into a track (after the artist's edits).

The scene is evaluated frame by frame (``scene.frame_set``), so everything that moves the shape keys
and bones counts: keyframes, modifiers on F-curves, drivers, NLA. Per frame:
expression_base[e] = value of shape key e; emotion[c] = value of ``emotion_<c>``;
expression = expression_base + emotion @ emotion_basis (the same linear model the backend uses).
"""

from __future__ import annotations

from ..track_io import TrackData
from . import head as head_scene
from . import rig


def head_frame_range(scene, mesh_obj) -> tuple[int, int]:
    """The range of the head's last animation, else the scene's frame range (inclusive)."""
    r = head_scene.recall(mesh_obj, "range", None)
    return (int(r[0]), int(r[1])) if r else (scene.frame_start, scene.frame_end)


def evaluate_track(context, mesh_obj, frame_range: tuple[int, int] | None = None,
                   meta: dict | None = None) -> TrackData:
    """Sample the head at every scene frame of ``frame_range`` (inclusive) into a track."""
    scene = context.scene
    first, last = frame_range or head_frame_range(scene, mesh_obj)
    if last < first:
        raise ValueError(f"empty frame range {first}-{last}")
    key = head_scene.key_of(mesh_obj)
    names = head_scene.expression_names(mesh_obj)
    emo_names = head_scene.emotion_names(mesh_obj)
    basis = head_scene.emotion_basis(mesh_obj)
    blocks = key.key_blocks
    emo_blocks = [blocks.get(head_scene.EMOTION_PREFIX + n) for n in emo_names]
    if basis is None or any(b is None for b in emo_blocks):
        basis = None
    arm = head_scene.find_armature(mesh_obj)
    joints = list(head_scene.JOINTS)
    mats = {}
    if arm is not None:
        mats = {j: rig.head_to_bone_matrix(arm, j) for j in joints if j in arm.data.bones}
    fps = scene.render.fps / scene.render.fps_base
    expr, base, emotion, pose, trans = [], [], [], [], []
    current = scene.frame_current
    try:
        for f in range(first, last + 1):
            scene.frame_set(f)
            b = [blocks[n].value if n in blocks else 0.0 for n in names]
            w = [kb.value for kb in emo_blocks] if basis is not None else [0.0] * len(emo_names)
            w = [min(1.5, max(0.0, x)) for x in w]
            if basis is not None:
                e = [b[i] + sum(w[c] * basis[c][i] for c in range(len(w)) if w[c]) for i in range(len(names))]
            else:
                e = list(b)
            p, t = [], [0.0, 0.0, 0.0]
            for j in joints:
                if j in mats:
                    pb = arm.pose.bones[j]
                    p.append(rig.euler_to_axis_angle(mats[j], pb.matrix_basis.to_euler("XYZ")))
                    if j == "root":
                        t = rig.location_to_translation(arm, j, pb.location)
                else:
                    p.append([0.0, 0.0, 0.0])
            expr.append(e)
            base.append(b)
            emotion.append(w)
            pose.append(p)
            trans.append(t)
    finally:
        scene.frame_set(current)
    model = head_scene.recall(mesh_obj, "head_model", "builtin")
    m = {"generator": "emodiffhead blender add-on", "frame_start": first, **(meta or {})}
    return TrackData(fps=fps, head_model=model, expression_names=list(names), expression=expr,
                     joint_names=joints, pose=pose, translation=trans, emotion_names=list(emo_names),
                     emotion=emotion, expression_base=base if basis is not None else None,
                     emotion_basis=basis, meta=m)
