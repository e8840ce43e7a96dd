"""Depth decoding and robust sampling with holes."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.depth import DepthSample, NoValidDepthError, decode_depth, sample_depth_at_pixel, sample_depth_in_box


def test_decode_uint16_millimetres_with_zero_invalid():
    raw = np.array([[0, 1000], [1500, 65535]], dtype=np.uint16)
    depth_m = decode_depth(raw)
    assert depth_m.dtype == np.float32
    assert np.isnan(depth_m[0, 0])
    assert depth_m[0, 1] == pytest.approx(1.0) and depth_m[1, 0] == pytest.approx(1.5)
    assert decode_depth(raw, depth_scale_m=0.0001)[0, 1] == pytest.approx(0.1)


def test_decode_float_metres_with_non_finite_and_non_positive_invalid():
    raw = np.array([[np.nan, np.inf, -np.inf], [0.0, -1.0, 0.75]], dtype=np.float64)
    depth_m = decode_depth(raw)
    assert depth_m.dtype == np.float32
    assert np.isnan(depth_m).sum() == 5 and depth_m[1, 2] == np.float32(0.75)
    assert np.isnan(raw).sum() == 1  # input untouched


def test_decode_rejects_unknown_input():
    with pytest.raises(ValueError, match="unsupported depth dtype"):
        decode_depth(np.zeros((2, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="2-D"):
        decode_depth(np.zeros((2, 2, 1), dtype=np.uint16))
    with pytest.raises(ValueError, match="depth_scale_m"):
        decode_depth(np.zeros((2, 2), dtype=np.uint16), depth_scale_m=0.0)


def real_depth(testdata):
    cv2 = pytest.importorskip("cv2")
    raw = cv2.imread(str(testdata / "realsense_d435" / "depth_raw_frame170.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (480, 640)
    return decode_depth(raw)


def test_pixel_sample_uses_median_of_valid_and_reports_counts():
    depth = np.full((20, 20), np.nan, dtype=np.float32)
    depth[8:13, 8:13] = 1.0
    depth[10, 10] = np.nan  # hole exactly at the pixel
    depth[9, 9] = 5.0  # one outlier
    sample = sample_depth_at_pixel(depth, 10.2, 9.8, window=5)
    assert sample == DepthSample(1.0, 24, 25)
    assert sample.n_valid / sample.n_total == pytest.approx(0.96)
    # at the image corner the window is clipped
    depth[0:2, 0:2] = 2.0
    assert sample_depth_at_pixel(depth, 0, 0, window=5) == DepthSample(2.0, 4, 9)


def test_pixel_sample_errors():
    depth = np.full((10, 10), np.nan, dtype=np.float32)
    with pytest.raises(NoValidDepthError, match=r"5x5 window around pixel \(u=4, v=5\).*all 25 pixels"):
        sample_depth_at_pixel(depth, 4, 5)
    with pytest.raises(ValueError, match="outside"):
        sample_depth_at_pixel(depth, 10, 0)
    with pytest.raises(ValueError, match="odd"):
        sample_depth_at_pixel(depth, 1, 1, window=4)
    with pytest.raises(ValueError, match="float image"):
        sample_depth_at_pixel(np.zeros((10, 10), np.uint16), 1, 1)


def test_box_sample_uses_inner_region_and_percentile():
    depth = np.full((100, 100), 3.0, dtype=np.float32)  # background
    depth[20:80, 20:80] = 1.0  # object fills the box except its border
    depth[45:55, 45:55] = np.nan  # hole in the middle
    box = (10, 10, 90, 90)
    sample = sample_depth_in_box(depth, box, inner_fraction=0.5)
    # inner region: centre 50 +- 20 -> pixels 30..70 (41 x 41), minus the 10 x 10 hole
    assert sample == DepthSample(1.0, 41 * 41 - 100, 41 * 41)
    whole = sample_depth_in_box(depth, box, inner_fraction=1.0, percentile=90)
    assert whole.value_m == 3.0 and whole.n_total == 81 * 81
    assert sample_depth_in_box(depth, box, inner_fraction=1.0, percentile=5).value_m == 1.0


def test_box_sample_edge_cases():
    depth = np.ones((50, 50), dtype=np.float32)
    assert sample_depth_in_box(depth, (10.2, 10.2, 10.4, 10.4)).n_total == 1  # thinner than a pixel
    assert sample_depth_in_box(depth, (-20, -20, 10, 10), inner_fraction=1.0).n_total == 11 * 11  # clipped
    with pytest.raises(ValueError, match="outside"):
        sample_depth_in_box(depth, (60, 60, 80, 80))
    with pytest.raises(ValueError, match="x2 > x1"):
        sample_depth_in_box(depth, (10, 10, 5, 20))
    depth[:] = np.nan
    with pytest.raises(NoValidDepthError, match=r"inner region x 13\.\.17, y 13\.\.17"):
        sample_depth_in_box(depth, (10, 10, 20, 20))


def test_real_d435_depth_has_holes_and_robust_sampling_survives_them(testdata):
    depth = real_depth(testdata)
    invalid = np.isnan(depth)
    assert 0.001 < invalid.mean() < 0.5  # a real frame: mostly valid, with holes
    rows, cols = np.nonzero(invalid)
    # pick an invalid pixel that has valid neighbours in a 7x7 window
    for v, u in zip(rows, cols, strict=True):
        patch = depth[max(v - 3, 0) : v + 4, max(u - 3, 0) : u + 4]
        if 10 <= np.isfinite(patch).sum() < patch.size:
            break
    sample = sample_depth_at_pixel(depth, u, v, window=7)
    assert 0.1 < sample.value_m < 10.0 and sample.n_valid < sample.n_total
    assert sample.value_m == pytest.approx(float(np.nanmedian(patch)))


def test_box_percentile_is_that_of_the_valid_pixels_only():
    # Holes (NaN) are left out of the percentile, ties and one-pixel boxes included, in either depth dtype.
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for size in (1, 2, 3, 7, 24, 61):
            depth = rng.uniform(0.3, 2.5, (size, size)).astype(dtype)
            depth[rng.random((size, size)) < 0.2] = np.nan
            depth.flat[0] = 0.9  # at least one valid pixel
            depth[rng.random((size, size)) < 0.3] = depth.flat[0]  # ties
            valid = depth[np.isfinite(depth)]
            for percentile in (0.0, 5.0, 12.5, 33.3, 50.0, 66.7, 99.0, 100.0):
                sample = sample_depth_in_box(depth, (-0.5, -0.5, size - 0.5, size - 0.5), 1.0, percentile)
                assert sample.value_m == float(np.percentile(valid, percentile)), (dtype, size, percentile)
                assert sample.n_valid == valid.size
