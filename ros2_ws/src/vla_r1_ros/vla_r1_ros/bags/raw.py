"""The baseline for the benchmark: plain rosbags reading that only deserializes image messages."""
from __future__ import annotations

import time
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Sequence

from .errors import BagError
from .rosbags_backend import RosbagsBag
from .summary import IMAGE_TYPE


@dataclass(frozen=True)
class RawReadResult:
    topics: tuple[str, ...]
    messages: int
    payload_bytes: int
    seconds: float

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("inf")


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
            raise BagError(path, f"not an image topic of the bag; image topics: {', '.join(image_topics) or 'none'}",
                           topic=missing[0])
        connections = [c for c in reader.connections if c.topic in wanted]
        count = payload = 0
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            count += 1
            payload += len(msg.data)
    finally:
        bag.close()
    return RawReadResult(wanted, count, payload, time.perf_counter() - start)
