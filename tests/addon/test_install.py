"""The extension zip installs, enables, and uninstalls in bpy 5.0 like a user's install from disk."""

from __future__ import annotations

import tomllib
import zipfile

from helpers import run_blender_script


def test_zip_layout(addon_zip, repo_root):
    with zipfile.ZipFile(addon_zip) as z:
        names = set(z.namelist())
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
        init = z.read("__init__.py").decode()
    assert {"blender_manifest.toml", "__init__.py", "client.py", "track_io.py", "operators/render.py",
            "scene/keyframes.py"} <= names
    assert not any("__pycache__" in n or n.endswith((".so", ".whl", ".pyd")) for n in names)
    assert manifest["id"] == "emodiffhead" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0" and manifest["schema_version"] == "1.0.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert set(manifest["permissions"]) == {"network", "files"}
    assert "bl_info =" not in init
    with open(repo_root / "pyproject.toml", "rb") as f:
        assert manifest["version"] == tomllib.load(f)["project"]["version"]


def test_addon_uses_only_blender_python_and_stdlib(repo_root):
    """No backend imports (torch, the emodiffhead package) anywhere in the add-on."""
    import ast

    allowed_third_party = {"bpy", "bpy_extras", "mathutils", "numpy", "addon_utils", "aud"}  # aud: Blender's audaspace
    import sys

    for path in (repo_root / "addon").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module]
            else:
                continue
            for m in mods:
                top = m.split(".")[0]
                assert top in allowed_third_party or top in sys.stdlib_module_names or top == "__future__", \
                    f"{path.name} imports {m}"


def test_install_enable_uninstall(addon_zip, blender_user):
    r = run_blender_script("install_addon.py", addon_zip, user_dir=blender_user)
    assert r["install"] == ["FINISHED"]
    assert r["enabled"] and r["module_in_prefs"]
    assert {"create_head", "animate", "emotion_key", "emotion_crossfade", "export_track", "import_track",
            "render_clip", "render_cancel", "server_start", "server_stop"} <= set(r["operators"])
    assert r["scene_settings"] and r["backend_url"].startswith("http://127.0.0.1")
    assert "EMODIFFHEAD_PT_render" in r["panels"]
    assert r["disabled"] and not r["settings_after_disable"]
    assert r["uninstall"] == ["FINISHED"] and not r["files_left"]
