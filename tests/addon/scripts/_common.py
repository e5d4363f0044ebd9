"""Helpers for the Blender scenario scripts (each runs in its own process: bpy keeps global state)."""

import importlib
import json
import sys

import bpy  # noqa: F401 - must come first: it puts Blender's modules (addon_utils) on sys.path

MODULE = "bl_ext.user_default.emodiffhead"
DEPRECATED: list[str] = []  # Blender API deprecations seen while the scenario ran


def install(zip_path: str):
    """Install and enable the extension zip like a user; returns the add-on's package module.

    Every use of an API that Blender marks for removal (5.2: "... is expected to be removed in Blender 6.0",
    e.g. the old strip timing names) is recorded and reported by :func:`emit` (the test helper fails on it).
    """
    import warnings

    warnings.filterwarnings("always", message=r".*expected to be removed in Blender", category=DeprecationWarning)
    previous = warnings.showwarning

    def record(message, category, filename, lineno, file=None, line=None):
        if "expected to be removed in Blender" in str(message):
            DEPRECATED.append(f"{message} ({filename}:{lineno})")
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = record
    bpy.ops.wm.read_factory_settings(use_empty=True)
    r = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    if r != {"FINISHED"}:
        raise RuntimeError(f"install failed: {r}")
    return importlib.import_module(MODULE)


def sub(name: str):
    """An add-on submodule, e.g. sub('scene.keyframes')."""
    return importlib.import_module(f"{MODULE}.{name}")


def emit(result: dict) -> None:
    """Print the result for pytest (one line, prefixed) and end the process: the bpy 4.2.0 module crashes
    (SIGSEGV) while tearing Blender down at interpreter exit, after the scenario is over."""
    import os

    result = dict(result, blender_deprecations=sorted(set(DEPRECATED)))
    sys.stdout.write("RESULT:" + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def evaluated_vertices(obj):
    """(V*3,) evaluated vertex coordinates of ``obj`` in world space (list of floats)."""
    import numpy as np

    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    me = ev.to_mesh()
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    m = np.array(obj.matrix_world, np.float32)
    co = co @ m[:3, :3].T + m[:3, 3]
    ev.to_mesh_clear()
    return co
