"""Write docs/track.schema.json from emodiffhead.track.json_schema() (the one definition of the format).

    python backend/tools/write_track_schema.py          # rewrite the file
    python backend/tools/write_track_schema.py --check  # exit 1 if the file is out of date

tests/test_track.py checks that the published file matches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "track.schema.json"


def schema_text() -> str:
    """The schema as published: 2-space indented JSON with a trailing newline."""
    from emodiffhead.track import json_schema

    return json.dumps(json_schema(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = schema_text()
    if "--check" in argv:
        ok = SCHEMA_PATH.is_file() and SCHEMA_PATH.read_text(encoding="utf-8") == text
        print(f"{SCHEMA_PATH}: {'up to date' if ok else 'OUT OF DATE (run backend/tools/write_track_schema.py)'}")
        return 0 if ok else 1
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
