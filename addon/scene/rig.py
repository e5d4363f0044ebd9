"""Convert head-space joint rotations (FLAME axis-angle, y up) to Blender pose bones and back.

FLAME rotates each joint by an axis-angle vector expressed in head space (all rest frames aligned
with the head). A Blender pose bone rotates in its own rest frame ``R_b`` (armature space). With
``A`` the rotation from head space (glTF: y up) to armature space, the local rotation vector is
``v_local = R_b^T A v`` (a rotation vector transforms like a vector under conjugation), and back
``v = A^T R_b v_local``.
"""

from __future__ import annotations

import math

from mathutils import Euler, Matrix, Quaternion, Vector

#: glTF (y up, -z forward) to Blender (z up): rotate +90 degrees about X: (x, y, z) -> (x, -z, y).
GLTF_TO_BLENDER = Matrix.Rotation(math.pi / 2, 3, "X")


def head_to_bone_matrix(arm_obj, bone_name: str) -> Matrix:
    """3x3 rotation taking head-space vectors to ``bone_name``'s rest frame."""
    bone = arm_obj.data.bones[bone_name]
    rb = bone.matrix_local.to_3x3().normalized()
    a = arm_obj.matrix_world.to_3x3().normalized().inverted() @ GLTF_TO_BLENDER
    return rb.transposed() @ a


def axis_angle_to_euler(m: Matrix, v, previous: Euler | None = None) -> Euler:
    """Head-space rotation vector ``v`` (3,) radians -> the bone's local XYZ Euler (continuous with ``previous``)."""
    vl = m @ Vector(v)
    angle = vl.length
    q = Quaternion(vl.normalized(), angle) if angle > 1e-12 else Quaternion()
    return q.to_euler("XYZ", previous) if previous is not None else q.to_euler("XYZ")


def euler_to_axis_angle(m: Matrix, e) -> list[float]:
    """Inverse of :func:`axis_angle_to_euler`: the bone's local XYZ Euler -> head-space rotation vector (3,)."""
    axis, angle = Euler(e, "XYZ").to_quaternion().to_axis_angle()
    if angle > math.pi:
        angle -= 2 * math.pi
    v = m.transposed() @ (axis * angle)
    return [v.x, v.y, v.z]


def translation_to_location(arm_obj, bone_name: str, t) -> Vector:
    """Head-space translation (3,) metres -> the root bone's pose location (its rest frame, scene units)."""
    bone = arm_obj.data.bones[bone_name]
    world = GLTF_TO_BLENDER @ Vector(t)
    arm = arm_obj.matrix_world.to_3x3().inverted() @ world
    return bone.matrix_local.to_3x3().inverted() @ arm


def location_to_translation(arm_obj, bone_name: str, loc) -> list[float]:
    """Inverse of :func:`translation_to_location`."""
    bone = arm_obj.data.bones[bone_name]
    arm = bone.matrix_local.to_3x3() @ Vector(loc)
    world = arm_obj.matrix_world.to_3x3() @ arm
    t = GLTF_TO_BLENDER.transposed() @ world
    return [t.x, t.y, t.z]
