"""Composition: speech + idle + emotion, linear, with deliberate conflict rules (canonical ARKit space).

The method's premise is linearity: ``final = base + sum_c intensity_c(t) * emotion_c``, with
``base = speech mouth + idle motion``. Pure addition breaks speech in a few places, so these rules
modify the *emotion* term (never the speech term) before adding, frame by frame:

1. **Bilabial closure wins.** Where the speech closes the lips (closure weight k(t) from /p b m/),
   emotion channels that part the lips (jawOpen, lower-lip down, upper-lip up, funnel, stretch, roll,
   tongue) are scaled by (1 - k) and lip-corner pullers (smile, dimple, frown) by (1 - 0.5 k): a smile
   does not stop a /p/ from closing.
2. **The emotion's jaw does not swallow the speech jaw.** Jaw opening is combined as a "screen":
   ``jaw = s + e * (1 - s)`` for speech opening s and emotion opening e (both 0..1, e clipped to 0.9).
   A surprised mouth is open in pauses, and speech still modulates it (d jaw / d s = 1 - e > 0).
3. **Rounding survives a smile.** Where speech rounds the lips (rounding weight r), the emotion's
   mouthSmile / mouthStretch / mouthDimple are scaled by (1 - 0.6 r), so /u/ and /w/ still pucker.
4. **Blinks close wide eyes.** eyeWide (surprise, fear) is scaled by (1 - blink), and the eyelid
   closure is ``min(1, blink + emotion blink)``.
5. Everything is clipped to the ARKit range [0, 1] (before retargeting).

The emotion term itself is each category's response to its intensity
(:func:`~emodiffhead.animate.emotion_vectors.emotion_response`): linear up to 1, and above 1 the AUs a
category holds (``facs.HELD_ABOVE_ONE``: the lids' closure and the gaze, which are a state and a direction,
not a muscle's strength) stop growing while brows and mouth go on. That response is part of the emotion
vectors the track carries (``emotion_basis`` and ``emotion_basis_above``), so the Blender add-on previews and
exports the same face for any intensity the artist keys.

``compose`` returns the final and base canonical weights; the track keeps the intensities and the
emotion vectors separately, so a renderer or the add-on can recombine them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..facs import ARKIT_INDEX, JAW_OPEN
from .coarticulation import LIP_OPENING
from .emotion_vectors import emotion_response

_I = ARKIT_INDEX
CORNER_PULLERS = tuple(_I[n] for n in ("mouthSmileLeft", "mouthSmileRight", "mouthDimpleLeft", "mouthDimpleRight",
                                       "mouthFrownLeft", "mouthFrownRight"))
SPREADERS = tuple(_I[n] for n in ("mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
                                  "mouthDimpleLeft", "mouthDimpleRight"))
BLINK = (_I["eyeBlinkLeft"], _I["eyeBlinkRight"])
WIDE = (_I["eyeWideLeft"], _I["eyeWideRight"])


@dataclass(frozen=True)
class Composition:
    """final, base: (T, 52) ARKit weights; speech_jaw / emotion_jaw: (T,) the two parts of the final jawOpen
    (speech_jaw + emotion_jaw = final[:, jawOpen]); emotion_term: (T, 52) the emotion after the rules."""

    final: np.ndarray
    base: np.ndarray
    speech_jaw: np.ndarray
    emotion_jaw: np.ndarray
    emotion_term: np.ndarray


def compose(base: np.ndarray, intensities: np.ndarray, basis_arkit: np.ndarray,
            closure: np.ndarray | None = None, rounding: np.ndarray | None = None,
            above_arkit: np.ndarray | None = None) -> Composition:
    """Combine (T, 52) ``base`` (speech + idle) with the emotion of (T, C) ``intensities``: (C, 52)
    ``basis_arkit`` per unit of intensity, plus (C, 52) ``above_arkit`` per unit above 1 (None: linear).

    closure, rounding: (T,) 0..1 speech constraint weights (from coarticulation); None = zeros.
    """
    base = np.asarray(base, np.float32)
    T = base.shape[0]
    k = np.zeros(T, np.float32) if closure is None else np.asarray(closure, np.float32)
    r = np.zeros(T, np.float32) if rounding is None else np.asarray(rounding, np.float32)
    emo = emotion_response(intensities, basis_arkit, above_arkit)
    # the emotion's own jaw, from the jaw column alone (a vector product, not the matrix product's column: the
    # same digits as before the response above 1 existed, so tracks with intensities <= 1 are unchanged)
    emo_jaw_raw = emotion_response(intensities, np.asarray(basis_arkit, np.float32)[:, JAW_OPEN],
                                   None if above_arkit is None else np.asarray(above_arkit, np.float32)[:, JAW_OPEN])

    # 1. bilabial closure wins
    lip = np.array(LIP_OPENING)
    emo[:, lip] *= (1.0 - k)[:, None]
    emo[:, np.array(CORNER_PULLERS)] *= (1.0 - 0.5 * k)[:, None]
    # 3. rounding survives a smile
    emo[:, np.array(SPREADERS)] *= (1.0 - 0.6 * r)[:, None]
    # 2. jaw: screen blend, speech keeps its modulation
    s = np.clip(base[:, JAW_OPEN], 0.0, 1.0)
    e = np.clip(emo_jaw_raw, 0.0, 0.9) * (1 - k)
    emo_jaw = (e * (1.0 - s)).astype(np.float32)
    emo[:, JAW_OPEN] = emo_jaw
    # 4. blinks close wide eyes
    blink = np.clip(base[:, BLINK[0]], 0, 1)
    for w in WIDE:
        emo[:, w] *= 1.0 - blink
    final = base + emo
    for b in BLINK:
        final[:, b] = np.minimum(1.0, final[:, b])
    final = np.clip(final, 0.0, 1.0).astype(np.float32)
    return Composition(final=final, base=base.copy(), speech_jaw=s.astype(np.float32),
                       emotion_jaw=np.minimum(emo_jaw, 1.0 - s).astype(np.float32), emotion_term=emo)
