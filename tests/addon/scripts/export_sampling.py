"""Blender scenario: export the same animated head by evaluating F-curves and by frame_set; then add a driver.

argv: ZIP GLB TRACK_IN PARAMS_JSON   (no backend needed)
PARAMS: {"frame_start": int}
Prints both exports (fcurves / frame_set) of the head, keyed from TRACK_IN and then edited by hand (F-curve
noise modifier, Bezier keys past the slider range, a shape key without a curve, bone scale, a rotation past
pi, frames outside the keys), the fast-path blockers, and the exports after a driver is added to jawOpen.
"""

import json
import sys

from _common import emit, head_scenario, subs

zip_path, glb, track_in, params = sys.argv[1:5]
params = json.loads(params)
ctx, scene, mesh, arm = head_scenario(zip_path, glb)
head, keyframes, export, track_io = subs("scene.head", "scene.keyframes", "scene.export", "track_io")
f0 = params["frame_start"]
track = track_io.read_track(track_in)
keyframes.apply_track(ctx, mesh, track, f0)
last = f0 + track.num_frames - 1
key = mesh.data.shape_keys
bag = keyframes.channelbag(key)
# hand edits an artist might make
jaw = bag.fcurves.find('key_blocks["jawOpen"].value')
noise = jaw.modifiers.new("NOISE")
noise.strength, noise.scale = 0.4, 3.0
smile = bag.fcurves.find('key_blocks["mouthSmileLeft"].value')
for f, v in ((f0 + 5, 2.0), (f0 + 12, -1.7), (f0 + 20, 0.7)):      # past the slider range
    kp = smile.keyframe_points.insert(f, v)
    kp.interpolation = "BEZIER"
smile.update()
bag.fcurves.remove(bag.fcurves.find('key_blocks["cheekPuff"].value'))  # no curve: keeps its value
key.key_blocks["cheekPuff"].value = 0.3
sad = bag.fcurves.find('key_blocks["emotion_sad"].value')
sad.keyframe_points.insert(f0 + 8, -0.4)
sad.keyframe_points.insert(f0 + 15, 1.9)
abag = keyframes.channelbag(arm)
for axis, v in enumerate((1.2, 0.9, 1.0)):
    fc = keyframes.fcurve(abag, 'pose.bones["neck"].scale', axis, group="neck")
    fc.keyframe_points.insert(f0 + 10, v)
    fc.keyframe_points.insert(f0 + 30, 1.0)
rz = abag.fcurves.find('pose.bones["jaw"].rotation_euler', index=2)
rz.keyframe_points.insert(f0 + 25, 4.0)
frame_range = (f0 - 4, last + 6)
scene.frame_set(f0 + 3)
kb = key.key_blocks["mouthSmileLeft"]
out = {"blockers": export.fast_path_blockers(mesh), "smile_range": [kb.slider_min, kb.slider_max]}
fast = export.evaluate_track(ctx, mesh, frame_range, sampling="fcurves")
out["frame_after_fast"] = scene.frame_current
exact = export.evaluate_track(ctx, mesh, frame_range, sampling="frame_set")
auto = export.evaluate_track(ctx, mesh, frame_range)
out["frame_after_exact"] = scene.frame_current
fields = ("expression", "expression_base", "emotion", "pose", "translation")
out["fast"] = {k: getattr(fast, k) for k in fields}
out["exact"] = {k: getattr(exact, k) for k in fields}
out["auto"] = {k: getattr(auto, k) for k in fields}
out["names"] = fast.expression_names
# a driver on a shape key: the fast path is blocked, auto falls back to frame_set
drv = key.key_blocks["jawOpen"].driver_add("value").driver
drv.type, drv.expression = "SCRIPTED", "0.25"
out["blockers_driver"] = export.fast_path_blockers(mesh)
try:
    export.evaluate_track(ctx, mesh, frame_range, sampling="fcurves")
    out["forced_error"] = None
except ValueError as e:
    out["forced_error"] = str(e)
out["driver_auto"] = {k: getattr(export.evaluate_track(ctx, mesh, frame_range), k) for k in fields}
out["driver_exact"] = {k: getattr(export.evaluate_track(ctx, mesh, frame_range, sampling="frame_set"), k)
                       for k in fields}
emit(out)
