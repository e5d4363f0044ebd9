"""emodiffhead for Blender (a Blender 4.2+ extension; metadata in blender_manifest.toml, no bl_info).

Layers: ``client``/``jobs``/``track_io``/``server_process`` are plain Python (standard library, no bpy);
``scene/`` holds the Blender logic (head import, keyframes, emotion keys, export, sequencer);
``operators/`` one module per feature; ``panels`` the sidebar UI; ``preferences`` the add-on settings.
"""

from __future__ import annotations

import bpy

from . import operators, panels, preferences, properties

_classes = (*preferences.classes, *properties.classes, *operators.classes, *panels.classes)


def register() -> None:
    for cls in _classes:
        bpy.utils.register_class(cls)
    properties.register_props()


def unregister() -> None:
    from . import server_process

    server_process.stop()
    properties.unregister_props()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
