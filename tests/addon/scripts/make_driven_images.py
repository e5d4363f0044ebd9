"""Make docs/images/blender_driven_keys.png: the viewport without and with the driven keys (run by hand, not a test).

    .venv/bin/python tests/addon/scripts/make_driven_images.py [OUT_DIR]

Exports the built-in head's glb, installs the built extension into a temporary Blender user folder, imports the
head with the add-on, adds the emotion keys from the backend's emotion basis and renders (Workbench, zoomed) sad 1.5
(the lips), angry 1.0 (the brows), surprised 1.5 (the lids) and the eye bones looking down (the lids) with the
driven keys muted (what the viewport showed before them) and on.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images"

if os.environ.get("EMODIFFHEAD_DOCS_STAGE") != "blender":
    # stage 1 (plain Python): the zip, the glb, the emotion basis and where to look; then this file in bpy
    from emodiffhead.animate.emotion_vectors import emotion_above, emotion_basis
    from emodiffhead.commands.build_addon import build_addon
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.gltf import export_glb
    from emodiffhead.head.builtin import load_builtin_head

    tmp = Path(tempfile.mkdtemp(prefix="emodiffhead-driven-"))
    head = load_builtin_head()
    lm = head.template_landmarks()

    def blender(p):  # glTF (y up) -> Blender (z up)
        return [float(p[0]), float(-p[2]), float(p[1])]

    params = {"zip": str(build_addon(tmp / "emodiffhead.zip", REPO)), "glb": str(export_glb(head, tmp / "head.glb")),
              "expression_names": head.expression_names, "emotion_names": list(EMOTIONS),
              "basis": emotion_basis(head).tolist(), "above": emotion_above(head).tolist(),
              "mouth": blender(lm[[13, 14, 61, 291]].mean(0)), "brows": blender(lm[[107, 336, 105, 334]].mean(0)),
              "eye": blender(lm[[159, 145, 33, 133]].mean(0))}
    (tmp / "params.json").write_text(json.dumps(params))
    env = dict(os.environ, EMODIFFHEAD_DOCS_STAGE="blender", BLENDER_USER_RESOURCES=str(tmp / "user"), TMPDIR=str(tmp),
               EMODIFFHEAD_PARAMS=str(tmp / "params.json"))
    sys.exit(subprocess.call([sys.executable, __file__, str(OUT)], env=env, cwd=Path(__file__).parent))

# ---- stage 2: inside bpy ---------------------------------------------------------------------------
import bpy  # noqa: E402
from _common import install, sub  # noqa: E402
from mathutils import Vector  # noqa: E402

params = json.loads(Path(os.environ["EMODIFFHEAD_PARAMS"]).read_text())
install(params["zip"])
head, driven, rig = sub("scene.head"), sub("scene.driven"), sub("scene.rig")
ctx, scene = bpy.context, bpy.context.scene
mesh, arm = head.import_glb(ctx, params["glb"])
head.set_expression_slider_ranges(mesh)
head.remember(mesh, emotion_names=params["emotion_names"], emotion_basis=params["basis"],
              emotion_basis_above=params["above"])
head.ensure_emotion_keys(mesh, params["emotion_names"], params["basis"], params["expression_names"], params["above"])
key = mesh.data.shape_keys
names = sorted(driven.driven_names(key))

cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
scene.collection.objects.link(cam)
scene.camera = cam
cam.data.type = "ORTHO"
scene.render.engine = "BLENDER_WORKBENCH"
scene.display.shading.light = "STUDIO"
scene.display.shading.color_type = "VERTEX"
scene.display.shading.show_cavity = True
scene.world = scene.world or bpy.data.worlds.new("world")
scene.world.color = (0.18, 0.2, 0.23)
scene.render.resolution_x, scene.render.resolution_y = 400, 300
scene.render.image_settings.file_format = "PNG"
for ob in bpy.data.objects:  # the armature deforms the eyes but is not drawn
    if ob.type in ("MESH", "ARMATURE") and ob != mesh:
        ob.hide_render = True
TMP = Path(os.environ["TMPDIR"])
VIEWS = [("sad 1.5: lips", {"sad": 1.5}, "mouth", 0.045, (0.35, -1.0, 0.05), 0.0),
         ("angry 1.0: brows", {"angry": 1.0}, "brows", 0.085, (0.0, -1.0, 0.15), 0.0),
         ("surprised 1.5: lids", {"surprised": 1.5}, "eye", 0.04, (0.0, -1.0, 0.0), 0.0),
         ("eye bones down 0.3 rad: lids", {}, "eye", 0.04, (0.0, -1.0, 0.0), 0.3)]
for pb in arm.pose.bones:
    pb.rotation_mode = "XYZ"
tiles = []
for title, emo, where, scale, direction, pitch in VIEWS:
    for kb in key.key_blocks[1:]:
        kb.value = 0.0
    for n, v in emo.items():
        key.key_blocks[head.EMOTION_PREFIX + n].value = v
    for j in ("eye_left", "eye_right"):
        arm.pose.bones[j].rotation_euler = rig.axis_angle_to_euler(rig.head_to_bone_matrix(arm, j), (pitch, 0, 0))
    target = Vector(params[where])
    cam.location = target + Vector(direction).normalized() * 0.5
    cam.rotation_euler = (target - cam.location).to_track_quat("-Z", "Y").to_euler()
    cam.data.ortho_scale = scale
    row = []
    for muted in (True, False):
        for n in names:
            key.key_blocks[n].mute = muted
        scene.render.filepath = str(TMP / f"{where}_{pitch}_{int(muted)}.png")
        bpy.ops.render.render(write_still=True)
        row.append(scene.render.filepath)
    tiles.append((title, row))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(2, len(tiles), figsize=(3.6 * len(tiles), 6.0))
for c, (title, row) in enumerate(tiles):
    for r, p in enumerate(row):
        axes[r, c].imshow(plt.imread(p))
        axes[r, c].set_title(f"{title}\n{'linear keys only (before)' if r == 0 else 'with the driven keys'}", fontsize=10)
        axes[r, c].axis("off")
fig.tight_layout()
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "blender_driven_keys.png", dpi=80)
print("wrote", OUT / "blender_driven_keys.png")
