"""Blender scenario: the artist's whole loop against a real backend.

argv: ZIP PARAMS_JSON with keys url, token_file, wav, photo, bad_audio, out_dir, render_size,
      lips {"upper": [[x,y,z] head space], "lower": [...]}, edit {"frame", "emotion", "value"}
Prints RESULT:{...} (see tests/addon/test_e2e.py for what is checked).
"""

import os
import sys
import time

import bpy
import numpy as np
from _common import addon_prefs, backend_scenario, call, emit, evaluated_vertices, sub, subs, use_backend
from mathutils import Vector, kdtree

params, ctx, scene = backend_scenario()
prefs = addon_prefs()
head, keyframes, rig = subs("scene.head", "scene.keyframes", "scene.rig")
out = {"errors": {}}
scene.frame_start, scene.frame_end = 1, 50
s = scene.emodiffhead


t0 = time.monotonic()
out["server_check"] = call(bpy.ops.emodiffhead.server_check)
out["create_head"] = call(bpy.ops.emodiffhead.create_head)
mesh = s.head
arm = head.find_armature(mesh)
out["shape_keys"] = [kb.name for kb in mesh.data.shape_keys.key_blocks]
out["bones"] = [b.name for b in arm.data.bones] if arm else []
# the artist drops the speech clip into the sequencer at frame 1
ed = scene.sequence_editor_create()
seq = sub("scene.sequencer")
sound = seq.top_level(ed).new_sound(name="speech", filepath=params["wav"], channel=1, frame_start=1)
out["sound_strip"] = [seq.timing(sound).left, seq.timing(sound).duration]
s.audio_source = "STRIP"
s.emotion, s.intensity = "happy", 0.8
s.transcript = params["transcript"]
out["animate"] = call(bpy.ops.emodiffhead.animate)
out["t_animate"] = time.monotonic() - t0
bag = keyframes.channelbag(mesh.data.shape_keys)
out["shape_key_curves"] = {fc.data_path: list(fc.range()) for fc in bag.fcurves}
abag = keyframes.channelbag(arm)
out["bone_curves"] = {f"{fc.data_path}[{fc.array_index}]": list(fc.range()) for fc in abag.fcurves}
out["scene_frame_end"] = scene.frame_end

# lip aperture (metres) per frame on the evaluated mesh: lowest upper-lip point minus highest lower-lip point
basis = np.array([v.co[:] for v in mesh.data.shape_keys.reference_key.data], np.float64)
tree = kdtree.KDTree(len(basis))
for i, co in enumerate(basis):
    tree.insert(co, i)
tree.balance()


def blender_indices(points):
    idx = []
    for p in points:
        q = rig.GLTF_TO_BLENDER @ Vector(p)
        idx += [i for (_, i, d) in tree.find_range(q, 1e-5)]
    return sorted(set(idx))


upper, lower = blender_indices(params["lips"]["upper"]), blender_indices(params["lips"]["lower"])
out["lip_vertices"] = [len(upper), len(lower)]
aperture = {}
r0, r1 = head.recall(mesh, "range")
for f in range(r0, r1 + 1):
    scene.frame_set(f)
    v = evaluated_vertices(mesh)
    aperture[f] = float(v[upper, 2].min() - v[lower, 2].max())
out["aperture"] = aperture
for m in mesh.modifiers:
    m.show_viewport = False
scene.frame_set(r0 - 1 if r0 > 1 else r0)
out["aperture_rest"] = float(basis[upper, 2].min() - basis[lower, 2].max())
for m in mesh.modifiers:
    m.show_viewport = True

# export the evaluated track before any edit
out["export"] = call(bpy.ops.emodiffhead.export_track, filepath=os.path.join(params["out_dir"], "exported.json"))

# edit one emotion intensity key and watch the evaluated shape keys (armature off: shape keys alone)
e = params["edit"]
scene.frame_set(e["frame"])
kb = mesh.data.shape_keys.key_blocks[head.EMOTION_PREFIX + e["emotion"]]
keyed = [kb2.name for kb2 in mesh.data.shape_keys.key_blocks]
values_before = {k.name: k.value for k in mesh.data.shape_keys.key_blocks}
for m in mesh.modifiers:
    m.show_viewport = False
v_before = evaluated_vertices(mesh)
s.emotion, s.intensity = e["emotion"], e["value"]
out["emotion_key"] = call(bpy.ops.emodiffhead.emotion_key)
scene.frame_set(e["frame"])
v_after = evaluated_vertices(mesh)
for m in mesh.modifiers:
    m.show_viewport = True
out["emotion_values"] = [values_before[kb.name], kb.value]
ref = np.array([v.co[:] for v in mesh.data.shape_keys.reference_key.data], np.float32)
emo = np.array([v.co[:] for v in kb.data], np.float32)
expected = (kb.value - values_before[kb.name]) * (emo - ref)
above_kb = mesh.data.shape_keys.key_blocks.get(head.above_key_name(e["emotion"]))  # its above-1 key, driven
out["edit_above_key"] = above_kb is not None
if above_kb is not None:
    above = np.array([v.co[:] for v in above_kb.data], np.float32)
    expected += (max(0.0, kb.value - 1) - max(0.0, values_before[kb.name] - 1)) * (above - ref)
out["edit_max_move"] = float(np.abs(v_after - v_before).max())
out["edit_max_error"] = float(np.abs(v_after - v_before - expected).max())
out["export_edited"] = call(bpy.ops.emodiffhead.export_track,
                            filepath=os.path.join(params["out_dir"], "exported_edited.json"))

# crossfade happy -> sad over frames 50..60
s.emotion, s.fade_to, s.fade_start, s.fade_end, s.intensity = "happy", "sad", 50, 60, 1.0
out["crossfade"] = call(bpy.ops.emodiffhead.emotion_crossfade)
fade = {}
for f in (50, 55, 60):
    scene.frame_set(f)
    fade[f] = [mesh.data.shape_keys.key_blocks["emotion_happy"].value, mesh.data.shape_keys.key_blocks["emotion_sad"].value]
out["crossfade_values"] = fade

# re-animate: the backend recomposes the speech with the artist's emotion curves (sent as a timeline)
s.use_emotion_curves = True
out["reanimate"] = call(bpy.ops.emodiffhead.animate)
refade = {}
for f in (30, 50, 55, 60, 70):
    scene.frame_set(f)
    refade[f] = [mesh.data.shape_keys.key_blocks["emotion_happy"].value, mesh.data.shape_keys.key_blocks["emotion_sad"].value]
out["reanimate_values"] = refade

# render through the backend (execute: the headless path of the modal operator; same job code)
s.photo_path, s.size, s.image_sequence = params["photo"], params["render_size"], True
t1 = time.monotonic()
out["render"] = call(bpy.ops.emodiffhead.render_clip)
out["t_render"] = time.monotonic() - t1
movies = [st for st in seq.all_strips(scene) if st.type == "MOVIE"]
out["movie_strips"] = [{"frame_start": seq.timing(m).left, "duration": seq.timing(m).duration, "channel": m.channel,
                        "file": bpy.path.abspath(m.filepath)} for m in movies]
out["image_strips"] = [{"frame_start": seq.timing(m).left, "duration": seq.timing(m).duration, "elements": len(m.elements),
                        "first": os.path.join(bpy.path.abspath(m.directory), m.elements[0].filename)}
                       for m in seq.all_strips(scene) if m.type == "IMAGE"]
s.image_sequence = False
out["job_message"] = s.job_message
out["job_progress"] = s.job_progress
out["sound_after"] = [seq.timing(sound).left, seq.timing(sound).duration]

# the modal path, driven tick by tick as Blender's event loop would (bpy has no window here):
# timer ticks mirror progress into scene.emodiffhead; ESC cancels the job on the server
render_ops = sub("operators.render")
Op = render_ops.EMODIFFHEAD_OT_render_clip


class Event:
    def __init__(self, type_):
        self.type = type_


class StandIn:
    """Stands in for the operator instance Blender would create (a subclass copies the operator's methods; the
    context is real); keeps the operator's reports as [kind, text]."""

    def __init__(self):
        self.reports = []

    def report(self, kind, text):
        self.reports.append([sorted(kind)[0], text])


class ModalDriver(StandIn):
    """The render operator."""

    _timer = None
    _job = None
    _frame_start = 1
    _start = Op._start
    _cleanup = Op._cleanup
    modal = Op.modal


drv = ModalDriver()
n_movies = len([st for st in seq.all_strips(scene) if st.type == "MOVIE"])
out["modal_started"] = drv._start(ctx)
ticks, progress, result = 0, [], None
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    ev = Event("ESC") if ticks == 3 else Event("TIMER")
    r = drv.modal(ctx, ev)
    ticks += 1
    progress.append([s.job_progress, s.job_message])
    if ev.type == "ESC":
        out["esc_consumed"] = sorted(r)
    elif r != {"PASS_THROUGH"}:
        result = sorted(r)[0]
        break
    time.sleep(0.1)
out["modal_cancel"] = {"result": result, "ticks": ticks, "message": s.job_message, "running": s.job_running,
                       "reports": drv.reports, "progress": progress[:8],
                       "new_movie_strips": len([st for st in seq.all_strips(scene) if st.type == "MOVIE"]) - n_movies}
job_id = s.job_id
out["server_job_state"] = sub("preferences").make_client(ctx).job_status(job_id)["state"] if job_id else None

# the modal animate path (what the UI button runs), driven tick by tick: the backend request runs on a
# worker thread while modal() keeps returning PASS_THROUGH, so Blender's UI is never blocked
AOp = sub("operators.animate").EMODIFFHEAD_OT_animate


class AnimateDriver(StandIn):
    """The animate operator."""

    bl_idname, bl_label = AOp.bl_idname, AOp.bl_label
    _timer = None
    _thread = None
    _prepared = None
    _answer = None
    _start = AOp._start
    _cleanup = AOp._cleanup
    _tick = AOp._tick
    modal = AOp.modal
    prepare = AOp.prepare
    request = staticmethod(AOp.request)
    apply = AOp.apply


ad = AnimateDriver()
bag.fcurves.clear()
started, waiting, result, busy = ad._start(ctx), 0, None, []
deadline = time.monotonic() + 60
while started and time.monotonic() < deadline:
    r = ad.modal(ctx, Event("TIMER"))
    if r != {"PASS_THROUGH"}:
        result = sorted(r)[0]
        break
    waiting += 1
    busy.append(s.busy_message)
    time.sleep(0.02)
out["modal_animate"] = {"started": started, "result": result, "ticks_waiting": waiting, "reports": ad.reports,
                        "busy": busy[-1:], "busy_after": s.busy_message,
                        "curves_after": len(keyframes.channelbag(mesh.data.shape_keys).fcurves)}

# a head fitted to the photo: same topology and shape keys, another identity
first_basis = np.array([v.co[:] for v in mesh.data.shape_keys.reference_key.data], np.float32)
s.head_source, s.photo_path = "PHOTO", params["photo"]
t2 = time.monotonic()
out["create_fitted"] = call(bpy.ops.emodiffhead.create_head)
out["t_fitted"] = time.monotonic() - t2
fitted = s.head
fb = np.array([v.co[:] for v in fitted.data.shape_keys.reference_key.data], np.float32)
out["fitted"] = {"new_object": fitted != mesh, "same_vertex_count": fb.shape == first_basis.shape,
                 "max_shape_difference": float(np.abs(fb - first_basis).max()) if fb.shape == first_basis.shape else None,
                 "shape_keys": len(fitted.data.shape_keys.key_blocks)}
s.head = mesh

# errors the artist sees: bad audio, server gone
s.audio_source, s.audio_path = "FILE", params["bad_audio"]
out["errors"]["bad_audio"] = call(bpy.ops.emodiffhead.animate)
prefs.backend_url = "http://127.0.0.1:9"  # nothing listens on the discard port
out["errors"]["server_down"] = call(bpy.ops.emodiffhead.create_head)

# the UI's way of calling (INVOKE_DEFAULT): without a window, invoke_modal falls back to execute
use_backend(params)
s.head_source = "BUILTIN"
n_heads = len([o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys])
try:
    out["create_head_invoke"] = sorted(bpy.ops.emodiffhead.create_head("INVOKE_DEFAULT"))[0]
except RuntimeError as e:
    out["create_head_invoke"] = f"ERROR {e}"
out["heads_after_invoke"] = len([o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys]) - n_heads

# Start / Stop server from the preferences (the backend's Python = this interpreter)
import socket  # noqa: E402

with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
prefs.backend_url = f"http://127.0.0.1:{port}"
prefs.backend_python = params.get("backend_python") or sys.executable
prefs.data_dir = os.path.join(params["out_dir"], "own_server")
prefs.token_path = ""
out["server_start"] = call(bpy.ops.emodiffhead.server_start)
checks = []
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    checks.append(call(bpy.ops.emodiffhead.server_check)[0])
    if checks[-1] == "FINISHED":
        break
    time.sleep(0.5)
out["server_up_check"] = checks[-1]
server_process = sub("server_process")
out["server_status_running"] = server_process.status_text()
out["authorized_call"] = bool(sub("preferences").make_client(ctx).token)  # token read from <data dir>/token
out["server_stop"] = call(bpy.ops.emodiffhead.server_stop)
out["server_after_stop"] = [server_process.is_running(), call(bpy.ops.emodiffhead.server_check)[0]]
emit(out)
