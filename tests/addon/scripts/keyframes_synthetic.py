"""Blender scenario: key a track file onto an imported head, edit an emotion key, export the track.

argv: ZIP GLB TRACK_IN TRACK_OUT PARAMS_JSON   (no backend needed)
PARAMS: {"frame_start": int, "edit_frame": int, "edit_emotion": str, "edit_value": float,
         "probe_vertices": [int, ...]}
"""

import json
import sys

import bpy
from _common import emit, evaluated_vertices, head_scenario, subs

zip_path, glb, track_in, track_out, params = sys.argv[1:6]
params = json.loads(params)
ctx, scene, mesh, arm = head_scenario(zip_path, glb)
head, keyframes, export, track_io, emotion_ops = subs("scene.head", "scene.keyframes", "scene.export", "track_io",
                                                      "operators.emotion")
out = {}
ctx.scene.emodiffhead.head = mesh
f0 = params["frame_start"]
# the Import track operator keys the file at its meta.frame_start
out["import"] = sorted(bpy.ops.emodiffhead.import_track(filepath=track_in))
key = mesh.data.shape_keys
bag = keyframes.channelbag(key)
out["shape_key_curves"] = {fc.data_path: [fc.range()[0], fc.range()[1], len(fc.keyframe_points)]
                           for fc in bag.fcurves}
abag = keyframes.channelbag(arm)
out["bone_curves"] = {f"{fc.data_path}[{fc.array_index}]": [fc.range()[0], fc.range()[1]] for fc in abag.fcurves}
out["export"] = sorted(bpy.ops.emodiffhead.export_track(filepath=track_out))
# evaluated vertices before / after editing one emotion key (armature off: compare shape keys alone)
for m in mesh.modifiers:
    if m.type == "ARMATURE":
        m.show_viewport = False
ef, name, val = params["edit_frame"], params["edit_emotion"], params["edit_value"]
scene.frame_set(ef)
kb = key.key_blocks[head.EMOTION_PREFIX + name]
out["emotion_before"] = kb.value
v_before = evaluated_vertices(mesh)
emotion_ops.key_emotion(mesh, name, ef, val)
scene.frame_set(ef)
out["emotion_after"] = kb.value
v_after = evaluated_vertices(mesh)
import numpy as np  # noqa: E402

ref = np.array([v.co[:] for v in key.reference_key.data], np.float32)
emo = np.array([v.co[:] for v in kb.data], np.float32)
# expected motion of every vertex: delta intensity * the emotion key's offset (linear shape keys, no armature
# change), plus, where the emotion has an above-1 key, delta max(0, intensity - 1) * that key's offset
expected = (out["emotion_after"] - out["emotion_before"]) * (emo - ref)
above_kb = key.key_blocks.get(head.above_key_name(name))
out["above_key"] = above_kb is not None
if above_kb is not None:
    out["above_value_after"] = above_kb.value
    out["above_drivers"] = [d.data_path for d in key.animation_data.drivers]
    out["blockers"] = export.fast_path_blockers(mesh)
    above = np.array([v.co[:] for v in above_kb.data], np.float32)
    expected += (max(0.0, out["emotion_after"] - 1) - max(0.0, out["emotion_before"] - 1)) * (above - ref)
got = v_after - v_before
out["max_move"] = float(np.abs(got).max())
out["max_expected_move"] = float(np.abs(expected).max())
out["max_error"] = float(np.abs(got - expected).max())
for m in mesh.modifiers:
    m.show_viewport = True
track_io.write_track(export.evaluate_track(ctx, mesh), track_out + ".edited.json")
out["range"] = head.recall(mesh, "range")
# hand edit outside a region, then re-key only the region from a second track
jaw = bag.fcurves.find('key_blocks["jawOpen"].value')
hand_frame = f0 + 2
keyframes.replace_keys(jaw, [hand_frame], [0.33], hand_frame, hand_frame)
track2 = track_io.read_track(params["track2"])
lo, hi = params["region"]
keyframes.apply_track(ctx, mesh, track2, f0, (lo, hi))
out["jaw_after_region"] = {int(k.co.x): k.co.y for k in jaw.keyframe_points}
emit(out)
