"""Write a generated file, or with ``--check`` only say whether the checked-in copy is up to date (shared by
the tools that publish a file made from the backend's definitions)."""

from __future__ import annotations

from pathlib import Path


def write_or_check(path: Path, text: str, argv: list[str], tool: str) -> int:
    """Write ``text`` to ``path``; with ``--check`` in ``argv`` only compare. Returns the exit status (1: stale).

    tool: the script that regenerates the file (named in the message)."""
    if "--check" in argv:
        ok = path.is_file() and path.read_text(encoding="utf-8") == text
        print(f"{path}: {'up to date' if ok else f'OUT OF DATE (run {tool})'}")
        return 0 if ok else 1
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0
