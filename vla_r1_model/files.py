"""Result files written atomically, and output paths checked before the work starts.

Standard library only, so every package's command-line shell may use it (calibration's included).
A result file is either the complete new result or the earlier file untouched: the bytes go to a
temporary file in the same folder, are flushed to disk, and replace the target with one rename.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class OutputPathError(ValueError):
    """An output path that cannot take a result (a folder, a missing or unwritable parent, ...)."""


def check_output_file(path: str | os.PathLike[str], *, what: str = "output file") -> Path:
    """Return ``path`` as a Path if a result file can be written there; raise OutputPathError if not.

    Call it before the work starts so that a long computation is never lost to a bad path.
    """
    target = Path(path)
    if str(path) == "":
        raise OutputPathError(f"{what}: empty path")
    if target.is_dir():
        raise OutputPathError(f"{what} {target} is a folder, not a file")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        raise OutputPathError(f"{what} {target}: folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputPathError(f"{what} {target}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {target}: folder {parent} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputPathError(f"{what} {target} exists and is not writable")
    return target


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``, on an error it is removed.

    >>> with atomic_output("result.yaml") as f:   # doctest: +SKIP
    ...     f.write(text)
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_output mode must be 'w' or 'wb', not {mode!r}")
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, mode, encoding=None if mode == "wb" else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; a result file gets the usual permissions of a new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_output(path, "w", encoding=encoding) as handle:
        handle.write(text)


def _nonempty_dir(path: Path) -> bool:
    with os.scandir(path) as entries:
        return any(True for _ in entries)


def check_output_dir(path: str | os.PathLike[str], *, overwrite: bool = False, what: str = "output folder") -> Path:
    """Return ``path`` as a Path if a run can be written there; raise OutputPathError if not.

    Refused: an empty path, a file, a non-empty folder unless ``overwrite``, a missing parent that
    cannot be created because a file is in the way, an unwritable parent. Call it before the work starts.
    """
    if str(path) == "":
        raise OutputPathError(f"{what}: empty path")
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"{what} {target} is a file, not a folder")
    if target.is_dir() and not overwrite and _nonempty_dir(target):
        raise OutputPathError(
            f"{what} {target} is not empty (an earlier run?); choose a new folder, or pass "
            "--overwrite to replace it when the new run has succeeded"
        )
    parent = Path(os.path.abspath(target)).parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"{what} {target}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {target}: folder {existing} is not writable")
    return target


@contextlib.contextmanager
def staged_output_dir(
    path: str | os.PathLike[str], *, overwrite: bool = False, create: bool = True, what: str = "output folder"
) -> Iterator[Path]:
    """Write a run into a new folder beside ``path``; it takes ``path``'s place only when the block
    ends without an exception. Never leaves a mixture of two runs, never loses an earlier run to a
    failed one.

    >>> with staged_output_dir("out/replay", overwrite=args.overwrite) as staging:   # doctest: +SKIP
    ...     (staging / "results.jsonl").write_text(...)

    ``path`` is checked first with ``check_output_dir`` (a non-empty folder needs ``overwrite``).
    The block gets a path on the same file system whose name is ``path``'s name (so files that
    mention their folder's name read right), inside a hidden ``.NAME.partial-*`` folder beside
    ``path``; ``create=False`` leaves it to the block to create it (tools that insist on making
    their output folder themselves). On a clean exit an earlier ``path`` is moved aside, the new
    folder renamed into place (same file system: a rename) and the earlier one deleted; if the block
    raises, the new folder is deleted and ``path`` is untouched. Parents of ``path`` are created.
    """
    import shutil

    target = check_output_dir(path, overwrite=overwrite, what=what)
    target.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    staging = holder / target.name
    try:
        if create:
            staging.mkdir()
        yield staging
        if not staging.exists():
            staging.mkdir()
        aside = None
        if not overwrite and target.is_dir() and _nonempty_dir(target):  # filled meanwhile (another run?)
            raise OutputPathError(
                f"{what} {target} was filled by something else during this run; it is kept, this run is discarded"
            )
        if target.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent)) / target.name
            os.rename(target, aside)
        try:
            os.rename(staging, target)
        except BaseException:
            if aside is not None:
                os.rename(aside, target)
            raise
        if aside is not None:
            shutil.rmtree(aside.parent, ignore_errors=True)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
