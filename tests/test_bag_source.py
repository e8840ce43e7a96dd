"""Bag frame source: decoding, pairing, topic detection, the real D435 recording in its three
formats, and clear errors for unusable bags. Synthetic bags are tiny and written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calibration import SE3, CameraModel
from vla_r1_robot.bags import BagError, BagSummary, TopicInfo, open_bag, raw_read_images, read_summary
from vla_r1_robot.bags.extrinsics import TfEdge, chain_transform
from vla_r1_robot.bags.images import color_rgb_from_image, depth_raw_from_image
from vla_r1_robot.bags.pairing import (
    FrameSelection,
    ImageRecord,
    NearestDepthPairer,
    PairingConfig,
    SelectionOutOfRange,
    select,
)
from vla_r1_robot.bags.topics import select_topics
from vla_r1_robot.bags.writer import RgbdBagWriter

D435 = "realsense_d435"
D435_FORMATS = ("d435_mcap", "d435_sqlite3", "single_depth_color_640x480.bag")
COLOR = "/camera/color/image_raw"
DEPTH = "/camera/aligned_depth_to_color/image_raw"
INFO = "/camera/color/camera_info"


def small_camera(width: int = 8, height: int = 6, f: float = 10.0) -> CameraModel:
    K = np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])
    return CameraModel(width, height, K, "plumb_bob", np.zeros(5))


def write_rgbd(
    path: Path,
    n: int = 5,
    period_s: float = 0.1,
    depth_offset_s: float = 0.01,
    t0: float = 100.0,
    storage: str = "mcap",
    header_stamps: bool = True,
    color_encoding: str = "rgb8",
) -> Path:
    """Color i is filled with value i, depth i with (1000 + i) mm."""
    camera = small_camera()
    with RgbdBagWriter(path, storage=storage) as bag:
        for i in range(n):
            t = t0 + i * period_s
            stamp = t if header_stamps else 0.0
            bag.write_camera_info(INFO, camera, 0.0, "cam", bag_time_s=t)
            color = np.full((6, 8, 3), i, np.uint8)
            color[..., 0] = 200  # a channel order marker: red stays in channel 0 after decoding
            if color_encoding == "bgr8":
                color = color[..., ::-1]
            bag.write_image(COLOR, color, stamp, "cam", encoding=color_encoding, bag_time_s=t)
            depth_t = t + depth_offset_s
            bag.write_image(
                DEPTH,
                np.full((6, 8), 1000 + i, np.uint16),
                depth_t if header_stamps else 0.0,
                "cam",
                bag_time_s=depth_t,
            )
    return path


# --- decoding -------------------------------------------------------------------------------------
def test_bgr8_with_row_padding_decodes_to_rgb():
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)  # BGR
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = pixels.reshape(2, 9)
    rgb = color_rgb_from_image(2, 3, 12, "bgr8", False, padded.tobytes())
    np.testing.assert_array_equal(rgb, pixels[:, :, ::-1])


def test_big_endian_16uc1_and_32fc1_depth():
    depth = np.array([[1, 258], [65535, 0]], dtype=">u2")
    out = depth_raw_from_image(2, 2, 4, "16UC1", True, depth.tobytes())
    assert out.dtype == np.uint16 and out.tolist() == [[1, 258], [65535, 0]]
    metres = np.array([[0.5, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(depth_raw_from_image(1, 2, 8, "32FC1", False, metres.tobytes()), metres)


def test_short_image_buffer_is_an_error():
    with pytest.raises(ValueError, match="bytes"):
        color_rgb_from_image(4, 4, 12, "rgb8", False, bytes(20))


# --- pairing and selection -------------------------------------------------------------------------
def record(topic: str, index: int, stamp_s: float) -> ImageRecord:
    return ImageRecord(topic, index, stamp_s, lambda: None)


def run_pairer(events, tolerance_s=0.02):
    pairer = NearestDepthPairer(PairingConfig(tolerance_s))
    pairs = []
    for kind, index, stamp in events:
        rec = record(kind, index, stamp)
        pairs += pairer.add_color(rec) if kind == "color" else pairer.add_depth(rec)
    return pairs + pairer.finish()


def test_pairer_waits_for_a_later_depth_and_takes_the_nearest():
    # depth 1 (t=1.004) arrives in the bag after color 0 (t=1.000) but is nearer than depth 0 (t=0.97)
    pairs = run_pairer(
        [("depth", 0, 0.970), ("color", 0, 1.000), ("depth", 1, 1.004), ("color", 1, 1.100), ("depth", 2, 1.2)]
    )
    assert [(p.color.index, p.depth.index if p.depth else None) for p in pairs] == [(0, 1), (1, None)]
    assert pairs[0].dt_s == pytest.approx(0.004)
    assert pairs[1].dt_s == pytest.approx(-0.096)  # nearest depth (1.004), outside tolerance: unpaired


def test_pairer_keeps_bounded_memory_on_a_depth_only_stretch():
    pairer = NearestDepthPairer(PairingConfig(0.02, max_lag_s=0.5))
    for i in range(2000):
        pairer.add_depth(record("depth", i, i * 0.033))
    assert len(pairer._depth) < 20


def test_selection_every_n_and_at_seconds():
    pairs = run_pairer([e for i in range(10) for e in (("color", i, 2.0 + 0.1 * i), ("depth", i, 2.0 + 0.1 * i))])
    assert [p.color.index for p in select(pairs, FrameSelection(every_n=4))] == [0, 4, 8]
    assert [p.color.index for p in select(pairs, FrameSelection(at_s=0.34))] == [3]
    assert [p.color.index for p in select(pairs, FrameSelection(at_s=0.36))] == [4]
    with pytest.raises(SelectionOutOfRange, match="past the last color frame"):
        list(select(pairs, FrameSelection(at_s=5.0), slack_s=0.1))
    with pytest.raises(ValueError):
        FrameSelection(every_n=0)


# --- topics and transforms -------------------------------------------------------------------------
def realsense2_camera_summary() -> BagSummary:
    image = "sensor_msgs/msg/Image"
    info = "sensor_msgs/msg/CameraInfo"
    return BagSummary(
        "/x/bag",
        "mcap",
        0.0,
        1.0,
        (
            TopicInfo("/camera/depth/image_rect_raw", image, 3, "16UC1", 848, 480, "camera_depth_optical_frame"),
            TopicInfo(
                "/camera/aligned_depth_to_color/image_raw", image, 3, "16UC1", 640, 480, "camera_color_optical_frame"
            ),
            TopicInfo("/camera/infra1/image_rect_raw", image, 3, "mono8", 848, 480, "camera_infra1_optical_frame"),
            TopicInfo("/camera/color/image_raw", image, 3, "rgb8", 640, 480, "camera_color_optical_frame"),
            TopicInfo("/camera/depth/camera_info", info, 3),
            TopicInfo("/camera/color/camera_info", info, 3),
            TopicInfo("/camera/aligned_depth_to_color/camera_info", info, 3),
        ),
    )


def test_topics_detected_by_encoding_preferring_aligned_depth_and_matching_info_namespace():
    selection = select_topics(realsense2_camera_summary())
    assert selection.color_topic == "/camera/color/image_raw"
    assert selection.depth_topic == "/camera/aligned_depth_to_color/image_raw"
    assert selection.color_info_topic == "/camera/color/camera_info"
    assert selection.depth_info_topic == "/camera/aligned_depth_to_color/camera_info"
    explicit = select_topics(realsense2_camera_summary(), depth_topic="/camera/depth/image_rect_raw")
    assert explicit.depth_info_topic == "/camera/depth/camera_info"


def test_wrong_explicit_topics_are_named():
    with pytest.raises(BagError, match=r"/x/bag: topic /camera/infra1/image_rect_raw: encoding 'mono8'"):
        select_topics(realsense2_camera_summary(), color_topic="/camera/infra1/image_rect_raw")
    with pytest.raises(BagError, match=r"topic /nope: not in the bag"):
        select_topics(realsense2_camera_summary(), depth_topic="/nope")


def test_ambiguous_color_topics_ask_for_a_choice():
    image = "sensor_msgs/msg/Image"
    summary = BagSummary(
        "/x/bag",
        "mcap",
        0.0,
        1.0,
        (
            TopicInfo("/left/color/image", image, 1, "rgb8", 4, 4),
            TopicInfo("/right/color/image", image, 1, "bgr8", 4, 4),
        ),
    )
    with pytest.raises(BagError, match=r"several color topics.*/left/color/image, /right/color/image"):
        select_topics(summary, require_depth=False)


def test_tf_chain_composes_through_a_shared_parent():
    base_T_a = SE3.from_rotvec([0, 0, np.pi / 2], [1.0, 0, 0])
    base_T_b = SE3.from_rotvec([0.3, 0, 0], [0, 2.0, 0.5])
    edges = [TfEdge("base", "a", base_T_a), TfEdge("base", "b", base_T_b)]
    a_T_b = chain_transform(edges, "a", "b")
    assert a_T_b.allclose(base_T_a.inverse() @ base_T_b, atol_m=1e-12, atol_rad=1e-12)
    assert chain_transform(edges, "a", "unknown") is None


# --- synthetic bags --------------------------------------------------------------------------------
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_synthetic_bag_pairs_every_frame_with_color_intrinsics(tmp_path, storage):
    bag = write_rgbd(tmp_path / "bag", storage=storage)
    with open_bag(bag) as source:
        frames = list(source)
        assert source.depth_aligned and source.stats.paired == 5
    assert [f.stamp_s for f in frames] == pytest.approx([100.0 + 0.1 * i for i in range(5)])
    assert [int(f.color_rgb[0, 0, 1]) for f in frames] == [0, 1, 2, 3, 4]
    assert [float(f.depth_m[0, 0]) for f in frames] == pytest.approx([1.0 + 0.001 * i for i in range(5)])
    assert frames[0].camera == small_camera() and frames[0].frame_id == "cam"


def test_single_mcap_file_and_bgr8_color(tmp_path):
    bag = write_rgbd(tmp_path / "bag", color_encoding="bgr8")
    (mcap_file,) = bag.glob("*.mcap")
    frame = next(iter(open_bag(mcap_file)))
    assert frame.color_rgb[0, 0].tolist() == [200, 0, 0]


def test_iteration_is_lazy(tmp_path):
    bag = write_rgbd(tmp_path / "bag", n=40)
    with open_bag(bag) as source:
        frames = source.frames()
        first = next(frames)
        assert first.stamp_s == pytest.approx(100.0)
        assert source.stats.color_messages <= 3  # the rest of the bag has not been read yet
        frames.close()


def test_every_n_and_at_seconds_on_a_bag(tmp_path):
    bag = write_rgbd(tmp_path / "bag", n=10)
    with open_bag(bag, every_n=3) as source:
        assert [round(f.stamp_s - 100, 3) for f in source] == [0.0, 0.3, 0.6, 0.9]
    with open_bag(bag, at_s=0.52) as source:
        assert [round(f.stamp_s - 100, 3) for f in source] == [0.5]
    with open_bag(bag, at_s=3.0) as source, pytest.raises(BagError, match="past the last color frame"):
        list(source)


def test_zero_header_stamps_fall_back_to_bag_time(tmp_path):
    bag = write_rgbd(tmp_path / "bag", header_stamps=False, depth_offset_s=0.005)
    frames = list(open_bag(bag))
    assert [f.stamp_s for f in frames] == pytest.approx([100.0 + 0.1 * i for i in range(5)])


def test_depth_in_another_frame_is_aligned_with_the_tf_static_extrinsic(tmp_path):
    """Depth camera 0.1 m in front of the color camera (along the optical axis): a wall 1 m from
    the depth camera is 1.1 m from the color camera. The inverse extrinsic would give 0.9 m."""
    camera = small_camera(16, 12, 12.0)
    path = tmp_path / "bag"
    with RgbdBagWriter(path) as bag:
        bag.write_static_transforms(
            [("base", "color_optical", SE3.identity()), ("base", "depth_optical", SE3(np.eye(3), [0.0, 0.0, 0.1]))], 1.0
        )
        bag.write_camera_info(INFO, camera, 1.0, "color_optical")
        bag.write_camera_info("/camera/depth/camera_info", camera, 1.0, "depth_optical")
        bag.write_image(COLOR, np.zeros((12, 16, 3), np.uint8), 1.0, "color_optical")
        bag.write_image("/camera/depth/image_rect_raw", np.full((12, 16), 1.0, np.float32), 1.0, "depth_optical")
    with open_bag(path) as source:
        assert not source.depth_aligned
        np.testing.assert_allclose(source.color_T_depth.translation, [0.0, 0.0, 0.1], atol=1e-12)
        frame = next(iter(source))
    assert np.nanmedian(frame.depth_m) == pytest.approx(1.1, abs=1e-5)


def test_tf_static_lookup(tmp_path):
    path = tmp_path / "bag"
    base_T_camera = SE3.from_rotvec([0.1, 0.2, 0.3], [0.4, 0.0, 0.7])
    write_rgbd(path)
    other = tmp_path / "bag2"
    with RgbdBagWriter(other) as bag:
        bag.write_static_transforms([("base_link", "cam", base_T_camera)], 99.0)
        bag.write_camera_info(INFO, small_camera(), 100.0, "cam")
        bag.write_image(COLOR, np.zeros((6, 8, 3), np.uint8), 100.0, "cam")
    with open_bag(other, require_depth=False) as source:
        assert source.static_transform("base_link", "cam").allclose(base_T_camera, atol_m=1e-9, atol_rad=1e-9)
        assert source.static_transform("base_link", "nowhere") is None
        assert next(iter(source)).depth_m is None


def test_raw_rosbags_reading_counts_image_messages(tmp_path):
    bag = write_rgbd(tmp_path / "bag", n=4)
    raw = raw_read_images(bag)
    assert raw.messages == 8 and raw.payload_bytes == 4 * (6 * 8 * 3 + 6 * 8 * 2)
    assert raw_read_images(bag, [COLOR]).messages == 4


# --- errors ----------------------------------------------------------------------------------------
def test_bag_without_image_topics(tmp_path):
    path = tmp_path / "noimages"
    with RgbdBagWriter(path) as bag:
        bag.write_camera_info(INFO, small_camera(), 1.0, "cam")
    with pytest.raises(BagError, match=rf"{path}: no sensor_msgs/msg/Image topic.*{INFO}"):
        open_bag(path)


def test_topics_that_never_pair(tmp_path):
    bag = write_rgbd(tmp_path / "bag", depth_offset_s=0.5, period_s=2.0, n=3)
    with (
        open_bag(bag, pair_tolerance_s=0.1) as source,
        pytest.raises(BagError, match=rf"{bag}: topic {COLOR} \+ {DEPTH}: color and depth never pair within 0.1 s"),
    ):
        list(source)


def test_missing_path():
    with pytest.raises(BagError, match="no such file"):
        open_bag("/nonexistent/bag.mcap")


@pytest.mark.parametrize(
    "name", ["d435_mcap/d435_mcap.mcap", "d435_sqlite3/d435_sqlite3.db3", "single_depth_color_640x480.bag"]
)
def test_truncated_copies_give_bag_errors(testdata, tmp_path, name):
    original = (testdata / D435 / name).read_bytes()
    damaged = tmp_path / Path(name).name
    damaged.write_bytes(original[: len(original) // 2])
    with pytest.raises(BagError, match=str(damaged)), open_bag(damaged) as source:
        list(source)


def test_corrupt_sqlite_copy_gives_a_bag_error(testdata, tmp_path):
    data = bytearray((testdata / D435 / "d435_sqlite3/d435_sqlite3.db3").read_bytes())
    data[1000:5000] = b"\xab" * 4000
    damaged = tmp_path / "corrupt.db3"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BagError, match=f"{damaged}: cannot open"):
        open_bag(damaged)


# --- the real D435 recording -----------------------------------------------------------------------
def have_pyrealsense2() -> bool:
    try:
        import pyrealsense2  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def d435_frames(testdata):
    out = {}
    for name in D435_FORMATS if have_pyrealsense2() else D435_FORMATS[:2]:
        with open_bag(testdata / D435 / name) as source:
            out[name] = (list(source), source.color_T_depth, source.depth_camera, source.stats)
    return out


def test_d435_gives_the_same_frame_in_all_three_formats(d435_frames):
    reference, ref_extrinsic, ref_depth_camera, _ = d435_frames["d435_mcap"]
    assert len(reference) == 1
    ref = reference[0]
    assert ref.stamp_s == pytest.approx(360.713523)
    assert ref.camera.fx == pytest.approx(613.20367, abs=1e-4) and ref.camera.cx == pytest.approx(319.93884, abs=1e-4)
    assert np.isfinite(ref.depth_m).mean() > 0.9 and 1.0 < np.nanmedian(ref.depth_m) < 2.5
    assert len(d435_frames) == 3 or not have_pyrealsense2()
    for name in list(d435_frames)[1:]:
        frames, extrinsic, depth_camera, stats = d435_frames[name]
        assert len(frames) == 1, name
        frame = frames[0]
        assert frame.stamp_s == pytest.approx(ref.stamp_s, abs=1e-6)
        assert np.array_equal(frame.color_rgb, ref.color_rgb), name
        assert frame.camera == ref.camera, name
        assert np.array_equal(np.isnan(frame.depth_m), np.isnan(ref.depth_m)), name
        np.testing.assert_allclose(frame.depth_m, ref.depth_m, atol=1e-5, equal_nan=True)
        assert extrinsic.allclose(ref_extrinsic, atol_m=1e-6, atol_rad=1e-6), name
        assert depth_camera == ref_depth_camera
        assert stats.max_abs_dt_s == pytest.approx(0.101566, abs=1e-6)  # depth frame 169, not 170


def test_d435_extrinsic_direction_matches_librealsense_align(testdata, d435_frames):
    """Our alignment of depth frame 170 with the bag's extrinsic equals librealsense's rs.align of
    the same frame on most pixels; with the inverse extrinsic it would not."""
    rs = pytest.importorskip("pyrealsense2")
    from calibration.align import align_depth_to_color
    from calibration.depth import decode_depth

    config = rs.config()
    config.enable_device_from_file(str(testdata / D435 / "single_depth_color_640x480.bag"), repeat_playback=False)
    pipeline = rs.pipeline()
    profile = pipeline.start(config)
    profile.get_device().as_playback().set_real_time(False)
    try:
        frameset = pipeline.wait_for_frames(5000)
        assert frameset.get_depth_frame().get_frame_number() == 170
        raw = np.asanyarray(frameset.get_depth_frame().get_data()).copy()
        reference = np.asanyarray(rs.align(rs.stream.color).process(frameset).get_depth_frame().get_data()) * 0.001
    finally:
        pipeline.stop()
    reference = np.where(reference > 0, reference, np.nan)
    frame, extrinsic, depth_camera = d435_frames["d435_mcap"][0][0], *d435_frames["d435_mcap"][1:3]
    ours = align_depth_to_color(decode_depth(raw), depth_camera, frame.camera, extrinsic, librealsense_compatible=True)
    both = np.isfinite(ours) & np.isfinite(reference)
    assert both.mean() > 0.9
    assert (np.abs(ours - reference)[both] < 0.005).mean() > 0.99  # the inverse extrinsic gives 0.07


def test_d435_summary_and_tolerance_quirk(testdata):
    summary = read_summary(testdata / D435 / "d435_mcap")
    assert summary.storage == "mcap" and summary.message_count == 7
    assert summary.duration_s == pytest.approx(0.167934699)
    assert summary.topic("/device_0/sensor_0/Depth_0/image/data").count == 2
    assert summary.topic("/device_0/sensor_0/Depth_0/image/data").encoding == "mono16"
    if have_pyrealsense2():
        realsense = read_summary(testdata / D435 / "single_depth_color_640x480.bag")
        assert realsense.storage == "realsense"
        assert realsense.topic("/device_0/sensor_1/Color_0/image/data").encoding == "rgb8"
    # the only depth frames are 102 ms and 268 ms from the color frame
    with (
        open_bag(testdata / D435 / "d435_sqlite3", pair_tolerance_s=0.05) as source,
        pytest.raises(BagError, match=r"never pair within 0\.05 s.*closest depth was 0\.102 s away"),
    ):
        list(source)


def count_passes(monkeypatch) -> list[int]:
    from rosbags.highlevel import AnyReader

    passes: list[int] = []
    original = AnyReader.messages
    monkeypatch.setattr(AnyReader, "messages", lambda self, *a, **k: passes.append(1) or original(self, *a, **k))
    return passes


def test_d435_setup_and_first_iteration_read_the_bag_once(testdata, monkeypatch):
    """Opening reads every first message the setup needs (images, CameraInfo, transforms) in one
    pass, and the first iteration goes on with it: each pass re-reads the bag's chunks, which costs
    as much as the whole setup. A second iteration reads afresh and gives the same frames."""
    passes = count_passes(monkeypatch)
    with open_bag(testdata / D435 / "d435_mcap") as source:
        assert len(passes) == 1
        first = list(source)
        assert len(passes) == 1 and len(first) == 1 and not source.depth_aligned
        again = list(source)
        assert len(passes) == 2
    assert np.array_equal(first[0].color_rgb, again[0].color_rgb)
    assert np.array_equal(first[0].depth_m, again[0].depth_m, equal_nan=True)


def test_an_unused_image_topic_gets_a_fresh_pass(tmp_path, monkeypatch):
    # the setup pass also read /camera/ir/image_raw: going on with it would read that topic too
    path = write_rgbd(tmp_path / "extra", n=4)
    with RgbdBagWriter(tmp_path / "extra_ir", storage="mcap") as bag:
        for i in range(4):
            t = 100.0 + i * 0.1
            bag.write_camera_info(INFO, small_camera(), 0.0, "cam", bag_time_s=t)
            bag.write_image(COLOR, np.full((6, 8, 3), i, np.uint8), t, "cam", bag_time_s=t)
            bag.write_image("/camera/ir/image_raw", np.full((6, 8, 3), 9, np.uint8), t, "cam", bag_time_s=t)
            bag.write_image(DEPTH, np.full((6, 8), 1000 + i, np.uint16), t + 0.01, "cam", bag_time_s=t + 0.01)
    passes = count_passes(monkeypatch)
    with open_bag(tmp_path / "extra_ir", color_topic=COLOR) as source:
        frames = list(source)
    assert len(passes) == 2
    assert [int(f.color_rgb[0, 0, 1]) for f in frames] == [0, 1, 2, 3]
    assert [float(f.depth_m[0, 0]) for f in frames] == pytest.approx([1.0, 1.001, 1.002, 1.003])
    with open_bag(path) as source:  # no unused image topic: one pass
        assert len(list(source)) == 4
    assert len(passes) == 3


def test_a_setup_pass_that_read_far_is_not_kept(tmp_path, monkeypatch):
    from vla_r1_robot.bags import rosbags_backend

    monkeypatch.setattr(rosbags_backend._PeekPass, "MAX_READ", 1)  # first messages "far apart"
    path = write_rgbd(tmp_path / "far", n=4)
    passes = count_passes(monkeypatch)
    with open_bag(path) as source:
        frames = list(source)
    assert len(passes) == 2
    assert [int(f.color_rgb[0, 0, 1]) for f in frames] == [0, 1, 2, 3]
