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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path, "wb") as handle:
        handle.write(data)
