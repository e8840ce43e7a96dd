"""What is in a bag: topics, message counts, duration. Cheap to build (no image is decoded)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vla_r1_model.validation import one_of

IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
STORAGES = ("sqlite3", "mcap", "ros1", "realsense")


@dataclass(frozen=True)
class TopicInfo:
    """One topic; for images also the first message's encoding, size and frame_id."""

    name: str
    msgtype: str
    count: int
    encoding: str | None = None
    width: int | None = None
    height: int | None = None
    frame_id: str | None = None

    def __post_init__(self) -> None:
        if not self.name.startswith("/"):
            raise ValueError(f"topic names are absolute, got {self.name!r}")
        if self.count < 0:
            raise ValueError(f"message count must be >= 0, got {self.count}")


@dataclass(frozen=True)
class BagSummary:
    """A bag's table of contents. ``start_s``/``duration_s`` are bag (receive) time in seconds."""

    path: str
    storage: str
    start_s: float
    duration_s: float
    topics: tuple[TopicInfo, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        one_of("storage", self.storage, STORAGES)
        if self.duration_s < 0:
            raise ValueError(f"duration must be >= 0 s, got {self.duration_s}")

    @property
    def message_count(self) -> int:
        return sum(topic.count for topic in self.topics)

    def topic(self, name: str) -> TopicInfo | None:
        return next((topic for topic in self.topics if topic.name == name), None)

    def of_type(self, msgtype: str) -> tuple[TopicInfo, ...]:
        return tuple(topic for topic in self.topics if topic.msgtype == msgtype)

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "storage": self.storage,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "message_count": self.message_count,
            "topics": [
                {key: value for key, value in vars(topic).items() if value is not None} for topic in self.topics
            ],
        }

    def describe(self) -> str:
        """Human-readable table for the command line."""
        lines = [f"{self.path} ({self.storage}): {self.message_count} messages over {self.duration_s:.3f} s"]
        for topic in self.topics:
            extra = f"  [{topic.encoding} {topic.width}x{topic.height}]" if topic.encoding else ""
            lines.append(f"  {topic.name}  {topic.msgtype}  x{topic.count}{extra}")
        return "\n".join(lines)
