"""The console progress bar: drawn on a terminal (even one that reports no size), silent when piped."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

CHILD = """
from emodiffhead.progress import ConsoleProgress
with ConsoleProgress("work") as bar:
    for i in range(1, 11):
        bar(i / 10, f"step {i}/10")
print("done")
"""


def _run_on_pty() -> str:
    """Run CHILD with stdout/stderr on a fresh pty (size 0x0, as under `script` without a terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    return out.decode("utf-8", "replace")


def test_bar_is_drawn_on_a_terminal_that_reports_no_size():
    out = _run_on_pty()
    assert "done" in out
    assert "work: 100%|" in out and "step 10/10" in out
    assert "<00:00, step" in out  # postfix joined without a stray space


def test_bar_is_silent_when_piped():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "done"
    assert proc.stderr == ""


def test_bar_starts_no_thread():
    """The bar leaves the process single-threaded (no tqdm monitor), so phone recognition may fork workers."""
    code = ("import threading; from emodiffhead.progress import ConsoleProgress\n"
            "for enabled in (True, False):\n"
            "    with ConsoleProgress('work', enabled=enabled) as bar:\n"
            "        bar(0.5, 'half')\n"
            "        print(threading.active_count())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "1"]
