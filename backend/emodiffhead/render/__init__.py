"""Rendering: a track and a fitted photo -> frames (the warp renderer) and the render pipeline -> mp4."""
