"""Register a depth image into the color camera (what realsense-ros calls "aligned depth")."""
from __future__ import annotations

import numpy as np

from calibration.camera import CameraModel
from calibration.transforms import SE3

# A depth pixel covers at most this many color pixels per axis; larger footprints come from
# grazing surfaces or bad extrinsics and would smear one reading over a wide area.
_MAX_FOOTPRINT_PX = 8

_CORNERS = ((-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5))


def align_depth_to_color(
    depth_m: np.ndarray,
    depth_camera: CameraModel,
    color_camera: CameraModel,
    color_T_depth: SE3,
    *,
    librealsense_compatible: bool = False,
) -> np.ndarray:
    """Depth (metres, NaN invalid) on the depth grid -> float32 depth on the color grid.

    Each valid depth pixel is deprojected at its four corners, moved into the color frame and
    projected; it fills the color pixels whose centres lie inside the box around those
    projections (a box containing no centre takes the pixel under the projected centre), so a
    lower-resolution depth image leaves no holes and nothing is dilated. The value stored is
    the Z of the point in the COLOR frame, so the result deprojects correctly with the color
    intrinsics. Where several points land on one pixel the nearest wins; NaN where none lands.

    ``librealsense_compatible=True`` reproduces ``rs.align`` instead: two corners rounded to
    pixels (a one-pixel dilation to the right and down) and the depth-frame Z stored. Use it to
    compare with librealsense, not for geometry.
    """
    depth_m = np.asarray(depth_m)
    if depth_m.shape != (depth_camera.height, depth_camera.width):
        raise ValueError(f"depth image is {depth_m.shape}, depth camera is {depth_camera.height}x{depth_camera.width}")
    out_h, out_w = color_camera.height, color_camera.width
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth_m) & (depth_m > 0)
    rows, cols = np.nonzero(valid)
    z = depth_m[rows, cols].astype(np.float64)
    if z.size == 0:
        return np.full((out_h, out_w), np.nan, dtype=np.float32)

    def to_color(du: float, dv: float) -> np.ndarray:
        pixels = np.stack([cols + du, rows + dv], axis=1).astype(np.float64)
        return color_T_depth.apply(depth_camera.deproject(pixels, z))

    centre_color = to_color(0.0, 0.0)
    if librealsense_compatible:
        stored_z = z
        lo = np.floor(color_camera.project(to_color(-0.5, -0.5)) + 0.5)
        hi = np.floor(color_camera.project(to_color(0.5, 0.5)) + 0.5)
    else:
        stored_z = centre_color[:, 2]
        corners = np.stack([color_camera.project(to_color(du, dv)) for du, dv in _CORNERS])
        lo, hi = np.ceil(corners.min(axis=0)), np.floor(corners.max(axis=0))
        nearest = np.floor(color_camera.project(centre_color) + 0.5)
        empty = hi < lo
        lo[empty], hi[empty] = nearest[empty], nearest[empty]
    keep = np.all(np.isfinite(lo) & np.isfinite(hi) & (hi >= lo), axis=1) & (centre_color[:, 2] > 0)
    # Footprints entirely outside the image go; the rest are clipped to it.
    keep &= (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < out_w) & (lo[:, 1] < out_h)
    lo = np.maximum(lo[keep], 0).astype(np.int64)
    hi = np.minimum(hi[keep], [out_w - 1, out_h - 1]).astype(np.int64)
    stored_z = stored_z[keep]
    size = np.minimum(hi - lo + 1, _MAX_FOOTPRINT_PX)
    aligned = np.full(out_h * out_w, np.inf)
    for dy in range(int(size[:, 1].max(initial=0))):
        for dx in range(int(size[:, 0].max(initial=0))):
            take = (size[:, 0] > dx) & (size[:, 1] > dy)
            index = (lo[take, 1] + dy) * out_w + (lo[take, 0] + dx)
            np.minimum.at(aligned, index, stored_z[take])  # nearest point wins
    aligned[np.isinf(aligned)] = np.nan
    return aligned.reshape(out_h, out_w).astype(np.float32)
