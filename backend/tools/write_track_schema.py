"""Write docs/track.schema.json from emodiffhead.track.json_schema() (the one definition of the format).

    python backend/tools/write_track_schema.py          # rewrite the file
    python backend/tools/write_track_schema.py --check  # exit 1 if the file is out of date

tests/test_track.py checks that the published file matches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from generated_file import write_or_check

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "track.schema.json"


def schema_text() -> str:
    """The schema as published: 2-space indented JSON with a trailing newline."""
    from emodiffhead.track import json_schema

    return json.dumps(json_schema(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    return write_or_check(SCHEMA_PATH, schema_text(), argv, "backend/tools/write_track_schema.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
