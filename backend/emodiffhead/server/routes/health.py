"""GET/HEAD /health: version, head models, renderers, limits (no token needed)."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ... import __version__
from ...emotion import EMOTIONS
from ..schemas import Health
from ..state import State

log = logging.getLogger("emodiffhead.server")
router = APIRouter()
#: How long the head's expression names and the renderers' availability are reused, seconds.
CACHE_S = 5.0


@router.get("/health", response_model=Health, summary="Version, head models, renderers, limits (no token needed)")
def health(state: State) -> dict[str, Any]:
    cache = state.health_cache
    now = time.monotonic()
    if "t" not in cache or now - cache["t"] > CACHE_S:
        try:
            names = list(state.heads.get("builtin").expression_names)
        except Exception as e:  # the built-in head assets are not installed yet
            log.warning("built-in head not available: %s", e)
            names = []
        rend = state.renderers()
        cache.update(t=now, names=names, renderers={k: {"available": ok, "reason": r} for k, (ok, r) in rend.items()})
    return {"status": "ok", "version": __version__, "head_models": state.heads.names(),
            "renderers": cache["renderers"], "emotions": list(EMOTIONS), "expression_names": cache["names"],
            "limits": state.limits()}


@router.head("/health", include_in_schema=False)
def health_head(state: State) -> JSONResponse:  # the same headers as GET, no body (monitors and load balancers use HEAD)
    return JSONResponse(health(state))
