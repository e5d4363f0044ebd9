"""JSON sent by clients, parsed with limits: bytes, nesting depth, number length and range.

``json.loads`` alone turns a 400-digit integer into an int that later overflows, ``1e400`` into ``inf``, 5000
nested ``[`` into a RecursionError and a 166 MB body into seconds of GIL-holding work. :func:`loads` refuses
all of these with :class:`JSONLimitError` (422) whose message names the form field, before or while parsing:
the size and the nesting depth are checked before ``json.loads`` runs (the depth with a linear scan that
never recurses), numbers while it runs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..errors import EmodiffheadError

#: Deepest nesting of arrays/objects accepted in any JSON field (a track needs 4: object > pose > frame > joint).
MAX_DEPTH = 16
#: Longest number literal accepted (a float32 written in full is about 16 characters).
MAX_NUMBER_CHARS = 40
_SCAN_CHUNK = 1 << 22


class JSONLimitError(EmodiffheadError):
    """A JSON field is too large, too deep, not JSON, or holds a number the server cannot represent."""

    http_status = 422


def nesting_depth(data: bytes) -> int:
    """Deepest nesting of ``[`` / ``{`` in JSON text ``data`` (brackets inside strings do not count)."""
    return structure(data)[0]


def structure(data: bytes, rows_depth: int = 3) -> tuple[int, int]:
    """(deepest nesting of ``[`` / ``{``, number of arrays opened at depth ``rows_depth``) of JSON text ``data``;
    brackets inside strings do not count. In a track (an object of arrays) the arrays at depth 3 are the rows
    of its per-frame fields.

    Linear time, no recursion, memory per 4 MB chunk (numpy); on invalid JSON the result is approximate
    (``json.loads`` then refuses the text anyway).
    """
    # drop escaped backslashes, then escaped quotes: every remaining '"' opens or closes a string
    text = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    depth = max_depth = rows = 0
    in_string = 0
    for start in range(0, len(text), _SCAN_CHUNK):
        a = np.frombuffer(text, np.uint8, count=min(_SCAN_CHUNK, len(text) - start), offset=start)
        quotes = np.flatnonzero(a == 34)
        brackets = np.flatnonzero((a == 91) | (a == 93) | (a == 123) | (a == 125))
        if brackets.size:
            outside = ((np.searchsorted(quotes, brackets) + in_string) & 1) == 0  # an even number of quotes before
            brackets = brackets[outside]
        if brackets.size:
            b = a[brackets]
            steps = np.where((b == 91) | (b == 123), 1, -1).cumsum() + depth
            max_depth = max(max_depth, int(steps.max()))
            rows += int(np.count_nonzero((b == 91) & (steps == rows_depth)))
            depth = int(steps[-1])
        in_string = (in_string + quotes.size) & 1
    return max_depth, rows


def loads(data: bytes | str, field: str, *, max_bytes: int, max_depth: int = MAX_DEPTH,
          check_floats: bool = True) -> Any:
    """Parse client JSON for form field ``field``; :class:`JSONLimitError` naming the field when the text is
    longer than ``max_bytes``, nested deeper than ``max_depth``, not UTF-8 JSON, or holds an integer literal
    longer than MAX_NUMBER_CHARS, NaN/Infinity, or (``check_floats``) a float literal that long or non-finite
    (``1e400``). ``check_floats=False`` keeps CPython's fast C float parsing for large numeric documents (a
    track: millions of floats); the caller must then refuse non-finite values itself (the track validator does)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise JSONLimitError(f"field '{field}': {_size(len(raw))} of JSON is over the limit of {_size(max_bytes)}")
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise JSONLimitError(f"field '{field}': JSON nested {depth} levels deep; at most {max_depth} are accepted")

    def number_text(s: str) -> str:
        if len(s) > MAX_NUMBER_CHARS:
            raise JSONLimitError(f"field '{field}': the number {s[:12]}... has {len(s)} characters; "
                                 f"numbers have at most {MAX_NUMBER_CHARS}")
        return s

    def parse_int(s: str) -> int:
        return int(number_text(s))

    def parse_float(s: str) -> float:
        v = float(number_text(s))
        if not math.isfinite(v):
            raise JSONLimitError(f"field '{field}': the number {s} is out of range (larger than 1.8e308)")
        return v

    def parse_constant(s: str) -> Any:
        raise JSONLimitError(f"field '{field}': {s} is not a JSON number; send finite numbers")

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JSONLimitError(f"field '{field}': not valid JSON (not UTF-8 text)") from None
    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float if check_floats else None,
                          parse_constant=parse_constant)
    except json.JSONDecodeError as e:
        raise JSONLimitError(f"field '{field}': not valid JSON ({e})") from None
    except RecursionError:  # not reached after the depth check; kept as a guard
        raise JSONLimitError(f"field '{field}': JSON nested too deeply") from None
    except ValueError as e:  # e.g. Python's own limit on integer digits
        raise JSONLimitError(f"field '{field}': not valid JSON ({e})") from None


def _size(n: int) -> str:
    return f"{n} bytes" if n < 2**20 else f"{n / 2**20:.1f} MB"
