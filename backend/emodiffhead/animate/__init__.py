"""The animator: speech + emotion -> per-frame expression track for any head model.

``animate(audio, head, transcript=..., emotion=EmotionTimeline..., fps=25, seed=0)`` -> Track.
Modules: visemes (phone -> viseme targets), coarticulation (dominance blending + hard constraints),
acoustic (fallback for non-speech), idle (blinks, gaze, prosodic head motion), emotion_timeline
(intensity curves), emotion_vectors (FACS prototypes -> head space), retarget (ARKit -> head),
compose (linear composition with conflict rules), pipeline (the whole chain).
"""

from .emotion_timeline import EmotionTimeline, EmotionTimelineError
from .pipeline import animate

__all__ = ["animate", "EmotionTimeline", "EmotionTimelineError"]
