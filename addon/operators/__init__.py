"""Operators, one module per feature. ``classes`` lists every class to register, in order."""

from . import animate, emotion, head, preview, render, server, track

classes = (*server.classes, *head.classes, *animate.classes, *emotion.classes, *track.classes, *render.classes,
           *preview.classes)
