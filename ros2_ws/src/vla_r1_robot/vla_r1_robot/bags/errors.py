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


class FrameError(BagError):
    """One frame cannot be used (an image whose ``step``, ``data``, ``encoding`` or size is wrong);
    the frames after it may still be fine. ``index`` is the color frame's position in its topic."""

    def __init__(
        self,
        path: str | PathLike[str],
        problem: str,
        topic: str | None = None,
        *,
        index: int = -1,
        stamp_s: float = float("nan"),
    ) -> None:
        super().__init__(path, problem, topic)
        self.index = index
        self.stamp_s = stamp_s


def unexpected(path: str | PathLike[str], error: BaseException, topic: str | None = None) -> BagError:
    """A BagError for an exception the bag libraries raised on a damaged file (they have no common
    base class: struct.error, MemoryError from a huge declared length, AttributeError from a garbled
    message definition, ...). The original type stays in the message for a bug report."""
    return BagError(path, f"damaged or unreadable bag ({type(error).__name__}: {error})", topic=topic)
