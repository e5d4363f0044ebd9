"""Atomic output: the final name appears only after a complete write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emodiffhead.fileio import atomic_path, atomic_write_bytes


def test_success_renames_and_uses_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    atomic_write_bytes(target, b"hello")
    assert target.read_bytes() == b"hello"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_private_mode(tmp_path):
    target = atomic_write_bytes(tmp_path / "token", b"secret", mode=0o600)
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("where", ["under_a_file", "proc", "a_folder"])
def test_unwritable_output_is_a_user_error_naming_the_path(tmp_path, where):
    from emodiffhead.errors import InputFileError

    (tmp_path / "plain.txt").write_text("x")
    target = {"under_a_file": tmp_path / "plain.txt" / "out.mp4", "proc": Path("/proc/out.mp4"),
              "a_folder": tmp_path}[where]
    if where == "proc" and not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    reason = {"under_a_file": "is a file, not a folder", "proc": "does not accept new files",
              "a_folder": "it is a folder"}[where]
    with pytest.raises(InputFileError, match=f"cannot write {target}: .*{reason}"):
        with atomic_path(target) as tmp:
            tmp.write_text("never")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


def test_check_writable_leaves_nothing_and_refuses_early(tmp_path):
    from emodiffhead.errors import InputFileError
    from emodiffhead.fileio import check_writable

    assert check_writable(tmp_path / "new" / "o.mp4") == tmp_path / "new" / "o.mp4"
    assert list((tmp_path / "new").iterdir()) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputFileError, match="cannot write"):
        check_writable(tmp_path / "f" / "o.mp4")
