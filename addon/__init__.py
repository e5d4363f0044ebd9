"""emodiffhead for Blender (a Blender 4.2+ extension; metadata in blender_manifest.toml, no bl_info).

Layers: ``client``/``jobs``/``track_io``/``server_process`` are plain Python (standard library, no bpy);
``scene/`` holds the Blender logic (head import, keyframes, emotion keys, export, sequencer);
``operators/`` one module per feature; ``panels`` the sidebar UI; ``preferences`` the add-on settings.
"""

from __future__ import annotations

import bpy

from . import operators, panels, preferences, properties
from .operators import preview, track
from .scene import lines, mapping

_classes = (*preferences.classes, *mapping.classes, *properties.classes, *operators.classes, *panels.classes)


def register() -> None:
    for cls in _classes:
        bpy.utils.register_class(cls)
    properties.register_props()
    mapping.register_props()
    bpy.types.TOPBAR_MT_file_import.append(track.menu_import)
    bpy.types.TOPBAR_MT_file_export.append(track.menu_export)
    lines.register_handlers()


def unregister() -> None:
    from . import server_process

    preview.set_live(False)
    lines.unregister_handlers()
    server_process.stop()
    bpy.types.TOPBAR_MT_file_import.remove(track.menu_import)
    bpy.types.TOPBAR_MT_file_export.remove(track.menu_export)
    mapping.unregister_props()
    properties.unregister_props()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
