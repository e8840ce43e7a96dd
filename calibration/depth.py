"""Depth images: decoding to metres and robust sampling at a pixel or over a box."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


class NoValidDepthError(ValueError):
    """No valid depth where it was asked for (the message says where and how large the window was)."""


def decode_depth(raw: np.ndarray, depth_scale_m: float = 0.001) -> np.ndarray:
    """Raw depth -> float32 metres, NaN where invalid.

    uint16 (RealSense / ROS ``16UC1``): value x ``depth_scale_m``, 0 = invalid.
    float (ROS ``32FC1``): already metres; non-finite or <= 0 = invalid (``depth_scale_m`` ignored).
    """
    raw = np.asarray(raw)
    if raw.ndim != 2:
        raise ValueError(f"depth must be a 2-D image, got shape {raw.shape}")
    if raw.dtype == np.uint16:
        if not (np.isfinite(depth_scale_m) and depth_scale_m > 0):
            raise ValueError(f"depth_scale_m must be > 0, got {depth_scale_m}")
        depth_m = raw.astype(np.float32) * np.float32(depth_scale_m)
        depth_m[raw == 0] = np.nan
        return depth_m
    if np.issubdtype(raw.dtype, np.floating):
        depth_m = raw.astype(np.float32, copy=True)
        with np.errstate(invalid="ignore"):
            depth_m[~(np.isfinite(depth_m) & (depth_m > 0))] = np.nan
        return depth_m
    raise ValueError(f"unsupported depth dtype {raw.dtype}: expected uint16 (scaled units) or float (metres)")


@dataclass(frozen=True)
class DepthSample:
    """A robust depth value and the evidence behind it."""

    value_m: float
    n_valid: int
    n_total: int

    def __post_init__(self) -> None:
        if not (np.isfinite(self.value_m) and self.value_m > 0):
            raise ValueError(f"value_m must be a positive finite depth, got {self.value_m}")
        if not (0 < self.n_valid <= self.n_total):
            raise ValueError(f"need 0 < n_valid <= n_total, got {self.n_valid} / {self.n_total}")


def _check_depth(depth_m: np.ndarray) -> np.ndarray:
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2 or not np.issubdtype(depth_m.dtype, np.floating):
        raise ValueError(
            f"depth_m must be a 2-D float image in metres (see decode_depth), got {depth_m.dtype} {depth_m.shape}"
        )
    return depth_m


def _valid(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return values[np.isfinite(values) & (values > 0)]


def sample_depth_at_pixel(depth_m: np.ndarray, u: float, v: float, window: int = 5) -> DepthSample:
    """Median of the valid depths in a ``window`` x ``window`` square centred on pixel (u, v)."""
    depth_m = _check_depth(depth_m)
    if isinstance(window, bool) or int(window) != window or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd integer, got {window}")
    height, width = depth_m.shape
    col, row = int(np.floor(u + 0.5)), int(np.floor(v + 0.5))  # nearest pixel centre
    if not (0 <= col < width and 0 <= row < height):
        raise ValueError(f"pixel (u={u}, v={v}) is outside the {width}x{height} depth image")
    half = window // 2
    patch = depth_m[max(0, row - half) : row + half + 1, max(0, col - half) : col + half + 1]
    valid = _valid(patch)
    if valid.size == 0:
        raise NoValidDepthError(
            f"no valid depth in the {window}x{window} window around pixel (u={u:g}, v={v:g}): "
            f"all {patch.size} pixels are invalid (0 or NaN); try a larger window or another pixel"
        )
    return DepthSample(float(np.median(valid)), int(valid.size), int(patch.size))


def sample_depth_in_box(
    depth_m: np.ndarray,
    box_pixels_xyxy: Any,
    inner_fraction: float = 0.5,
    percentile: float = 50.0,
) -> DepthSample:
    """A percentile of the valid depths in the central part of a box.

    The box (x1, y1, x2, y2) in pixels is shrunk about its centre to ``inner_fraction`` of its
    width and height (box edges usually hold background), clipped to the image; pixels whose
    centres fall inside count. A low percentile picks the nearest surface, 50 the median.
    """
    depth_m = _check_depth(depth_m)
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box_pixels_xyxy, dtype=np.float64).reshape(4))
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"box must have x2 > x1 and y2 > y1, got {(x1, y1, x2, y2)}")
    if not 0 < inner_fraction <= 1:
        raise ValueError(f"inner_fraction must be in (0, 1], got {inner_fraction}")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    height, width = depth_m.shape
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w, half_h = (x2 - x1) * inner_fraction / 2, (y2 - y1) * inner_fraction / 2
    col0, col1 = math.ceil(cx - half_w), math.floor(cx + half_w)
    row0, row1 = math.ceil(cy - half_h), math.floor(cy + half_h)
    if col1 < col0:  # thinner than a pixel: the pixel containing the centre
        col0 = col1 = math.floor(cx + 0.5)
    if row1 < row0:
        row0 = row1 = math.floor(cy + 0.5)
    col0, row0 = max(col0, 0), max(row0, 0)
    col1, row1 = min(col1, width - 1), min(row1, height - 1)
    if col1 < col0 or row1 < row0:
        raise ValueError(f"box {(x1, y1, x2, y2)} (inner {inner_fraction:g}) lies outside the {width}x{height} image")
    patch = depth_m[row0 : row1 + 1, col0 : col1 + 1]
    valid = _valid(patch)
    if valid.size == 0:
        where = f"inner region x {col0}..{col1}, y {row0}..{row1} of box {tuple(round(v, 1) for v in (x1, y1, x2, y2))}"
        raise NoValidDepthError(f"no valid depth in the {where}: all {patch.size} pixels are invalid (0 or NaN)")
    return DepthSample(float(np.percentile(valid, percentile)), int(valid.size), int(patch.size))
