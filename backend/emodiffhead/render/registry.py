"""Renderers by name, imported lazily.

A renderer is a class built as ``cls(**options)`` with:

- ``available() -> (ok, reason)`` (classmethod): whether it can run here with default options;
- a constructor that raises ``NotAvailableError`` naming what is missing (e.g. a ``weights`` folder);
- ``prepare(photo (H, W, 3) uint8, head, *, size, progress=None, cancel=None) -> FitResult`` (optionally
  ``face=N``: face N of several, counted from the left; ``render_video`` refuses ``face`` otherwise);
- ``output_size -> (H, W)`` after ``prepare``;
- ``frames(track, *, audio=None, progress=None, cancel=None) -> Iterator[(H, W, 3) uint8]``.

To add one, add a line to ``RENDERERS``: name -> ``"module:Class"``.
"""

from __future__ import annotations

import importlib

from ..errors import NotAvailableError

#: name -> "module:Class" (imported only when asked for).
RENDERERS: dict[str, str] = {
    "warp": "emodiffhead.render.warp_renderer:WarpRenderer",
    "diffusion": "emodiffhead.diffusion.renderer:DiffusionRenderer",
    "refiner": "emodiffhead.diffusion.refiner_renderer:RefinerRenderer",
}


def _load(name: str):
    if name not in RENDERERS:
        raise NotAvailableError(f"unknown renderer {name!r}; choose one of {', '.join(RENDERERS)}")
    module, _, cls = RENDERERS[name].partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as e:
        raise NotAvailableError(f"renderer {name!r} is not installed ({e})") from None


def available_renderers() -> dict[str, tuple[bool, str]]:
    """name -> (ok, reason) for every registered renderer."""
    out: dict[str, tuple[bool, str]] = {}
    for name in RENDERERS:
        try:
            cls = _load(name)
            ok, reason = cls.available() if hasattr(cls, "available") else (True, "")
            out[name] = (bool(ok), str(reason))
        except NotAvailableError as e:
            out[name] = (False, str(e))
    return out


def get_renderer(name: str = "warp", **options):
    """A new renderer instance; raises NotAvailableError (with the reason) when it cannot run here."""
    cls = _load(name)
    if not options and hasattr(cls, "available"):
        ok, reason = cls.available()
        if not ok:
            raise NotAvailableError(f"renderer {name!r} is not available: {reason}")
    try:  # with options (e.g. weights=DIR) the constructor checks and raises NotAvailableError itself
        return cls(**options)
    except TypeError as e:
        raise NotAvailableError(f"renderer {name!r}: bad options {sorted(options)} ({e})") from None
