"""A RealSense camera (or a RealSense .bag recording) as a source of Frames, without the ROS driver.

pyrealsense2's pipeline streams color and depth; ``rs.align(rs.stream.color)`` reprojects depth
into the color camera, so the Frame holds depth ALIGNED TO COLOR and the COLOR intrinsics (the
ones to deproject with after aligning). uint16 depth x the sensor's depth scale = metres, 0 invalid.

Used by ``vla-r1 live --camera realsense`` (ROS-free) and by the node's small publisher
(``realsense_publisher`` in node.py). No rclpy here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calibration import CameraModel
from calibration.depth import decode_depth

from ..perception.frame import Frame

COLOR_FRAME_ID = "camera_color_optical_frame"  # realsense2_camera's name for the color optical frame


class RealSenseError(RuntimeError):
    """No camera, an unreadable recording, or no frames within the timeout."""


@dataclass(frozen=True)
class RealSenseSettings:
    width: int = 640
    height: int = 480
    fps: int = 30
    serial: str = ""  # "" = the first camera found
    bag_path: str = ""  # play this RealSense .bag instead of a camera
    real_time: bool = False  # recordings: False = as fast as we read (no frame dropped)
    timeout_s: float = 5.0  # waiting for one frame set
    frame_id: str = COLOR_FRAME_ID

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.fps <= 0:
            raise ValueError(f"width, height and fps must be > 0, got {self.width}x{self.height}@{self.fps}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.bag_path and not Path(self.bag_path).is_file():
            raise ValueError(f"RealSense recording not found: {self.bag_path}")


def _rs() -> Any:
    try:
        import pyrealsense2 as rs
    except ImportError as error:
        raise RealSenseError(
            "pyrealsense2 is not installed (pip install 'vla-r1-stack[realsense]'); it also needs "
            "the system library libusb-1.0-0"
        ) from error
    return rs


class RealSenseSource:
    """``with RealSenseSource(settings) as source: for frame in source.frames(): ...``"""

    def __init__(self, settings: RealSenseSettings = RealSenseSettings()) -> None:
        self.settings = settings
        self._rs = _rs()
        self._pipeline = None
        self._align = None
        self._depth_scale_m = 0.001
        self._camera: CameraModel | None = None

    def __enter__(self) -> RealSenseSource:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        rs, s = self._rs, self.settings
        config = rs.config()
        if s.bag_path:
            # the recording decides sizes and formats; repeat_playback=False so it ends
            config.enable_device_from_file(s.bag_path, repeat_playback=False)
        else:
            if s.serial:
                config.enable_device(s.serial)
            config.enable_stream(rs.stream.color, s.width, s.height, rs.format.rgb8, s.fps)
            config.enable_stream(rs.stream.depth, s.width, s.height, rs.format.z16, s.fps)
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(config)
        except RuntimeError as error:
            where = s.bag_path or (f"camera {s.serial}" if s.serial else "a RealSense camera")
            raise RealSenseError(f"cannot start {where}: {error}") from error
        device = profile.get_device()
        if s.bag_path:
            device.as_playback().set_real_time(s.real_time)
        try:
            self._depth_scale_m = float(device.first_depth_sensor().get_depth_scale())
        except RuntimeError:
            self._depth_scale_m = 0.001
        self._pipeline = pipeline
        self._align = rs.align(rs.stream.color)

    def stop(self) -> None:
        if self._pipeline is not None:
            with contextlib.suppress(RuntimeError):
                self._pipeline.stop()
            self._pipeline = None

    @property
    def depth_scale_m(self) -> float:
        return self._depth_scale_m

    def read(self) -> Frame | None:
        """The next aligned frame; None when a recording has ended. RealSenseError on a timeout."""
        if self._pipeline is None:
            raise RealSenseError("the source is not started")
        timeout_ms = int(self.settings.timeout_s * 1000)
        while True:
            ok, frames = self._pipeline.try_wait_for_frames(timeout_ms)
            if not ok:
                if self.settings.bag_path:
                    return None  # the recording is over
                raise RealSenseError(f"no frames from the camera within {self.settings.timeout_s} s")
            aligned = self._align.process(frames)
            color, depth = aligned.get_color_frame(), aligned.get_depth_frame()
            if color and depth:  # a set without both (start of a recording) is skipped
                return self._frame(color, depth)

    def frames(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def _frame(self, color: Any, depth: Any) -> Frame:
        rs = self._rs
        if self._camera is None:  # the color intrinsics do not change while streaming
            intrinsics = color.profile.as_video_stream_profile().get_intrinsics()
            self._camera = CameraModel.from_realsense(intrinsics)
        pixels = np.asanyarray(color.get_data())
        color_format = color.profile.format()
        if color_format == rs.format.bgr8:
            pixels = pixels[:, :, ::-1]
        elif color_format in (rs.format.rgba8, rs.format.bgra8):
            pixels = pixels[:, :, [2, 1, 0]] if color_format == rs.format.bgra8 else pixels[:, :, :3]
        elif color_format != rs.format.rgb8:
            raise RealSenseError(f"unsupported color format {color_format}")
        color_rgb = np.ascontiguousarray(pixels, dtype=np.uint8)  # a copy: librealsense reuses its buffers
        depth_m = decode_depth(np.asanyarray(depth.get_data()).copy(), self._depth_scale_m)
        return Frame(color_rgb, depth_m, self._camera, color.get_timestamp() * 1e-3, self.settings.frame_id)
