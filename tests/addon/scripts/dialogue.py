"""Blender scenario: an artist's everyday dialogue editing against a real backend (issue #12's table).

argv: ZIP PARAMS_JSON with keys url, token_file, wav, wav2, short_wav, photo, out_dir, render_size
Steps (each result under its own key, checked by tests/addon/test_dialogue.py):
 cube + Create head (placement) -> Audio: File too short (nothing left behind) -> line 1 from a File at frame 1
 -> push it to an NLA strip, a head-nod action in Add mode, animate again (row 2) -> artist's music strip, line 2
 from a File at frame 100 (free channel, sparse keys) -> render line 1, render line 2, render line 1 again
 (row 1, one movie per line) -> slide line 2 by 10 frames, render (row 5) -> trim line 1, render (error), animate,
 render (row 6) -> hand-made emotion keys on line 2 survive re-animate (row 7) -> emotion row honoured on line 1
 -> preview frame, live preview on frame change and curve edit -> undo flags, File menus, tooltips.
"""

import os
import time

import bpy
from _common import addon_prefs, artist_nod, backend_scenario, call, emit, sub, subs

params, ctx, scene = backend_scenario()
prefs = addon_prefs()
head, keyframes, lines, seq, mapping, track_io, preview = subs(
    "scene.head", "scene.keyframes", "scene.lines", "scene.sequencer", "scene.mapping", "track_io", "operators.preview")
s = scene.emodiffhead
out = {}
timings = {}


def timed(name, op, **kw):
    t = time.monotonic()
    r = call(op, **kw)
    timings[name] = round(time.monotonic() - t, 2)
    return r


def strips():
    return [{"name": st.name, "type": st.type, "channel": st.channel, "left": seq.timing(st).left,
             "right": seq.timing(st).right, "line": st.get("emodiffhead_line", "")} for st in seq.all_strips(scene)]


def pose_at(arm, bone, frame):
    scene.frame_set(frame)
    return list(arm.pose.bones[bone].rotation_euler)


def curve_keys(bag, path, index=0):
    fc = bag.fcurves.find(path, index=index)
    return [[round(k.co.x, 4), round(k.co.y, 5), k.interpolation] for k in fc.keyframe_points] if fc else None


# ---- the default cube, then the head ---------------------------------------------------------------
bpy.ops.mesh.primitive_cube_add(size=2.0, location=(0, 0, 0))
cube = ctx.active_object
out["create_head"] = call(bpy.ops.emodiffhead.create_head)
mesh = s.head
arm = mapping.armature(mesh)
lo, hi = head._world_box(mesh)
clo, chi = head._world_box(cube)
out["head_box"], out["cube_box"] = [lo, hi], [clo, chi]
key = mesh.data.shape_keys

# ---- row 8: Audio: File with a too-short clip leaves nothing behind ---------------------------------
s.audio_source, s.audio_path = "FILE", params["short_wav"]
scene.frame_set(1)
out["short_file"] = call(bpy.ops.emodiffhead.animate)
out["strips_after_short"] = strips()

# ---- line 1 from a file at frame 1 -------------------------------------------------------------------
s.audio_path = params["wav"]
s.emotion, s.intensity = "happy", 0.8
out["line1"] = timed("animate_line1", bpy.ops.emodiffhead.animate)
out["sync_mode"] = scene.sync_mode
line1 = scene.sequence_editor.active_strip.name
out["line1_strip"] = strips()
act1 = lines.find(key, line1)
out["line1_active_action"] = key.animation_data.action == act1 and act1 is not None
jaw_before = {f: pose_at(arm, "jaw", f) for f in (20, 40)}
neck_before = {f: pose_at(arm, "neck", f) for f in (20, 40)}

# ---- row 2: the artist pushes the speech to an NLA strip and adds a nod in Add mode, animates again ----
for idb in (key, arm):
    ad = idb.animation_data
    a = ad.action
    tr = ad.nla_tracks.new()
    tr.name = "artist speech"
    tr.strips.new(a.name, int(a.frame_range[0]), a)
    ad.action = None
fc, nbag = artist_nod(arm, "head nod", ((1, 0.0), (20, 0.15), (40, 0.0)))
nod_keys_before = curve_keys(nbag, 'pose.bones["neck"].rotation_euler')
s.audio_source = "STRIP"
scene.sequence_editor.active_strip = next(st for st in seq.all_strips(scene) if st.name == line1)
out["reanimate_with_nod"] = call(bpy.ops.emodiffhead.animate)
out["nod_action_paths"] = sorted({c.data_path for c in nbag.fcurves})
out["nod_keys"] = [nod_keys_before, curve_keys(nbag, 'pose.bones["neck"].rotation_euler')]
out["active_after"] = [arm.animation_data.action.name if arm.animation_data.action else None,
                       key.animation_data.action.name if key.animation_data.action else None]
out["jaw"] = [jaw_before, {f: pose_at(arm, "jaw", f) for f in (20, 40)}]
out["neck"] = [neck_before, {f: pose_at(arm, "neck", f) for f in (20, 40)}]
out["nla"] = {idb.name: [[t.name, [st.action.name for st in t.strips]] for t in idb.animation_data.nla_tracks]
              for idb in (key, arm)}

# ---- line 2 from a file at frame 100, the artist's music on channel 1 there; sparse keys ---------------
ed = scene.sequence_editor
music = seq.top_level(ed).new_sound(name="music", filepath=params["wav"], channel=1, frame_start=90)
scene.frame_set(100)
s.audio_source, s.audio_path, s.key_error = "FILE", params["wav2"], 0.01
s.emotion, s.intensity = "neutral", 1.0
out["line2"] = timed("animate_line2", bpy.ops.emodiffhead.animate)
s.key_error = 0.0
line2 = ed.active_strip.name
out["line2_strip"] = [ed.active_strip.channel, seq.timing(ed.active_strip).left, seq.timing(ed.active_strip).right]
out["music"] = [music.channel, seq.timing(music).left, seq.timing(music).right]
act2 = lines.find(key, line2)
bag2 = lines.bag(key, act2)
dense = track_io.read_track(os.path.join(sub("operators.common").work_dir(), f"animate_{bpy.path.clean_name(line2)}.json"))
speech = keyframes.speech_curves(dense)
errs, nkeys = [], []
for e, name in enumerate(dense.expression_names):
    c = bag2.fcurves.find(f'key_blocks["{name}"].value')
    if c is None:
        continue
    nkeys.append(len(c.keyframe_points))
    kb = key.key_blocks[name]
    errs.append(max(abs(min(kb.slider_max, max(kb.slider_min, c.evaluate(100 + i))) - speech[i][e])
                    for i in range(dense.num_frames)))
out["sparse"] = {"frames": dense.num_frames, "curves": len(nkeys), "keys_total": sum(nkeys), "max_error": max(errs)}
out["nla_after_line2"] = {idb.name: [[t.name, [st.action.name for st in t.strips]] for t in idb.animation_data.nla_tracks]
                          for idb in (key, arm)}
ed.active_strip = None  # render picks the animated line under the current frame (not the music)

# ---- row 1: each line renders on its own; a second render replaces the line's movie ----------------
s.photo_path, s.size = params["photo"], params["render_size"]
scene.frame_set(30)
out["render_line1"] = timed("render_line1", bpy.ops.emodiffhead.render_clip)
scene.frame_set(130)
out["render_line2"] = timed("render_line2", bpy.ops.emodiffhead.render_clip)
scene.frame_set(30)
out["render_line1_again"] = call(bpy.ops.emodiffhead.render_clip)
out["renders_after_row1"] = [x for x in strips() if x["type"] == "MOVIE"]

# ---- row 5: slide line 2 by 10 frames; its keys follow -----------------------------------------------
st2 = next(st for st in seq.all_strips(scene) if st.name == line2)
seq.move_strip(st2, 10)
ctx.view_layer.update()  # what Blender does after the drag: depsgraph_update_post -> the keys follow
out["line2_keys_right_after_slide"] = list(lines.key_range(key, act2))
scene.frame_set(140)
ed.active_strip = st2
out["render_slid"] = call(bpy.ops.emodiffhead.render_clip)
out["line2_span_after_slide"] = lines.span(act2)
out["line2_keys_after_slide"] = list(lines.key_range(key, act2))

# ---- row 6: trim line 1 to frames 20-60: render says re-animate; animate covers the trimmed part -------
st1 = next(st for st in seq.all_strips(scene) if st.name == line1)
seq.trim_strip(st1, 20, 61)
ed.active_strip = st1
scene.frame_set(30)
out["render_trimmed_before"] = call(bpy.ops.emodiffhead.render_clip)
s.audio_source = "STRIP"
out["animate_trimmed"] = call(bpy.ops.emodiffhead.animate)
out["line1_span_trimmed"] = lines.span(act1)
out["line1_keys_trimmed"] = list(lines.key_range(key, act1))
out["render_trimmed"] = call(bpy.ops.emodiffhead.render_clip)
out["renders_after_trim"] = [x for x in strips() if x["type"] == "MOVIE"]

# ---- row 7: hand-made Bezier emotion keys on line 2 survive re-animate ---------------------------------
hc = bag2.fcurves.find('key_blocks["emotion_happy"].value')
keyframes.replace_keys(hc, [115, 130, 150, 170], [0.2, 1.1, 0.6, 0.9], 110, 190, interpolation="BEZIER")
hand = curve_keys(bag2, 'key_blocks["emotion_happy"].value')
others = {n: curve_keys(bag2, f'key_blocks["emotion_{n}"].value') for n in ("sad", "angry")}
ed.active_strip = st2
s.use_emotion_curves = True
out["reanimate_hand"] = call(bpy.ops.emodiffhead.animate)
out["hand_keys"] = [hand, curve_keys(bag2, 'key_blocks["emotion_happy"].value')]
out["other_keys"] = [others, {n: curve_keys(bag2, f'key_blocks["emotion_{n}"].value') for n in ("sad", "angry")}]
out["line2_speech_curves"] = len([c for c in bag2.fcurves if not c.data_path.startswith('key_blocks["emotion_')])

# ---- the emotion row is honoured on a line whose emotion keys are untouched ---------------------------
ed.active_strip = st1
s.emotion, s.intensity = "sad", 0.9
out["emotion_row"] = call(bpy.ops.emodiffhead.animate)
scene.frame_set(40)
out["emotion_row_values"] = [key.key_blocks["emotion_sad"].value, key.key_blocks["emotion_happy"].value]

# ---- preview frame (button), live preview on frame change and on a curve edit -----------------------
s.preview_size = 512
scene.frame_set(40)
out["preview"] = timed("preview_first", bpy.ops.emodiffhead.preview_frame)
out["preview_second"] = timed("preview_second", bpy.ops.emodiffhead.preview_frame)
img = bpy.data.images.get(preview.IMAGE_NAME)
out["preview_image"] = [img.size[0], img.size[1]] if img else None
out["preview_message"] = s.preview_message


def run_live():
    """Drive the live preview's timer until it is idle; returns (seconds, requests started)."""
    t, started = time.monotonic(), 0
    while time.monotonic() - t < 30:
        th = preview._state["thread"]
        busy = preview.step(ctx)
        started += preview._state["thread"] is not None and preview._state["thread"] is not th
        if not busy:
            break
        time.sleep(0.02)
    return round(time.monotonic() - t, 2), started


import numpy as np  # noqa: E402


def pixels():
    im = bpy.data.images[preview.IMAGE_NAME]
    a = np.empty(im.size[0] * im.size[1] * 4, np.float32)
    im.pixels.foreach_get(a)
    return a


s.preview_live = True
preview.step(ctx)  # the toggle itself asks for one
run_live()
p40 = pixels()
scene.frame_set(52)  # frame_change_post -> debounce -> request on a worker thread -> image
out["live_due_after_frame"] = preview._state["due"] is not None
time.sleep(preview.DEBOUNCE_S)
timings["preview_live_frame"], out["live_requests_frame"] = run_live()
out["live_message_frame"] = s.preview_message
p52 = pixels()
sc = lines.bag(key, act1).fcurves.find('key_blocks["emotion_sad"].value')
keyframes.replace_keys(sc, [52], [1.5], 52, 52)
sc.keyframe_points[0].co.y = sc.keyframe_points[0].co.y  # a property edit, as in the Graph Editor
key.update_tag()  # what an edit in the Graph Editor does
ctx.view_layer.update()  # depsgraph_update_post
out["live_due_after_edit"] = preview._state["due"] is not None
time.sleep(preview.DEBOUNCE_S)
out["live_edit"] = run_live()
p52b = pixels()
out["live_pixel_change"] = [float(np.abs(p52 - p40).mean()), float(np.abs(p52b - p52).mean())]
s.preview_live = False

# ---- undo flags, File menu entries, tooltips ---------------------------------------------------------
ops = [getattr(bpy.types, n) for n in dir(bpy.types) if n.startswith("EMODIFFHEAD_OT_")]
out["undo"] = {o.bl_idname: sorted(getattr(o, "bl_options", set())) for o in ops}
out["menus"] = {m: [f.__name__ for f in getattr(bpy.types, m).draw._draw_funcs if "emodiffhead" in f.__module__]
                for m in ("TOPBAR_MT_file_import", "TOPBAR_MT_file_export")}
missing = [f"operator {o.bl_idname}" for o in ops
           if not getattr(bpy.ops, "emodiffhead").__getattr__(o.bl_idname.split(".")[1]).get_rna_type().description.strip()]
for cls in (type(s), type(mesh.emodiffhead_rig), type(prefs)):
    for p in cls.bl_rna.properties:
        if p.identifier not in ("rna_type", "name", "bl_idname") and not p.description.strip():
            missing.append(f"{cls.__name__}.{p.identifier}")
out["no_tooltip"] = missing
out["timings"] = timings
emit(out)
