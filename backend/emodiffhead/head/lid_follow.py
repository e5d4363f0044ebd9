"""Lid-eye coordination: the lids follow the eye joints' vertical rotation.

On a real face the upper lid follows the eye's pitch, about 1:1 downward and less upward (Becker & Fuchs 1988,
"Lid-eye coordination during vertical gaze changes in man and monkey", J. Neurophysiol. 60), so a look down
does not bare the white above the iris. An eye joint turns only the eyeball; this module turns its pitch into
the lid part of the head's own ``eyeLookDown{side}`` / ``eyeLookUp{side}`` blendshapes (their motion on every
vertex but the eyeballs, so the iris is not moved twice): the artist's lid-eye coordination of those shapes,
scaled so that the shape's iris move equals the joint's. Looking up, only the upper lid follows (the shape's
lower lid rises nearly as far as the iris, which would narrow the eye). Pure numpy; models without those
shapes or eye regions (FLAME) get no lid motion.

Pitch convention as the joints: +pitch (rotation about +x) looks down.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

__all__ = ["LidFollow", "lid_follow", "lid_follow_coefficients"]

#: Iris cap of an eyeball: vertices within about 25 degrees of +z from the eyeball's centre (as builtin's iris).
IRIS_CAP_COS = 0.9
#: Looking up, the lid motion fades from full above the eye's centre to none below it over this fraction of
#: the eyeball's height (a soft split of the upper from the lower lid at the corners).
UP_SPLIT_SOFTNESS = 0.35
#: (shape prefix, joint sign): +pitch drives eyeLookDown, -pitch eyeLookUp.
_SHAPES = (("eyeLookDown", 1.0), ("eyeLookUp", -1.0))


@dataclass(frozen=True)
class LidFollow:
    """Lid bases of one model: ``basis`` (V, 3, 4) float32 (down-left, up-left, down-right, up-right),
    ``rad_per_unit`` (4,) the eye pitch (radians, > 0) whose iris move equals the shape's at weight 1,
    ``joint`` (4,) the eye joint of each column, ``sign`` (4,) +1 down / -1 up, ``shape_index`` (4,) the
    expression column of the source shape, ``blink_index`` (4,) of the same side's eyeBlink (-1: none)."""

    basis: np.ndarray
    rad_per_unit: np.ndarray
    joint: np.ndarray
    sign: np.ndarray
    shape_index: np.ndarray
    blink_index: np.ndarray


#: (id of an expression basis array, eye joints) -> (a weak reference to that array, its lid bases). An entry
#: leaves when its array is freed, so the cache never keeps a model's basis alive.
_CACHE: dict[tuple[int, tuple[int, int]], tuple[weakref.ref, LidFollow | None]] = {}


def lid_follow(model, eye_joints: tuple[int, int]) -> LidFollow | None:
    """The lid bases of ``model`` (a :class:`~emodiffhead.head.model.HeadModel`) whose (left, right) eye joints
    are ``eye_joints`` (pose indices), or None when it lacks the eyeLookDown/Up shapes or eye regions. Cached
    per expression basis array (while that array lives)."""
    basis = model.expression_basis
    key = (id(basis), tuple(eye_joints))
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is basis:
        return hit[1]
    result = _build(model, eye_joints)
    _CACHE[key] = (weakref.ref(basis), result)
    weakref.finalize(basis, _CACHE.pop, key, None)
    return result


def _build(model, eye_joints: tuple[int, int]) -> LidFollow | None:
    names = model.expression_names
    eye_vertices = [model.regions.get(r) for r in ("eye_left", "eye_right")]
    if any(e is None or len(e) == 0 for e in eye_vertices):
        return None
    on_eyes = np.zeros(model.num_vertices, bool)
    for e in eye_vertices:
        on_eyes[np.asarray(e)] = True
    cols, rads, joints, signs, idx, blinks = [], [], [], [], [], []
    for side, joint, region in (("Left", eye_joints[0], "eye_left"), ("Right", eye_joints[1], "eye_right")):
        ball = model.template[np.asarray(model.regions[region])]
        centre = ball.mean(0)
        d = ball - centre
        cap = d[:, 2] / np.maximum(np.linalg.norm(d, axis=1), 1e-12) > IRIS_CAP_COS
        height = float(np.ptp(ball[:, 1])) or 1e-3
        # the cap's y speed per radian of pitch about the eyeball's centre: y' = y cos - (z - zc) sin
        dy_per_rad = -float(np.mean(d[cap, 2])) if cap.any() else 0.0
        for prefix, sign in _SHAPES:
            name = prefix + side
            if name not in names or dy_per_rad == 0.0:
                return None
            k = names.index(name)
            shape = model.expression_basis[:, :, k]
            iris_dy = float(np.mean(shape[np.asarray(model.regions[region])][cap, 1]))
            rad = iris_dy / dy_per_rad * sign  # > 0 when the shape turns the iris its own way
            if rad <= 1e-4:
                return None
            lid = np.where(on_eyes[:, None], 0.0, shape).astype(np.float32)
            if sign < 0:  # looking up: the upper lid only
                t = (model.template[:, 1] - centre[1]) / (UP_SPLIT_SOFTNESS * height) + 0.5
                lid *= np.clip(t, 0.0, 1.0)[:, None].astype(np.float32)
            cols.append(lid)
            rads.append(rad)
            joints.append(int(joint))
            signs.append(sign)
            idx.append(k)
            blink = "eyeBlink" + side
            blinks.append(names.index(blink) if blink in names else -1)
    return LidFollow(np.stack(cols, axis=2).astype(np.float32), np.array(rads, np.float32),
                     np.array(joints), np.array(signs, np.float32), np.array(idx), np.array(blinks))


def lid_follow_coefficients(lf: LidFollow, expression: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(T, 4) float32 weights of ``lf.basis`` for expression (T, E) and pose (T, 5, 3) radians.

    Each weight is the eye pitch over the shape's pitch, on its own side of zero; the shape's own weight in the
    expression counts toward its full (1), so an emotion's downcast eyes plus a look down never lower the lid
    past the shape's maximum; a closing blink takes the lid motion away (a closed lid stays closed)."""
    pitch = np.asarray(pose, np.float32)[:, lf.joint, 0]  # (T, 4)
    w = np.maximum(pitch * lf.sign[None], 0.0) / lf.rad_per_unit[None]
    own = np.asarray(expression, np.float32)[:, lf.shape_index]
    w = np.minimum(w, np.maximum(1.0 - own, 0.0))
    has_blink = lf.blink_index >= 0
    if has_blink.any():
        blink = np.clip(np.asarray(expression, np.float32)[:, np.maximum(lf.blink_index, 0)], 0.0, 1.0)
        w = w * np.where(has_blink[None], 1.0 - blink, 1.0)
    return w.astype(np.float32)
