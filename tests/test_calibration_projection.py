"""project / deproject against OpenCV and pyrealsense2 on the same intrinsics."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calibration import CameraModel

K = np.array([[613.2, 0.0, 319.9], [0.0, 613.4, 239.2], [0.0, 0.0, 1.0]])
CAMERAS = {
    "plumb_bob": CameraModel(640, 480, K, "plumb_bob", np.array([0.12, -0.25, 0.0012, -0.0008, 0.09])),
    "rational_polynomial": CameraModel(
        640, 480, K, "rational_polynomial", np.array([0.4, -0.1, 0.001, -0.002, 0.02, 0.45, -0.05, 0.01])
    ),
    "equidistant": CameraModel(640, 480, K, "equidistant", np.array([0.05, -0.02, 0.004, -0.001])),
    "none": CameraModel(640, 480, K, "none", np.zeros(0)),
}


def scene_points(n: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.3, 3.0, n)
    xy = rng.uniform(-0.45, 0.45, (n, 2)) * z[:, None]  # within the field of view
    return np.column_stack([xy, z])


def image_pixels(n: int = 500, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform([0, 0], [639, 479], (n, 2))


@pytest.mark.parametrize("model", list(CAMERAS))
def test_project_matches_opencv(model):
    camera, points = CAMERAS[model], scene_points()
    if model == "equidistant":
        expected = cv2.fisheye.projectPoints(points[:, None, :], np.zeros(3), np.zeros(3), camera.K, camera.D)[0]
    else:
        expected = cv2.projectPoints(points, np.zeros(3), np.zeros(3), camera.K, camera.D if camera.D.size else None)[0]
    assert np.max(np.abs(camera.project(points) - expected.reshape(-1, 2))) < 1e-6


@pytest.mark.parametrize("model", list(CAMERAS))
def test_deproject_inverts_project_and_matches_opencv(model):
    camera, pixels = CAMERAS[model], image_pixels()
    depth = np.random.default_rng(2).uniform(0.2, 4.0, len(pixels))
    points = camera.deproject(pixels, depth)
    assert np.allclose(points[:, 2], depth)
    assert np.max(np.abs(camera.project(points) - pixels)) < 1e-6  # round trip to a micro-pixel
    if model == "equidistant":
        normalized = cv2.fisheye.undistortPoints(
            pixels[:, None, :],
            camera.K,
            camera.D,
            criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14),
        )
    elif model == "none":
        normalized = cv2.undistortPoints(pixels[:, None, :], camera.K, None)
    else:
        normalized = cv2.undistortPointsIter(
            pixels[:, None, :],
            camera.K,
            camera.D,
            None,
            None,
            (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-14),
        )
    # compare in pixels at unit depth
    assert np.max(np.abs(points[:, :2] / depth[:, None] - normalized.reshape(-1, 2))) * camera.fx < 1e-4


def test_deproject_strong_real_distortion(testdata):
    # The real ROS file has k1 = -1.04, k2 = 1.59: OpenCV's default 5 fixed-point iterations
    # are off by pixels at the corners; Newton gets the exact inverse.
    camera = CameraModel.from_yaml(testdata / "camera_info" / "test_calibration.yaml")
    corners = np.array([[0.0, 0.0], [639.0, 0.0], [0.0, 479.0], [639.0, 479.0], [320.0, 240.0]])
    points = camera.deproject(corners, np.full(5, 1.5))
    assert np.max(np.abs(camera.project(points) - corners)) < 1e-6


def test_nan_depth_and_points_behind_the_camera():
    camera = CAMERAS["plumb_bob"]
    points = camera.deproject(np.array([[100.0, 100.0], [200.0, 200.0]]), np.array([np.nan, 1.0]))
    assert np.all(np.isnan(points[0])) and np.all(np.isfinite(points[1]))
    pixels = camera.project(np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    assert np.all(np.isnan(pixels[:2])) and np.allclose(pixels[2], [camera.cx, camera.cy])


@pytest.mark.parametrize("model", ["plumb_bob", "equidistant"])
def test_deproject_image_matches_per_pixel_deproject(model):
    camera = CAMERAS[model]
    depth = np.random.default_rng(3).uniform(0.5, 2.0, (480, 640)).astype(np.float32)
    depth[10, 20] = np.nan
    cloud = camera.deproject_image(depth)
    assert cloud.shape == (480, 640, 3) and np.all(np.isnan(cloud[10, 20]))
    for v, u in [(0, 0), (479, 639), (240, 320), (100, 600)]:
        expected = camera.deproject(np.array([[u, v]], float), np.array([depth[v, u]]))[0]
        assert np.allclose(cloud[v, u], expected, atol=1e-12)


REALSENSE = {
    # (model, pyrealsense2 distortion, coefficients as RealSense stores them)
    "plumb_bob": ("brown_conrady", [0.12, -0.25, 0.0012, -0.0008, 0.09]),
    "equidistant": ("kannala_brandt4", [0.05, -0.02, 0.004, -0.001, 0.0]),
}


@pytest.mark.parametrize("model", list(REALSENSE))
def test_matches_pyrealsense2(model):
    rs = pytest.importorskip("pyrealsense2")
    name, coefficients = REALSENSE[model]
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = 640, 480
    intrinsics.fx, intrinsics.fy, intrinsics.ppx, intrinsics.ppy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    intrinsics.model = getattr(rs.distortion, name)
    intrinsics.coeffs = coefficients
    camera = CameraModel.from_realsense(intrinsics)
    assert camera.distortion_model == model
    points = scene_points(200)
    expected_pixels = np.array([rs.rs2_project_point_to_pixel(intrinsics, p.tolist()) for p in points])
    # librealsense computes in float32: agreement to a few thousandths of a pixel
    assert np.max(np.abs(camera.project(points) - expected_pixels)) < 1e-3
    pixels, depth = image_pixels(200), np.random.default_rng(4).uniform(0.3, 3.0, 200)
    expected_points = np.array(
        [
            rs.rs2_deproject_pixel_to_point(intrinsics, px.tolist(), float(d))
            for px, d in zip(pixels, depth, strict=True)
        ]
    )
    # librealsense iterates a fixed number of steps in float32: compare in pixels
    ours = camera.deproject(pixels, depth)
    error_px = np.max(np.abs(ours[:, :2] / depth[:, None] - expected_points[:, :2] / depth[:, None])) * camera.fx
    assert error_px < 1e-3
    assert np.allclose(ours[:, 2], expected_points[:, 2], atol=1e-6)
