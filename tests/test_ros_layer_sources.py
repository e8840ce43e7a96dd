"""The pyrealsense2 source on the recorded D435 bag; message reading (duck-typed); MoveIt segment joining."""

from types import SimpleNamespace

import numpy as np
import pytest

from vla_r1_robot.motion.planning import JointTrajectory
from vla_r1_robot.poses import se3_from_transform_msg
from vla_r1_ros.conversions import (
    depth_mm_image_msg,
    frame_from_messages,
    image_msg,
    joint_trajectory_from_msg,
    stamp_to_s,
)
from vla_r1_ros.moveit_bridge import join_segments

BAG = "realsense_d435/single_depth_color_640x480.bag"


def test_realsense_source_yields_aligned_frames_with_color_intrinsics(testdata):
    pytest.importorskip("pyrealsense2")
    from vla_r1_robot.bags.realsense_source import RealSenseSettings, RealSenseSource

    with RealSenseSource(RealSenseSettings(bag_path=str(testdata / BAG), timeout_s=1.0)) as source:
        frames = list(source.frames())
        assert source.depth_scale_m == pytest.approx(0.001)
    assert len(frames) >= 1
    frame = frames[0]
    assert frame.color_rgb.shape == (480, 640, 3) and frame.depth_m.shape == (480, 640)  # aligned to color
    assert frame.depth_m.dtype == np.float32 and 0.9 < np.isfinite(frame.depth_m).mean() <= 1.0
    assert 0.2 < np.nanmedian(frame.depth_m) < 5.0  # metres, not millimetres
    assert (frame.camera.fx, frame.camera.cx) == pytest.approx((613.204, 319.939), abs=1e-3)  # COLOR intrinsics
    assert frame.frame_id == "camera_color_optical_frame" and frame.stamp_s > 0


def test_realsense_settings_refuse_a_missing_recording(tmp_path):
    from vla_r1_robot.bags.realsense_source import RealSenseSettings

    with pytest.raises(ValueError, match="not found"):
        RealSenseSettings(bag_path=str(tmp_path / "none.bag"))


def _image(encoding, array, stamp=(5, 500_000_000), frame_id="cam"):
    return SimpleNamespace(
        header=SimpleNamespace(stamp=SimpleNamespace(sec=stamp[0], nanosec=stamp[1]), frame_id=frame_id),
        height=array.shape[0],
        width=array.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=array.strides[0],
        data=array.tobytes(),
    )


def test_frame_from_messages():
    color = np.zeros((4, 6, 3), np.uint8)
    color[..., 2] = 200  # blue in rgb8
    depth = np.full((4, 6), 750, np.uint16)
    depth[0, 0] = 0
    info = SimpleNamespace(
        width=6,
        height=4,
        k=[5.0, 0, 3, 0, 5.0, 2, 0, 0, 1],
        d=[0.0] * 5,
        distortion_model="plumb_bob",
        r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        p=[5.0, 0, 3, 0, 0, 5.0, 2, 0, 0, 0, 1, 0],
    )
    frame = frame_from_messages(_image("bgr8", color[..., ::-1].copy()), _image("16UC1", depth), info, 0.001, "")
    assert frame.color_rgb[0, 0].tolist() == [0, 0, 200] and frame.stamp_s == pytest.approx(5.5)
    assert np.isnan(frame.depth_m[0, 0]) and frame.depth_m[1, 1] == pytest.approx(0.75)
    assert frame.frame_id == "cam"
    assert (
        frame_from_messages(_image("rgb8", color), _image("16UC1", depth), info, 0.001, "override").frame_id
        == "override"
    )
    with pytest.raises(ValueError):  # depth not aligned to color
        frame_from_messages(_image("rgb8", color), _image("16UC1", depth[:2]), info)


def test_published_rgbd_messages_read_back_as_the_frame():
    pytest.importorskip("sensor_msgs", reason="the ROS 2 message packages are not installed")
    color = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    depth_m = np.full((4, 6), 0.7504)
    depth_m[0, 0], depth_m[0, 1], depth_m[0, 2] = np.nan, np.inf, 70.0  # no depth, no depth, beyond 16 bits of mm
    header = SimpleNamespace(stamp=SimpleNamespace(sec=1, nanosec=0), frame_id="cam")
    color_msg, depth_msg = image_msg(color, header), depth_mm_image_msg(depth_m, header)
    assert (depth_msg.encoding, depth_msg.step, color_msg.encoding) == ("16UC1", 12, "rgb8")
    raw_mm = np.frombuffer(bytes(depth_msg.data), np.uint16).reshape(4, 6)
    assert raw_mm[0, :3].tolist() == [0, 0, 65535] and raw_mm[1, 1] == 750  # millimetres, rounded
    info = SimpleNamespace(
        width=6,
        height=4,
        k=[5.0, 0, 3, 0, 5.0, 2, 0, 0, 1],
        d=[0.0] * 5,
        distortion_model="plumb_bob",
        r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        p=[5.0, 0, 3, 0, 0, 5.0, 2, 0, 0, 0, 1, 0],
    )
    frame = frame_from_messages(color_msg, depth_msg, info, 0.001, "cam")
    assert np.array_equal(frame.color_rgb, color)
    assert (
        np.isnan(frame.depth_m[0, 0]) and np.isnan(frame.depth_m[0, 1]) and frame.depth_m[1, 1] == pytest.approx(0.75)
    )


def test_transform_and_trajectory_reading():
    transform = SimpleNamespace(
        translation=SimpleNamespace(x=0.1, y=0.2, z=0.3), rotation=SimpleNamespace(x=1.0, y=0.0, z=0.0, w=0.0)
    )
    se3 = se3_from_transform_msg(transform)
    assert np.allclose(se3.translation, [0.1, 0.2, 0.3]) and np.allclose(se3.rotation, np.diag([1.0, -1.0, -1.0]))
    duration = lambda s: SimpleNamespace(sec=int(s), nanosec=round((s % 1) * 1e9))  # noqa: E731
    msg = SimpleNamespace(
        joint_names=["a", "b"],
        points=[
            SimpleNamespace(positions=[0.0, 0.0], velocities=[0.0, 0.0], time_from_start=duration(0.0)),
            SimpleNamespace(positions=[0.5, 1.0], velocities=[], time_from_start=duration(1.5)),
        ],
    )
    trajectory = joint_trajectory_from_msg(msg)
    assert trajectory.velocities is None and trajectory.duration_s == pytest.approx(1.5)
    assert stamp_to_s(duration(2.25)) == pytest.approx(2.25)


def test_join_segments_chains_moveit_segments():
    first = JointTrajectory(("a", "b"), [[0, 0], [1, 1], [2, 2]], [0.0, 0.5, 1.0], [[0, 0], [1, 1], [0, 0]])
    second = JointTrajectory(("a", "b"), [[2, 2], [3, 3]], [0.0, 2.0], [[0, 0], [0, 0]])
    joined = join_segments([first, second])
    assert joined.positions.tolist() == [[0, 0], [1, 1], [2, 2], [3, 3]]
    assert joined.time_from_start_s.tolist() == [0.0, 0.5, 1.0, 3.0]
    assert joined.waypoint_indices == (2, 3) and joined.velocities is not None
    with pytest.raises(ValueError):
        join_segments([first, JointTrajectory(("x", "y"), [[0, 0]], [0.0])])
