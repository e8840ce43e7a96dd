"""`--out-bag`: overlays and 3D markers as an MCAP rosbag2 that Foxglove or RViz open."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..bags.writer import RgbdBagWriter
from ..perception.frame import Frame
from ..pipeline import Outcome

OVERLAY_TOPIC = "/vla_r1/overlay"
MARKERS_TOPIC = "/vla_r1/markers"
BASE_FRAME = "base_link"
SPHERE_LIST, LINE_STRIP = 7, 4  # visualization_msgs/Marker types


class ReplayBagWriter:
    def __init__(self, path: Path):
        self._bag = RgbdBagWriter(path, storage="mcap").__enter__()
        self._types = self._bag._typestore.types

    def _marker(self, marker_id: int, marker_type: int, points: np.ndarray, rgba, stamp_s: float, width_m: float):
        t = self._types
        return t["visualization_msgs/msg/Marker"](
            header=self._bag._header(stamp_s, BASE_FRAME),
            ns="vla_r1",
            id=marker_id,
            type=marker_type,
            action=0,
            pose=t["geometry_msgs/msg/Pose"](
                position=t["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
                orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
            ),
            scale=t["geometry_msgs/msg/Vector3"](x=width_m, y=width_m, z=width_m),
            color=t["std_msgs/msg/ColorRGBA"](r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3]),
            lifetime=t["builtin_interfaces/msg/Duration"](sec=0, nanosec=0),
            frame_locked=False,
            points=[t["geometry_msgs/msg/Point"](x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in points],
            colors=[],
            text="",
            mesh_resource="",
            mesh_use_embedded_materials=False,
            texture_resource="",
            uv_coordinates=[],
            texture=t["sensor_msgs/msg/CompressedImage"](
                header=self._bag._header(stamp_s, BASE_FRAME), format="", data=np.zeros(0, dtype=np.uint8)
            ),
            mesh_file=t["visualization_msgs/msg/MeshFile"](filename="", data=np.zeros(0, dtype=np.uint8)),
        )

    def write(self, frame: Frame, overlay: Image.Image, outcome: Outcome) -> None:
        self._bag.write_image(OVERLAY_TOPIC, np.asarray(overlay.convert("RGB")), frame.stamp_s, frame.frame_id)
        if outcome.targets is None:
            return
        points = np.asarray(outcome.targets.positions_base_m, dtype=np.float64)
        markers = [self._marker(0, SPHERE_LIST, points, (1.0, 0.6, 0.0, 1.0), frame.stamp_s, 0.02)]
        if len(points) > 1:
            markers.append(self._marker(1, LINE_STRIP, points, (0.0, 0.8, 1.0, 1.0), frame.stamp_s, 0.005))
        msg = self._types["visualization_msgs/msg/MarkerArray"](markers=markers)
        self._bag.write(MARKERS_TOPIC, "visualization_msgs/msg/MarkerArray", msg, frame.stamp_s)

    def close(self) -> None:
        self._bag.close()
