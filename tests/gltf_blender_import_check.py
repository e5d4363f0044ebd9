"""Import a .glb with Blender's own glTF importer (bpy) and report what Blender made of it.

Run in its own process (bpy keeps global state)::

    python tests/gltf_blender_import_check.py head.glb out.npz [SHAPE_KEY] [BONE]

Prints one JSON line: shape key names, bones with parents, vertex count, actions. Writes ``out.npz`` with
the evaluated vertex positions (converted back to glTF axes: x, y up, z forward) for the rest pose
(``rest``), with SHAPE_KEY at 1 (``key``) and with BONE rotated 0.4 rad about its local x axis (``bone``).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def evaluated_positions(obj) -> np.ndarray:
    import bpy

    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()
    ev = obj.evaluated_get(depsgraph)
    mesh = ev.to_mesh()
    co = np.empty(len(mesh.vertices) * 3, np.float64)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    co = co.reshape(-1, 3)
    mw = np.array(ev.matrix_world)
    co = co @ mw[:3, :3].T + mw[:3, 3]
    return np.stack([co[:, 0], co[:, 2], -co[:, 1]], axis=1)  # Blender z-up -> glTF y-up


def _animation(keys, arm, key_name: str | None) -> tuple[list, list]:
    """(keyframes (frame, value) of KEY_NAME's shape-key F-curve, sorted data paths of the bone F-curves)."""
    from bpy_extras import anim_utils

    def fcurves(id_data):
        ad = id_data.animation_data if id_data is not None else None
        if not ad or not ad.action:
            return []
        return list(anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot).fcurves)

    key_points = [[list(k.co) for k in fc.keyframe_points] for fc in fcurves(keys)
                  if key_name and fc.data_path == f'key_blocks["{key_name}"].value']
    bone_paths = sorted({fc.data_path for fc in fcurves(arm)})
    return (key_points[0] if key_points else []), bone_paths


def main(argv: list[str]) -> int:
    glb, out = argv[0], argv[1]
    key_name = argv[2] if len(argv) > 2 else None
    bone_name = argv[3] if len(argv) > 3 else None
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = bpy.ops.import_scene.gltf(filepath=glb)
    # the importer also adds an "Icosphere" bone-shape helper in a "glTF_not_exported" collection
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"
              and not any(c.name.startswith("glTF_not_exported") for c in o.users_collection)]
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    info: dict = {"result": sorted(result), "meshes": [o.name for o in meshes], "armatures": [o.name for o in arms]}
    if len(meshes) != 1:
        print(json.dumps(info))
        return 1
    obj = meshes[0]
    keys = obj.data.shape_keys
    info["shape_keys"] = [k.name for k in keys.key_blocks][1:] if keys else []
    info["reference_key"] = keys.reference_key.name if keys else None
    info["num_vertices"] = len(obj.data.vertices)
    info["bones"] = {b.name: (b.parent.name if b.parent else None) for b in arms[0].data.bones} if arms else {}
    info["armature_modifier"] = [m.object.name for m in obj.modifiers if m.type == "ARMATURE" and m.object]
    info["color_attributes"] = [a.name for a in obj.data.color_attributes]
    info["vertex_groups"] = sorted(g.name for g in obj.vertex_groups)
    info["actions"] = sorted(a.name for a in bpy.data.actions)
    scene = bpy.context.scene
    info["fps"] = scene.render.fps / scene.render.fps_base
    info["key_fcurve"], info["bone_fcurves"] = _animation(keys, arms[0] if arms else None, key_name)
    # rest: no animation, every key at 0, bones at rest
    for o in (obj, *arms):
        if o.animation_data:
            o.animation_data.action = None
    if keys and keys.animation_data:
        keys.animation_data.action = None
    if keys:
        for k in keys.key_blocks[1:]:
            k.value = 0.0
    for a in arms:
        for pb in a.pose.bones:
            pb.rotation_mode = "QUATERNION"
            pb.rotation_quaternion = (1, 0, 0, 0)
            pb.location = (0, 0, 0)
    arrays = {"rest": evaluated_positions(obj)}
    if key_name:
        keys.key_blocks[key_name].value = 1.0
        arrays["key"] = evaluated_positions(obj)
        keys.key_blocks[key_name].value = 0.0
    if bone_name and arms:
        pb = arms[0].pose.bones[bone_name]
        pb.rotation_mode = "XYZ"
        pb.rotation_euler = (0.4, 0.0, 0.0)
        arrays["bone"] = evaluated_positions(obj)
    np.savez(out, **arrays)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
