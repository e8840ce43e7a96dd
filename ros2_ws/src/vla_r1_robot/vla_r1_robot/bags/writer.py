"""Write RGB-D recordings as rosbag2 (MCAP or sqlite3) with rosbags: images, CameraInfo and
/tf_static, laid out like realsense2_camera so every ROS tool (and open_bag) reads them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from calibration import SE3, CameraModel

_STORAGES = ("mcap", "sqlite3")


def _latched_qos() -> Any:
    """transient_local, as static_transform_publisher offers, so `ros2 bag play` latches /tf_static."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    never = QosTime(0x7FFFFFFF, 0xFFFFFFFF)
    return Qos(
        QosHistory.KEEP_LAST,
        1,
        QosReliability.RELIABLE,
        QosDurability.TRANSIENT_LOCAL,
        never,
        never,
        QosLiveliness.AUTOMATIC,
        never,
        False,
    )


class RgbdBagWriter:
    """``with RgbdBagWriter(out_dir) as bag: bag.write_image(...)``. Times are seconds; bag (receive)
    time defaults to the header stamp."""

    def __init__(self, path: str | PathLike[str], storage: str = "mcap") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        if storage not in _STORAGES:
            raise ValueError(f"storage must be one of {_STORAGES}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists; rosbag2 writes a new folder")
        self._typestore = get_typestore(Stores.ROS2_HUMBLE)
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._connections: dict[str, Any] = {}
        self._open = False

    def __enter__(self) -> RgbdBagWriter:
        self._writer.open()
        self._open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._open:
            self._writer.close()
            self._open = False

    # message building -----------------------------------------------------------------
    def _header(self, stamp_s: float, frame_id: str) -> Any:
        types = self._typestore.types
        if not (math.isfinite(stamp_s) and stamp_s >= 0):
            raise ValueError(f"stamp must be a finite time >= 0 s, got {stamp_s}")
        sec = int(stamp_s)
        nanosec = min(round((stamp_s - sec) * 1e9), 999_999_999)
        return types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id
        )

    def write(self, topic: str, msgtype: str, msg: Any, bag_time_s: float, qos: Sequence[Any] = ()) -> None:
        if not self._open:
            raise RuntimeError("use RgbdBagWriter as a context manager (with ... as bag:)")
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self._typestore, offered_qos_profiles=qos
            )
        data = self._typestore.serialize_cdr(msg, msgtype)
        self._writer.write(self._connections[topic], max(1, round(bag_time_s * 1e9)), data)

    def write_image(
        self,
        topic: str,
        pixels: np.ndarray,
        stamp_s: float,
        frame_id: str,
        encoding: str | None = None,
        bag_time_s: float | None = None,
    ) -> None:
        """uint8 HxWx3 -> rgb8 (or ``encoding="bgr8"``: the array is then BGR), uint16 HxW -> 16UC1
        (millimetres by ROS convention), float32 HxW -> 32FC1 (metres)."""
        pixels = np.ascontiguousarray(pixels)
        if encoding is None:
            if pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3:
                encoding = "rgb8"
            elif pixels.dtype == np.uint16 and pixels.ndim == 2:
                encoding = "16UC1"
            elif pixels.dtype == np.float32 and pixels.ndim == 2:
                encoding = "32FC1"
            else:
                raise ValueError(f"cannot tell the encoding of a {pixels.dtype} array of shape {pixels.shape}")
        height, width = pixels.shape[:2]
        msg = self._typestore.types["sensor_msgs/msg/Image"](
            header=self._header(stamp_s, frame_id),
            height=height,
            width=width,
            encoding=encoding,
            is_bigendian=0,
            step=pixels.strides[0],
            data=pixels.reshape(-1).view(np.uint8),
        )
        self.write(topic, "sensor_msgs/msg/Image", msg, stamp_s if bag_time_s is None else bag_time_s)

    def write_camera_info(
        self, topic: str, camera: CameraModel, stamp_s: float, frame_id: str, bag_time_s: float | None = None
    ) -> None:
        types = self._typestore.types
        info = camera.to_camera_info()
        msg = types["sensor_msgs/msg/CameraInfo"](
            header=self._header(stamp_s, frame_id),
            height=info["height"],
            width=info["width"],
            distortion_model=info["distortion_model"],
            d=np.array(info["d"], dtype=np.float64),
            k=np.array(info["k"], dtype=np.float64),
            r=np.array(info["r"], dtype=np.float64),
            p=np.array(info["p"], dtype=np.float64),
            binning_x=0,
            binning_y=0,
            roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
        )
        self.write(topic, "sensor_msgs/msg/CameraInfo", msg, stamp_s if bag_time_s is None else bag_time_s)

    def write_static_transforms(
        self, transforms: Sequence[tuple[str, str, SE3]], stamp_s: float, topic: str = "/tf_static"
    ) -> None:
        """(parent_frame, child_frame, parent_T_child) triples as one tf2_msgs/TFMessage."""
        types = self._typestore.types
        stamped = []
        for parent, child, parent_T_child in transforms:
            t = parent_T_child.translation
            q = parent_T_child.quaternion_xyzw()
            stamped.append(
                types["geometry_msgs/msg/TransformStamped"](
                    header=self._header(stamp_s, parent),
                    child_frame_id=child,
                    transform=types["geometry_msgs/msg/Transform"](
                        translation=types["geometry_msgs/msg/Vector3"](x=float(t[0]), y=float(t[1]), z=float(t[2])),
                        rotation=types["geometry_msgs/msg/Quaternion"](
                            x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])
                        ),
                    ),
                )
            )
        msg = types["tf2_msgs/msg/TFMessage"](transforms=stamped)
        self.write(topic, "tf2_msgs/msg/TFMessage", msg, stamp_s, qos=[_latched_qos()])
