"""Progress and cancel hooks shared by every long job (animate, fit, render, train).

Long functions take ``progress: ProgressFn | None`` and ``cancel: CancelFn | None``:

- ``progress(fraction, message)``: fraction of the whole job done, 0..1, and a short stage text.
- ``cancel()``: returns True when the caller wants the job stopped; the job then raises
  :class:`emodiffhead.errors.CancelledError` at its next check (between frames, between denoising steps).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable

from .errors import CancelledError

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


def check_cancel(cancel: CancelFn | None) -> None:
    """Raise CancelledError if ``cancel`` says so."""
    if cancel is not None and cancel():
        raise CancelledError("cancelled")


def report(progress: ProgressFn | None, fraction: float, message: str = "") -> None:
    """Call ``progress`` if given, with the fraction clipped to [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)


def scaled(progress: ProgressFn | None, start: float, stop: float) -> ProgressFn | None:
    """A progress function for a sub-step that maps its 0..1 onto [start, stop] of the parent's."""
    if progress is None:
        return None

    def f(fraction: float, message: str = "") -> None:
        progress(start + (stop - start) * min(1.0, max(0.0, fraction)), message)

    return f


def _terminal_columns() -> int:
    """Columns of the terminal on stderr; 0 when unknown (a pty without a size: tqdm would draw nothing)."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


class ConsoleProgress:
    """A tqdm progress bar with ETA on stderr, usable as a ProgressFn (silent when not a TTY unless forced)."""

    def __init__(self, description: str, enabled: bool | None = None) -> None:
        from tqdm import tqdm

        class _Bar(tqdm):
            monitor_interval = 0  # no tqdm monitor thread: this process stays single-threaded, so it may fork

        self._bar = _Bar(total=1000, desc=description, unit="‰", file=sys.stderr,
                         disable=(not sys.stderr.isatty()) if enabled is None else not enabled,
                         **({} if _terminal_columns() > 0 else {"ncols": 80, "nrows": 24}),
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}")
        self._last = 0
        self._t0 = time.monotonic()

    def __call__(self, fraction: float, message: str = "") -> None:
        n = int(round(min(1.0, max(0.0, fraction)) * 1000))
        if n > self._last:
            self._bar.update(n - self._last)
            self._last = n
        if message:
            self._bar.set_postfix_str(message, refresh=False)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> "ConsoleProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
