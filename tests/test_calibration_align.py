"""Depth-to-color alignment: synthetic geometry and the real D435 recording against rs.align."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calibration import SE3, CameraModel
from calibration.align import align_depth_to_color
from calibration.depth import decode_depth

DEPTH_CAMERA = CameraModel(320, 240, np.array([[200.0, 0, 159.5], [0, 200.0, 119.5], [0, 0, 1]]), "none", np.zeros(0))
COLOR_CAMERA = CameraModel(
    640,
    480,
    np.array([[600.0, 0, 320.0], [0, 600.0, 240.0], [0, 0, 1]]),
    "plumb_bob",
    np.array([0.05, -0.1, 0.0, 0.0, 0.02]),
)


def test_plane_aligns_to_true_color_frame_depth_without_holes():
    # A fronto-parallel wall at 2 m in the depth frame, color camera 5 cm to the side and yawed 2 degrees.
    color_T_depth = SE3.from_rotvec([0.0, np.radians(2.0), 0.0], [-0.05, 0.0, 0.0])
    depth = np.full((240, 320), 2.0, dtype=np.float32)
    aligned = align_depth_to_color(depth, DEPTH_CAMERA, COLOR_CAMERA, color_T_depth)
    assert aligned.dtype == np.float32 and aligned.shape == (480, 640)
    valid = np.isfinite(aligned)
    assert valid.mean() > 0.85
    # every color pixel that got a value: its ray hits the wall at exactly that color-frame Z
    rows, cols = np.nonzero(valid)
    pick = np.random.default_rng(0).choice(len(rows), 2000, replace=False)
    pixels = np.stack([cols[pick], rows[pick]], axis=1).astype(float)
    points_color = COLOR_CAMERA.deproject(pixels, aligned[rows[pick], cols[pick]])
    points_depth = color_T_depth.inverse().apply(points_color)
    assert np.max(np.abs(points_depth[:, 2] - 2.0)) < 0.003  # footprint quantization only
    # the interior is hole-free even though depth has 4x fewer pixels
    assert np.all(valid[100:380, 120:520])


def test_nearest_point_wins_and_nothing_lands_is_nan():
    identity = SE3.identity()
    camera = CameraModel(40, 30, np.array([[40.0, 0, 19.5], [0, 40.0, 14.5], [0, 0, 1]]), "none", np.zeros(0))
    depth = np.full((30, 40), np.nan, dtype=np.float32)
    depth[10:20, 10:20] = 1.0  # near square
    # Shift the camera sideways so a far wall behind the square projects onto the same pixels.
    shifted = SE3(np.eye(3), [0.25, 0.0, 0.0])
    depth[10:20, 22:32] = 3.0
    aligned = align_depth_to_color(depth, camera, camera, shifted)
    # the near square moves 10 px (0.25 m * 40 / 1 m), the far wall 3.3 px: they overlap at columns 20..23
    assert np.nanmin(aligned[12:18, 20:24]) == pytest.approx(1.0)
    assert np.all(aligned[12:18, 21:23] == np.float32(1.0))  # nearer wins where both land
    assert np.isnan(aligned[0, 0]) and np.isnan(aligned[25, 5])
    # identity alignment reproduces the input exactly
    same = align_depth_to_color(depth, camera, camera, identity)
    assert np.array_equal(np.isnan(same), np.isnan(depth)) and np.allclose(
        same[~np.isnan(same)], depth[~np.isnan(depth)]
    )


def test_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="depth camera is 240x320"):
        align_depth_to_color(np.zeros((10, 10), np.float32), DEPTH_CAMERA, COLOR_CAMERA, SE3.identity())
    empty = align_depth_to_color(np.zeros((240, 320), np.float32), DEPTH_CAMERA, COLOR_CAMERA, SE3.identity())
    assert np.all(np.isnan(empty))


def read_d435_with_rs_align(bag: Path):
    """The first depth+color frameset of the recording, and librealsense's own alignment of it."""
    rs = pytest.importorskip("pyrealsense2")
    config = rs.config()
    config.enable_device_from_file(str(bag), repeat_playback=False)
    pipeline = rs.pipeline()
    profile = pipeline.start(config)
    try:
        device = profile.get_device()
        device.as_playback().set_real_time(False)  # no camera, no clock: read as fast as possible
        depth_scale = device.first_depth_sensor().get_depth_scale()
        frames = pipeline.wait_for_frames(5000)
        raw = np.asanyarray(frames.get_depth_frame().get_data()).copy()
        reference = np.asanyarray(rs.align(rs.stream.color).process(frames).get_depth_frame().get_data()).copy()
        depth_profile = profile.get_stream(rs.stream.depth).as_video_stream_profile()
        color_profile = profile.get_stream(rs.stream.color).as_video_stream_profile()
        extrinsics = depth_profile.get_extrinsics_to(color_profile)
        depth_intrinsics, color_intrinsics = depth_profile.get_intrinsics(), color_profile.get_intrinsics()
    finally:
        pipeline.stop()
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(extrinsics.rotation).reshape(3, 3).T  # librealsense stores it column-major
    matrix[:3, 3] = extrinsics.translation
    color_T_depth = SE3.from_matrix(matrix, tolerance=1e-5)  # float32 storage
    return (
        raw,
        depth_scale,
        CameraModel.from_realsense(depth_intrinsics),
        CameraModel.from_realsense(color_intrinsics),
        color_T_depth,
        decode_depth(reference, depth_scale),
    )


@pytest.fixture(scope="module")
def d435(testdata):
    return read_d435_with_rs_align(testdata / "realsense_d435" / "single_depth_color_640x480.bag")


def test_d435_compatible_mode_reproduces_rs_align(d435, record_property):
    raw, depth_scale, depth_camera, color_camera, color_T_depth, reference_m = d435
    assert depth_camera.distortion_model == "plumb_bob"  # "Brown Conrady" in the recording
    assert np.linalg.norm(color_T_depth.translation) == pytest.approx(0.0143, abs=5e-4)  # D435 baseline
    depth_m = decode_depth(raw, depth_scale)
    ours = align_depth_to_color(depth_m, depth_camera, color_camera, color_T_depth, librealsense_compatible=True)
    reference_valid = np.isfinite(reference_m)
    assert reference_valid.mean() > 0.9
    assert np.array_equal(np.isfinite(ours), reference_valid)  # same pixels filled
    within_5mm = float(np.mean(np.abs(ours - reference_m)[reference_valid] <= 0.005))
    record_property("d435_compatible_within_5mm", within_5mm)
    print(f"\nD435 librealsense-compatible alignment vs rs.align: {within_5mm:.4%} of valid pixels within 5 mm")
    assert within_5mm > 0.999


def test_d435_default_alignment_against_rs_align_and_geometry(d435, record_property):
    raw, depth_scale, depth_camera, color_camera, color_T_depth, reference_m = d435
    depth_m = decode_depth(raw, depth_scale)
    ours = align_depth_to_color(depth_m, depth_camera, color_camera, color_T_depth)
    reference_valid = np.isfinite(reference_m)
    coverage = float(np.isfinite(ours)[reference_valid].mean())
    within_5mm = float(np.mean(np.abs(ours - reference_m)[reference_valid] <= 0.005))  # NaN counts as a miss
    record_property("d435_default_within_5mm", within_5mm)
    print(
        f"\nD435 default alignment vs rs.align: {within_5mm:.2%} of rs-valid pixels within 5 mm, "
        f"{coverage:.2%} of them filled"
    )
    # rs.align keeps the depth-frame Z and min-filters over its dilated footprints; ours keeps
    # the color-frame Z of the pixel's own point: most pixels still agree to 5 mm.
    assert coverage > 0.97 and within_5mm > 0.5
    # Geometry check independent of librealsense: each aligned color pixel's 3D point, moved
    # back into the depth frame, lands on a depth pixel whose own reading matches it.
    rows, cols = np.nonzero(np.isfinite(ours))
    points_color = color_camera.deproject(np.stack([cols, rows], axis=1).astype(float), ours[rows, cols])
    points_depth = color_T_depth.inverse().apply(points_color)
    pixels_depth = np.floor(depth_camera.project(points_depth) + 0.5).astype(int)
    inside = (
        (pixels_depth[:, 0] >= 0) & (pixels_depth[:, 0] < 640) & (pixels_depth[:, 1] >= 0) & (pixels_depth[:, 1] < 480)
    )
    measured = depth_m[pixels_depth[inside, 1], pixels_depth[inside, 0]]
    share = float(np.mean(np.abs(points_depth[inside, 2] - measured) <= 0.005))
    print(f"D435 default alignment, back-projected into the depth image: {share:.2%} within 5 mm of the raw reading")
    assert inside.mean() > 0.999 and share > 0.98


def test_cached_geometry_is_per_camera_pair_and_results_do_not_leak_between_them():
    # Two extrinsics and two depth images through the same cache: each call equals a cold one.
    import calibration.align as align

    near = SE3.from_rotvec([0.0, np.radians(2.0), 0.0], [-0.05, 0.0, 0.0])
    far = SE3.from_rotvec([0.0, np.radians(-3.0), 0.0], [0.05, 0.01, 0.0])
    depth = np.full((240, 320), 2.0, dtype=np.float32)
    depth[60:120, 100:200] = 1.2
    results = []
    for extrinsic in (near, far, near):
        results.append(align_depth_to_color(depth, DEPTH_CAMERA, COLOR_CAMERA, extrinsic))
    align._GEOMETRY_CACHE.clear()
    cold_far = align_depth_to_color(depth, DEPTH_CAMERA, COLOR_CAMERA, far)
    assert np.array_equal(results[0], results[2], equal_nan=True)
    assert np.array_equal(results[1], cold_far, equal_nan=True)
    assert not np.array_equal(results[0], results[1], equal_nan=True)
