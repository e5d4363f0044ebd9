"""Seeds of the idle motion (blinks, gaze, sway) derived from the inputs: each clip moves differently, the
same inputs give the same clip. Used by the CLI and the job server alike."""

from __future__ import annotations

from pathlib import Path


def derive_seed(*paths: str | Path | None) -> int:
    """A seed 0 .. 2**31 - 1 from the contents of the given files (None entries are skipped): the same files
    give the same seed, different files (almost always) different seeds."""
    import hashlib

    h = hashlib.sha256()
    for p in paths:
        if p is None:
            continue
        path = Path(p)
        if not path.is_file():
            h.update(str(path).encode())
            continue
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return int.from_bytes(h.digest()[:4], "big") & 0x7FFFFFFF
