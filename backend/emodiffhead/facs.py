"""FACS: emotion prototypes as Action Units, and the one AU -> ARKit blendshape table.

Everything that turns an emotion or an Action Unit into expression weights reads this module:
:mod:`emodiffhead.animate.emotion_vectors` builds each category's expression vector from
``EMOTION_PROTOTYPES`` through ``AU_TO_ARKIT``, in the canonical ARKit space (52 blendshapes), and then
retargets to the head model's own components.

Prototypes follow Ekman & Friesen's EMFACS (see ``EMOTION_PROTOTYPES``), with per-AU intensities (0..1,
1 = FACS maximal) chosen so that emotion intensity 1 is a clearly posed expression and 1.5 a strong one. Unilateral AUs carry a
side prefix: ``"R12"`` is AU12 on the subject's right only.
"""

from __future__ import annotations

import numpy as np

#: The 52 ARKit face blendshapes (Apple ARFaceAnchor.BlendShapeLocation), the canonical animation space.
ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)
ARKIT_INDEX: dict[str, int] = {n: i for i, n in enumerate(ARKIT_BLENDSHAPES)}
NUM_ARKIT = len(ARKIT_BLENDSHAPES)
#: Column of ``jawOpen`` (the mouth opening) in (T, 52) ARKit weights.
JAW_OPEN = ARKIT_INDEX["jawOpen"]

#: Action Unit -> ARKit blendshape weights. Names ending in "{side}" are bilateral pairs
#: (``Left`` and ``Right``); a side-prefixed AU ("L12"/"R12") uses only that side.
AU_TO_ARKIT: dict[int, dict[str, float]] = {
    1: {"browInnerUp": 1.0},                                    # inner brow raiser
    2: {"browOuterUp{side}": 1.0},                              # outer brow raiser
    4: {"browDown{side}": 1.0},                                 # brow lowerer
    5: {"eyeWide{side}": 1.0},                                  # upper lid raiser
    # cheek raiser: the raised cheek pushes the lower lid up and narrows the eye (the built-in cheekSquint
    # target itself moves the lower lid only 1 mm, the cheek 6-8 mm)
    6: {"cheekSquint{side}": 1.0, "eyeSquint{side}": 0.5},
    7: {"eyeSquint{side}": 1.0},                                # lid tightener
    9: {"noseSneer{side}": 1.0, "mouthUpperUp{side}": 0.2},     # nose wrinkler
    10: {"mouthUpperUp{side}": 1.0},                            # upper lip raiser
    12: {"mouthSmile{side}": 1.0},                              # lip corner puller
    14: {"mouthDimple{side}": 1.0},                             # dimpler
    15: {"mouthFrown{side}": 1.0},                              # lip corner depressor
    16: {"mouthLowerDown{side}": 1.0},                          # lower lip depressor
    17: {"mouthShrugLower": 1.0},                               # chin raiser
    18: {"mouthPucker": 1.0},                                   # lip pucker
    20: {"mouthStretch{side}": 1.0},                            # lip stretcher
    22: {"mouthFunnel": 1.0},                                   # lip funneler
    23: {"mouthPress{side}": 0.3, "mouthRollUpper": 0.35, "mouthRollLower": 0.35},  # lip tightener
    24: {"mouthPress{side}": 1.0},                              # lip pressor
    25: {"mouthLowerDown{side}": 0.5, "mouthUpperUp{side}": 0.3, "jawOpen": 0.12},  # lips part
    26: {"jawOpen": 0.45},                                      # jaw drop
    27: {"jawOpen": 1.0},                                       # mouth stretch
    28: {"mouthRollLower": 1.0, "mouthRollUpper": 1.0},         # lip suck
    43: {"eyeBlink{side}": 1.0},                                # eyes closed
    64: {"eyeLookDown{side}": 1.0},                             # eyes down (gaze)
    45: {"eyeBlink{side}": 1.0},                                # blink
}

#: EMFACS prototypes: AU code -> AU intensity at emotion intensity 1 (AU intensity 1 = FACS "E", the maximal
#: movement; the head models are calibrated so that blendshape weight 1 is that movement, see
#: docs/builtin_head.md). Emotion intensity 1 is a clearly posed expression (MEAD's level 3, FACS C-D:
#: 0.5-0.67 per AU) and 1.5 a strong one, so no blendshape leaves its [0, 1] range below intensity 1.5. The weights
#: stay linear in intensity; where a head's target would move beyond a real face it saturates the movement itself
#: (``HeadModel.expression_soft_limits``: the built-in head's upper-lid raiser above surprise's 1.0 level).
#: "neutral" is empty (zero vector). AUs per category (Ekman & Friesen, EMFACS-7 predictions; where EMFACS
#: lists several, the open-mouthed variant that posed level-3 faces use):
#: happy 6+12+25+26 (a Duchenne smile: cheeks raised, eyes narrowed from below, the lips parted over the upper
#: teeth by a slight jaw drop); sad 1+4+15+17 with the eyes cast down (64) under slightly heavy lids (43);
#: surprise 1+2+5+27 (the jaw dropped well open: about 16 mm of lip gap at 1.0, 24 mm at 1.5);
#: fear 1+2+4+5+7+20+25+26 (+16); anger 4+5+7+10+16+25 (+23: bared, tense lips; not 22, see below);
#: disgust 9+10+25 (+4, 6, 15); contempt unilateral 12+14 (+16).
#: The prototypes are linear up to intensity 1 (above it the AUs of ``HELD_ABOVE_ONE`` stop growing and those of
#: ``RECRUITED_ABOVE_ONE`` join; tracks and the
#: Blender add-on recombine ``emotion @ emotion_basis + max(0, emotion - 1) @ emotion_basis_above``), so the
#: lips part with intensity (AU25, AU26, AU16, AU10 against the smile's and AU17's closing): at 0.5 half as
#: far (a mild smile's lips just apart), at 1.0 the teeth show, as in posed faces; speech still closes them
#: (``animate.compose`` scales every lip-parting channel at /p b m/).
EMOTION_PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    # AU16 counters the built-in smile target's lower-lip lift, so AU25 opens the lips of a broad smile; the
    # slight jaw drop (26) parts them over the upper teeth (lip gap 5 mm -> 10 mm at 1.0: without it the smile
    # stayed a narrow closed-lip grin)
    "happy": {"6": 0.66, "12": 0.66, "25": 0.66, "16": 0.3, "26": 0.3},
    # AU4 kept low in sad: a strong brow lowerer cancels AU1's inner-brow raise, and the oblique brow
    # (inner corners up) is what reads as sadness; a downcast gaze (64, the upper lids follow the eyes) with
    # slightly heavy lids (43); more of either reads as sleep and folds the skin above the outer lid
    "sad": {"1": 0.66, "4": 0.3, "15": 0.66, "17": 0.5, "43": 0.1, "64": 0.4},
    # anger: lowered brows over tightened lids (7 > 5: a glare, not the wide eyes of fear), the upper lip
    # raised and the lower lip lowered nearly evenly along the lip over clenched teeth (10+16+25: the square
    # mouth of posed anger, its opening as tall 0.2 mouth widths from a corner as in the middle), the lips tense
    # (23). EMFACS's AU22 (lips pushed forward) is left out: ARKit's ``mouthFunnel`` rounds the opening into an
    # "oo" (its middle opens, its ends do not, the mouth narrows), which made the bared teeth a lens that read
    # as a smile on smiling photos; the AU10 corner falloff keeps the corners from rising into a grin instead.
    # The built-in head slants anger's lowered brows into a V (AU4 above 0.3: ``head.builtin.inner_brow_correctives``)
    "angry": {"4": 0.66, "5": 0.25, "7": 0.66, "10": 0.5, "16": 0.41, "25": 0.5, "23": 0.2},
    # surprise: the jaw drops open (27 at C: jawOpen 0.45 at 1.0, 0.675 at 1.5; larger drops folded the warp at
    # the far mouth corner of a turned face at 1.5), brows and upper lids raised
    "surprised": {"1": 0.66, "2": 0.66, "5": 0.6, "27": 0.45},
    # fear: brows raised *and* drawn together (1+2+4, flatter than surprise), lips parted and stretched
    # sideways (20+25) over a smaller jaw drop than surprise's (26 at B-C), the lower lip pulled down off the lower
    # teeth (16 at C: with only the upper teeth bared the stretched mouth read as a grin; with the lower lip
    # riding on the lower teeth, a surprise-sized jaw drop without it made fear a second surprise)
    "fearful": {"1": 0.66, "2": 0.4, "4": 0.35, "5": 0.66, "7": 0.2, "20": 0.66, "25": 0.4, "26": 0.4, "16": 0.46},
    # disgust: nose wrinkle and upper lip raised off the upper teeth (9+10+25), brows slightly lowered and
    # cheeks raised (4, 6), the lip corners held down (15: bared teeth without it read as a grin). No chin raiser:
    # EMFACS pairs AU17 with disgust's closed-mouth variants (9+17, 10+17); in this open variant it pushed the lower
    # lip up over the bared teeth, and once the chin raiser lifts the lip's whole middle (head.builtin
    # chin_raiser_spread) it half closed them (held-out real frames, disgust at 1.0: 0.35 / 0.48 -> 0.13 / 0.35)
    "disgusted": {"9": 0.66, "10": 0.44, "25": 0.3, "4": 0.2, "6": 0.3, "15": 0.35},
    # contempt: one lip corner tightened and raised (R12+R14); the smile target lifts the lower lip too, which at 1.0
    # pressed it 0.45 mm (1.5: 0.94 mm) into the upper lip near that corner: a little of that side's lower-lip
    # depressor (R16, as happy's AU16) keeps the closed lips meeting (0.34 / 0.24 mm apart at 1.0 / 1.5)
    "contemptuous": {"R12": 0.5, "R14": 0.66, "R16": 0.2},
}


#: AUs that stop growing above emotion intensity 1 in every category: the lids' closure (43) and the gaze (64)
#: are a resting state and a direction, not a muscle's strength. A sad face at 1.5 then keeps its eyes visible
#: under the lids instead of reading as sleep (the animator's former "rule 5", now part of the prototypes, so
#: the Blender add-on and every track carry it).
HELD_ABOVE_ONE: frozenset[str] = frozenset({"43", "64"})
#: Per category, further AUs held above intensity 1 (see ``HELD_ABOVE_ONE``): the movement past a clearly posed
#: expression is carried by the category's other AUs. Happy: a stronger smile is the corners pulled further up
#: and back and the cheeks higher (AU12, AU6); the lips' parting over the upper teeth and the slight jaw drop
#: (AU25, AU26) are the posed smile's state at 1.0, and opening them further turned the 1.5 smile into an open
#: "ha" (a dark gap under floating upper teeth, read as a laugh or a gasp). The lower lip's depressor (AU16) goes
#: on growing with AU12: the stronger smile also lifts the lower lip, and with AU16 held the lips closed in by 14 %
#: of their 1.0 gap at 1.5 (with it growing, 8 %). Fear: its mouth is the lips
#: stretched sideways and tense (AU20, AU16) over a small jaw drop; dropping the jaw further (AU25, AU26) made the
#: 1.5 face a second surprise (a dark open mouth), so past the posed level fear grows in the brows, lids and stretch.
#: Sadness: the lip corners' depression (AU15) is the posed frown's at 1.0; deepened further while the chin raiser
#: (AU17) keeps lifting the lower lip's middle, the 1.5 mouth became a cartoon's arch (corners far below a pushed-up
#: middle) that read as a pout or a sulk (man_open_mouth anger 0.18 -> 0.27 at 1.5), so past the posed level
#: sadness grows in the brows, the chin raiser and the forehead. At 512 px, sad monotonic 0.5 < 1.0 < 1.5: shared
#: photos 3 -> 4 of 5, three held-out video frames 0 -> 2 of 3 (unchanged: the astronaut monotonic either way,
#: Grace Hopper neither way; docs/animator.md).
HELD_ABOVE_ONE_BY_EMOTION: dict[str, frozenset[str]] = {"happy": frozenset({"25", "26"}),
                                                       "fearful": frozenset({"25", "26"}),
                                                       "sad": frozenset({"15"})}
#: Per category, AUs recruited above intensity 1: AU intensity per unit of emotion intensity above 1. Anger: past
#: the posed snarl the lip corners are drawn down (AU15, the depressor anguli oris; with the lower lip's AU16, the
#: "square" mouth of a strong anger), so the wider bared teeth of 1.5 stay a snarl; without it their corners
#: stayed level and the lower lip curved like a smile's (anger at 1.5 read as a grin: Mona Lisa angry 0.37 -> 0.25,
#: "happy" 0.24 -> 0.44).
RECRUITED_ABOVE_ONE: dict[str, dict[str, float]] = {"angry": {"15": 0.4}}


def au_to_arkit(code: str | int, intensity: float = 1.0) -> np.ndarray:
    """ARKit weights (52,) float32 of one AU code (``12``, ``"12"``, ``"R12"``) at ``intensity``."""
    s = str(code).strip().upper()
    sides = ("Left", "Right")
    if s[:1] in ("L", "R"):
        sides = ("Left",) if s[0] == "L" else ("Right",)
        s = s[1:]
    au = int(s)
    if au not in AU_TO_ARKIT:
        raise KeyError(f"AU{au} has no entry in facs.AU_TO_ARKIT")
    w = np.zeros(NUM_ARKIT, np.float32)
    for name, val in AU_TO_ARKIT[au].items():
        names = [name.format(side=sd) for sd in sides] if "{side}" in name else [name]
        for n in names:
            w[ARKIT_INDEX[n]] += val * intensity
    return w


def prototype_arkit(emotion: str) -> np.ndarray:
    """ARKit weights (52,) float32 of an emotion category's FACS prototype at intensity 1."""
    if emotion not in EMOTION_PROTOTYPES:
        raise KeyError(f"no FACS prototype for emotion {emotion!r}")
    w = np.zeros(NUM_ARKIT, np.float32)
    for code, val in EMOTION_PROTOTYPES[emotion].items():
        w += au_to_arkit(code, val)
    return w


def prototypes_arkit(emotions: tuple[str, ...] | list[str] | None = None) -> np.ndarray:
    """(C, 52) float32 prototypes for ``emotions`` (default: emotion.EMOTIONS order)."""
    from .emotion import EMOTIONS

    names = EMOTIONS if emotions is None else emotions
    return np.stack([prototype_arkit(e) for e in names]).astype(np.float32)


def held_above_one(emotion: str) -> frozenset[str]:
    """AU codes of ``emotion``'s prototype that stop growing above intensity 1."""
    return frozenset(c for c in EMOTION_PROTOTYPES[emotion]
                     if c in HELD_ABOVE_ONE or c in HELD_ABOVE_ONE_BY_EMOTION.get(emotion, frozenset()))


def above_one_arkit(emotion: str) -> np.ndarray:
    """ARKit weights (52,) float32 that ``emotion``'s expression changes by per unit of intensity above 1, on top
    of its prototype's slope: the held AUs' part of the prototype, negated, plus the AUs it recruits there
    (``RECRUITED_ABOVE_ONE``); zeros when it has neither.

    The expression at intensity ``w`` is ``w * prototype + max(0, w - 1) * above_one`` (see
    :func:`emodiffhead.animate.emotion_vectors.emotion_response`).
    """
    w = np.zeros(NUM_ARKIT, np.float32)
    for code in held_above_one(emotion):
        w -= au_to_arkit(code, EMOTION_PROTOTYPES[emotion][code])
    for code, slope in RECRUITED_ABOVE_ONE.get(emotion, {}).items():
        w += au_to_arkit(code, slope)
    return w


def above_ones_arkit(emotions: tuple[str, ...] | list[str] | None = None) -> np.ndarray:
    """(C, 52) float32 :func:`above_one_arkit` rows for ``emotions`` (default: emotion.EMOTIONS order)."""
    from .emotion import EMOTIONS

    names = EMOTIONS if emotions is None else emotions
    return np.stack([above_one_arkit(e) for e in names]).astype(np.float32)
