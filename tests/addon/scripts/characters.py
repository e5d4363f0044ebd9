"""Blender scenario: the artist's own ARKit characters and a FLAME head, animated and rendered (issue #12 rows 3, 4).

argv: ZIP PARAMS_JSON with keys url, token_file, wav, photo, flame, out_dir, render_size, arkit (the 52 names)
"""

import os

import bpy
import numpy as np
from _common import backend_scenario, call, emit, evaluated_vertices, subs

params, ctx, scene = backend_scenario()
keyframes, lines, mapping = subs("scene.keyframes", "scene.lines", "scene.mapping")
s = scene.emodiffhead
out = {}


def character(name: str, jaw_bone: str = ""):
    """A sphere 'face' with the 52 ARKit shape keys (jawOpen lowers the front-bottom vertices) and an armature
    with a neck bone (and a jaw bone when named) deforming it."""
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.1, location=(0, 0, 1.5), segments=16, ring_count=8)
    ob = ctx.active_object
    ob.name = name
    ob.shape_key_add(name="Basis")
    co = np.array([v.co[:] for v in ob.data.vertices], np.float32)
    chin = (co[:, 2] < -0.03) & (co[:, 1] < 0.0)
    for n in params["arkit"]:
        kb = ob.shape_key_add(name=n, from_mix=False)
        if n == "jawOpen":
            moved = co.copy()
            moved[chin, 2] -= 0.02
            kb.data.foreach_set("co", moved.ravel())
    arm_data = bpy.data.armatures.new(name + "_rig")
    arm = bpy.data.objects.new(name + "_rig", arm_data)
    scene.collection.objects.link(arm)
    ctx.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    neck = arm_data.edit_bones.new("neck")
    neck.head, neck.tail = (0, 0, 1.35), (0, 0, 1.5)
    if jaw_bone:
        jb = arm_data.edit_bones.new(jaw_bone)
        jb.head, jb.tail, jb.parent = (0, 0.0, 1.5), (0, -0.08, 1.44), neck
    bpy.ops.object.mode_set(mode="OBJECT")
    vg = ob.vertex_groups.new(name="neck")
    vg.add(list(range(len(co))), 1.0, "REPLACE")
    if jaw_bone:
        ob.vertex_groups["neck"].remove([int(i) for i in np.where(chin)[0]])
        ob.vertex_groups.new(name=jaw_bone).add([int(i) for i in np.where(chin)[0]], 1.0, "REPLACE")
    mod = ob.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    return ob, arm, chin


ed = scene.sequence_editor_create()
sound = ed.strips.new_sound(name="line", filepath=params["wav"], channel=1, frame_start=1) if hasattr(ed, "strips") \
    else ed.sequences.new_sound(name="line", filepath=params["wav"], channel=1, frame_start=1)
s.audio_source = "STRIP"
s.emotion, s.intensity = "neutral", 1.0

def chin_motion(ob, chin, measure) -> list[float]:
    """``measure(rest, now)`` of the chin vertices ``chin`` ((n, 3) world positions at frame 0 and now) at every
    other frame of the line (1, 3, ..., 77)."""
    scene.frame_set(0)
    rest = evaluated_vertices(ob)[chin]
    moves = []
    for f in range(1, 78, 2):
        scene.frame_set(f)
        moves.append(measure(rest, evaluated_vertices(ob)[chin]))
    return moves


# ---- row 3a: ARKit shape keys, no jaw bone (preset stored on the object) ------------------------------
ob1, arm1, chin1 = character("character_no_jaw")
ob1.emodiffhead_rig.preset = "ARKIT_SHAPE_KEYS"
s.head = ob1
out["animate_no_jaw"] = call(bpy.ops.emodiffhead.animate)
bag = lines.bag(ob1.data.shape_keys, lines.find(ob1.data.shape_keys, "line"))
jc = bag.fcurves.find('key_blocks["jawOpen"].value')
out["jawopen_max"] = max(jc.evaluate(f) for f in range(1, 78)) if jc else None
out["chin_drop_max"] = max(chin_motion(ob1, chin1, lambda rest, now: float(rest[:, 2].mean() - now[:, 2].mean())))
out["no_jaw_bone_curves"] = sorted({fc.data_path for fc in lines.bag(arm1, lines.find(arm1, "line")).fcurves})

# ---- row 3b: ARKit shape keys + a jaw bone with its own name ------------------------------------------
ob2, arm2, chin2 = character("character_jaw_bone", jaw_bone="Jaw")
r2 = ob2.emodiffhead_rig
r2.preset = "ARKIT_JAW_BONE"
r2.bone_jaw = "Jaw"
s.head = ob2
out["animate_jaw_bone"] = call(bpy.ops.emodiffhead.animate)
abag = lines.bag(arm2, lines.find(arm2, "line"))
jr = abag.fcurves.find('pose.bones["Jaw"].rotation_euler', index=0)
out["jaw_bone_rotation_max"] = max(abs(jr.evaluate(f)) for f in range(1, 78)) if jr else None
kbag = lines.bag(ob2.data.shape_keys, lines.find(ob2.data.shape_keys, "line"))
jc2 = kbag.fcurves.find('key_blocks["jawOpen"].value')
out["jaw_bone_jawopen_max"] = max(jc2.evaluate(f) for f in range(1, 78)) if jc2 else None
out["jaw_bone_chin_move_max"] = max(chin_motion(ob2, chin2, lambda rest, now: float(np.abs(now - rest).max())))

# ---- row 4: a FLAME head made from the (synthetic) FLAME file, animated, previewed, rendered ------------
s.head_source, s.flame_path = "FLAME", params["flame"]
out["create_flame"] = call(bpy.ops.emodiffhead.create_head)
fl = s.head
out["flame_shape_keys"] = len(fl.data.shape_keys.key_blocks) - 1
out["flame_preset"] = fl.emodiffhead_rig.preset
farm = mapping.armature(fl)
out["animate_flame"] = call(bpy.ops.emodiffhead.animate)
fbag = lines.bag(fl.data.shape_keys, lines.find(fl.data.shape_keys, "line"))
vals = [max(abs(c.evaluate(f)) for f in range(1, 78, 4)) for c in fbag.fcurves if c.data_path.startswith('key_blocks["exp')]
out["flame_exp_curves"], out["flame_exp_max"] = len(vals), max(vals) if vals else 0.0
fjaw = lines.bag(farm, lines.find(farm, "line")).fcurves.find('pose.bones["jaw"].rotation_euler', index=0)
out["flame_jaw_max"] = max(abs(fjaw.evaluate(f)) for f in range(1, 78)) if fjaw else None
out["flame_export"] = call(bpy.ops.emodiffhead.export_track, filepath=os.path.join(params["out_dir"], "flame.json"))
s.photo_path, s.size = params["photo"], params["render_size"]
scene.frame_set(30)
out["flame_preview"] = call(bpy.ops.emodiffhead.preview_frame)
out["flame_render"] = call(bpy.ops.emodiffhead.render_clip)
movies = [st for st in (ed.strips if hasattr(ed, "strips") else ed.sequences) if st.type == "MOVIE"]
out["flame_movies"] = [[m.channel, bpy.path.abspath(m.filepath)] for m in movies]

# ---- the mapping is stored on the objects: save, reopen, still there ----------------------------------
path = os.path.join(params["out_dir"], "characters.blend")
bpy.ops.wm.save_as_mainfile(filepath=path)
bpy.ops.wm.open_mainfile(filepath=path)
out["reopened_presets"] = {o.name: [o.emodiffhead_rig.preset, o.emodiffhead_rig.bone_jaw]
                           for o in bpy.data.objects if o.type == "MESH"}
emit(out)
