"""Blender scenario: "Start server" with a server already running for the data folder reuses it.

argv: ZIP PARAMS_JSON with keys data_dir (the running server's data folder), unused_url (a URL with nothing
listening). Prints RESULT:{...} (see tests/addon/test_server_process.py).
"""

import json
import sys

import bpy
from _common import addon_prefs, call, emit, install, sub

zip_path, params = sys.argv[1], json.loads(sys.argv[2])
install(zip_path)
prefs = addon_prefs()
prefs.backend_url = params["unused_url"]
prefs.backend_python = "/nonexistent/python"  # starting a process would fail: only reuse can succeed
prefs.data_dir = params["data_dir"]
prefs.token_path = ""
out = {}


server_process = sub("server_process")
out["start"] = call(bpy.ops.emodiffhead.server_start)
out["backend_url"] = prefs.backend_url
out["spawned"] = server_process.is_running()
out["status_text"] = server_process.status_text()
out["check"] = call(bpy.ops.emodiffhead.server_check)
try:  # the token comes from the data folder: an unknown job id is a 404, not a 401
    sub("preferences").make_client(bpy.context).job_status("0" * 32)
    out["token_status"] = 200
except sub("client").BackendError as e:
    out["token_status"] = e.status
out["stop"] = call(bpy.ops.emodiffhead.server_stop)  # not ours: left running
emit(out)
