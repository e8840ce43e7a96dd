"""rosbag2 messages are decoded with one shared rosbags type store: field for field what was
written, for CameraInfo, Transform and Image (every CDR alignment case), with the store's
deserializers reused across bags; a bag that defines a type differently is decoded with its own
definition, a recorded type hash that contradicts the recorded definition is refused, and a damaged
record is a BagError naming file and topic."""

from __future__ import annotations

import numpy as np
import pytest

from calibration import CameraModel
from vla_r1_robot.bags import BagError
from vla_r1_robot.bags.extrinsics import se3_from_transform_msg
from vla_r1_robot.bags.rosbags_backend import RosbagsBag, ros2_typestore
from vla_r1_robot.bags.writer import RgbdBagWriter

CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TRANSFORM = "geometry_msgs/msg/Transform"
IMAGE = "sensor_msgs/msg/Image"
FRAME_IDS = ["", "c", "cam", "camera_color_optical_frame"]  # every alignment case of what follows
MODELS = [
    ("plumb_bob", [0.1, -0.2, 0.001, 0.002, 0.03]),
    ("none", []),
    ("rational_polynomial", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
    ("x", [1.0]),
]


def header(store, frame_id: str, sec: int = -3, nanosec: int = 999):
    t = store.types
    return t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id)


def camera_info(store, frame_id: str, model: str, d: list[float]):
    t = store.types
    roi = t["sensor_msgs/msg/RegionOfInterest"](x_offset=1, y_offset=2, height=3, width=4, do_rectify=True)
    return t[CAMERA_INFO](
        header=header(store, frame_id),
        height=480,
        width=640,
        distortion_model=model,
        d=np.array(d, dtype=np.float64),
        k=np.arange(9, dtype=np.float64) + 0.5,
        r=np.eye(3).ravel(),
        p=np.arange(12, dtype=np.float64) - 0.25,
        binning_x=2,
        binning_y=3,
        roi=roi,
    )


def transform(store):
    t = store.types
    return t[TRANSFORM](
        translation=t["geometry_msgs/msg/Vector3"](x=0.0143, y=-0.0006, z=1e-9),
        rotation=t["geometry_msgs/msg/Quaternion"](x=-0.0001, y=0.0065, z=0.0052, w=0.99996),
    )


def image(store, frame_id: str, encoding: str, pixels: np.ndarray):
    return store.types[IMAGE](
        header=header(store, frame_id, 12, 345),
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=pixels.strides[0],
        data=pixels.reshape(-1).view(np.uint8),
    )


IMAGES = {
    "rgb8": np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3),
    "16UC1": np.arange(35, dtype=np.uint16).reshape(5, 7),
    "32FC1": np.linspace(0.25, 3.0, 35, dtype=np.float32).reshape(5, 7),
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """(bag path, {topic: message written}) for one bag holding every case on its own topic."""
    store = ros2_typestore()
    path, messages = tmp_path_factory.mktemp("decode") / "bag", {}
    with RgbdBagWriter(path) as bag:
        for i, frame_id in enumerate(FRAME_IDS):
            for j, (model, d) in enumerate(MODELS):
                messages[f"/info_{i}_{j}"] = (CAMERA_INFO, camera_info(store, frame_id, model, d))
            for encoding, pixels in IMAGES.items():
                messages[f"/image_{i}_{encoding}"] = (IMAGE, image(store, frame_id, encoding, pixels))
        messages["/camera/tf/0"] = (TRANSFORM, transform(store))
        for topic, (msgtype, msg) in messages.items():
            bag.write(topic, msgtype, msg, 1.0)
    return path, {topic: msg for topic, (_, msg) in messages.items()}


@pytest.fixture(scope="module")
def opened(written):
    bag = RosbagsBag(written[0])
    yield bag, written[1]
    bag.close()


def same_header(a, b) -> bool:
    return (a.stamp.sec, a.stamp.nanosec, a.frame_id) == (b.stamp.sec, b.stamp.nanosec, b.frame_id)


@pytest.mark.parametrize("frame_id", range(len(FRAME_IDS)))
@pytest.mark.parametrize("model", range(len(MODELS)))
def test_camera_info_decodes_as_written(opened, frame_id, model):
    bag, messages = opened
    topic = f"/info_{frame_id}_{model}"
    decoded, original = bag.first_message(topic), messages[topic]
    assert type(decoded) is ros2_typestore().types[CAMERA_INFO]  # the shared store's class, not a per-open one
    assert same_header(decoded.header, original.header) and decoded.header.stamp.sec == -3
    assert (decoded.height, decoded.width, decoded.distortion_model) == (480, 640, MODELS[model][0])
    for name in ("d", "k", "r", "p"):
        assert getattr(decoded, name).dtype == np.float64
        assert np.array_equal(getattr(decoded, name), getattr(original, name)), name
    assert (decoded.binning_x, decoded.binning_y) == (2, 3)
    roi = decoded.roi
    assert (roi.x_offset, roi.y_offset, roi.height, roi.width, roi.do_rectify) == (1, 2, 3, 4, True)


def test_transform_decodes_as_written(opened):
    bag, messages = opened
    decoded, original = bag.first_message("/camera/tf/0"), messages["/camera/tf/0"]
    for part in ("translation", "rotation"):
        for axis in ("x", "y", "z", "w") if part == "rotation" else ("x", "y", "z"):
            assert getattr(getattr(decoded, part), axis) == getattr(getattr(original, part), axis)


@pytest.mark.parametrize("frame_id", range(len(FRAME_IDS)))
def test_images_decode_as_read_only_views_of_the_record(opened, frame_id):
    bag, messages = opened
    for encoding, pixels in IMAGES.items():
        topic = f"/image_{frame_id}_{encoding}"
        decoded = bag.first_message(topic)
        assert same_header(decoded.header, messages[topic].header)
        assert (decoded.height, decoded.width, decoded.encoding, decoded.step) == (5, 7, encoding, pixels.strides[0])
        assert decoded.data.tobytes() == pixels.tobytes()
        assert not decoded.data.flags.writeable  # a view into the bag's record, not a copy


def test_bags_share_the_store_and_its_generated_deserializers(written, tmp_path):
    store = ros2_typestore()
    first = RosbagsBag(written[0])
    try:
        first.first_message("/info_0_0")
    finally:
        first.close()
    generated = store.cache[CAMERA_INFO]
    second = RosbagsBag(written[0])
    try:
        assert type(second.first_message("/info_1_1")) is store.types[CAMERA_INFO]
    finally:
        second.close()
    assert store.cache[CAMERA_INFO] is generated  # not generated again for the second bag


def test_a_bag_defining_a_type_differently_is_decoded_with_its_own_definition(tmp_path):
    """The shared store is used only where the recorded type hash equals its own (the check rosbags'
    reader makes): a recorder whose Image carries an extra field still reads, with that field."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    definition = (
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\n"
        "uint32 step\nuint8[] data\nuint32 exposure_us\n"
    )
    custom = get_typestore(Stores.EMPTY)
    shared = ros2_typestore()
    custom.register({name: shared.fielddefs[name] for name in ("std_msgs/msg/Header", "builtin_interfaces/msg/Time")})
    custom.register(get_types_from_msg(definition, IMAGE))
    t = custom.types
    msg = t[IMAGE](
        header=t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=5, nanosec=6), frame_id="cam"),
        height=1,
        width=2,
        encoding="mono8",
        is_bigendian=0,
        step=2,
        data=np.array([7, 8], np.uint8),
        exposure_us=1500,
    )
    path = tmp_path / "custom"
    with Writer(path, version=9) as writer:
        connection = writer.add_connection("/image", IMAGE, typestore=custom)
        writer.write(connection, 1, custom.serialize_cdr(msg, IMAGE))
    bag = RosbagsBag(path)
    try:
        decoded = bag.first_message("/image")
    finally:
        bag.close()
    assert type(decoded) is not shared.types[IMAGE]
    assert decoded.exposure_us == 1500 and decoded.data.tolist() == [7, 8] and decoded.header.frame_id == "cam"


def test_a_recorded_type_hash_that_does_not_match_its_definition_is_refused(tmp_path):
    from rosbags.rosbag2 import Writer

    store = ros2_typestore()
    msgdef, _ = store.generate_msgdef(CAMERA_INFO, ros_version=2)
    path = tmp_path / "wrong_hash"
    with Writer(path, version=9) as writer:
        connection = writer.add_connection("/info", CAMERA_INFO, msgdef=msgdef, rihs01="RIHS01_" + "0" * 64)
        writer.write(connection, 1, store.serialize_cdr(camera_info(store, "cam", "none", []), CAMERA_INFO))
    with pytest.raises(BagError) as error:
        RosbagsBag(path)
    assert error.value.path == str(path) and "hash mismatch" in str(error.value) and CAMERA_INFO in str(error.value)


@pytest.mark.parametrize("damage", ["truncated", "trailing bytes"])
def test_a_damaged_record_is_a_bag_error_naming_file_and_topic(tmp_path, damage):
    store = ros2_typestore()
    raw = bytes(store.serialize_cdr(camera_info(store, "cam", "plumb_bob", [0.0] * 5), CAMERA_INFO))
    path = tmp_path / "damaged"
    with RgbdBagWriter(path) as bag:
        bag.write("/ok", CAMERA_INFO, camera_info(store, "cam", "plumb_bob", [0.0] * 5), 1.0)
        bag.write("/info", CAMERA_INFO, camera_info(store, "cam", "plumb_bob", [0.0] * 5), 1.0)
        connection = bag._connections["/info"]
        bag._writer.write(connection, 2_000_000_000, raw[:-9] if damage == "truncated" else raw + bytes(8))
    source = RosbagsBag(path)
    try:
        assert source.first_message("/ok").header.frame_id == "cam"
        assert [msg.header.frame_id for msg in source.all_messages("/ok")] == ["cam"]
        with pytest.raises(BagError) as error:
            list(source.all_messages("/info"))
    finally:
        source.close()
    assert error.value.path == str(path) and error.value.topic == "/info"
    assert CAMERA_INFO in str(error.value)


def test_big_endian_cdr_decodes_like_little_endian():
    store = ros2_typestore()
    msg = camera_info(store, "cam", "plumb_bob", [0.1, 0.2, 0.3, 0.4, 0.5])
    little = store.deserialize_cdr(store.serialize_cdr(msg, CAMERA_INFO), CAMERA_INFO)
    big = store.deserialize_cdr(store.serialize_cdr(msg, CAMERA_INFO, little_endian=False), CAMERA_INFO)
    assert np.array_equal(big.d, little.d) and np.array_equal(big.p, little.p) and big.header.frame_id == "cam"


def test_d435_camera_models_and_extrinsic_identical_to_the_readers_own_decoding(testdata):
    """The real recording's CameraInfo and Transform topics: the shared store builds exactly the
    camera models and transforms that rosbags' reader (a store built for this bag) builds."""
    bag = RosbagsBag(testdata / "realsense_d435" / "d435_mcap")
    try:
        reader = bag._reader
        seen = set()
        for connection, _, raw in reader.messages():
            if connection.msgtype not in (CAMERA_INFO, TRANSFORM):
                continue
            seen.add(connection.msgtype)
            slow = reader.deserialize(raw, connection.msgtype)
            fast = bag._deserialize(raw, connection.msgtype)
            assert type(fast) is ros2_typestore().types[connection.msgtype]
            if connection.msgtype == CAMERA_INFO:
                assert CameraModel.from_camera_info(fast) == CameraModel.from_camera_info(slow)
                assert np.array_equal(CameraModel.from_camera_info(fast).D, CameraModel.from_camera_info(slow).D)
            else:
                fast_se3, reference = se3_from_transform_msg(fast), se3_from_transform_msg(slow)
                assert np.array_equal(fast_se3.rotation, reference.rotation)
                assert np.array_equal(fast_se3.translation, reference.translation)
        assert seen == {CAMERA_INFO, TRANSFORM}
    finally:
        bag.close()
