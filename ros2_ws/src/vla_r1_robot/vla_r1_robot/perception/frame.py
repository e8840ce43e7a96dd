"""The unit of work of the pipeline: one color image with depth aligned to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # calibration is ROS-free too; imported lazily to keep this module light
    from calibration import CameraModel


@dataclass(frozen=True)
class Frame:
    """color_rgb: HxWx3 uint8; depth_m: HxW float32 in metres ALIGNED TO COLOR, NaN where invalid
    (None when the source has no depth); camera: the COLOR camera model; stamp_s: seconds."""

    color_rgb: np.ndarray
    depth_m: np.ndarray | None
    camera: CameraModel
    stamp_s: float
    frame_id: str = "camera_color_optical_frame"

    def __post_init__(self) -> None:
        color = self.color_rgb
        if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
            raise ValueError(f"color_rgb must be HxWx3 uint8, got shape {color.shape} dtype {color.dtype}")
        height, width = color.shape[:2]
        if self.depth_m is not None:
            if self.depth_m.shape != (height, width):
                raise ValueError(
                    f"depth_m shape {self.depth_m.shape} does not match color {height}x{width}: "
                    "align depth to color first"
                )
            if self.depth_m.dtype != np.float32:
                raise ValueError(f"depth_m must be float32 metres, got {self.depth_m.dtype}")
        if (self.camera.width, self.camera.height) != (width, height):
            raise ValueError(
                f"camera model is {self.camera.width}x{self.camera.height} but the color image is {width}x{height}"
            )

    @property
    def width(self) -> int:
        return int(self.color_rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.color_rgb.shape[0])
