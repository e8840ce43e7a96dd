"""The zero-copy CDR readers for CameraInfo and Transform agree with rosbags' deserializer, field
for field and in the camera model and extrinsic built from them, and step aside (None) for
anything they do not recognize."""
from __future__ import annotations

import numpy as np
import pytest

from calibration import CameraModel
from vla_r1_robot.bags.cdr import parse_camera_info_cdr, parse_transform_cdr
from vla_r1_robot.bags.extrinsics import se3_from_transform_msg
from vla_r1_robot.bags.rosbags_backend import RosbagsBag

CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TRANSFORM = "geometry_msgs/msg/Transform"


@pytest.fixture(scope="module")
def store():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def camera_info(store, frame_id: str, model: str, d: list[float]):
    t = store.types
    header = t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=-3, nanosec=999), frame_id=frame_id)
    roi = t["sensor_msgs/msg/RegionOfInterest"](x_offset=1, y_offset=2, height=3, width=4, do_rectify=True)
    return t[CAMERA_INFO](
        header=header, height=480, width=640, distortion_model=model, d=np.array(d, dtype=np.float64),
        k=np.arange(9, dtype=np.float64) + 0.5, r=np.eye(3).ravel(), p=np.arange(12, dtype=np.float64) - 0.25,
        binning_x=2, binning_y=3, roi=roi)


@pytest.mark.parametrize("frame_id", ["", "c", "cam", "camera_color_optical_frame"])  # every alignment case
@pytest.mark.parametrize("model, d", [("plumb_bob", [0.1, -0.2, 0.001, 0.002, 0.03]), ("none", []),
                                      ("rational_polynomial", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]), ("x", [1.0])])
def test_camera_info_parser_agrees_with_rosbags(store, frame_id, model, d):
    raw = store.serialize_cdr(camera_info(store, frame_id, model, d), CAMERA_INFO)
    fast, slow = parse_camera_info_cdr(raw), store.deserialize_cdr(raw, CAMERA_INFO)
    assert (fast.header.stamp.sec, fast.header.stamp.nanosec, fast.header.frame_id) == (-3, 999, frame_id)
    assert (fast.height, fast.width, fast.distortion_model) == (slow.height, slow.width, slow.distortion_model)
    for name in ("d", "k", "r", "p"):
        assert getattr(fast, name).dtype == np.float64
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert (fast.binning_x, fast.binning_y) == (2, 3)
    roi = slow.roi
    assert (fast.roi.x_offset, fast.roi.y_offset, fast.roi.height, fast.roi.width, fast.roi.do_rectify) == (
        roi.x_offset, roi.y_offset, roi.height, roi.width, roi.do_rectify)


def transform(store):
    t = store.types
    return t[TRANSFORM](translation=t["geometry_msgs/msg/Vector3"](x=0.0143, y=-0.0006, z=1e-9),
                        rotation=t["geometry_msgs/msg/Quaternion"](x=-0.0001, y=0.0065, z=0.0052, w=0.99996))


def test_transform_parser_agrees_with_rosbags(store):
    raw = store.serialize_cdr(transform(store), TRANSFORM)
    fast, slow = parse_transform_cdr(raw), store.deserialize_cdr(raw, TRANSFORM)
    for part in ("translation", "rotation"):
        for axis in ("x", "y", "z", "w") if part == "rotation" else ("x", "y", "z"):
            assert getattr(getattr(fast, part), axis) == getattr(getattr(slow, part), axis)


def test_unrecognized_records_fall_back(store):
    info = store.serialize_cdr(camera_info(store, "cam", "plumb_bob", [0.0] * 5), CAMERA_INFO)
    assert parse_camera_info_cdr(info[:-9]) is None  # truncated
    assert parse_camera_info_cdr(bytes(info) + bytes(8)) is None  # a longer (different) definition
    assert parse_camera_info_cdr(b"\x00\x00" + bytes(info[2:])) is None  # big-endian CDR
    raw = store.serialize_cdr(transform(store), TRANSFORM)
    assert parse_transform_cdr(raw) is not None
    assert parse_transform_cdr(raw[:-1]) is None
    assert parse_transform_cdr(bytes(raw) + bytes(8)) is None
    assert parse_transform_cdr(info) is None  # a CameraInfo is no Transform


def test_d435_camera_models_and_extrinsic_identical_through_rosbags(testdata):
    """The real recording's CameraInfo and Transform topics: the zero-copy views build exactly the
    camera models and transforms rosbags' messages build (the alignment is keyed on them)."""
    bag = RosbagsBag(testdata / "realsense_d435" / "d435_mcap")
    try:
        reader = bag._reader
        seen = set()
        for connection, _, raw in reader.messages():
            if connection.msgtype not in (CAMERA_INFO, TRANSFORM):
                continue
            seen.add(connection.msgtype)
            slow = reader.deserialize(raw, connection.msgtype)
            if connection.msgtype == CAMERA_INFO:
                fast = parse_camera_info_cdr(raw)
                assert CameraModel.from_camera_info(fast) == CameraModel.from_camera_info(slow)
                assert np.array_equal(CameraModel.from_camera_info(fast).D, CameraModel.from_camera_info(slow).D)
            else:
                fast, reference = se3_from_transform_msg(parse_transform_cdr(raw)), se3_from_transform_msg(slow)
                assert np.array_equal(fast.rotation, reference.rotation)
                assert np.array_equal(fast.translation, reference.translation)
        assert seen == {CAMERA_INFO, TRANSFORM}
    finally:
        bag.close()
