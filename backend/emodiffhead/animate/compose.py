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
5. **Gaze and lid closure stop growing at intensity 1.** An emotion's downcast eyes (eyeLook*) and heavy lids
   (eyeBlink) are a direction and a resting state, not a muscle's strength: past the value the strongest
   category gives at intensity 1 they are held (``GAZE_AND_LIDS``), while brows and mouth keep growing. A
   sad face at 1.5 then keeps its eyes visible under the lids instead of reading as sleep.
6. Everything is clipped to the ARKit range [0, 1] (before retargeting).

``compose`` returns the final and base canonical weights; the track keeps the intensities and the
emotion basis separately, so a renderer or the add-on can recombine them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..facs import ARKIT_INDEX, JAW_OPEN
from .coarticulation import LIP_OPENING

_I = ARKIT_INDEX
CORNER_PULLERS = tuple(_I[n] for n in ("mouthSmileLeft", "mouthSmileRight", "mouthDimpleLeft", "mouthDimpleRight",
                                       "mouthFrownLeft", "mouthFrownRight"))
SPREADERS = tuple(_I[n] for n in ("mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
                                  "mouthDimpleLeft", "mouthDimpleRight"))
BLINK = (_I["eyeBlinkLeft"], _I["eyeBlinkRight"])
#: Emotion channels held at their intensity-1 level (rule 5): lid closure and gaze.
GAZE_AND_LIDS = tuple(i for n, i in _I.items() if n.startswith(("eyeBlink", "eyeLook")))
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
            closure: np.ndarray | None = None, rounding: np.ndarray | None = None) -> Composition:
    """Combine (T, 52) ``base`` (speech + idle) with (T, C) ``intensities`` x (C, 52) ``basis_arkit``.

    closure, rounding: (T,) 0..1 speech constraint weights (from coarticulation); None = zeros.
    """
    base = np.asarray(base, np.float32)
    T = base.shape[0]
    k = np.zeros(T, np.float32) if closure is None else np.asarray(closure, np.float32)
    r = np.zeros(T, np.float32) if rounding is None else np.asarray(rounding, np.float32)
    emo = (np.asarray(intensities, np.float32) @ np.asarray(basis_arkit, np.float32)).astype(np.float32)

    # 1. bilabial closure wins
    lip = np.array(LIP_OPENING)
    emo[:, lip] *= (1.0 - k)[:, None]
    emo[:, np.array(CORNER_PULLERS)] *= (1.0 - 0.5 * k)[:, None]
    # 3. rounding survives a smile
    emo[:, np.array(SPREADERS)] *= (1.0 - 0.6 * r)[:, None]
    # 2. jaw: screen blend, speech keeps its modulation
    s = np.clip(base[:, JAW_OPEN], 0.0, 1.0)
    e = np.clip(np.asarray(intensities, np.float32) @ np.asarray(basis_arkit, np.float32)[:, JAW_OPEN], 0.0, 0.9) * (1 - k)
    emo_jaw = (e * (1.0 - s)).astype(np.float32)
    emo[:, JAW_OPEN] = emo_jaw
    # 5. gaze and lid closure held at the strongest category's intensity-1 level
    held = np.array(GAZE_AND_LIDS)
    emo[:, held] = np.minimum(emo[:, held], np.asarray(basis_arkit, np.float32)[:, held].max(0))
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
