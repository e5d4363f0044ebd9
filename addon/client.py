"""HTTP client for the emodiffhead backend (standard library ``urllib`` only; no bpy).

Every call raises :class:`BackendError` with a message meant for the artist: the server's own
``{"detail": ...}`` text for 4xx answers (no face, bad audio, malformed track), or a sentence that says
the server is not running and how to start it.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import shutil
import urllib.error
import urllib.request
import uuid
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_DATA_DIR = os.path.join(os.path.expanduser("~"), ".local", "share", "emodiffhead")


class BackendError(Exception):
    """A backend call failed; ``str(e)`` is shown to the artist. ``status`` is the HTTP status or 0."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def default_token_path() -> str:
    """The token file the server writes in its default data dir ($EMODIFFHEAD_DATA_DIR, as the server)."""
    return os.path.join(os.path.expanduser(os.environ.get("EMODIFFHEAD_DATA_DIR") or DEFAULT_DATA_DIR), "token")


def read_token(path: str) -> str:
    """The bearer token stored in ``path`` ('' when the file does not exist)."""
    path = os.path.expanduser(path or "")
    if not path or not os.path.isfile(path):
        return ""
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class Client:
    """A small client for one backend URL. ``timeout`` is seconds per request."""

    def __init__(self, url: str = DEFAULT_URL, token: str = "", timeout: float = 120.0) -> None:
        self.url = (url or DEFAULT_URL).rstrip("/")
        self.token = token
        self.timeout = timeout

    # ---- endpoints ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """GET /health: status, version, head_models, renderers, emotions, expression_names."""
        return json.loads(self._request("GET", "/health", auth=False, timeout=min(self.timeout, 5.0)))

    def create_head(self, model: str = "builtin", photo: str | None = None) -> bytes:
        """POST /heads: the head as glb bytes (``model`` "builtin" or a FLAME file path; optional photo)."""
        files = {"photo": photo} if photo else {}
        return self._request("POST", "/heads", fields={"model": model}, files=files)

    def animate(self, audio: str, emotion: str = "neutral", intensity: float = 1.0,
                emotion_timeline: dict | list | None = None, transcript: str = "", fps: float = 25.0,
                seed: int = -1, model: str = "builtin") -> bytes:
        """POST /animate: the track JSON bytes for ``audio`` (``emotion_timeline`` wins over emotion; a negative
        ``seed`` lets the server derive the idle-motion seed from the audio)."""
        fields: dict[str, str] = {"emotion": emotion, "intensity": repr(float(intensity)),
                                  "fps": repr(float(fps)), "model": model}
        if seed >= 0:
            fields["seed"] = str(int(seed))
        if emotion_timeline:
            fields["emotion_timeline"] = json.dumps(emotion_timeline)
        if transcript:
            fields["transcript"] = transcript
        return self._request("POST", "/animate", fields=fields, files={"audio": audio})

    def submit_job(self, photo: str | None, audio: str, track: str, renderer: str = "", size: int = 256,
                   fps: float = 25.0, frames: bool = False) -> dict[str, Any]:
        """POST /jobs: start a render (``frames``: also keep the frames as PNGs); returns {"id", "state"}."""
        fields = {"size": str(int(size)), "fps": repr(float(fps))}
        if frames:
            fields["frames"] = "zip"
        if renderer:
            fields["renderer"] = renderer
        files = {"audio": audio, "track": track}
        if photo:
            files["photo"] = photo
        return json.loads(self._request("POST", "/jobs", fields=fields, files=files))

    def preview(self, photo: str, track: str, frame: int = 0, size: int = 512) -> bytes:
        """POST /preview: PNG bytes of track frame ``frame`` (0-based) on the photo at ``size`` px."""
        return self._request("POST", "/preview", fields={"frame": str(int(frame)), "size": str(int(size))},
                             files={"photo": photo, "track": track})

    def job_status(self, job_id: str) -> dict[str, Any]:
        """GET /jobs/{id}: state, progress 0..1, message, frames_done, frames_total, eta_s, error."""
        return json.loads(self._request("GET", f"/jobs/{job_id}", timeout=min(self.timeout, 10.0)))

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """POST /jobs/{id}/cancel."""
        body = self._request("POST", f"/jobs/{job_id}/cancel", timeout=min(self.timeout, 10.0))
        return json.loads(body) if body.strip() else {}

    def download_result(self, job_id: str, dest: str, what: str = "result") -> str:
        """GET /jobs/{id}/result (the mp4; ``what="frames.zip"``: the PNG frames) into ``dest``. Returns ``dest``."""
        req = self._build("GET", f"/jobs/{job_id}/{what}")
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        tmp = dest + ".part"
        with self._open(req, self.timeout) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        os.replace(tmp, dest)
        return dest

    # ---- plumbing -----------------------------------------------------------------------------
    def _build(self, method: str, path: str, fields: dict[str, str] | None = None,
               files: dict[str, str] | None = None, auth: bool = True) -> urllib.request.Request:
        headers = {"Accept": "application/json"}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if fields is not None or files:
            data, ctype = encode_multipart(fields or {}, files or {})
            headers["Content-Type"] = ctype
        return urllib.request.Request(self.url + path, data=data, method=method, headers=headers)

    def _open(self, req: urllib.request.Request, timeout: float):
        log.debug("%s %s", req.get_method(), req.full_url)
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            raise BackendError(_http_message(e), e.code) from None
        except urllib.error.URLError as e:
            raise BackendError(
                f"The emodiffhead server is not running at {self.url} ({e.reason}). Start it with the "
                "Start button in the add-on preferences, or run 'emodiffhead serve' in a terminal.") from None
        except (TimeoutError, OSError) as e:
            raise BackendError(f"The emodiffhead server at {self.url} did not answer ({e}).") from None

    def _request(self, method: str, path: str, fields: dict[str, str] | None = None,
                 files: dict[str, str] | None = None, auth: bool = True, timeout: float | None = None) -> bytes:
        req = self._build(method, path, fields, files, auth)
        with self._open(req, self.timeout if timeout is None else timeout) as r:
            return r.read()


def encode_multipart(fields: dict[str, str], files: dict[str, str]) -> tuple[bytes, str]:
    """multipart/form-data body for text ``fields`` and ``files`` (form name -> local path)."""
    boundary = "emodiffhead-" + uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + str(value).encode("utf-8") + b"\r\n")
    for name, path in files.items():
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise BackendError(f"file not found: {path}")
        fname = os.path.basename(path).replace('"', "_")
        ctype = mimetypes.guess_type(fname)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            content = f.read()
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{fname}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _http_message(e: urllib.error.HTTPError) -> str:
    try:
        body = e.read()
        detail = json.loads(body.decode("utf-8")).get("detail")
    except Exception:  # noqa: BLE001 - any unreadable body falls back to the status line
        detail = None
    if isinstance(detail, list):  # FastAPI validation errors: [{"loc":..., "msg":...}]
        detail = "; ".join(f"{'.'.join(str(x) for x in d.get('loc', []))}: {d.get('msg')}" for d in detail
                           if isinstance(d, dict)) or None
    if e.code == 401:
        return f"The server refused the token ({detail or 'unauthorized'}); check the token file in the add-on preferences."
    return f"Server error {e.code}: {detail or e.reason}"
