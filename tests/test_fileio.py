"""Atomic output: the final name appears only after a complete write."""

from __future__ import annotations

import os

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
