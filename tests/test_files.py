"""Atomic result files and output-path checks (vla_r1_model.files)."""

from __future__ import annotations

import os

import pytest

from vla_r1_model.files import OutputPathError, atomic_output, atomic_write_text, check_output_file


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.yaml"
    target.write_text("old\n")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.yaml"]
    with atomic_output(target, "wb") as handle:  # binary results too
        handle.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.yaml"]


def test_a_failure_while_writing_keeps_the_earlier_file(tmp_path):
    target = tmp_path / "result.yaml"
    target.write_text("good earlier result\n")
    with pytest.raises(RuntimeError, match="boom"), atomic_output(target) as handle:
        handle.write("half a resu")
        raise RuntimeError("boom")
    assert target.read_text() == "good earlier result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.yaml"]


def test_new_files_get_ordinary_permissions(tmp_path):
    target = tmp_path / "r.txt"
    atomic_write_text(target, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_check_output_file_refuses_folders_missing_parents_and_unwritable_places(tmp_path):
    assert check_output_file(tmp_path / "ok.yaml") == tmp_path / "ok.yaml"
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(OutputPathError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "x.yaml")
    a_file = tmp_path / "plain"
    a_file.write_text("")
    with pytest.raises(OutputPathError, match="is not a folder"):
        check_output_file(a_file / "x.yaml")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OutputPathError, match="not writable"):
            check_output_file(locked / "x.yaml")
