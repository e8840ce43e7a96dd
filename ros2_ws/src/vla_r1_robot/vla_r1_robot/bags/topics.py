"""Which topics carry color, depth and their CameraInfo, by message type and encoding (names only
break ties). Explicit topics are checked, never second-guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BagError
from .images import is_color_encoding, is_depth_encoding
from .summary import CAMERA_INFO_TYPE, IMAGE_TYPE, BagSummary, TopicInfo

# leaf names that sit below a camera namespace: /ns/image_raw, /ns/camera_info, RealSense /ns/image/data
_LEAF_GROUPS = ("image", "info")


@dataclass(frozen=True)
class TopicSelection:
    color_topic: str
    color_info_topic: str
    depth_topic: str | None = None
    depth_info_topic: str | None = None

    def __post_init__(self) -> None:
        if self.color_topic == self.depth_topic:
            raise ValueError(f"color and depth must be different topics, both are {self.color_topic}")


_REALSENSE_TOPIC = re.compile(r"^/device_\d+/sensor_\d+/")


def is_realsense_topic(topic: str) -> bool:
    """Topics of a librealsense recording (or a conversion of one): their header.frame_id is
    a stream number, not a tf frame, so frame ids are ignored for them."""
    return bool(_REALSENSE_TOPIC.match(topic))


def camera_namespace(topic: str) -> str:
    """'/camera/color/image_raw' -> '/camera/color'; '/device_0/sensor_1/Color_0/info/camera_info'
    -> '/device_0/sensor_1/Color_0'."""
    parts = topic.rstrip("/").split("/")[:-1]
    if len(parts) > 1 and parts[-1] in _LEAF_GROUPS:
        parts = parts[:-1]
    return "/".join(parts) or "/"


def _color_score(topic: TopicInfo) -> int:
    name = topic.name.lower()
    return int("color" in name or "rgb" in name) - int("overlay" in name)


def _depth_score(topic: TopicInfo) -> int:
    name = topic.name.lower()
    return 2 * int("aligned_depth_to_color" in name) + int("depth" in name)


def _best(candidates: list[TopicInfo], score, path: str, what: str, option: str) -> TopicInfo:
    ranked = sorted(candidates, key=lambda topic: (-score(topic), topic.name))
    tied = [topic.name for topic in ranked if score(topic) == score(ranked[0])]
    if len(tied) > 1:
        raise BagError(path, f"several {what} topics fit equally well ({', '.join(tied)}); choose one with {option}")
    return ranked[0]


def _checked(summary: BagSummary, name: str, msgtype: str, option: str) -> TopicInfo:
    topic = summary.topic(name)
    if topic is None:
        known = ", ".join(t.name for t in summary.of_type(msgtype)) or "none"
        raise BagError(summary.path, f"not in the bag ({option}); {msgtype} topics: {known}", topic=name)
    if topic.msgtype != msgtype:
        raise BagError(summary.path, f"is {topic.msgtype}, expected {msgtype} ({option})", topic=name)
    return topic


def _matching_info(summary: BagSummary, image_topic: str) -> str | None:
    """The CameraInfo topic in the image topic's camera namespace; else the one sharing the longest
    prefix when that is unique (a lone CameraInfo topic always matches)."""
    infos = summary.of_type(CAMERA_INFO_TYPE)
    namespace = camera_namespace(image_topic)
    exact = [info.name for info in infos if camera_namespace(info.name) == namespace]
    if exact:
        return exact[0]
    if len(infos) == 1:
        return infos[0].name

    def shared(info: TopicInfo) -> int:
        common = 0
        for a, b in zip(info.name.split("/"), image_topic.split("/"), strict=False):  # names of any depth
            if a != b:
                break
            common += 1
        return common

    ranked = sorted(infos, key=shared, reverse=True)
    if ranked and shared(ranked[0]) > 1 and (len(ranked) == 1 or shared(ranked[1]) < shared(ranked[0])):
        return ranked[0].name
    return None


def select_topics(
    summary: BagSummary,
    color_topic: str | None = None,
    depth_topic: str | None = None,
    info_topic: str | None = None,
    depth_info_topic: str | None = None,
    require_depth: bool = True,
) -> TopicSelection:
    """Pick color/depth/CameraInfo topics; ``info_topic`` is the COLOR camera's CameraInfo."""
    path = summary.path
    images = list(summary.of_type(IMAGE_TYPE))
    if not images:
        known = ", ".join(f"{t.name} ({t.msgtype})" for t in summary.topics) or "no topics at all"
        raise BagError(path, f"no {IMAGE_TYPE} topic in the bag; it holds: {known}")

    if color_topic is not None:
        color = _checked(summary, color_topic, IMAGE_TYPE, "color topic")
        if color.encoding is not None and not is_color_encoding(color.encoding):
            raise BagError(
                path, f"encoding {color.encoding!r} is not a color encoding (rgb8/bgr8/rgba8/bgra8)", topic=color_topic
            )
    else:
        colors = [t for t in images if t.encoding is not None and is_color_encoding(t.encoding)]
        if not colors:
            found = ", ".join(f"{t.name} ({t.encoding})" for t in images)
            raise BagError(path, f"no color image topic (rgb8/bgr8/rgba8/bgra8); image topics: {found}")
        color = _best(colors, _color_score, path, "color", "color_topic")

    depth: TopicInfo | None = None
    if depth_topic is not None:
        depth = _checked(summary, depth_topic, IMAGE_TYPE, "depth topic")
        if depth.encoding is not None and not is_depth_encoding(depth.encoding):
            raise BagError(
                path, f"encoding {depth.encoding!r} is not a depth encoding (16UC1/mono16/32FC1)", topic=depth_topic
            )
    else:
        depths = [t for t in images if t.encoding is not None and is_depth_encoding(t.encoding)]
        if depths:
            depth = _best(depths, _depth_score, path, "depth", "depth_topic")
        elif require_depth:
            found = ", ".join(f"{t.name} ({t.encoding})" for t in images)
            raise BagError(path, f"no depth image topic (16UC1/mono16/32FC1); image topics: {found}")

    color_info: str | None
    if info_topic is not None:
        color_info = _checked(summary, info_topic, CAMERA_INFO_TYPE, "info topic").name
    else:
        color_info = _matching_info(summary, color.name)
        if color_info is None:
            known = ", ".join(t.name for t in summary.of_type(CAMERA_INFO_TYPE)) or "none"
            raise BagError(
                path, f"no CameraInfo topic matches the color topic; CameraInfo topics: {known}", topic=color.name
            )

    depth_info = None
    if depth_info_topic is not None:
        depth_info = _checked(summary, depth_info_topic, CAMERA_INFO_TYPE, "depth info topic").name
    elif depth is not None:
        depth_info = _matching_info(summary, depth.name)
        if depth_info == color_info and camera_namespace(color_info) != camera_namespace(depth.name):
            depth_info = None  # the lone CameraInfo belongs to color; aligned depth does not need its own
    return TopicSelection(color.name, color_info, depth.name if depth else None, depth_info)
