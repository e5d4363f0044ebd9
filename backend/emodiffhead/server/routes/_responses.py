"""Error responses as the OpenAPI spec documents them."""

from __future__ import annotations

from typing import Any

from ..schemas import ErrorBody


def error_responses(*codes: int) -> dict[int, dict[str, Any]]:
    """``responses=`` entries: each status code answers an ``ErrorBody``."""
    return {c: {"model": ErrorBody} for c in codes}
