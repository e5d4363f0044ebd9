"""How a track's channels land on a rig: stored on the head object (``Object.emodiffhead_rig``).

A track carries expression components (matched to shape keys by name), five joint rotations (root, neck,
jaw, eye_left, eye_right; head-space axis-angle) and a root translation. Presets:

- ``BUILTIN``: the emodiffhead head (bones ``root``, ``neck``, ``jaw``, ``eye_left``, ``eye_right``).
- ``ARKIT_JAW_BONE``: your character with the 52 ARKit-named shape keys and a jaw bone (name it).
- ``ARKIT_SHAPE_KEYS``: ARKit-named shape keys and no jaw bone: the speech jaw rotation opens the mouth
  through the ``jawOpen`` shape key (``jaw_per_radian`` units per radian; 1 / 0.47, the backend's
  calibration ``emodiffhead.animate.retarget.JAW_RAD_PER_UNIT``, checked by the add-on tests).
- ``FLAME``: a FLAME head made by Create head (shape keys ``exp000``..., the same five bones).

Bone fields left empty are not keyed. When the jaw bone named by the mapping does not exist but the jaw
shape key does, the jaw goes to the shape key (and Animate says so).
"""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, FloatProperty, PointerProperty, StringProperty

from .head import JOINTS, find_armature

#: radians of jaw rotation per unit of ARKit jawOpen in the backend (retarget.JAW_RAD_PER_UNIT)
JAW_RAD_PER_UNIT = 0.47

PRESETS = {
    "BUILTIN": {"bones": dict(zip(JOINTS, JOINTS)), "jaw_mode": "BONE"},
    "ARKIT_JAW_BONE": {"bones": {"root": "", "neck": "neck", "jaw": "jaw", "eye_left": "", "eye_right": ""},
                       "jaw_mode": "BONE"},
    "ARKIT_SHAPE_KEYS": {"bones": {"root": "", "neck": "neck", "jaw": "", "eye_left": "", "eye_right": ""},
                         "jaw_mode": "SHAPE_KEY"},
    "FLAME": {"bones": dict(zip(JOINTS, JOINTS)), "jaw_mode": "BONE"},
}


def _apply_preset(self, context) -> None:
    p = PRESETS[self.preset]
    for j, b in p["bones"].items():
        setattr(self, f"bone_{j}", b)
    self.jaw_mode = p["jaw_mode"]


class EMODIFFHEAD_PG_rig(bpy.types.PropertyGroup):
    preset: EnumProperty(name="Rig preset", update=_apply_preset, default="BUILTIN", items=[
        ("BUILTIN", "emodiffhead head", "The built-in head: ARKit shape keys and the bones root, neck, jaw, eyes"),
        ("ARKIT_JAW_BONE", "ARKit 52 + jaw bone", "Your character: ARKit-named shape keys; the jaw bone opens the mouth"),
        ("ARKIT_SHAPE_KEYS", "ARKit 52, no jaw bone", "Your character: ARKit-named shape keys; the jawOpen shape key "
                                                       "opens the mouth"),
        ("FLAME", "FLAME head", "A FLAME head made by Create head (exp000... shape keys, five bones)"),
    ], description="Which shape keys and bones the track's channels drive (stored on this object)")
    armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=lambda self, o: o.type == "ARMATURE",
                              description="The armature that moves the head (empty: the mesh's Armature modifier or parent)")
    jaw_mode: EnumProperty(name="Jaw", default="BONE", items=[
        ("BONE", "Bone", "The track's jaw rotation turns the jaw bone"),
        ("SHAPE_KEY", "Shape key", "The track's jaw rotation is added to the jaw shape key"),
    ], description="What opens the mouth when the track rotates the jaw")
    jaw_shape_key: StringProperty(name="Jaw shape key", default="jawOpen",
                                  description="Shape key the jaw rotation drives in Shape key mode")
    jaw_per_radian: FloatProperty(name="Per radian", default=1.0 / JAW_RAD_PER_UNIT, min=0.0, soft_max=5.0,
                                  description="Jaw shape key units per radian of jaw rotation (the backend's "
                                              "calibration: 1 / 0.47)")
    bone_root: StringProperty(name="Root bone", default="root", description="Bone for the head's turn and position")
    bone_neck: StringProperty(name="Neck bone", default="neck", description="Bone for the neck rotation")
    bone_jaw: StringProperty(name="Jaw bone", default="jaw", description="Bone for the jaw rotation (Bone mode)")
    bone_eye_left: StringProperty(name="Left eye bone", default="eye_left", description="Bone for the left eye's gaze")
    bone_eye_right: StringProperty(name="Right eye bone", default="eye_right", description="Bone for the right eye's gaze")


def rig(mesh_obj):
    """The mapping settings of ``mesh_obj``."""
    return mesh_obj.emodiffhead_rig


def armature(mesh_obj):
    """The armature the mapping names, else the one deforming the mesh (modifier or parent), or None."""
    r = rig(mesh_obj)
    return r.armature if r.armature is not None else find_armature(mesh_obj)


def joint_bones(mesh_obj) -> dict[str, str]:
    """Track joint -> existing pose-bone name (joints without a bone are left out)."""
    r, arm = rig(mesh_obj), armature(mesh_obj)
    if arm is None:
        return {}
    out = {}
    for j in JOINTS:
        b = getattr(r, f"bone_{j}")
        if j == "jaw" and r.jaw_mode == "SHAPE_KEY":
            continue
        if b and b in arm.pose.bones:
            out[j] = b
    return out


def jaw_shape_key(mesh_obj) -> tuple[str, float] | None:
    """(shape key name, units per radian) when the jaw rotation drives a shape key, else None: Shape key
    mode, or Bone mode whose bone is missing while the shape key exists."""
    r = rig(mesh_obj)
    key = mesh_obj.data.shape_keys
    has_key = key is not None and r.jaw_shape_key in key.key_blocks
    if r.jaw_mode == "SHAPE_KEY" or ("jaw" not in joint_bones(mesh_obj) and has_key):
        return (r.jaw_shape_key, r.jaw_per_radian) if has_key else None
    return None


classes = (EMODIFFHEAD_PG_rig,)


def register_props() -> None:
    bpy.types.Object.emodiffhead_rig = PointerProperty(type=EMODIFFHEAD_PG_rig)


def unregister_props() -> None:
    del bpy.types.Object.emodiffhead_rig
