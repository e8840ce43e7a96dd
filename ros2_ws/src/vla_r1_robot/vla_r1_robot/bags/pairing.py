"""Color/depth pairing of bag records (the rule lives in ..frame_sync, shared with the live node),
and frame selection."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from vla_r1_model.validation import integer_at_least

from ..perception.frame_sync import NearestStampSync, SyncConfig, SyncedPair


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image message, not decoded yet: ``decode()`` gives RGB uint8 (color) or raw depth."""

    topic: str
    index: int  # position in its topic, from 0
    stamp_s: float
    decode: Callable[[], Any]
    frame_id: str = ""

    def __post_init__(self) -> None:
        if not math.isfinite(self.stamp_s):
            raise ValueError(f"{self.topic}[{self.index}]: stamp must be finite, got {self.stamp_s}")


# Color/depth pairing is frame_sync's rule, the same one the live node applies to its topics.
Pair = SyncedPair  # (color: ImageRecord, depth: ImageRecord | None, dt_s)
PairingConfig = SyncConfig


class NearestDepthPairer(NearestStampSync):
    """Feed ImageRecords in bag order with add_color/add_depth; each returns the pairs now decided."""


@dataclass(frozen=True)
class FrameSelection:
    """Every ``every_n``-th color frame (from the first), or the one nearest ``at_s`` seconds after
    the first color frame (header stamps, so bags whose receive time starts at 1 ns still work)."""

    every_n: int = 1
    at_s: float | None = None

    def __post_init__(self) -> None:
        integer_at_least("every_n", self.every_n, 1)
        if self.at_s is not None:
            if not (math.isfinite(self.at_s) and self.at_s >= 0):
                raise ValueError(f"at_s must be a finite number of seconds >= 0, got {self.at_s}")
            if self.every_n != 1:
                raise ValueError("choose either every_n or at_s, not both")


class SelectionOutOfRange(ValueError):
    """``at_s`` points past the end of the color stream."""


def select(pairs: Iterable[Pair], selection: FrameSelection, slack_s: float = 0.0) -> Iterator[Pair]:
    """Apply a FrameSelection to pairs in color order (unpaired colors count as frames too).
    ``at_s`` may point at most ``slack_s`` past the last color frame."""
    if selection.at_s is None:
        for pair in pairs:
            if pair.color.index % selection.every_n == 0:
                yield pair
        return
    target_s: float | None = None
    previous: Pair | None = None
    for pair in pairs:
        if target_s is None:
            target_s = pair.color.stamp_s + selection.at_s
        if pair.color.stamp_s >= target_s:
            if previous is not None and target_s - previous.color.stamp_s < pair.color.stamp_s - target_s:
                yield previous
            else:
                yield pair
            return
        previous = pair
    if previous is None or target_s is None:
        return
    if target_s - previous.color.stamp_s > slack_s:
        span = previous.color.stamp_s - (target_s - selection.at_s)
        raise SelectionOutOfRange(f"at_s={selection.at_s:g} s is past the last color frame (color spans {span:.3f} s)")
    yield previous
