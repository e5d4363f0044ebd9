"""From a track to per-frame 2D driving landmarks for image-space renderers.

For frame t the fitted head is posed with the track (root rotation composed with the photo's head
rotation, expression from the track) and projected with the fitted camera. The photo's own landmarks
then move by the *difference* between that projection and the projection of the photo's fit, so the
fit residual never shows and a neutral, still track reproduces the photo up to its expression
(``keep_photo_expression`` = 1 keeps the photo's expression and adds the track on top).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face.fit import FitResult
from ..head.lbs import batch_rodrigues
from ..head.model import HeadModel, Joint
from ..track import Track

CHUNK = 256
#: Blendshapes that move the mandible itself (teeth and lips together); every other channel moves the lips over
#: the teeth (``mouthClose`` closes the lips against an open jaw).
JAW_CHANNELS = ("jawOpen", "jawForward", "jawLeft", "jawRight")


@dataclass(frozen=True)
class Drive:
    """Driving data for T frames, in output-image pixels.

    landmarks: (T, 478, 3) float32 moved photo landmarks ``(x, y, depth)``; smaller depth is closer.
    rigid: (T, 478, 3) float32 where they would be with the head's motion but a neutral face
        (closed mouth): the upper teeth hang from its upper lip; ``jaw`` (T, 2) float32 pixel
        displacement the jaw alone (its joint and the ``JAW_CHANNELS`` blendshapes) gives the lower lip's inner
        midpoint (landmark 14) from the neutral face: the lower incisors, on which that lip rests, and the tongue
        follow it; what the lip does on its own (depressed, stretched, raised) uncovers or covers them.
    """

    landmarks: np.ndarray
    rigid: np.ndarray
    jaw: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.landmarks.shape[0])


def _compose_root(fit_root: np.ndarray, track_root: np.ndarray) -> np.ndarray:
    """(T, 3) axis-angle of R_fit @ R_track."""
    from scipy.spatial.transform import Rotation

    Rf = batch_rodrigues(fit_root[None])[0].astype(np.float64)
    Rt = batch_rodrigues(track_root).astype(np.float64)
    return Rotation.from_matrix(Rf[None] @ Rt).as_rotvec().astype(np.float32)


def frame_pose(fit: FitResult, track: Track, start: int = 0, stop: int | None = None):
    """(pose (T, 5, 3), translation (T, 3)) of the head in the photo's camera for track frames [start, stop)."""
    pose = np.array(track.pose[start:stop], np.float32)
    pose[:, Joint.ROOT] = _compose_root(fit.pose[Joint.ROOT], pose[:, Joint.ROOT])
    trans = fit.translation[None] + np.asarray(track.translation[start:stop], np.float32)
    return pose, trans


def photo_reference(head: HeadModel, fit: FitResult) -> tuple[np.ndarray, np.ndarray]:
    """(expression (E,), pose (5, 3)) the photo is measured against: the fit, with its jawOpen blendshape turned
    into the equivalent jaw joint rotation (same lip gap, ``retarget.JAW_RAD_PER_UNIT``), as the animator opens
    the jaw. Closing an open-mouthed photo then rotates the jaw up, so the chin rises with the lower lip."""
    from ..animate.retarget import JAW_RAD_PER_UNIT

    expr = np.array(fit.expression, np.float32)
    pose = np.array(fit.pose, np.float32)
    if "jawOpen" in head.expression_names:
        j = head.expression_index("jawOpen")
        pose[Joint.JAW, 0] += JAW_RAD_PER_UNIT * max(0.0, float(expr[j]))
        expr[j] = min(0.0, float(expr[j]))
    return expr, pose


def jaw_closing_motion(head: HeadModel, fit: FitResult) -> np.ndarray:
    """(478, 2) float32 px: how the fitted photo's landmarks move when the head's jaw closes from the photo's
    opening (:func:`photo_reference`'s jaw rotation to 0, the rest of its expression kept)."""
    ref_expr, ref_pose = photo_reference(head, fit)
    closed = ref_pose.copy()
    closed[Joint.JAW] = 0.0
    both = head.forward(fit.shape, np.repeat(ref_expr[None], 2, 0), np.stack([ref_pose, closed]),
                        np.repeat(fit.translation[None], 2, 0)).landmarks
    return (fit.camera.project(both[1]) - fit.camera.project(both[0]))[:, :2].astype(np.float32)


def drive_from_track(head: HeadModel, fit: FitResult, track: Track, keep_photo_expression: float = 0.0,
                     base: np.ndarray | None = None) -> Drive:
    """Per-frame driving landmarks of ``track`` for the photo fitted by ``fit`` (at the output size).

    base: (478, 2+) landmarks the motion is added to instead of the photo's (a warp source re-mapped to closed
    lips, used as is); None: the photo's landmarks with the lips closed past what the model can follow."""
    from ..face import facemesh_topology as topo

    cam = fit.camera
    ref_expr, ref_pose = photo_reference(head, fit)
    ref = head.forward(fit.shape, ref_expr[None], ref_pose[None], fit.translation[None]).landmarks[0]
    P0 = cam.project(ref)
    photo = np.array(fit.landmarks, np.float64)
    # lips parted further than the fitted model could follow: close that excess too, so a neutral track
    # closes the mouth of an open-mouthed photo (unless the photo's expression is kept)
    mu, ml = topo.mouth_lines()
    e = photo[mu[-1], :2] - photo[mu[0], :2]
    n = np.array([-e[1], e[0]]) / max(float(np.hypot(*e)), 1e-6)
    excess = ((photo[ml, :2] - photo[mu, :2]) @ n) - ((P0[ml, :2] - P0[mu, :2]) @ n)
    excess = np.maximum(excess, 0.0) * (1.0 - float(np.clip(keep_photo_expression, 0, 1)))
    photo[mu, :2] += 0.5 * excess[:, None] * n
    photo[ml, :2] -= 0.5 * excess[:, None] * n
    if base is not None:
        photo = np.array(base, np.float64)
    T = track.num_frames
    out = np.empty((T, photo.shape[0], 3), np.float32)
    rig = np.empty_like(out)
    E = head.num_expression
    base_expr = keep_photo_expression * ref_expr[None] if keep_photo_expression else np.zeros((1, E), np.float32)
    jaw_cols = [head.expression_index(n) for n in JAW_CHANNELS if n in head.expression_names]
    lip = topo.LOWER_LIP_INNER_MID
    jaw = np.empty((T, 2), np.float32)
    for s in range(0, T, CHUNK):
        e = min(T, s + CHUNK)
        pose, trans = frame_pose(fit, track, s, e)
        pose[:, Joint.JAW, 0] += keep_photo_expression * (ref_pose[Joint.JAW, 0] - fit.pose[Joint.JAW, 0])
        expr = np.asarray(track.expression[s:e], np.float32) + base_expr
        lm = head.forward(fit.shape, expr, pose, trans).landmarks
        rpose = pose.copy()
        rpose[:, Joint.JAW:] = 0.0  # jaw and eyes (the joints after the jaw) at rest
        rest_expr = np.repeat(base_expr, e - s, 0)
        rl = head.forward(fit.shape, rest_expr, rpose, trans).landmarks
        jexpr = rest_expr.copy()
        jexpr[:, jaw_cols] = expr[:, jaw_cols]  # the jaw alone: its joint and its blendshapes, the lips at rest
        jl = head.forward(fit.shape, jexpr, pose, trans).landmarks[:, lip]
        for k in range(e - s):
            d = cam.project(lm[k]) - P0
            out[s + k, :, :2] = photo[:, :2] + d[:, :2]
            out[s + k, :, 2] = (cam.project(lm[k])[:, 2]).astype(np.float32)
            dr = cam.project(rl[k]) - P0
            rig[s + k, :, :2] = photo[:, :2] + dr[:, :2]
            rig[s + k, :, 2] = out[s + k, :, 2]
            jaw[s + k] = (cam.project(jl[k:k + 1]) - cam.project(rl[k, lip][None]))[0, :2]
    return Drive(landmarks=out, rigid=rig, jaw=jaw)
