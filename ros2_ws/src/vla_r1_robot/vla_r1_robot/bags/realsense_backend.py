"""RealSense ``.bag`` recordings through librealsense's playback device (pyrealsense2).

rosbags lists these files fine but cannot parse their image messages, so the topic table comes
from rosbags and the pixels, intrinsics, extrinsics and depth scale from pyrealsense2. Frames are
read per sensor (not through ``rs.pipeline``, whose syncer drops frames) in non-real-time mode,
so playback waits for us: a small bounded queue gives streaming with back-pressure.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calibration import SE3, CameraModel

from .errors import BagError
from .pairing import ImageRecord
from .summary import BagSummary
from .topics import camera_namespace

_ENCODINGS = {
    "z16": "mono16",
    "rgb8": "rgb8",
    "bgr8": "bgr8",
    "rgba8": "rgba8",
    "bgra8": "bgra8",
    "y8": "mono8",
    "y16": "mono16_ir",
}
_QUEUE_FRAMES = 8
_POLL_S = 0.05
# librealsense reports "stopped" once its reader reaches the end of the file, while the last frames
# may still sit in its dispatch thread; on a loaded machine they arrive later. Only a quiet period
# after "stopped" ends the playback.
_END_GRACE_S = 1.0


def is_realsense_summary(summary: BagSummary) -> bool:
    names = [topic.name for topic in summary.topics]
    return "/file_version" in names and any(name.startswith("/device_") for name in names)


def _rs(path: Path) -> Any:
    try:
        import pyrealsense2 as rs
    except ImportError as error:  # an optional extra of the project
        raise BagError(
            path,
            "a RealSense recording: reading it needs pyrealsense2 "
            "(pip install 'vla-r1-stack[realsense]'), or convert it to rosbag2 with rosbags-convert",
        ) from error
    return rs


class RealSenseBag:
    """Streams of a RealSense recording, named like the recording's topics
    (``/device_0/sensor_<i>/<Stream>_<index>/image/data``)."""

    def __init__(self, path: Path, summary: BagSummary) -> None:
        self.path = path
        self.summary = summary
        rs = _rs(path)
        try:
            self._context = rs.context()
            device = self._context.load_device(str(path))
        except RuntimeError as error:
            raise BagError(path, f"librealsense cannot play it: {error}") from error
        self._device = device  # profiles (intrinsics, extrinsics) live only as long as their device
        self._sensors = device.query_sensors()
        self._profiles: dict[str, Any] = {}
        self._depth_scale: dict[str, float] = {}
        for sensor_index, sensor in enumerate(self._sensors):
            for profile in sensor.get_stream_profiles():
                if not profile.is_video_stream_profile():
                    continue
                kind = str(profile.stream_type()).split(".")[-1].capitalize()
                topic = f"/device_0/sensor_{sensor_index}/{kind}_{profile.stream_index()}/image/data"
                self._profiles[topic] = profile.as_video_stream_profile()
                if sensor.is_depth_sensor():
                    self._depth_scale[topic] = float(sensor.as_depth_sensor().get_depth_scale())

    def encoding(self, topic: str) -> str | None:
        profile = self._profiles.get(topic)
        return None if profile is None else _ENCODINGS.get(str(profile.format()).split(".")[-1], str(profile.format()))

    def size(self, topic: str) -> tuple[int, int] | None:
        profile = self._profiles.get(topic)
        return None if profile is None else (profile.width(), profile.height())

    def _profile_for(self, topic: str) -> Any:
        """The stream of an image or CameraInfo topic (matched by camera namespace)."""
        namespace = camera_namespace(topic)
        for image_topic, profile in self._profiles.items():
            if camera_namespace(image_topic) == namespace:
                return profile
        raise BagError(self.path, "no RealSense stream for it", topic=topic)

    def camera_model(self, topic: str) -> CameraModel:
        return CameraModel.from_realsense(self._profile_for(topic).get_intrinsics())

    def color_T_depth(self, color_topic: str, depth_topic: str) -> SE3:
        extrinsics = self._profile_for(depth_topic).get_extrinsics_to(self._profile_for(color_topic))
        rotation = np.asarray(extrinsics.rotation, dtype=np.float64).reshape(3, 3).T  # librealsense is column-major
        return SE3.from_matrix(
            np.block(
                [[rotation, np.asarray(extrinsics.translation).reshape(3, 1)], [np.zeros((1, 3)), np.ones((1, 1))]]
            ),
            tolerance=1e-5,
        )

    def depth_scale_m(self, depth_topic: str) -> float:
        return self._depth_scale.get(depth_topic, 0.001)

    def close(self) -> None:
        self._profiles.clear()
        self._sensors = []
        self._device = None

    def images(self, color_topic: str, depth_topic: str | None) -> Iterator[tuple[str, ImageRecord]]:
        """('color'|'depth', record) in playback order; stamps are the frames' timestamps."""
        rs = _rs(self.path)
        kinds = {color_topic: "color"} | ({depth_topic: "depth"} if depth_topic else {})
        for topic in kinds:
            if topic not in self._profiles:
                raise BagError(self.path, f"no such stream; streams: {', '.join(self._profiles)}", topic=topic)
        try:
            context = rs.context()  # a fresh context and device: a playback runs once
            device = context.load_device(str(self.path))
        except RuntimeError as error:
            raise BagError(self.path, f"librealsense cannot play it: {error}") from error
        playback = device.as_playback()
        playback.set_real_time(False)
        frames: queue.Queue = queue.Queue(maxsize=_QUEUE_FRAMES)
        stop = threading.Event()
        by_key = {(self._profiles[t].stream_type(), self._profiles[t].stream_index()): t for t in kinds}

        def on_frame(frame: Any) -> None:  # librealsense thread: copy out, then block until consumed
            topic = by_key.get((frame.profile.stream_type(), frame.profile.stream_index()))
            if topic is None:
                return
            item = (topic, frame.get_timestamp() * 1e-3, np.asanyarray(frame.get_data()).copy())
            while not stop.is_set():
                try:
                    frames.put(item, timeout=_POLL_S)
                    return
                except queue.Full:
                    continue

        started = []
        try:
            for sensor in device.query_sensors():
                wanted = [p for p in sensor.get_stream_profiles() if (p.stream_type(), p.stream_index()) in by_key]
                if wanted:
                    sensor.open(wanted)
                    sensor.start(on_frame)
                    started.append(sensor)
            index = {topic: 0 for topic in kinds}
            quiet_since = None
            while True:
                try:
                    topic, stamp_s, pixels = frames.get(timeout=_POLL_S)
                except queue.Empty:
                    if playback.current_status() != rs.playback_status.stopped:
                        quiet_since = None
                    elif quiet_since is None:
                        quiet_since = time.monotonic()
                    elif time.monotonic() - quiet_since >= _END_GRACE_S:
                        break
                    continue
                quiet_since = None
                kind = kinds[topic]
                if kind == "color" and pixels.ndim == 3:
                    order = slice(2, None, -1) if self.encoding(topic) in ("bgr8", "bgra8") else slice(0, 3)
                    pixels = np.ascontiguousarray(pixels[:, :, order])
                yield kind, ImageRecord(topic, index[topic], stamp_s, functools.partial(np.asarray, pixels))
                index[topic] += 1
        except RuntimeError as error:
            raise BagError(self.path, f"playback failed: {error}", topic=color_topic) from error
        finally:
            stop.set()
            for sensor in started:
                try:
                    sensor.stop()
                    sensor.close()
                except RuntimeError:
                    pass
