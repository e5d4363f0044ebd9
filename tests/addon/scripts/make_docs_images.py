"""Make docs/images/blender_*.png: Workbench renders of the add-on's results (run by hand, not a test).

    .venv/bin/python tests/addon/scripts/make_docs_images.py [OUT_DIR]

Starts a real backend on a loopback port, installs the built extension into a temporary Blender
user folder, creates the built-in head, animates the shipped ARCTIC clip (happy 0.8), and renders:
the head mid-speech, at the /p/ of "sharply", the emotion keys at intensity 1, the keyed curves,
and the sequencer with the clip rendered by the backend.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images"

if os.environ.get("EMODIFFHEAD_DOCS_STAGE") != "blender":
    # stage 1 (plain Python): build the zip, start the server, re-run this file as the Blender stage
    from emodiffhead.commands.build_addon import build_addon
    from emodiffhead.server.testing import start_server, stop_server

    tmp = Path(tempfile.mkdtemp(prefix="emodiffhead-docs-"))
    zip_path = build_addon(tmp / "emodiffhead.zip", REPO)
    url, token, proc = start_server(tmp / "server")
    try:
        env = dict(os.environ, EMODIFFHEAD_DOCS_STAGE="blender", BLENDER_USER_RESOURCES=str(tmp / "user"),
                   TMPDIR=str(tmp), EMODIFFHEAD_URL=url, EMODIFFHEAD_TOKEN_FILE=str(tmp / "server" / "token"),
                   EMODIFFHEAD_ZIP=str(zip_path))
        sys.exit(subprocess.call([sys.executable, __file__, str(OUT)], env=env, cwd=Path(__file__).parent))
    finally:
        stop_server(proc)

# ---- stage 2: inside bpy ---------------------------------------------------------------------------
import bpy  # noqa: E402
from _common import install, sub, use_backend  # noqa: E402
from mathutils import Vector  # noqa: E402

EXAMPLES = REPO / "backend" / "emodiffhead" / "assets" / "examples"
install(os.environ["EMODIFFHEAD_ZIP"])
use_backend({"url": os.environ["EMODIFFHEAD_URL"], "token_file": os.environ["EMODIFFHEAD_TOKEN_FILE"]})
ctx, scene = bpy.context, bpy.context.scene
scene.render.fps = 25
s = scene.emodiffhead
assert bpy.ops.emodiffhead.create_head() == {"FINISHED"}
mesh = s.head
ed = scene.sequence_editor_create()
ed.strips.new_sound(name="arctic_a0009", filepath=str(EXAMPLES / "arctic_a0009.wav"), channel=1, frame_start=1)
s.emotion, s.intensity = "happy", 0.8
s.transcript = "he turned sharply and faced gregson across the table"
assert bpy.ops.emodiffhead.animate() == {"FINISHED"}

# camera, light, Workbench
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
scene.collection.objects.link(cam)
scene.camera = cam
cam.data.lens = 75
target = Vector((0.0, 0.0, -0.035))
cam.location = Vector((0.12, -0.62, 0.0))
cam.rotation_euler = (target - cam.location).to_track_quat("-Z", "Y").to_euler()
scene.render.engine = "BLENDER_WORKBENCH"
scene.display.shading.light = "STUDIO"
scene.display.shading.color_type = "SINGLE"
scene.display.shading.single_color = (0.8, 0.62, 0.52)
scene.display.shading.show_cavity = True
scene.render.film_transparent = False
scene.world = scene.world or bpy.data.worlds.new("world")
scene.world.color = (0.18, 0.2, 0.23)
scene.render.resolution_x = scene.render.resolution_y = 480
scene.render.image_settings.file_format = "PNG"
OUT.mkdir(parents=True, exist_ok=True)
for ob in bpy.data.objects:  # hide the importer's bone display shapes and the armature
    if ob.type != "MESH" or ob != mesh:
        if ob.type in ("MESH", "ARMATURE"):
            ob.hide_render = True


def render(path, frame=None):
    if frame is not None:
        scene.frame_set(frame)
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    print("wrote", path)


# the widest mouth opening between frames 40 and 70 = mid-speech
head = sub("scene.head")
keyed = sub("scene.keyframes")
render(OUT / "blender_head_mid_speech.png", 51)
render(OUT / "blender_head_bilabial.png", 23)
# emotions at intensity 1 on a still mouth (speech muted via the frame before the audio)
scene.frame_set(1)
key = mesh.data.shape_keys
saved = key.animation_data.action
key.animation_data.action = None
arm = head.find_armature(mesh)
arm_action = arm.animation_data.action
arm.animation_data.action = None
for pb in arm.pose.bones:
    pb.rotation_euler = (0, 0, 0)
    pb.location = (0, 0, 0)
for kb in key.key_blocks[1:]:
    kb.value = 0.0
tiles = []
for name in ("neutral", "happy", "sad", "angry", "surprised", "disgusted"):
    for kb in key.key_blocks[1:]:
        kb.value = 0.0
    if name != "neutral":
        key.key_blocks[head.EMOTION_PREFIX + name].value = 1.0
    p = Path(os.environ["TMPDIR"]) / f"emotion_{name}.png"
    render(p)
    tiles.append((name, p))
key.animation_data.action = saved
arm.animation_data.action = arm_action

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, len(tiles), figsize=(3 * len(tiles), 3.3))
for ax, (name, p) in zip(axes, tiles):
    ax.imshow(plt.imread(p))
    ax.set_title(f"emotion_{name}" if name != "neutral" else "neutral (all 0)")
    ax.axis("off")
fig.tight_layout()
fig.savefig(OUT / "blender_emotion_keys.png", dpi=80)
plt.close(fig)

# an artist's edit: crossfade from happy to surprised over frames 45-60 (the Emotion panel's operator)
s.emotion, s.fade_to, s.fade_start, s.fade_end, s.intensity = "happy", "surprised", 45, 60, 0.7
assert bpy.ops.emodiffhead.emotion_crossfade() == {"FINISHED"}

# the curves an artist edits, sampled from the F-curves in Blender
bag = keyed.channelbag(key)
abag = keyed.channelbag(arm)
frames = list(range(1, 78))
fig, ax = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
for n in ("mouthClose", "mouthPucker", "mouthSmileLeft", "eyeBlinkLeft"):
    fc = bag.fcurves.find(f'key_blocks["{n}"].value')
    ax[0].plot(frames, [fc.evaluate(f) for f in frames], label=n)
ax[0].set_ylabel("shape key value")
ax[0].legend(fontsize=8, loc="upper right")
fc = abag.fcurves.find('pose.bones["jaw"].rotation_euler', index=0)
ax[1].plot(frames, [fc.evaluate(f) for f in frames], color="k", label="jaw rotation X (rad)")
ax[1].legend(fontsize=8, loc="upper right")
fc = bag.fcurves.find('key_blocks["emotion_happy"].value')
ax[2].plot(frames, [fc.evaluate(f) for f in frames], color="tab:orange", label="emotion_happy (intensity)")
ax[2].plot([k.co.x for k in fc.keyframe_points], [k.co.y for k in fc.keyframe_points], "o", color="tab:orange")
fc2 = bag.fcurves.find('key_blocks["emotion_surprised"].value')
ax[2].plot(frames, [fc2.evaluate(f) for f in frames], color="tab:purple", label="emotion_surprised")
ax[2].plot([k.co.x for k in fc2.keyframe_points], [k.co.y for k in fc2.keyframe_points], "o", color="tab:purple")
ax[2].set_ylim(-0.05, 1.55)
ax[2].set_xlabel("frame")
ax[2].legend(fontsize=8, loc="upper right")
fig.suptitle("F-curves keyed by 'Animate from audio' (ARCTIC a0009, happy 0.8), then a crossfade to surprised")
fig.tight_layout()
fig.savefig(OUT / "blender_curves.png", dpi=80)
plt.close(fig)

# render through the backend, then show the sequencer's output at a mid-speech frame
s.photo_path = str(EXAMPLES / "einstein_1921.jpg")
s.size = 256
assert bpy.ops.emodiffhead.render_clip() == {"FINISHED"}
scene.render.use_sequencer = True
scene.render.resolution_x = scene.render.resolution_y = 256
render(OUT / "blender_sequencer_result.png", 51)
print("movie strips:", [(st.name, st.frame_start, st.frame_final_duration) for st in ed.strips if st.type == "MOVIE"])
