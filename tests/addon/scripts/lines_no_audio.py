"""Blender scenario without sound (runs on every bpy build, also the Audaspace-less 4.2.0 wheel): dialogue lines
made by Import track, NLA layers kept, emotion keys per line, the rig mapping of an ARKit character without a jaw
bone, sparse keys, and the strip timing helper on a colour strip.

argv: ZIP GLB PARAMS_JSON with keys track_a, track_b (A at frame 1, B at 60), arkit (names), out_dir
"""

import json
import sys

import bpy
import numpy as np
from _common import artist_nod, call, emit, install, scene_at_25_fps, subs

zip_path, glb, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
install(zip_path)
head, keyframes, lines, seq, mapping, export, track_io, emotion_ops = subs(
    "scene.head", "scene.keyframes", "scene.lines", "scene.sequencer", "scene.mapping", "scene.export", "track_io",
    "operators.emotion")
ctx, scene = scene_at_25_fps()
out = {"version": bpy.app.version_string}
# greyed-out buttons say why (poll_message_set): no head yet, no render running
out["poll_reasons"] = [call(bpy.ops.emodiffhead.emotion_key), call(bpy.ops.emodiffhead.render_cancel)]
mesh, arm = head.import_glb(ctx, glb)
scene.emodiffhead.head = mesh
key = mesh.data.shape_keys
A, B = track_io.read_track(params["track_a"]), track_io.read_track(params["track_b"])
ja = A.expression_names.index("jawOpen")


def jaw_key_at(f):
    scene.frame_set(f)
    return key.key_blocks["jawOpen"].value


def nla(idb):
    ad = idb.animation_data
    return {"active": ad.action.name if ad.action else None,
            "tracks": [[t.name, [[s.action.get("emodiffhead_line"), s.extrapolation] for s in t.strips]]
                       for t in ad.nla_tracks]}


# two lines, imported
out["import_a"] = sorted(bpy.ops.emodiffhead.import_track(filepath=params["track_a"]))
out["after_a"] = nla(key)
out["import_b"] = sorted(bpy.ops.emodiffhead.import_track(filepath=params["track_b"]))
out["after_b"] = [nla(key), nla(arm)]
out["jaw_a"] = [[jaw_key_at(1 + i), A.expression_base[i][ja]] for i in (5, 15, 25)]
out["jaw_b"] = [[jaw_key_at(60 + i), B.expression_base[i][ja]] for i in (5, 15, 25)]
back = export.evaluate_track(ctx, mesh, (60, 60 + B.num_frames - 1))
out["export_b_err"] = float(np.abs(np.array(back.expression) - np.array(B.expression)).max())

# the artist's nod (active action, Add) on the rig; importing line A again leaves it alone
fc, nbag = artist_nod(arm, "nod", ((1, 0.0), (10, 0.2), (20, 0.0)))
out["reimport_a"] = sorted(bpy.ops.emodiffhead.import_track(filepath=params["track_a"]))
out["nod_after"] = [[k.co.x, k.co.y] for k in fc.keyframe_points] + [len(nbag.fcurves)]
out["jaw_a_again"] = [jaw_key_at(1 + i) for i in (5, 15, 25)]

# an emotion key goes into the line under the frame
emotion_ops.key_emotion(mesh, "sad", 70, 1.2)
def sad_keys(line):
    c = lines.bag(key, lines.find(key, line)).fcurves.find('key_blocks["emotion_sad"].value')
    return [k.co.x for k in c.keyframe_points] if c else []
out["sad_keys"] = {"A": sad_keys("track_a"), "B": sad_keys("track_b")}

# the strip timing helper on a colour strip (no audio needed)
ed = scene.sequence_editor_create()
try:  # 5.0+: length; 4.2: frame_end
    col = seq.top_level(ed).new_effect(name="c", type="COLOR", channel=3, frame_start=10, length=40)
except TypeError:
    col = seq.top_level(ed).new_effect(name="c", type="COLOR", channel=3, frame_start=10, frame_end=50)
t0 = seq.timing(col)
seq.move_strip(col, 5)
t1 = seq.timing(col)
seq.trim_strip(col, 20, 40)
t2 = seq.timing(col)
out["timing"] = [[t.content_start, t.left, t.right, t.duration, t.offset] for t in (t0, t1, t2)]
out["free_channel"] = [seq.free_channel(scene, 20, 30), seq.free_channel(scene, 100, 120)]

# an ARKit character without a jaw bone: the jaw rotation opens jawOpen; sparse keys within 0.01
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.1, segments=8, ring_count=6)
ch = ctx.active_object
ch.shape_key_add(name="Basis")
for n in params["arkit"]:
    ch.shape_key_add(name=n, from_mix=False)
ch.emodiffhead_rig.preset = "ARKIT_SHAPE_KEYS"
summary = keyframes.apply_track(ctx, ch, A, 1, line="A", tolerance=0.01)
cbag = lines.bag(ch.data.shape_keys, lines.find(ch.data.shape_keys, "A"))
jc = cbag.fcurves.find('key_blocks["jawOpen"].value')
speech = keyframes.speech_curves(A)
want = [speech[i][ja] + max(0.0, A.pose[i][2][0]) / mapping.JAW_RAD_PER_UNIT for i in range(A.num_frames)]
out["char_jaw"] = {"keys": len(jc.keyframe_points), "frames": A.num_frames, "summary_jaw": summary["jaw_shape_key"],
                   "max_err": max(abs(jc.evaluate(1 + i) - w) for i, w in enumerate(want)),
                   "max_value": max(want)}
emit(out)
