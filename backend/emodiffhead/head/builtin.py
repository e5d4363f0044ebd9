"""The built-in CC0 head: MakeHuman's head and neck with the Face Units ARKit blendshapes.

The arrays live in ``emodiffhead/assets/builtin_head.npz`` (built by ``backend/tools/build_builtin_head.py``;
provenance and licence in ``assets/BUILTIN_HEAD_LICENSE.md`` and in ``HeadModel.meta``).
"""

from __future__ import annotations

import copy
import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import HeadModelError
from .lbs import barycentric_points
from .model import HeadModel, Joint

__all__ = ["ASSET_PATH", "load_builtin_head", "builtin_vertex_colors", "ANATOMICAL_SOFT_LIMITS"]

#: The shipped asset.
ASSET_PATH = Path(__file__).resolve().parents[1] / "assets" / "builtin_head.npz"

#: Gains on the Face Units targets of the upper face, so that weight 1 is a FACS maximal (E) movement on a
#: real face (inter-ocular distance IOD units, measured on the head's mediapipe landmarks): the raw targets
#: move the brows only 3-6 % IOD, the upper lid 3.7 %, a frown's corners 6 %, while posed expressions move
#: them about 8-13 %, 6-8 % and 9 %; a broad smile lifts the lip corners about 15-20 % (the raw target: 14 %).
#: The other mouth targets, which speech uses, are left as built. See docs/builtin_head.md.
EXPRESSION_GAINS = {
    "browDownLeft": 2.4, "browDownRight": 2.4, "browInnerUp": 2.5, "browOuterUpLeft": 2.5,
    "browOuterUpRight": 2.5, "eyeWideLeft": 2.0, "eyeWideRight": 2.0, "noseSneerLeft": 1.5,
    "noseSneerRight": 1.5, "mouthFrownLeft": 1.5, "mouthFrownRight": 1.5, "mouthSmileLeft": 1.35,
    "mouthSmileRight": 1.35, "mouthUpperUpLeft": 1.5, "mouthUpperUpRight": 1.5,
}


#: Anatomical soft limits (knee, ceiling) in blendshape weight, applied by ``HeadModel.forward``
#: (``expression_soft_limits``, ``head.model.soft_limit``): linear up to the knee, above it the movement keeps
#: growing ever more slowly toward the ceiling (an asymptote). The upper-lid raiser (AU5, ``eyeWide``, gain 2.0)
#: lifts the upper lid 6.5-7.2 mm per unit on this head (rest aperture 9.6 mm). A real upper lid rests 1-2 mm over
#: the top of the iris (margin-reflex distance MRD1 4-5 mm, corneal radius about 5.9 mm); in straight gaze the
#: levator with Mueller's muscle lifts it a few millimetres more: 2-3 mm shows white above the iris (a posed
#: surprise), about 5 mm is a maximal stare. The knee is surprise's level at intensity 1.0 (0.6: 3.9-4.5 mm); with
#: the ceiling at 0.9 surprise at 1.5 (weight 0.9) lifts the lid 0.75 (4.9-5.6 mm, mean 5.2) instead of 5.8-6.7 mm.
#: A lower ceiling (0.75) held the lid nearer 4.8 mm but then fear's eye opening shrank at 1.5: its brow lowerer and
#: lid tightener (AU4, AU7) close the eye linearly and outgrew the saturated raise. The brows (7.5-7.8 mm per unit; a
#: real maximal raise is about 10 mm), the jaw (33 mm of lip gap per unit; a real maximal opening 40-55 mm) and the
#: other targets the emotions use stay inside a real face's range at intensity 1.5 and are not limited.
#: See docs/builtin_head.md.
ANATOMICAL_SOFT_LIMITS = {"eyeWideLeft": (0.6, 0.9), "eyeWideRight": (0.6, 0.9)}


def soft_limit_table(names: list[str]) -> np.ndarray:
    """(E, 2) float32 (knee, ceiling) per expression name from ``ANATOMICAL_SOFT_LIMITS``; NaN rows: no limit."""
    return np.array([ANATOMICAL_SOFT_LIMITS.get(n, (np.nan, np.nan)) for n in names], np.float32)


#: The inner brow raiser (AU1, ``browInnerUp``) also lifts the inner part of the upper lid where the lid raiser
#: (AU5) is at rest: the skin under the raised inner brow draws the lid up with it and the lid takes the oblique,
#: "triangulated" shape of sadness (Ekman & Friesen: the inner corners of the upper lids raised). The raw target
#: moves the lids 0.2 mm. A corrective per eye (``HeadModel.expression_correctives``) adds this fraction of the
#: upper-lid raiser's motion, weighted from 1 at the inner eye corner to 0 at the outer one (``INNER_LID_POWER``),
#: driven by ``browInnerUp`` up to INNER_LID_DRIVER_FULL (sadness's AU1 at intensity 1; above it the lid holds its
#: shape while the brows keep rising, as the animator holds lids and gaze), fading out as ``eyeWide`` reaches
#: INNER_LID_DAMPER_FULL (surprise and fear raise the whole lid themselves, within its soft limit) and as the lid
#: blinks shut.
INNER_LID_RAISE = 0.5
INNER_LID_POWER = 1.5
INNER_LID_DRIVER_FULL = 0.66
INNER_LID_DAMPER_FULL = 0.3
#: mediapipe indices of each eye's (inner, outer) corner.
_EYE_CORNERS = {"Left": (362, 263), "Right": (133, 33)}


def inner_lid_correctives(model: HeadModel) -> tuple[np.ndarray, np.ndarray] | None:
    """((V, 3, 2) corrective motion, (2, 6) rules) of the inner upper-lid lift for ``model`` (left eye, right eye),
    or None when the model lacks ``browInnerUp``, ``eyeWide*``, ``eyeBlink*`` or the mediapipe embedding."""
    names = model.expression_names
    need = ("browInnerUp", "eyeWideLeft", "eyeWideRight", "eyeBlinkLeft", "eyeBlinkRight")
    if model.landmark_faces is None or model.num_landmarks < 478 or not all(n in names for n in need):
        return None
    lm = model.template_landmarks()
    x = model.template[:, 0]
    cols, rules = [], []
    for side, (inner, outer) in _EYE_CORNERS.items():
        k = names.index("eyeWide" + side)
        xi, xo = float(lm[inner, 0]), float(lm[outer, 0])
        t = np.clip((x - xo) / (xi - xo), 0.0, 1.0) ** INNER_LID_POWER
        cols.append((INNER_LID_RAISE * t)[:, None] * model.expression_basis[:, :, k])
        rules.append((names.index("browInnerUp"), INNER_LID_DRIVER_FULL, k, INNER_LID_DAMPER_FULL,
                      names.index("eyeBlink" + side), 0.0))
    return np.stack(cols, axis=2).astype(np.float32), np.array(rules, np.float32)


#: The brow lowerer (AU4, ``browDown``) of the raw target lowers the whole brow evenly (inner head 0.105 IOD per unit,
#: middle 0.14, tail 0.106): a level brow pushed down, which is AU4 at its slight levels (sadness's, fear's and
#: disgust's 0.2-0.35). AU4 is three muscles pulling at the brow's inner half (corrugator supercilii, depressor
#: supercilii, procerus); as it strengthens the corrugator draws the inner brows down and together, so in a marked
#: frown (anger) the brows slant down toward the nose, the "V" that reads even under sparse brows, while the tail,
#: which no AU4 muscle reaches, lowers less, only as the skin follows. Two correctives per side
#: (``HeadModel.expression_correctives``) shape the target's vertical motion over the brow and the skin above it
#: (none on the upper lid and its crease, which the lowering brow already crowds): the inner part (weight 1 at the
#: brow head, 0 at INNER_BROW_REACH of the way to the tail) lowers INNER_BROW_LOWER x more, driven by ``browDown``
#: from INNER_BROW_ONSET (above the slight AU4 of the other emotions) to INNER_BROW_DRIVER_FULL (anger at 1.0; above
#: it the V holds its shape while the whole brow keeps lowering: grown further, the lowered heads crowded the lid
#: crease at 1.5 and the warp's fold repair pushed them apart, so the knit stepped back), and the outer part is
#: spared TAIL_SPARE of the lowering, up to TAIL_SPARE_DRIVER_FULL (it keeps growing to intensity 1.5). Both fade
#: out as the inner brow raiser (AU1, ``browInnerUp``) reaches INNER_BROW_DAMPER_FULL: where AU1 lifts the inner
#: brows (sadness, fear, surprise) the frontalis holds them.
INNER_BROW_LOWER = 1.0
INNER_BROW_REACH = 0.75
TAIL_SPARE = 0.4
INNER_BROW_ONSET = 0.3
INNER_BROW_DRIVER_FULL = 0.66
TAIL_SPARE_DRIVER_FULL = 1.0
INNER_BROW_DAMPER_FULL = 0.3
#: mediapipe indices of each brow's (head, tail) on its upper line.
_BROW_ENDS = {"Left": (336, 300), "Right": (107, 70)}
#: mediapipe indices of each brow's lower edge and upper edge (middle of the brow).
_BROW_ROWS = {"Left": (282, 334), "Right": (52, 105)}


def inner_brow_correctives(model: HeadModel) -> tuple[np.ndarray, np.ndarray] | None:
    """((V, 3, 4) corrective motion, (4, 6) rules) of AU4's "V" for ``model`` (left inner, left tail, right inner,
    right tail), or None when the model lacks ``browDown*``, ``browInnerUp`` or the mediapipe embedding."""
    names = model.expression_names
    need = ("browInnerUp", "browDownLeft", "browDownRight")
    if model.landmark_faces is None or model.num_landmarks < 478 or not all(n in names for n in need):
        return None
    lm = model.template_landmarks()
    x, y = model.template[:, 0], model.template[:, 1]
    cols, rules = [], []
    for side, (head, tail) in _BROW_ENDS.items():
        k = names.index("browDown" + side)
        xh, xt = float(lm[head, 0]), float(lm[tail, 0])
        t = np.clip(1.0 - (x - xh) / (INNER_BROW_REACH * (xt - xh)), 0.0, 1.0)
        # medial of the brow head (between the heads, and the other half of the face, where this side's browDown
        # target barely moves anything): the head's own weight
        t[np.sign(x - xh) != np.sign(xt - xh)] = 1.0
        # the brow and the skin above it, not the lid below it (which the lowering brow already crowds): 0 at the
        # brow's lower edge, 1 from its upper edge up
        low, up = _BROW_ROWS[side]
        band = np.clip((y - float(lm[low, 1])) / (float(lm[up, 1]) - float(lm[low, 1])), 0.0, 1.0)
        t = t * band
        for weight, full in ((INNER_BROW_LOWER * t, INNER_BROW_DRIVER_FULL),
                             (-TAIL_SPARE * (band - t), TAIL_SPARE_DRIVER_FULL)):
            motion = np.zeros_like(model.expression_basis[:, :, k])
            motion[:, 1] = weight * model.expression_basis[:, 1, k]
            cols.append(motion)
            rules.append((k, full, names.index("browInnerUp"), INNER_BROW_DAMPER_FULL, -1, INNER_BROW_ONSET))
    return np.stack(cols, axis=2).astype(np.float32), np.array(rules, np.float32)


#: The upper-lip raiser (AU10, ``mouthUpperUp``) of the raw targets also lifts the lip corners (0.03-0.045 IOD per
#: unit, a third of its peak): added to a lowered lower lip, the bared teeth of anger and disgust curved into a
#: grin. On a real face AU10 raises the upper lip's middle and leaves the corners, which the lip corner puller
#: (AU12) moves. Near each mouth corner the target's motion is scaled down to this fraction at the corner,
#: recovering with a Gaussian of UPPER_LIP_CORNER_SIGMA x the mouth width.
UPPER_LIP_CORNER_KEEP = 0.25
UPPER_LIP_CORNER_SIGMA = 0.15
#: mediapipe face-mesh indices of the outer and inner mouth corners (the head's landmark embedding).
_MOUTH_CORNERS = ((61, 78), (291, 308))


def corner_falloff(model: HeadModel) -> np.ndarray | None:
    """(V,) float32 factor 0..1 for motion that should spare the mouth corners: UPPER_LIP_CORNER_KEEP at each
    corner, 1 far from them (distance on the template, Gaussian); None when the model has no mediapipe
    landmark embedding."""
    if model.landmark_faces is None or model.num_landmarks < 478:
        return None
    lm = model.template_landmarks()
    corners = np.array([lm[list(c)].mean(0) for c in _MOUTH_CORNERS], np.float32)
    sigma = UPPER_LIP_CORNER_SIGMA * float(np.linalg.norm(corners[1] - corners[0]))
    dist2 = ((model.template[:, None, :] - corners[None]) ** 2).sum(-1).min(1)
    return (1.0 - (1.0 - UPPER_LIP_CORNER_KEEP) * np.exp(-dist2 / (2 * sigma * sigma))).astype(np.float32)


#: The chin raiser (AU17, ``mouthShrugLower``) pushes the chin boss and with it the lower lip up. The lower lip is a
#: continuous band (orbicularis oris) held at the corners by the modiolus, where the lip corner depressor (AU15) pulls:
#: the mentalis pushes its central span up as a whole and it bends toward the corners, so a sad mouth (15+17) is an
#: inverted U (FACS: the lip line may take an inverted-U shape). The raw target lifts the lip in a peak at the middle
#: (5.2 mm per unit there, 0.75-0.8 of that a quarter of the way to the corners), and added to the lip corner
#: depressor's lowering (corners -7.8 mm, middle -0.1 mm) the lower lip of sadness at 1.0-1.5 came to a point, a
#: chevron. The target's motion is scaled across the face (by the template's x) so that its lower-lip lift is flat
#: over the middle CHIN_RAISER_SPAN of each half of the mouth (u = |x| / half width: 0 at the lip's middle, 1 at a
#: corner) and falls off as cos^2 to the corners. It is only raised (factor >= 1, about 1.6 at most, half way to a
#: corner); near the corners, where the raw lift is already above that profile, it is kept. Chin and lip move
#: together (the raw target's lateral profile is the same from the lip down to the chin).
#: mediapipe face-mesh indices of the lower lip's outer contour, corner to corner (the profile is measured there).
CHIN_RAISER_SPAN = 0.4
_LOWER_LIP_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)


def _landmark_motion(model: HeadModel, motion: np.ndarray) -> np.ndarray:
    """(L, 3) float64 motion of the embedded landmarks under (V, 3) vertex ``motion`` at rest pose (linear)."""
    return barycentric_points(np.asarray(motion, np.float32)[None], model.faces, model.landmark_faces,
                              model.landmark_bary)[0].astype(np.float64)


def chin_raiser_spread(model: HeadModel) -> np.ndarray | None:
    """(V,) float32 factor >= 1 on the raw ``mouthShrugLower`` motion so that its lower-lip lift is flat-topped across
    the mouth (see above), by the template's x; None when the model lacks the target or the mediapipe embedding."""
    if model.landmark_faces is None or model.num_landmarks < 478 or "mouthShrugLower" not in model.expression_names:
        return None
    lm = model.template_landmarks()
    corners = np.array([lm[list(c)].mean(0) for c in _MOUTH_CORNERS], np.float64)
    mid_x, half = float(corners[:, 0].mean()), 0.5 * float(abs(corners[1, 0] - corners[0, 0]))
    lip = list(_LOWER_LIP_OUTER)
    lift = _landmark_motion(model, model.expression_basis[:, :, model.expression_index("mouthShrugLower")])[lip, 1]
    u = (lm[lip, 0] - mid_x) / half
    ux = np.abs((model.template[:, 0] - mid_x) / half)
    # the raw lift across the mouth: each half of the lip (through the middle point) interpolated linearly in |u|,
    # the two halves averaged
    mid = int(np.argmin(np.abs(u)))
    halves = []
    for side in (-1.0, 1.0):
        pick = (np.sign(u) == side) | (np.arange(len(u)) == mid)
        order = np.argsort(np.abs(u[pick]))
        halves.append((np.abs(u[pick])[order], lift[pick][order]))
    peak = float(np.mean([np.interp(0.0, *h) for h in halves]))
    if peak <= 0:
        return None
    raw = np.mean([np.interp(ux, *h) for h in halves], axis=0)
    want = peak * np.cos(0.5 * np.pi * np.clip((ux - CHIN_RAISER_SPAN) / (1.0 - CHIN_RAISER_SPAN), 0.0, 1.0)) ** 2
    out = np.where((ux < 1.0) & (raw > 1e-3 * peak), want / np.maximum(raw, 1e-3 * peak), 1.0)
    return np.maximum(out, 1.0).astype(np.float32)


#: Lip contact. The chin raiser lifts only the lower lip, but the lips rest together: once the lower lip reaches the
#: upper one it pushes it up (the sad "pout", the closed lip line arched as an inverted U). Without it the lower lip
#: passed through the upper one (inner lips 0.5 mm crossed at sadness 1.0, 1.6-2.1 mm at 1.5; in the warp render
#: specks along the closed lip line at the corners). A corrective (``HeadModel.expression_correctives``) carries the
#: upper lip with ``mouthShrugUpper``'s motion (the upper lip and the skin above it, which the raw target raises along
#: the lip much as the raw chin raiser raises the lower one), scaled along the lip (by x, between the inner-lip points)
#: so that the upper inner lip rises as fast as the lower: driven by ``mouthShrugLower`` from the weight at which the
#: inner lips first touch (onset, from the head's own rest gap along the lip) to 1, and released as the jaw opens the
#: lips apart (``jawOpen``, or the jaw joint's pitch with which the animator opens the mouth for speech: gone once
#: the jaw alone parts the lips' middle by the chin raiser's whole lift).
#: mediapipe indices of the inner lip lines, corner to corner, point for point (upper, lower).
_LIPS_INNER = ((78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308), (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308))
#: The contact rule keeps carrying the upper lip up to this chin-raiser weight (the expression sliders reach 1.5;
#: emotions alone reach 0.75): the lower lip's lift is linear in the weight, so is the carried upper lip's.
CONTACT_DRIVER_FULL = 1.5
#: Jaw pitch (radians) at which the lips' opening per radian of the jaw joint is measured (small: linear there).
JAW_PROBE_RAD = 0.02


def lip_contact_corrective(model: HeadModel) -> tuple[np.ndarray, np.ndarray] | None:
    """((V, 3, 1) corrective motion, (1, 6) rule) of the upper lip carried by the chin raiser once the lips touch,
    for ``model`` (its ``mouthShrugLower`` as it poses); None when the model lacks ``mouthShrugLower``,
    ``mouthShrugUpper``, ``jawOpen`` or the mediapipe embedding, or its lips never close under the chin raiser."""
    names = model.expression_names
    need = ("mouthShrugLower", "mouthShrugUpper", "jawOpen")
    if model.landmark_faces is None or model.num_landmarks < 478 or not all(n in names for n in need):
        return None
    lower_k, upper_k, jaw_k = (names.index(n) for n in need)
    up, lo = (list(p[1:-1]) for p in _LIPS_INNER)  # the corners are shared points

    def closing(m: np.ndarray) -> np.ndarray:
        """(K,) how much (V, 3) motion ``m`` raises the lower inner lip over the upper one, metres per unit."""
        d = _landmark_motion(model, m)
        return d[lo, 1] - d[up, 1]

    rest = model.template_landmarks().astype(np.float64)
    gap = np.maximum(rest[up, 1] - rest[lo, 1], 0.0)
    close = closing(model.expression_basis[:, :, lower_k])
    carry = -closing(model.expression_basis[:, :, upper_k])
    ok = (close > 0) & (carry > 1e-3 * np.max(np.abs(carry)))
    if not np.any(ok):
        return None
    onset = float(np.min(gap[ok] / close[ok]))
    if onset >= 1.0:
        return None
    # the upper lip's raise, scaled along the lip (by x, between the inner-lip points) to the lower lip's
    x = rest[up, 0][ok]
    order = np.argsort(x)
    ratio = np.interp(model.template[:, 0], x[order], (close[ok] / carry[ok])[order])
    motion = model.expression_basis[:, :, upper_k] * ratio[:, None]
    mid = len(up) // 2
    jaw_full = float(close[mid] / max(-closing(model.expression_basis[:, :, jaw_k])[mid], 1e-6))
    # the animator opens the jaw for speech with the jaw joint, not with jawOpen: the rule fades out as much with
    # the joint's pitch (radians) that parts the lips' middle by the chin raiser's whole lift
    pose = np.zeros((1, len(model.joint_names), 3), np.float32)
    pose[0, Joint.JAW, 0] = JAW_PROBE_RAD
    opened = model.forward(pose=pose).landmarks[0].astype(np.float64)
    per_rad = float((opened[up[mid], 1] - opened[lo[mid], 1]) - (rest[up[mid], 1] - rest[lo[mid], 1])) / JAW_PROBE_RAD
    pitch_full = float(close[mid] / max(per_rad, 1e-6))
    rule = np.array([[lower_k, CONTACT_DRIVER_FULL, jaw_k, jaw_full, -1, onset, pitch_full]], np.float32)
    return motion[:, :, None].astype(np.float32), rule


def _full_rules(rules: np.ndarray) -> np.ndarray:
    """(K, 7) float32 corrective rules: shorter rows padded with zeros (no onset, no jaw pitch), as HeadModel reads
    them."""
    rules = np.asarray(rules, np.float32)
    return np.pad(rules, ((0, 0), (0, 7 - rules.shape[1])))


@lru_cache(maxsize=1)
def _load() -> HeadModel:
    if not ASSET_PATH.is_file():
        raise HeadModelError(f"the built-in head asset is missing: {ASSET_PATH} "
                             "(run backend/tools/build_builtin_head.py)")
    with np.load(ASSET_PATH, allow_pickle=False) as d:
        model = HeadModel.from_npz_dict({k: d[k] for k in d.files})
    gains = np.array([EXPRESSION_GAINS.get(n, 1.0) for n in model.expression_names], np.float32)
    basis = model.expression_basis * gains[None, None]
    fall = corner_falloff(model)
    if fall is not None:
        for name in ("mouthUpperUpLeft", "mouthUpperUpRight"):
            if name in model.expression_names:
                k = model.expression_index(name)
                basis[:, :, k] *= fall[:, None]
    spread = chin_raiser_spread(model)  # of the raw target
    if spread is not None:
        basis[:, :, model.expression_index("mouthShrugLower")] *= spread[:, None]
    model = dataclasses.replace(model, expression_basis=basis.astype(np.float32),
                                expression_soft_limits=soft_limit_table(model.expression_names))
    corr = [c for c in (inner_lid_correctives(model), inner_brow_correctives(model),
                        lip_contact_corrective(model)) if c is not None]
    if corr:  # through the constructor, so its checks of the limits and rules run on the built-in head too
        model = dataclasses.replace(model, expression_correctives=np.concatenate([c[0] for c in corr], axis=2),
                                    corrective_rules=np.concatenate([_full_rules(c[1]) for c in corr], axis=0))
    return model


def load_builtin_head() -> HeadModel:
    """The built-in head (name ``"builtin"``): V=4750 vertices, 52 ARKit expressions, 40 named shapes.

    Loaded once per process; each call returns a shallow copy, so callers may replace attributes
    (but must not modify the shared arrays in place).
    """
    return copy.copy(_load())


#: Albedo (linear-ish RGB in [0, 1]) of the parts of the built-in head, for pictures and guidance renders.
SKIN_RGB = (0.85, 0.68, 0.58)
PART_RGB = {
    "lips": (0.74, 0.44, 0.42),
    "teeth_upper": (0.93, 0.91, 0.86),
    "teeth_lower": (0.93, 0.91, 0.86),
    "tongue": (0.68, 0.36, 0.36),
    "mouth_inside": (0.45, 0.22, 0.22),
    "eyelid_rim": (0.45, 0.32, 0.27),
    "eyebrows": (0.42, 0.30, 0.24),
}
SCLERA_RGB = (0.95, 0.94, 0.92)
IRIS_RGB = (0.32, 0.22, 0.14)


def builtin_vertex_colors(model: HeadModel) -> np.ndarray:
    """(V, 3) float32 vertex albedo for ``model``'s regions: skin, lips, mouth, lid rims, brows, sclera
    and iris.

    The iris is the front cap of each eyeball (within about 25 degrees of +z in the template), so it
    follows eye rotations. Works for any model with the built-in head's region names.
    """
    V = model.num_vertices
    col = np.tile(np.asarray(SKIN_RGB, np.float32), (V, 1))
    for name, rgb in PART_RGB.items():
        if name in model.regions:
            col[model.regions[name]] = rgb
    for eye in ("eye_left", "eye_right"):
        if eye not in model.regions:
            continue
        idx = model.regions[eye]
        d = model.template[idx] - model.template[idx].mean(0)
        cos = d[:, 2] / np.maximum(np.linalg.norm(d, axis=1), 1e-12)
        col[idx] = np.where((cos > 0.9)[:, None], np.asarray(IRIS_RGB, np.float32), np.asarray(SCLERA_RGB, np.float32))
    return col
