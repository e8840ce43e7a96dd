"""The one error type of bag reading: it always names the file, and the topic when one is involved."""
from __future__ import annotations

from os import PathLike


class BagError(RuntimeError):
    """A bag that cannot be replayed: unreadable, damaged, without usable image topics, or whose
    color and depth never pair. ``str(error)`` is ``"<file>: topic <topic>: <problem>"``."""

    def __init__(self, path: str | PathLike[str], problem: str, topic: str | None = None) -> None:
        self.path = str(path)
        self.topic = topic
        self.problem = problem
        where = f"{self.path}: topic {topic}" if topic else self.path
        super().__init__(f"{where}: {problem}")
