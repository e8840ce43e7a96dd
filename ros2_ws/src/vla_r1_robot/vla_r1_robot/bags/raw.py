"""The baseline for the benchmark: plain rosbags reading that only deserializes image messages."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from .errors import BagError
from .rosbags_backend import RosbagsBag
from .summary import IMAGE_TYPE


@dataclass(frozen=True)
class RawReadResult:
    topics: tuple[str, ...]
    messages: int
    payload_bytes: int
    seconds: float


def raw_read_images(path: str | PathLike[str], topics: Sequence[str] | None = None) -> RawReadResult:
    """Deserialize every sensor_msgs/Image message of ``topics`` (all image topics when None) with
    rosbags and nothing else. The timing covers opening the bag too, like a replay does."""
    path = Path(path)
    start = time.perf_counter()
    bag = RosbagsBag(path)
    try:
        reader = bag._reader
        image_topics = sorted({c.topic for c in reader.connections if c.msgtype == IMAGE_TYPE})
        wanted = tuple(topics) if topics is not None else tuple(image_topics)
        missing = [t for t in wanted if t not in image_topics]
        if missing:
            raise BagError(
                path,
                f"not an image topic of the bag; image topics: {', '.join(image_topics) or 'none'}",
                topic=missing[0],
            )
        connections = [c for c in reader.connections if c.topic in wanted]
        count = payload = 0
        for connection, _, raw in reader.messages(connections=connections):
            msg: Any = reader.deserialize(raw, connection.msgtype)
            count += 1
            payload += len(msg.data)
    finally:
        bag.close()
    return RawReadResult(wanted, count, payload, time.perf_counter() - start)


@dataclass(frozen=True)
class ReadingComparison:
    """Best-of-``repeats`` wall time to read a bag through ``open_bag`` (all frames: pairing,
    decoding, alignment when needed) next to raw rosbags deserialization of the same two topics."""

    path: str
    frames: int
    replay_s: float
    raw_s: float
    raw_messages: int
    depth_aligned_in_bag: bool

    @property
    def ratio(self) -> float:
        return self.replay_s / self.raw_s if self.raw_s > 0 else float("inf")

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "frames": self.frames,
            "replay_s": self.replay_s,
            "raw_s": self.raw_s,
            "raw_messages": self.raw_messages,
            "ratio": self.ratio,
            "replay_frames_per_s": self.frames / self.replay_s if self.replay_s > 0 else None,
            "depth_aligned_in_bag": self.depth_aligned_in_bag,
        }


def compare_with_raw(path: str | PathLike[str], repeats: int = 3, **open_kwargs) -> ReadingComparison:
    """Time the replay reader against :func:`raw_read_images` on the color and depth topics it uses.
    RealSense .bag files have no raw rosbags baseline (rosbags cannot parse their images)."""
    from .source import open_bag

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    replay_s = raw_s = float("inf")
    frames = raw_messages = 0
    aligned = True
    for _ in range(repeats):
        start = time.perf_counter()
        with open_bag(path, **open_kwargs) as source:
            frames = sum(1 for _ in source)
            topics = [t for t in (source.topics.color_topic, source.topics.depth_topic) if t]
            aligned = source.depth_aligned
            if source.summary.storage == "realsense":
                raise BagError(path, "no raw rosbags baseline for RealSense .bag files")
        replay_s = min(replay_s, time.perf_counter() - start)
        raw = raw_read_images(path, topics)
        raw_s, raw_messages = min(raw_s, raw.seconds), raw.messages
    return ReadingComparison(str(path), frames, replay_s, raw_s, raw_messages, aligned)
