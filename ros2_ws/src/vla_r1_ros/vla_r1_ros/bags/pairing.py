"""Streaming nearest-in-time pairing of color with depth, and frame selection.

Bags store messages in receive order, so a depth frame can arrive a little after the color frame
it belongs to. The pairer therefore holds a color frame until a depth frame stamped at or after it
has been seen (then the nearest is known), or until the color stream has moved ``max_lag_s`` past
it. Memory stays bounded: only depth frames that could still pair are kept.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator


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


@dataclass(frozen=True, eq=False)
class Pair:
    color: ImageRecord
    depth: ImageRecord | None  # None: no depth within tolerance
    dt_s: float | None  # depth stamp - color stamp


@dataclass(frozen=True)
class PairingConfig:
    tolerance_s: float = 0.15
    max_lag_s: float = 1.0  # how far the two streams may be out of step in receive order

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tolerance_s) and self.tolerance_s >= 0):
            raise ValueError(f"pairing tolerance must be a finite number >= 0 s, got {self.tolerance_s}")
        if not (math.isfinite(self.max_lag_s) and self.max_lag_s > 0):
            raise ValueError(f"max_lag_s must be a finite number > 0 s, got {self.max_lag_s}")


class NearestDepthPairer:
    """Feed records in bag order with add_color/add_depth; each returns the pairs now decided."""

    def __init__(self, config: PairingConfig = PairingConfig()) -> None:
        self.config = config
        self._depth: deque[ImageRecord] = deque()
        self._pending: deque[ImageRecord] = deque()
        self._newest_color_s = -math.inf
        self.closest_miss_s = math.inf  # smallest |dt| among colors left unpaired, for error messages

    def add_color(self, record: ImageRecord) -> list[Pair]:
        self._pending.append(record)
        self._newest_color_s = max(self._newest_color_s, record.stamp_s)
        return self._resolve(final=False)

    def add_depth(self, record: ImageRecord) -> list[Pair]:
        self._depth.append(record)
        # depth older than any color that may still come (colors lag at most max_lag_s) is useless
        horizon = record.stamp_s - self.config.max_lag_s - self.config.tolerance_s
        if not self._pending:
            while len(self._depth) > 1 and self._depth[0].stamp_s < horizon:
                self._depth.popleft()
        return self._resolve(final=False)

    def finish(self) -> list[Pair]:
        return self._resolve(final=True)

    def _resolve(self, final: bool) -> list[Pair]:
        pairs: list[Pair] = []
        while self._pending:
            color = self._pending[0]
            later_depth_seen = bool(self._depth) and self._depth[-1].stamp_s >= color.stamp_s
            stale = self._newest_color_s > color.stamp_s + self.config.max_lag_s
            if not (final or later_depth_seen or stale):
                break
            self._pending.popleft()
            pairs.append(self._pair(color))
            # later colors are stamped later: depth older than this color minus tolerance cannot pair
            while self._depth and self._depth[0].stamp_s < color.stamp_s - self.config.tolerance_s:
                self._depth.popleft()
        return pairs

    def _pair(self, color: ImageRecord) -> Pair:
        if not self._depth:
            return Pair(color, None, None)
        nearest = min(self._depth, key=lambda depth: abs(depth.stamp_s - color.stamp_s))
        dt = nearest.stamp_s - color.stamp_s
        if abs(dt) <= self.config.tolerance_s:
            return Pair(color, nearest, dt)
        self.closest_miss_s = min(self.closest_miss_s, abs(dt))
        return Pair(color, None, dt)


@dataclass(frozen=True)
class FrameSelection:
    """Every ``every_n``-th color frame (from the first), or the one nearest ``at_s`` seconds after
    the first color frame (header stamps, so bags whose receive time starts at 1 ns still work)."""

    every_n: int = 1
    at_s: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.every_n, bool) or not isinstance(self.every_n, int) or self.every_n < 1:
            raise ValueError(f"every_n must be an integer >= 1, got {self.every_n!r}")
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
