"""sensor_msgs/Image payloads to numpy arrays without per-pixel Python (views where possible).

Encodings follow sensor_msgs/image_encodings; ``mono16`` is what RealSense recordings use for Z16
depth. Rows may be padded (``step`` > width * bytes per pixel), so we slice rather than reshape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# encoding -> (numpy dtype, channels)
COLOR_ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
}
DEPTH_ENCODINGS: dict[str, tuple[str, int]] = {"16UC1": ("u2", 1), "mono16": ("u2", 1), "32FC1": ("f4", 1)}


def is_color_encoding(encoding: str) -> bool:
    return encoding in COLOR_ENCODINGS


def is_depth_encoding(encoding: str) -> bool:
    return encoding in DEPTH_ENCODINGS


def _pixels(data: Any, height: int, width: int, step: int, dtype: str, channels: int, big_endian: bool) -> np.ndarray:
    """(height, width, channels) view of an image buffer, honouring row padding and byte order."""
    item = np.dtype(dtype).newbyteorder(">" if big_endian else "<")
    row_bytes = width * channels * item.itemsize
    if step < row_bytes:
        raise ValueError(f"field step: {step} is smaller than one row of {width}x{channels} pixels ({row_bytes} bytes)")
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size < step * height:
        raise ValueError(
            f"field data: holds {buffer.size} bytes, {step * height} expected ({height} rows x step {step})"
        )
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    pixels = rows.view(item) if step == row_bytes else np.ascontiguousarray(rows).view(item)
    pixels = pixels.reshape(height, width, channels)
    return pixels.astype(item.newbyteorder("="), copy=False) if big_endian else pixels


def color_rgb_from_image(height: int, width: int, step: int, encoding: str, big_endian: bool, data: Any) -> np.ndarray:
    """HxWx3 uint8 RGB from an rgb8/bgr8/rgba8/bgra8 image (channel order fixed by a cheap slice)."""
    if encoding not in COLOR_ENCODINGS:
        raise ValueError(
            f"field encoding: unsupported color encoding {encoding!r} (supported: {', '.join(COLOR_ENCODINGS)})"
        )
    dtype, channels = COLOR_ENCODINGS[encoding]
    pixels = _pixels(data, height, width, step, dtype, channels, big_endian)
    if encoding.startswith("bgr"):
        pixels = pixels[:, :, 2::-1]
    elif channels == 4:
        pixels = pixels[:, :, :3]
    return np.ascontiguousarray(pixels)


def depth_raw_from_image(height: int, width: int, step: int, encoding: str, big_endian: bool, data: Any) -> np.ndarray:
    """HxW uint16 (millimetre-like units, scale applied later) or float32 metres, as stored."""
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(
            f"field encoding: unsupported depth encoding {encoding!r} (supported: {', '.join(DEPTH_ENCODINGS)})"
        )
    dtype, channels = DEPTH_ENCODINGS[encoding]
    return _pixels(data, height, width, step, dtype, channels, big_endian)[:, :, 0]


def color_rgb_from_msg(msg: Any) -> np.ndarray:
    return color_rgb_from_image(msg.height, msg.width, msg.step, msg.encoding, bool(msg.is_bigendian), msg.data)


def depth_raw_from_msg(msg: Any) -> np.ndarray:
    return depth_raw_from_image(msg.height, msg.width, msg.step, msg.encoding, bool(msg.is_bigendian), msg.data)
