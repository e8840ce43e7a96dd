"""Register a depth image into the color camera (what realsense-ros calls "aligned depth")."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from calibration.camera import CameraModel
from calibration.distortion import distort
from calibration.transforms import SE3

# A depth pixel covers at most this many color pixels per axis; larger footprints come from
# grazing surfaces or bad extrinsics and would smear one reading over a wide area.
_MAX_FOOTPRINT_PX = 8

# Per (depth camera, color camera, extrinsic): the depth rays (undistorted once) rotated into the
# color frame. A replay aligns every frame with the same geometry; a few entries cover several bags.
_GEOMETRY_CACHE: OrderedDict[bytes, "_Geometry"] = OrderedDict()
_GEOMETRY_CACHE_SIZE = 4


class _Geometry:
    """For a depth ray r (Z = 1) rotated into the color frame, R r = (a, b, c), a point at depth-frame
    Z = z lands at z (a, b, c) + t. With w = 1 / z its color pixel is

        u = (A_u + B_u w) / (c + t_z w),   v = (A_v + B_v w) / (c + t_z w)

    where A = K (a, b, c) and B = K t (scalars): one division per point instead of a full
    deprojection, transform and projection. With color distortion the normalized coordinates
    (a + t_x w) / (c + t_z w) go through the distortion model first.
    Arrays are on the pixel-corner grid ((H+1) x (W+1), corner (i, j) at pixel (j - 0.5, i - 0.5))
    and on the pixel-centre grid (H x W)."""

    def __init__(self, depth_camera: CameraModel, color_camera: CameraModel, color_T_depth: SE3) -> None:
        h, w = depth_camera.height, depth_camera.width
        rotation = np.asarray(color_T_depth.rotation, dtype=np.float64)
        self.t = np.asarray(color_T_depth.translation, dtype=np.float64)
        self.K = np.asarray(color_camera.K, dtype=np.float64)
        self.distortion = color_camera.distortion_model if np.any(color_camera.D) else "none"
        self.D = color_camera.D

        def rotated(us: np.ndarray, vs: np.ndarray) -> np.ndarray:
            v, u = np.meshgrid(vs, us, indexing="ij")
            if np.any(depth_camera.D):
                rays = depth_camera.pixels_to_rays(np.stack([u.ravel(), v.ravel()], axis=1))
                x, y = rays[:, 0].reshape(u.shape), rays[:, 1].reshape(u.shape)
            else:  # no distortion: the inverse intrinsics, elementwise (a (N, 2) @ (2, 2) is slow)
                k_inv = np.linalg.inv(depth_camera.K)
                x = k_inv[0, 0] * u + k_inv[0, 1] * v + k_inv[0, 2]
                y = k_inv[1, 1] * v + k_inv[1, 2]
            return np.stack([rotation[i, 0] * x + rotation[i, 1] * y + rotation[i, 2] for i in range(3)], axis=-1)

        self.corners = self._coefficients(rotated(np.arange(w + 1) - 0.5, np.arange(h + 1) - 0.5))
        self.centres = self._coefficients(rotated(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)))
        k, t = self.K, self.t
        self.B_u = float(k[0, 0] * t[0] + k[0, 1] * t[1] + k[0, 2] * t[2])
        self.B_v = float(k[1, 1] * t[1] + k[1, 2] * t[2])

    def _coefficients(self, abc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b, c = abc[..., 0], abc[..., 1], abc[..., 2]
        if self.distortion != "none":
            return np.ascontiguousarray(a), np.ascontiguousarray(b), np.ascontiguousarray(c)
        k = self.K
        return k[0, 0] * a + k[0, 1] * b + k[0, 2] * c, k[1, 1] * b + k[1, 2] * c, np.ascontiguousarray(c)

    def pixels(self, coefficients: tuple[np.ndarray, np.ndarray, np.ndarray], inv_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Color pixels (u, v) of depth points with 1/Z = inv_z (NaN where Z <= 0 in the color frame)."""
        first, second, c = coefficients
        t = self.t
        with np.errstate(invalid="ignore", divide="ignore"):
            denominator = c + t[2] * inv_z
            scale = 1.0 / denominator
            scale[~(denominator > 0)] = np.nan  # behind the color camera
            if self.distortion == "none":
                u = (first + self.B_u * inv_z) * scale
                v = (second + self.B_v * inv_z) * scale
                return u, v
            x = (first + t[0] * inv_z) * scale
            y = (second + t[1] * inv_z) * scale
        shape = x.shape
        xy = distort(np.stack([x.ravel(), y.ravel()], axis=1), self.distortion, self.D)
        k = self.K
        u = k[0, 0] * xy[:, 0] + k[0, 1] * xy[:, 1] + k[0, 2]
        v = k[1, 1] * xy[:, 1] + k[1, 2]
        return u.reshape(shape), v.reshape(shape)


def _geometry(depth_camera: CameraModel, color_camera: CameraModel, color_T_depth: SE3) -> _Geometry:
    key = b"|".join(
        [repr((c.width, c.height, c.distortion_model)).encode() + c.K.tobytes() + c.D.tobytes()
         for c in (depth_camera, color_camera)]
        + [np.asarray(color_T_depth.rotation, dtype=np.float64).tobytes(),
           np.asarray(color_T_depth.translation, dtype=np.float64).tobytes()]
    )
    geometry = _GEOMETRY_CACHE.get(key)
    if geometry is None:
        geometry = _Geometry(depth_camera, color_camera, color_T_depth)
        _GEOMETRY_CACHE[key] = geometry
        while len(_GEOMETRY_CACHE) > _GEOMETRY_CACHE_SIZE:
            _GEOMETRY_CACHE.popitem(last=False)
    else:
        _GEOMETRY_CACHE.move_to_end(key)
    return geometry


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
    if not valid.any():
        return np.full((out_h, out_w), np.nan, dtype=np.float32)
    geometry = _geometry(depth_camera, color_camera, color_T_depth)
    z = np.where(valid, depth_m, np.nan).astype(np.float64)
    inv_z = 1.0 / z  # NaN where invalid: every pixel below is NaN there and drops out
    (_, _, cc), (ga, gb, gc) = geometry.centres, geometry.corners

    def corner(i: int, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # corner (i, j) of every pixel
        h, w = depth_m.shape
        return ga[i : i + h, j : j + w], gb[i : i + h, j : j + w], gc[i : i + h, j : j + w]

    centre_z = z * (cc + geometry.t[2] * inv_z)  # Z in the color frame
    if librealsense_compatible:
        stored_z = z
        u0, v0 = geometry.pixels(corner(0, 0), inv_z)
        u1, v1 = geometry.pixels(corner(1, 1), inv_z)
        lo_u, lo_v = np.floor(u0 + 0.5), np.floor(v0 + 0.5)
        hi_u, hi_v = np.floor(u1 + 0.5), np.floor(v1 + 0.5)
    else:
        stored_z = centre_z
        us, vs = zip(*(geometry.pixels(corner(i, j), inv_z) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1))))
        lo_u = np.ceil(np.minimum(np.minimum(us[0], us[1]), np.minimum(us[2], us[3])))
        hi_u = np.floor(np.maximum(np.maximum(us[0], us[1]), np.maximum(us[2], us[3])))
        lo_v = np.ceil(np.minimum(np.minimum(vs[0], vs[1]), np.minimum(vs[2], vs[3])))
        hi_v = np.floor(np.maximum(np.maximum(vs[0], vs[1]), np.maximum(vs[2], vs[3])))
        # a box containing no pixel centre takes the pixel under the projected centre
        empty_u, empty_v = hi_u < lo_u, hi_v < lo_v
        if empty_u.any() or empty_v.any():
            cu, cv = geometry.pixels(geometry.centres, inv_z)
            nearest_u, nearest_v = np.floor(cu + 0.5), np.floor(cv + 0.5)
            lo_u[empty_u] = hi_u[empty_u] = nearest_u[empty_u]
            lo_v[empty_v] = hi_v[empty_v] = nearest_v[empty_v]
    with np.errstate(invalid="ignore"):
        keep = (hi_u >= lo_u) & (hi_v >= lo_v) & (centre_z > 0)  # False wherever anything is NaN
        # Footprints entirely outside the image go; the rest are clipped to it.
        keep &= (hi_u >= 0) & (hi_v >= 0) & (lo_u < out_w) & (lo_v < out_h)
    lo_u = np.maximum(lo_u[keep], 0).astype(np.int64)
    lo_v = np.maximum(lo_v[keep], 0).astype(np.int64)
    size_u = np.minimum(np.minimum(hi_u[keep], out_w - 1).astype(np.int64) - lo_u + 1, _MAX_FOOTPRINT_PX)
    size_v = np.minimum(np.minimum(hi_v[keep], out_h - 1).astype(np.int64) - lo_v + 1, _MAX_FOOTPRINT_PX)
    values = stored_z[keep]
    aligned = np.full(out_h * out_w, np.inf)
    # Scatter every footprint pixel, nearest point winning: one pass per (row, column) offset, each
    # on the points whose footprint is that large (most footprints are 1-2 pixels a side).
    row_start = lo_v * out_w + lo_u
    dy = 0
    while row_start.size:
        start, wide, z_row = row_start + dy * out_w, size_u, values
        dx = 0
        while start.size:
            np.minimum.at(aligned, start + dx, z_row)
            dx += 1
            more = wide > dx
            start, wide, z_row = start[more], wide[more], z_row[more]
        dy += 1
        more = size_v > dy
        row_start, size_u, size_v, values = row_start[more], size_u[more], size_v[more], values[more]
    aligned[np.isinf(aligned)] = np.nan
    return aligned.reshape(out_h, out_w).astype(np.float32)
