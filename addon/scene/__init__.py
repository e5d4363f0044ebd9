"""Blender-side logic without UI: head import, keyframing, emotion keys, track export, sequencer strips.

Operators (``addon/operators``) call these functions; they run on the main thread only.
"""
