"""``HeadCache``: the head models a server offers, loaded on first use and shared by all requests."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from . import inputs


class HeadCache:
    """Loads head models on first use: ``"builtin"`` and the configured FLAME files (by path or file stem)."""

    def __init__(self, flame_paths: list[Path], landmarks: Path | None = None) -> None:
        self.landmarks = landmarks
        self.flame = {p.stem: p for p in flame_paths}
        self.flame.update({str(p): p for p in flame_paths})
        self._heads: dict[str, Any] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """``"builtin"`` and the stems of the FLAME files, the names clients may send as ``model``."""
        return ["builtin"] + sorted({p.stem for p in self.flame.values()})

    def get(self, name: str):
        """The head model ``name`` (loaded once); ParameterError (400) for a name this server does not offer."""
        from ..head import load_head

        if name != "builtin" and name not in self.flame:
            raise inputs.ParameterError(f"field 'model': unknown head model {name!r}; this server has "
                                        f"{', '.join(self.names())} (FLAME files are added with serve --flame PATH)")
        key = "builtin" if name == "builtin" else str(self.flame[name])
        with self._lock:
            if key not in self._heads:
                self._heads[key] = load_head("builtin") if name == "builtin" else \
                    load_head(self.flame[name], landmark_embedding=self.landmarks)
            return self._heads[key]
