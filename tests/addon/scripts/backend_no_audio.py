"""Blender scenario with the real backend but no sound strip (so it runs on the Audaspace-less bpy 4.2.0 wheel
too): Create head beside the default cube, Import the backend's track as a line, Preview frame; a FLAME head
from the synthetic FLAME file with the backend's FLAME track, Preview frame and Export track.

argv: ZIP PARAMS_JSON with keys url, token_file, photo, track (built-in), flame, flame_track, out_dir
"""

import os

import bpy
from _common import backend_scenario, call, emit, subs

params, ctx, scene = backend_scenario()
head, lines, preview = subs("scene.head", "scene.lines", "operators.preview")
s = scene.emodiffhead
out = {"version": bpy.app.version_string}


bpy.ops.mesh.primitive_cube_add(size=2.0)
cube = ctx.active_object
out["create"] = call(bpy.ops.emodiffhead.create_head)
mesh = s.head
(lo, hi), (clo, chi) = head._world_box(mesh), head._world_box(cube)
out["overlap"] = all(lo[i] < chi[i] and hi[i] > clo[i] for i in range(3))
out["import"] = call(bpy.ops.emodiffhead.import_track, filepath=params["track"])
out["line"] = [a.get("emodiffhead_line") for a in lines.line_actions(mesh.data.shape_keys)]
s.photo_path = params["photo"]
scene.frame_set(30)
out["preview"] = call(bpy.ops.emodiffhead.preview_frame)
img = bpy.data.images.get(preview.IMAGE_NAME)
out["preview_size"] = list(img.size) if img else None

s.head_source, s.flame_path = "FLAME", params["flame"]
out["create_flame"] = call(bpy.ops.emodiffhead.create_head)
fl = s.head
out["flame_keys"] = len(fl.data.shape_keys.key_blocks) - 1
out["flame_import"] = call(bpy.ops.emodiffhead.import_track, filepath=params["flame_track"])
out["flame_preview"] = call(bpy.ops.emodiffhead.preview_frame)
out["flame_export"] = call(bpy.ops.emodiffhead.export_track, filepath=os.path.join(params["out_dir"], "flame_back.json"))
emit(out)
