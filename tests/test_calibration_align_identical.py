"""align_depth_to_color is optimized (a window of the depth image, row bands, shared products);
its output must stay bit-identical to the straightforward whole-image version kept here as the
reference, in both modes, on the real D435 frames and on geometries that take every path
(color distortion, depth distortion, points behind the color camera, empty footprints, the window)."""

from __future__ import annotations

import numpy as np
import pytest

import calibration.align as align
from calibration import SE3, CameraModel
from calibration.align import align_depth_to_color
from calibration.depth import decode_depth
from calibration.distortion import distort

D435 = "realsense_d435"


def reference_align(depth_m, depth_camera, color_camera, color_T_depth, *, librealsense_compatible=False):
    """The whole-image implementation the optimized one replaced (same arithmetic, no shortcuts)."""
    depth_m = np.asarray(depth_m)
    h, w = depth_m.shape
    out_h, out_w = color_camera.height, color_camera.width
    rotation = np.asarray(color_T_depth.rotation, dtype=np.float64)
    t = np.asarray(color_T_depth.translation, dtype=np.float64)
    k = np.asarray(color_camera.K, dtype=np.float64)
    distortion = color_camera.distortion_model if np.any(color_camera.D) else "none"

    def coefficients(us, vs):
        v, u = np.meshgrid(vs, us, indexing="ij")
        if np.any(depth_camera.D):
            rays = depth_camera.pixels_to_rays(np.stack([u.ravel(), v.ravel()], axis=1))
            x, y = rays[:, 0].reshape(u.shape), rays[:, 1].reshape(u.shape)
        else:
            k_inv = np.linalg.inv(depth_camera.K)
            x = k_inv[0, 0] * u + k_inv[0, 1] * v + k_inv[0, 2]
            y = k_inv[1, 1] * v + k_inv[1, 2]
        a, b, c = (rotation[i, 0] * x + rotation[i, 1] * y + rotation[i, 2] for i in range(3))
        if distortion != "none":
            return a, b, c
        return k[0, 0] * a + k[0, 1] * b + k[0, 2] * c, k[1, 1] * b + k[1, 2] * c, c

    corners = coefficients(np.arange(w + 1) - 0.5, np.arange(h + 1) - 0.5)
    centres = coefficients(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    b_u = float(k[0, 0] * t[0] + k[0, 1] * t[1] + k[0, 2] * t[2])
    b_v = float(k[1, 1] * t[1] + k[1, 2] * t[2])
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth_m) & (depth_m > 0)
    if not valid.any():
        return np.full((out_h, out_w), np.nan, dtype=np.float32)
    z = np.where(valid, depth_m, np.nan).astype(np.float64)
    inv_z = 1.0 / z

    def pixels(coefficient_grids):
        first, second, c = coefficient_grids
        with np.errstate(invalid="ignore", divide="ignore"):
            denominator = c + t[2] * inv_z
            scale = 1.0 / denominator
            scale[~(denominator > 0)] = np.nan
            if distortion == "none":
                return (first + b_u * inv_z) * scale, (second + b_v * inv_z) * scale
            x = (first + t[0] * inv_z) * scale
            y = (second + t[1] * inv_z) * scale
        xy = distort(np.stack([x.ravel(), y.ravel()], axis=1), distortion, color_camera.D)
        u = k[0, 0] * xy[:, 0] + k[0, 1] * xy[:, 1] + k[0, 2]
        v = k[1, 1] * xy[:, 1] + k[1, 2]
        return u.reshape(x.shape), v.reshape(x.shape)

    def corner(i, j):
        return tuple(grid[i : i + h, j : j + w] for grid in corners)

    centre_z = z * (centres[2] + t[2] * inv_z)
    if librealsense_compatible:
        stored_z = z
        u0, v0 = pixels(corner(0, 0))
        u1, v1 = pixels(corner(1, 1))
        lo_u, lo_v, hi_u, hi_v = np.floor(u0 + 0.5), np.floor(v0 + 0.5), np.floor(u1 + 0.5), np.floor(v1 + 0.5)
    else:
        stored_z = centre_z
        us, vs = zip(*(pixels(corner(i, j)) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1))), strict=True)
        lo_u = np.ceil(np.minimum(np.minimum(us[0], us[1]), np.minimum(us[2], us[3])))
        hi_u = np.floor(np.maximum(np.maximum(us[0], us[1]), np.maximum(us[2], us[3])))
        lo_v = np.ceil(np.minimum(np.minimum(vs[0], vs[1]), np.minimum(vs[2], vs[3])))
        hi_v = np.floor(np.maximum(np.maximum(vs[0], vs[1]), np.maximum(vs[2], vs[3])))
        empty_u, empty_v = hi_u < lo_u, hi_v < lo_v
        cu, cv = pixels(centres)
        lo_u[empty_u] = hi_u[empty_u] = np.floor(cu + 0.5)[empty_u]
        lo_v[empty_v] = hi_v[empty_v] = np.floor(cv + 0.5)[empty_v]
    with np.errstate(invalid="ignore"):
        keep = (hi_u >= lo_u) & (hi_v >= lo_v) & (centre_z > 0)
        keep &= (hi_u >= 0) & (hi_v >= 0) & (lo_u < out_w) & (lo_v < out_h)
    aligned = np.full((out_h, out_w), np.inf)
    for lu, lv, hu, hv, value in zip(lo_u[keep], lo_v[keep], hi_u[keep], hi_v[keep], stored_z[keep], strict=True):
        lu, lv = max(int(lu), 0), max(int(lv), 0)
        hu = min(int(min(hu, out_w - 1)), lu + 7)  # footprints at most 8 pixels a side
        hv = min(int(min(hv, out_h - 1)), lv + 7)
        np.minimum(aligned[lv : hv + 1, lu : hu + 1], value, out=aligned[lv : hv + 1, lu : hu + 1])
    aligned[np.isinf(aligned)] = np.nan
    return aligned.astype(np.float32)


def assert_identical(depth_m, depth_camera, color_camera, color_T_depth):
    for compatible in (False, True):
        ours = align_depth_to_color(
            depth_m, depth_camera, color_camera, color_T_depth, librealsense_compatible=compatible
        )
        reference = reference_align(
            depth_m, depth_camera, color_camera, color_T_depth, librealsense_compatible=compatible
        )
        assert ours.dtype == np.float32 and ours.shape == reference.shape
        differ = ~((ours == reference) | (np.isnan(ours) & np.isnan(reference)))
        assert not differ.any(), (
            f"librealsense_compatible={compatible}: {int(differ.sum())} pixels differ, "
            f"first at {np.argwhere(differ)[0]}"
        )
        assert np.isfinite(ours).sum() > 0


@pytest.fixture(scope="module")
def d435_depth_frames(testdata):
    """Both depth frames of the D435 MCAP recording, decoded, with the bag's cameras and extrinsic."""
    from vla_r1_robot.bags import open_bag

    with open_bag(testdata / D435 / "d435_mcap") as source:
        topics = source.topics
        depths = [
            decode_depth(record.decode(), source.depth_scale_m).copy()
            for kind, record in source._rosbags.images(topics.color_topic, topics.depth_topic)
            if kind == "depth"
        ]
        return depths, source.depth_camera, source.color_camera, source.color_T_depth


def test_d435_frames_are_bit_identical_in_both_modes(d435_depth_frames):
    depths, depth_camera, color_camera, color_T_depth = d435_depth_frames
    assert len(depths) == 2
    # the window really skips part of this depth image (its field of view is wider than color's)
    w_max = 1.0 / float(np.nanmin(depths[0]))
    r0, r1, c0, c1 = align._geometry(depth_camera, color_camera, color_T_depth).window(w_max, 640, 480)
    assert (r1 - r0) * (c1 - c0) < 0.6 * depths[0].size
    for depth_m in depths:
        assert_identical(depth_m, depth_camera, color_camera, color_T_depth)


def synthetic_depth(height: int, width: int, seed: int, near_m: float = 0.3, far_m: float = 4.0) -> np.ndarray:
    """A tilted plane with boxes and holes: steps, invalid pixels and a wide depth range."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    depth = near_m + (far_m - near_m) * (0.3 + 0.5 * cols / width + 0.2 * rows / height)
    for _ in range(6):
        r, c = rng.integers(0, height - 10), rng.integers(0, width - 10)
        depth[r : r + rng.integers(5, height // 3), c : c + rng.integers(5, width // 3)] = rng.uniform(near_m, far_m)
    depth[rng.random((height, width)) < 0.05] = np.nan
    depth[: height // 10, : width // 10] = 0.0  # a zero block: invalid too
    return depth.astype(np.float32)


def camera(width, height, f, model="none", D=()):
    K = np.array([[f, 0.0, (width - 1) / 2 + 3.2], [0.0, f * 1.001, (height - 1) / 2 - 2.1], [0.0, 0.0, 1.0]])
    return CameraModel(width, height, K, model, np.asarray(D, dtype=np.float64))


WIDE_DEPTH = camera(160, 120, 100.0)  # wider field of view than the color camera: the window applies
COLOR = camera(200, 150, 190.0)
COLOR_DISTORTED = camera(200, 150, 190.0, "plumb_bob", [0.08, -0.15, 0.001, -0.002, 0.03])
DEPTH_DISTORTED = camera(160, 120, 100.0, "plumb_bob", [-0.05, 0.02, 0.0, 0.001, 0.0])
SMALL_COLOR = camera(80, 60, 60.0)  # coarser than depth: footprints often contain no pixel centre


@pytest.mark.parametrize(
    "depth_camera, color_camera, color_T_depth",
    [
        (WIDE_DEPTH, COLOR, SE3.from_rotvec([0.002, 0.006, 0.005], [0.015, 0.0006, 0.0006])),  # D435-like
        (WIDE_DEPTH, COLOR, SE3.from_rotvec([0.0, -0.05, 0.02], [-0.06, 0.01, -0.004])),  # t_z < 0
        (WIDE_DEPTH, COLOR, SE3.from_rotvec([0.0, 0.0, 0.0], [0.0, 0.0, -0.5])),  # color ahead: near points behind it
        (
            WIDE_DEPTH,
            COLOR,
            SE3.from_rotvec([0.0, np.radians(60.0), 0.0], [0.1, 0.0, 0.05]),
        ),  # rays behind the color camera
        (WIDE_DEPTH, COLOR_DISTORTED, SE3.from_rotvec([0.01, 0.0, 0.0], [0.02, 0.0, 0.0])),
        (DEPTH_DISTORTED, COLOR, SE3.from_rotvec([0.0, 0.01, 0.0], [0.025, 0.0, 0.001])),
        (WIDE_DEPTH, SMALL_COLOR, SE3.from_rotvec([0.0, 0.0, 0.01], [0.03, 0.0, 0.0])),
        (COLOR, WIDE_DEPTH, SE3.from_rotvec([0.0, 0.0, 0.0], [0.2, 0.0, 0.0])),  # narrower depth, large baseline
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_geometries_are_bit_identical(depth_camera, color_camera, color_T_depth, seed):
    depth = synthetic_depth(depth_camera.height, depth_camera.width, seed)
    assert_identical(depth, depth_camera, color_camera, color_T_depth)


def test_window_bound_holds_for_very_near_points():
    # 5 cm from the camera the parallax is large: points far outside the color view at infinity land in it
    depth = np.full((120, 160), 0.05, dtype=np.float32)
    depth[:, 80:] = 3.0
    assert_identical(depth, WIDE_DEPTH, COLOR, SE3.from_rotvec([0.0, 0.0, 0.0], [0.05, 0.02, 0.001]))


def test_band_edges_do_not_matter(monkeypatch):
    depth = synthetic_depth(120, 160, 3)
    extrinsic = SE3.from_rotvec([0.0, 0.01, 0.0], [0.02, 0.0, 0.0])
    whole = align_depth_to_color(depth, WIDE_DEPTH, COLOR, extrinsic)
    monkeypatch.setattr(align, "_BAND_PIXELS", 7 * 160 + 3)  # odd-sized bands, and a short last one
    assert np.array_equal(align_depth_to_color(depth, WIDE_DEPTH, COLOR, extrinsic), whole, equal_nan=True)
