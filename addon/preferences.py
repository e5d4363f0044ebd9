"""Add-on preferences: backend URL, token file, optional backend Python to start the server from Blender."""

from __future__ import annotations

import os

import bpy
from bpy.props import StringProperty

from . import server_process
from .client import DEFAULT_URL, Client, default_token_path, read_token

#: The add-on's module name (``bl_ext.<repo>.emodiffhead`` when installed as an extension).
ADDON_ID = __package__

#: Last /health answer or error, shown in the preferences and panels (main thread only).
health_cache: dict = {"text": "not checked", "health": None}


class EMODIFFHEAD_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    backend_url: StringProperty(name="Backend URL", default=DEFAULT_URL,
                                description="Where the emodiffhead server listens")
    token_path: StringProperty(name="Token file", subtype="FILE_PATH", default="",
                               description="File holding the server's access token (written by 'emodiffhead serve'); "
                                           "empty: <data folder>/token, default ~/.local/share/emodiffhead/token")
    backend_python: StringProperty(name="Backend Python", subtype="FILE_PATH", default="",
                                   description="Optional: the Python of an emodiffhead install, to start the server from Blender")
    flame_path: StringProperty(name="FLAME file", subtype="FILE_PATH", default="",
                               description="Optional: a licensed FLAME model the started server offers (serve --flame)")
    data_dir: StringProperty(name="Data folder", subtype="DIR_PATH", default="",
                             description="Optional: the server's data folder (default ~/.local/share/emodiffhead)")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        col = layout.column()
        col.prop(self, "backend_url")
        col.prop(self, "token_path")
        box = layout.box()
        box.label(text="Start the backend from Blender (optional)")
        box.prop(self, "backend_python")
        box.prop(self, "data_dir")
        box.prop(self, "flame_path")
        row = box.row()
        row.operator("emodiffhead.server_start", icon="PLAY")
        row.operator("emodiffhead.server_stop", icon="SNAP_FACE")
        row.operator("emodiffhead.server_check", icon="FILE_REFRESH")
        box.label(text=f"Process: {server_process.status_text()}")
        box.label(text=f"Server: {health_cache['text']}")


def get_prefs(context=None) -> EMODIFFHEAD_AP_preferences:
    """The add-on's preferences."""
    context = context or bpy.context
    return context.preferences.addons[ADDON_ID].preferences


def make_client(context=None, timeout: float = 300.0) -> Client:
    """A backend client configured from the preferences (token read from the token file)."""
    p = get_prefs(context)
    return Client(p.backend_url, read_token(token_path(p)), timeout=timeout)


def token_path(p) -> str:
    """The token file to use: the preference, else <data folder>/token, else the default data dir's."""
    if p.token_path:
        return bpy.path.abspath(p.token_path)
    if p.data_dir:
        return os.path.join(bpy.path.abspath(p.data_dir), "token")
    return default_token_path()


classes = (EMODIFFHEAD_AP_preferences,)
