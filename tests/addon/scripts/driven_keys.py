"""Blender scenario: the viewport shows the face the backend poses (driven soft-limit and corrective keys).

argv: ZIP GLB PARAMS_JSON OUT_NPZ   (no backend needed)
PARAMS: {"expression_names": [E], "emotion_names": [C], "basis": (C, E), "above": (C, E),
         "poses": [{"emotion": {name: intensity}, "expression": {component: value},
                    "eyes": {joint (eyes, jaw): [x, y, z] head-space rotation vector, radians}}, ...]}
Writes OUT_NPZ: ``after`` (P, N, 3) evaluated vertices per pose in glTF axes (shape keys and armature),
``before`` the same with the driven keys muted (the linear shape keys the viewport showed before them).
"""

import json
import sys

import bpy
import numpy as np
from _common import emit, evaluated_vertices, head_scenario, subs

zip_path, glb, params, out_npz = sys.argv[1:5]
params = json.loads(params)
ctx, scene, mesh, arm = head_scenario(zip_path, glb)
head, driven, export, rig = subs("scene.head", "scene.driven", "scene.export", "scene.rig")
ctx.scene.emodiffhead.head = mesh
head.set_expression_slider_ranges(mesh)  # as Create head does (expression keys -1..1.5; driven keys keep theirs)
key = mesh.data.shape_keys
out = {"auto_exec": bpy.context.preferences.filepaths.use_scripts_auto_execute,
       "driven": sorted(driven.driven_names(key)), "expression_names": head.expression_names(mesh),
       "drivers_at_import": len(key.animation_data.drivers) if key.animation_data else 0}
names, basis, above = params["emotion_names"], params["basis"], params["above"]
head.remember(mesh, emotion_names=names, emotion_basis=basis, emotion_basis_above=above)
head.ensure_emotion_keys(mesh, names, basis, params["expression_names"], above)
drivers = key.animation_data.drivers
out["drivers"] = len(drivers)
out["not_simple"] = [d.data_path for d in drivers if not d.driver.is_simple_expression]
out["invalid"] = [d.data_path for d in drivers if not d.driver.is_valid]
out["blockers"] = export.fast_path_blockers(mesh)
out["slider_ranges"] = {n: [key.key_blocks[n].slider_min, key.key_blocks[n].slider_max] for n in out["driven"]}
mats = {j: rig.head_to_bone_matrix(arm, j) for j in ("eye_left", "eye_right", "jaw")}


def to_gltf(co):
    return np.stack([co[:, 0], co[:, 2], -co[:, 1]], axis=1)


after, before, values = [], [], []
for pose in params["poses"]:
    for kb in key.key_blocks[1:]:
        kb.value = 0.0
    for n, v in pose["emotion"].items():
        key.key_blocks[head.EMOTION_PREFIX + n].value = v
    for n, v in pose["expression"].items():
        key.key_blocks[n].value = v
    for pb in arm.pose.bones:
        pb.rotation_mode = "XYZ"
        pb.rotation_euler = (0.0, 0.0, 0.0)
    for j, v in pose.get("eyes", {}).items():
        arm.pose.bones[j].rotation_euler = rig.axis_angle_to_euler(mats[j], v)
    bpy.context.view_layer.update()
    after.append(to_gltf(evaluated_vertices(mesh)))
    values.append({n: key.key_blocks[n].value for n in out["driven"]})
    for n in out["driven"]:
        key.key_blocks[n].mute = True
    bpy.context.view_layer.update()
    before.append(to_gltf(evaluated_vertices(mesh)))
    for n in out["driven"]:
        key.key_blocks[n].mute = False
out["driven_values"] = values
out["longest_expression"] = max(len(d.driver.expression) for d in key.animation_data.drivers)
# the same with every total split over several helper properties (as a longer emotion list would need)
driven._MAX_CHARS = 24
head.update_drivers(mesh)
drivers = key.animation_data.drivers
out["split_parts"] = len([p for p in key.keys() if p.startswith(driven.TOTAL_PREFIX) and "#" in p])
out["split_invalid"] = [d.data_path for d in drivers if not d.driver.is_valid or not d.driver.is_simple_expression]
bpy.context.view_layer.update()
split = to_gltf(evaluated_vertices(mesh))  # the last pose
np.savez(out_npz, after=np.array(after), before=np.array(before), split=split)
emit(out)
