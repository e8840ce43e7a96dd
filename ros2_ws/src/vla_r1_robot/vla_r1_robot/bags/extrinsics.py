"""The depth->color extrinsic ``color_T_depth`` (maps depth-frame points into the color frame)
from what a bag carries:

* RealSense recordings: one ``geometry_msgs/Transform`` per stream on ``<stream>/tf/<n>``, the
  extrinsic from the reference stream (usually depth) to that stream, i.e. ``stream_T_reference``.
  Checked against librealsense: the Color stream's transform equals ``depth.get_extrinsics_to(color)``.
* Everything else: a tf tree from ``/tf_static`` (tf2_msgs/TFMessage) and TransformStamped topics,
  searched for a chain between the two images' ``header.frame_id``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from calibration import SE3

from ..poses import se3_from_transform_msg
from .summary import BagSummary
from .topics import camera_namespace

TRANSFORM = "geometry_msgs/msg/Transform"
TRANSFORM_STAMPED = "geometry_msgs/msg/TransformStamped"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"


@dataclass(frozen=True, eq=False)
class TfEdge:
    parent_frame: str
    child_frame: str
    parent_T_child: SE3

    def __post_init__(self) -> None:
        if not self.parent_frame or not self.child_frame or self.parent_frame == self.child_frame:
            raise ValueError(
                f"a tf edge needs two distinct non-empty frames, got {self.parent_frame!r} -> {self.child_frame!r}"
            )


def realsense_stream_topics(summary: BagSummary, image_topic: str) -> list[str]:
    namespace = camera_namespace(image_topic)
    return sorted(t.name for t in summary.of_type(TRANSFORM) if t.name.startswith(namespace + "/tf/"))


def realsense_color_T_depth(color_T_reference: SE3, depth_T_reference: SE3 | None) -> SE3:
    """A missing depth transform means depth is the reference stream itself."""
    return color_T_reference if depth_T_reference is None else color_T_reference @ depth_T_reference.inverse()


def tf_edges_from_messages(messages: Iterable[Any]) -> list[TfEdge]:
    """Edges from TFMessage and TransformStamped messages; malformed (empty frame) ones are skipped."""
    edges = []
    for msg in messages:
        for stamped in getattr(msg, "transforms", None) or [msg]:
            parent, child = stamped.header.frame_id.lstrip("/"), stamped.child_frame_id.lstrip("/")
            if parent and child and parent != child:
                edges.append(TfEdge(parent, child, se3_from_transform_msg(stamped.transform)))
    return edges


def chain_transform(edges: Iterable[TfEdge], target_frame: str, source_frame: str) -> SE3 | None:
    """``target_T_source`` through the tf graph (edges usable both ways); None if not connected."""
    target_frame, source_frame = target_frame.lstrip("/"), source_frame.lstrip("/")
    if target_frame == source_frame:
        return SE3.identity()
    neighbours: dict[str, list[tuple[str, SE3]]] = {}
    for edge in edges:  # from each frame: (other frame, this_T_other)
        neighbours.setdefault(edge.parent_frame, []).append((edge.child_frame, edge.parent_T_child))
        neighbours.setdefault(edge.child_frame, []).append((edge.parent_frame, edge.parent_T_child.inverse()))
    found = {target_frame: SE3.identity()}  # frame -> target_T_frame
    queue = deque([target_frame])
    while queue:
        frame = queue.popleft()
        for other, frame_T_other in neighbours.get(frame, []):
            if other not in found:
                found[other] = found[frame] @ frame_T_other
                if other == source_frame:
                    return found[other]
                queue.append(other)
    return None
