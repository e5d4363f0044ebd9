"""Blender scenario: install the extension zip like a user, enable, check registration, uninstall.

Run: .venv/bin/python tests/addon/scripts/install_addon.py ZIP  (BLENDER_USER_RESOURCES set to a temp dir)
Prints one JSON line prefixed with RESULT: for pytest.
"""

import json
import sys

import bpy  # noqa: I001 - bpy first: it puts addon_utils on sys.path
import addon_utils

zip_path = sys.argv[1]
out = {}
bpy.ops.wm.read_factory_settings(use_empty=True)
out["install"] = list(bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                              enable_on_install=True))
mod = "bl_ext.user_default.emodiffhead"
out["enabled"] = addon_utils.check(mod)[1]
out["module_in_prefs"] = mod in bpy.context.preferences.addons
out["operators"] = sorted(n for n in dir(bpy.ops.emodiffhead))
out["scene_settings"] = hasattr(bpy.context.scene, "emodiffhead")
prefs = bpy.context.preferences.addons[mod].preferences if out["module_in_prefs"] else None
out["backend_url"] = prefs.backend_url if prefs else None
out["panels"] = sorted(n for n in dir(bpy.types) if n.startswith("EMODIFFHEAD_PT_"))
# disable, then uninstall
addon_utils.disable(mod, default_set=True)
out["disabled"] = not addon_utils.check(mod)[1]
out["settings_after_disable"] = hasattr(bpy.context.scene, "emodiffhead")
out["uninstall"] = list(bpy.ops.extensions.package_uninstall(repo_index=next(
    i for i, r in enumerate(bpy.context.preferences.extensions.repos) if r.module == "user_default"),
    pkg_id="emodiffhead"))
import os  # noqa: E402

repo_dir = next(r for r in bpy.context.preferences.extensions.repos if r.module == "user_default").directory
out["files_left"] = os.path.isdir(os.path.join(repo_dir, "emodiffhead"))
print("RESULT:" + json.dumps(out), flush=True)
os._exit(0)  # the bpy 4.2.0 module crashes while tearing down at interpreter exit
