"""vla_r1_model.files: a run written into a new folder that takes the output folder's place at the end."""

from __future__ import annotations

import pytest

from vla_r1_model.files import OutputPathError, check_output_dir, staged_output_dir


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_new_run_appears_only_at_the_end(tmp_path):
    out = tmp_path / "deep" / "out"
    with staged_output_dir(out) as staging:
        assert staging.name == "out" and staging.is_dir() and staging != out
        (staging / "results.jsonl").write_text("new\n")
        assert not out.exists()
    assert listing(out) == ["results.jsonl"]
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # nothing left beside it


def test_overwrite_replaces_the_whole_folder(tmp_path):
    out = tmp_path / "out"
    (out / "frame_00007").mkdir(parents=True)
    (out / "results.jsonl").write_text("old\n")
    with staged_output_dir(out, overwrite=True) as staging:
        (staging / "results.jsonl").write_text("new\n")
        assert (out / "results.jsonl").read_text() == "old\n"  # the earlier run stays until the end
    assert listing(out) == ["results.jsonl"] and (out / "results.jsonl").read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failed_run_leaves_the_earlier_one_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"), staged_output_dir(out, overwrite=True) as staging:
        (staging / "results.jsonl").write_text("half")
        raise RuntimeError("boom")
    assert listing(out) == ["results.jsonl"] and (out / "results.jsonl").read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_create_false_lets_a_tool_make_its_own_folder(tmp_path):
    with staged_output_dir(tmp_path / "bag", create=False) as staging:
        assert not staging.exists() and staging.parent.is_dir()
        staging.mkdir()
        (staging / "metadata.yaml").write_text("x")
    assert (tmp_path / "bag" / "metadata.yaml").exists()


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p.write_text("x"), "is a file"),
        (lambda p: (p.mkdir(), (p / "old").write_text("x")), "not empty"),
    ],
)
def test_refused_before_any_work(tmp_path, setup, message):
    out = tmp_path / "out"
    setup(out)
    with pytest.raises(OutputPathError, match=message):
        check_output_dir(out)
    with pytest.raises(OutputPathError, match=message), staged_output_dir(out):
        pytest.fail("the block must not run")


def test_an_empty_folder_or_a_missing_parent_is_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty") == tmp_path / "empty"
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="not a folder"):
        check_output_dir(tmp_path / "file" / "b")
    with pytest.raises(OutputPathError, match="empty path"):
        check_output_dir("")


def test_an_unwritable_parent_is_refused(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a non-root user on a read-only folder
    with pytest.raises(OutputPathError, match="is not writable"):
        check_output_dir(tmp_path / "out")


def test_a_folder_filled_during_the_run_is_not_replaced_without_overwrite(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(OutputPathError, match="filled by something else"), staged_output_dir(out) as staging:
        (staging / "mine").write_text("x")
        out.mkdir()
        (out / "theirs").write_text("y")  # another run finished first
    assert listing(out) == ["theirs"] and [p.name for p in tmp_path.iterdir()] == ["out"]
