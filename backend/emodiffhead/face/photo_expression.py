"""Read the part of a photo's brow and mouth-corner geometry that no neutral face has: the photo's expression.

From one photo, brow height is ambiguous between identity (low-set brows) and expression (a frown): the
fit explains brows with identity shape and never with expression. This module reads expression only
where the geometry leaves the range of neutral faces, so a neutral face with low, high, close or slanted
brows is left alone and only the excess of a clear frown, raise, down-turned mouth or smile is read. The
plain fit frees the smile (``mouthSmile``) but shares a smile's widening with the identity's mouth width (a
broad smile came back from the neutral track still 0.6-0.65 IOD wide); the width beyond the neutral range,
with the corners raised, is read here as the smile it is.

Features (:func:`expression_features`), measured in the head's own frame (the photo's landmarks turned
back by the fitted head rotation, depth from the fitted model), y up, in units of the inter-ocular
distance (IOD, outer eye corners 33-263, about 90 mm on adults):

* ``brow_height_right/left``: mean height of the brow's inner and outer parts above the eye's corner line
  (AU4 lowers it, AU1 and AU2 raise it);
* ``brow_slope_right/left``: inner part's height minus the outer part's (the oblique brow of AU1 raises
  it, AU2 lowers it);
* ``brow_gap``: horizontal distance between the two inner brows (AU4 draws them together);
* ``corner_lift``: height of the mouth corners above the middle of the lips (AU15 lowers it);
* ``mouth_width``: distance between the mouth corners along the head's left-right axis (AU12, the smile,
  widens it as it lifts the corners; the axis alone, not the corners' full distance, so one side's smile
  changes it linearly).

Each feature has a neutral range (``NEUTRAL_RANGES``); the excess beyond it is explained by the fewest
expression components (bounded least squares with the features' own spread as weights), and everything
inside the range stays identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Brow landmarks of the mediapipe face mesh (subject's right = image left): inner and outer parts, upper
#: and lower edge of the brow.
BROW_INNER = {"right": (107, 66, 55, 65), "left": (336, 296, 285, 295)}
BROW_OUTER = {"right": (70, 63, 46, 53), "left": (300, 293, 276, 283)}
#: Eye corners (outer, inner) per side: the eye line the brow height is measured from.
EYE_CORNERS = {"right": (33, 133), "left": (263, 362)}
MOUTH_CORNERS = (61, 291)
LIP_MIDLINE = (0, 17)  # upper lip's top and lower lip's bottom on the midline

FEATURES = ("brow_height_right", "brow_height_left", "brow_slope_right", "brow_slope_left", "brow_gap",
            "corner_lift", "mouth_width")


@dataclass(frozen=True)
class NeutralRange:
    """Range of a feature on neutral faces (IOD units) and the spread used to weight its excess."""

    low: float
    high: float
    spread: float


#: Neutral ranges. Sample: the built-in head at rest, the five shared development photos (einstein_1921,
#: man_bw_portrait, man_open_mouth - open mouth, brows at rest -, mona_lisa_painting, woman_portrait - her
#: smile does not reach the brows) and three frames of talking_head_real_a.mp4 (0, 100, 199), measured with
#: this module on the product's own face mesh: brow height 0.154-0.239, slope 0.008-0.059, gap 0.424-0.488
#: (0.424: Mona Lisa, who has no visible brows, at 512 px), corner lift +0.006-+0.114.
#: Spread of the brow height: 1.8 mm SD between healthy adults (Cartwright et al. 1994, Am J Ophthalmol
#: 117:231, 143 subjects: eyebrow height above the lid) = 0.02 IOD at an outer-canthal width of about 90 mm
#: (Farkas 1994); mean +- 2.5 SD is 0.15-0.25, which also holds the whole sample. Slope,
#: gap and corner have no comparable published figure: their range is the sample's, widened by about one
#: spread. The gap has no upper bound (no expression spreads the brows apart), nor has the corner lift (a
#: smile is read from the width it adds, ``SMILE_LIFT_FULL``). Mouth width (corners 61-291 along the head's
#: x axis): 0.493-0.534 on the four non-smiling shared photos, widened by one spread to 0.56.
NEUTRAL_RANGES: dict[str, NeutralRange] = {
    "brow_height_right": NeutralRange(0.150, 0.250, 0.020),
    "brow_height_left": NeutralRange(0.150, 0.250, 0.020),
    "brow_slope_right": NeutralRange(-0.010, 0.075, 0.015),
    "brow_slope_left": NeutralRange(-0.010, 0.075, 0.015),
    "brow_gap": NeutralRange(0.415, np.inf, 0.012),
    "corner_lift": NeutralRange(-0.010, np.inf, 0.012),
    "mouth_width": NeutralRange(0.0, 0.56, 0.02),
}
#: A mouth wider than ``NEUTRAL_RANGES["mouth_width"].high`` is identity as often as a smile (adult mouths are
#: 0.57 +- 0.04 IOD wide, Farkas 1994: ch-ch 50-55 mm at ex-ex 88-91 mm; the built-in head's rest: 0.58), so
#: its width is read as a smile (AU12) only where the corners are raised too, as a smile raises them: the width
#: bound holds in full from corner lift ``SMILE_LIFT_FULL`` up and fades out (rises to no bound) over
#: ``SMILE_LIFT_FADE`` below it. Head frame: Einstein, man_bw and man_open_mouth lift their corners
#: +0.021-+0.031 and are 0.493-0.534 wide, Mona Lisa's half-smile +0.042 and 0.531 (below the bound either way);
#: the smiling woman_portrait: +0.035, 0.62; smiling frames of a real speaker: +0.063-+0.114, 0.59-0.73.
SMILE_LIFT_FULL = 0.034
SMILE_LIFT_FADE = 0.006
#: IOD: the scale of that rise; at a fraction s of the fade below SMILE_LIFT_FULL the bound is raised by
#: SMILE_WIDTH_RELAX * s / (1 - s) (half the fade: +0.1 IOD, beyond any adult mouth's width).
SMILE_WIDTH_RELAX = 0.1

#: Expression components the excess may be explained by (the rest of the photo's expression is the fit's).
READ_COMPONENTS = ("browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
                   "mouthFrownLeft", "mouthFrownRight", "mouthSmileLeft", "mouthSmileRight")
#: Sparsity (cost per unit of a component, in squared spreads): a component that barely helps stays at zero,
#: so the excess is explained by the fewest components (a frown by browDown alone, not browDown plus a
#: little of every brow raiser that nudges the brow gap).
SPARSITY = 0.05
#: A small ridge on top shares what either side could explain (the gap) equally between the two sides.
RIDGE = 0.01


def expression_features(points: np.ndarray) -> np.ndarray:
    """(F,) float64 features (``FEATURES`` order) of (>=468, 3) landmarks in the head frame (y up)."""
    P = np.asarray(points, np.float64)
    iod = max(float(np.linalg.norm(P[33] - P[263])), 1e-9)
    height, slope = {}, {}
    for side in ("right", "left"):
        eye = P[list(EYE_CORNERS[side]), 1].mean()
        hin = P[list(BROW_INNER[side]), 1].mean() - eye
        hout = P[list(BROW_OUTER[side]), 1].mean() - eye
        height[side], slope[side] = (hin + hout) / 2 / iod, (hin - hout) / iod
    gap = abs(P[list(BROW_INNER["right"]), 0].mean() - P[list(BROW_INNER["left"]), 0].mean()) / iod
    lift = (P[list(MOUTH_CORNERS), 1].mean() - P[list(LIP_MIDLINE), 1].mean()) / iod
    width = abs(float(P[MOUTH_CORNERS[1], 0] - P[MOUTH_CORNERS[0], 0])) / iod
    return np.array([height["right"], height["left"], slope["right"], slope["left"], gap, lift, width])


def neutral_bounds(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((F,), (F,)) low and high ends of each feature's neutral range for a face with these ``features``: the
    ``NEUTRAL_RANGES``, with the mouth width's upper bound lifted where the corners are not raised (a wide
    mouth alone is identity, see ``SMILE_LIFT_FULL``)."""
    lo = np.array([NEUTRAL_RANGES[k].low for k in FEATURES])
    hi = np.array([NEUTRAL_RANGES[k].high for k in FEATURES])
    lift = float(features[FEATURES.index("corner_lift")])
    short = (SMILE_LIFT_FULL - lift) / SMILE_LIFT_FADE
    w = FEATURES.index("mouth_width")
    hi[w] = np.inf if short >= 1.0 else hi[w] + max(short, 0.0) / (1.0 - short) * SMILE_WIDTH_RELAX
    return lo, hi


def head_frame_points(landmarks: np.ndarray, image_size: tuple[int, int], model_points: np.ndarray,
                      R: np.ndarray, f: float, t: np.ndarray) -> np.ndarray:
    """(L, 3) photo landmarks turned into the head frame.

    landmarks: (>=L, 2+) pixels (y down); model_points: (L, 3) the fitted model's landmarks (metres, head
    frame) that give each point its depth; R, f, t: the fitted camera ``q = f (R X)_xy + t`` (y-up pixels
    about the image centre)."""
    H, W = image_size
    L = model_points.shape[0]
    p = np.asarray(landmarks, np.float64)[:L, :2]
    q = np.stack([p[:, 0] - W / 2.0, -(p[:, 1] - H / 2.0)], 1)
    z = (model_points @ R.T)[:, 2]
    cam = np.concatenate([(q - t) / f, z[:, None]], 1)
    return cam @ R  # R^T applied to row vectors


def excess(features: np.ndarray) -> np.ndarray:
    """(F,) how far each feature lies outside its neutral range (0 inside; negative below it)."""
    lo, hi = neutral_bounds(features)
    return features - np.clip(features, lo, hi)


def read_expression(photo_points: np.ndarray, model_points: np.ndarray, component_basis: np.ndarray,
                    ) -> np.ndarray:
    """Coefficients (C,) in [0, 1] of the ``READ_COMPONENTS`` whose removal brings the photo's features back
    into their neutral ranges, as few as needed.

    photo_points: (L, 3) the photo's landmarks in the head frame (:func:`head_frame_points`);
    model_points: (L, 3) the fitted model's landmarks without those components (head frame);
    component_basis: (L, 3, C) their landmark displacements per unit. Minimises
    ``sum_k (distance of f_k - (J c)_k to feature k's range / spread_k)^2 + SPARSITY sum(c) + RIDGE |c|^2`` over
    ``0 <= c <= 1`` (convex; J: the features' change per unit of each component, linear to a few per cent
    over [0, 1]), solved exactly as one bounded least squares with each feature's nearest in-range value as
    an extra unknown. Features inside their range may move within it; a photo inside every range reads 0."""
    from scipy.optimize import lsq_linear

    f = expression_features(photo_points)
    C = component_basis.shape[2]
    if not np.any(excess(f)):
        return np.zeros(C)
    f0 = expression_features(model_points)
    J = np.stack([expression_features(model_points + component_basis[:, :, c]) - f0 for c in range(C)], 1)
    w = 1.0 / np.array([NEUTRAL_RANGES[k].spread for k in FEATURES])
    # the distance of a feature to its range is min over s in [low, high] of |value - s|: with those s as
    # extra bounded unknowns the problem is one bounded linear least squares in (c, s); the penalty
    # RIDGE |c|^2 + SPARSITY sum(c) is, up to a constant, RIDGE |c + SPARSITY / (2 RIDGE)|^2
    F = len(FEATURES)
    lo, hi = neutral_bounds(f)
    A = np.block([[J * w[:, None], np.diag(w)],
                  [np.sqrt(RIDGE) * np.eye(C), np.zeros((C, F))]])
    b = np.concatenate([f * w, np.full(C, -SPARSITY / (2.0 * np.sqrt(RIDGE)))])
    sol = lsq_linear(A, b, bounds=(np.concatenate([np.zeros(C), lo]), np.concatenate([np.ones(C), hi])),
                     method="trf", tol=1e-12, lsmr_tol="auto").x
    c = sol[:C]
    return np.where(c > 1e-3, c, 0.0)
