"""The one rule that pairs a color image with its depth image, live (the node) and offline (replay).

Rule: a color image pairs with the depth image whose header stamp is NEAREST to its own, provided
the two differ by at most ``tolerance_s``; otherwise the color image stays unpaired. Messages may
arrive slightly out of step (a bag stores receive order; a driver publishes the two streams from
two threads), so a color image is decided only once a depth image stamped at or after it has been
seen (then the nearest is known), or once the color stream has moved ``max_lag_s`` past it.
Memory stays bounded: only depth images that could still pair are kept.

ROS-free (no message_filters, which a pip-only install lacks): replay's bag reader and the live
node feed the same ``NearestStampSync``, so a bag replayed offline pairs frames exactly as the node
pairs them from the topics.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar


class Stamped(Protocol):
    stamp_s: float


ColorT = TypeVar("ColorT", bound=Stamped)
DepthT = TypeVar("DepthT", bound=Stamped)


@dataclass(frozen=True)
class SyncConfig:
    """``tolerance_s``: largest |depth stamp - color stamp| of a pair (0.15 s: a recorded D435
    stores depth up to ~0.1 s from its color; a live RealSense stamps aligned depth exactly like
    color, and the nearest stamp wins anyway). ``max_lag_s``: how far the streams may be out of step."""

    tolerance_s: float = 0.15
    max_lag_s: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.tolerance_s, bool) or not (math.isfinite(self.tolerance_s) and self.tolerance_s >= 0):
            raise ValueError(f"pairing tolerance must be a finite number >= 0 s, got {self.tolerance_s}")
        if isinstance(self.max_lag_s, bool) or not (math.isfinite(self.max_lag_s) and self.max_lag_s > 0):
            raise ValueError(f"max_lag_s must be a finite number > 0 s, got {self.max_lag_s}")


@dataclass(frozen=True, eq=False)
class SyncedPair(Generic[ColorT, DepthT]):
    color: ColorT
    depth: DepthT | None  # None: no depth within tolerance
    dt_s: float | None  # depth stamp - color stamp (of the nearest depth, also when it was too far)


@dataclass(frozen=True, eq=False)
class StampedItem:
    """Anything (a ROS message, a record) with the stamp the rule uses."""

    stamp_s: float
    item: Any


class NearestStampSync(Generic[ColorT, DepthT]):
    """Feed items in arrival order with add_color / add_depth; each returns the pairs now decided.
    Not thread-safe: callers that feed it from several threads hold one lock around it."""

    def __init__(self, config: SyncConfig = SyncConfig()) -> None:
        self.config = config
        self._depth: deque[DepthT] = deque()
        self._pending: deque[ColorT] = deque()
        self._newest_color_s = -math.inf
        self.closest_miss_s = math.inf  # smallest |dt| among colors left unpaired, for error messages

    def add_color(self, color: ColorT) -> list[SyncedPair[ColorT, DepthT]]:
        self._pending.append(color)
        self._newest_color_s = max(self._newest_color_s, color.stamp_s)
        return self._resolve(final=False)

    def add_depth(self, depth: DepthT) -> list[SyncedPair[ColorT, DepthT]]:
        self._depth.append(depth)
        # depth older than any color that may still come (colors lag at most max_lag_s) is useless
        horizon = depth.stamp_s - self.config.max_lag_s - self.config.tolerance_s
        if not self._pending:
            while len(self._depth) > 1 and self._depth[0].stamp_s < horizon:
                self._depth.popleft()
        return self._resolve(final=False)

    def finish(self) -> list[SyncedPair[ColorT, DepthT]]:
        """Decide every color still waiting (end of a bag)."""
        return self._resolve(final=True)

    def _resolve(self, final: bool) -> list[SyncedPair[ColorT, DepthT]]:
        pairs: list[SyncedPair[ColorT, DepthT]] = []
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

    def _pair(self, color: ColorT) -> SyncedPair[ColorT, DepthT]:
        if not self._depth:
            return SyncedPair(color, None, None)
        nearest = min(self._depth, key=lambda depth: abs(depth.stamp_s - color.stamp_s))
        dt = nearest.stamp_s - color.stamp_s
        if abs(dt) <= self.config.tolerance_s:
            return SyncedPair(color, nearest, dt)
        self.closest_miss_s = min(self.closest_miss_s, abs(dt))
        return SyncedPair(color, None, dt)
