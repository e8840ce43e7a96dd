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
_GEOMETRY_CACHE: OrderedDict[bytes, _Geometry] = OrderedDict()
_GEOMETRY_CACHE_SIZE = 4

# Slack (color pixels) around the bound on where depth pixels can land: footprint corners are
# rounded to pixel centres (at most one pixel) and the bound is computed in floating point.
_WINDOW_SLACK_PX = 2.0
# Smallest color-frame Z of a unit-depth ray (c + t_z w) for which we trust the bounds; anything
# closer to the color camera's plane takes the general path.
_MIN_DENOMINATOR = 1e-3


class _Reach:
    """Where depth pixels land for points at infinity (w = 1/Z = 0): each pixel's footprint box
    (min/max over its four corners) reduced per depth row and per depth column, and the range of
    u, v over all corners. A finite depth moves a corner by a bounded parallax (``_Geometry.window``),
    so whole rows and columns that cannot reach the color image are skipped."""

    def __init__(self, first: np.ndarray, second: np.ndarray, c: np.ndarray) -> None:
        u_inf, v_inf = first / c, second / c  # corner grid, pixels
        self.u_range = (float(u_inf.min()), float(u_inf.max()))
        self.v_range = (float(v_inf.min()), float(v_inf.max()))

        def box(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # per pixel, over its 4 corners
            quad = (values[:-1, :-1], values[:-1, 1:], values[1:, :-1], values[1:, 1:])
            return np.minimum.reduce(quad), np.maximum.reduce(quad)

        (u_lo, u_hi), (v_lo, v_hi) = box(u_inf), box(v_inf)
        # per depth row (axis 1 reduced) and per depth column (axis 0 reduced): lo_u, hi_u, lo_v, hi_v
        self.rows = (u_lo.min(axis=1), u_hi.max(axis=1), v_lo.min(axis=1), v_hi.max(axis=1))
        self.cols = (u_lo.min(axis=0), u_hi.max(axis=0), v_lo.min(axis=0), v_hi.max(axis=0))


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
        # NaN (a ray that failed to undistort) makes min_c NaN, and every bound below then says "no"
        self.min_c = float(min(self.corners[2].min(), self.centres[2].min()))
        self.reach = _Reach(*self.corners) if self.distortion == "none" and self.min_c > 0 else None

    def _coefficients(self, abc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b, c = abc[..., 0], abc[..., 1], abc[..., 2]
        if self.distortion != "none":
            return np.ascontiguousarray(a), np.ascontiguousarray(b), np.ascontiguousarray(c)
        k = self.K
        return k[0, 0] * a + k[0, 1] * b + k[0, 2] * c, k[1, 1] * b + k[1, 2] * c, np.ascontiguousarray(c)

    def min_denominator(self, w_max: float) -> float:
        """A lower bound on c + t_z w over every ray for 0 <= w <= w_max (NaN when unknown)."""
        return self.min_c + min(float(self.t[2]), 0.0) * w_max

    def window(self, w_max: float, out_w: int, out_h: int) -> tuple[int, int, int, int] | None:
        """Depth rows [r0, r1) and columns [c0, c1) outside which no point with 1/Z <= w_max can
        land in the color image; None when there is no such bound (use the whole image).

        Against a point at infinity a corner moves by u(w) - u(0) = w (B_u - u(0) t_z) / (c + t_z w),
        which lies between 0 and w_max (B_u - u(0) t_z) / min(c + t_z w): the numerator is linear
        in u(0), so its extremes over the image bound every corner."""
        den_lo = self.min_denominator(w_max)
        if self.reach is None or not den_lo > _MIN_DENOMINATOR:
            return None
        t_z, reach, slack = float(self.t[2]), self.reach, _WINDOW_SLACK_PX

        def parallax(b: float, at_infinity: tuple[float, float]) -> tuple[float, float]:
            numerators = [b - value * t_z for value in at_infinity]
            return min(0.0, w_max * min(numerators) / den_lo), max(0.0, w_max * max(numerators) / den_lo)

        (du_lo, du_hi), (dv_lo, dv_hi) = parallax(self.B_u, reach.u_range), parallax(self.B_v, reach.v_range)

        def span(lo_u: np.ndarray, hi_u: np.ndarray, lo_v: np.ndarray, hi_v: np.ndarray) -> tuple[int, int]:
            # each test alone is necessary for a pixel to land, so a row (column) failing one is out
            reaches = (
                (hi_u + du_hi >= -slack)
                & (lo_u + du_lo <= out_w - 1 + slack)
                & (hi_v + dv_hi >= -slack)
                & (lo_v + dv_lo <= out_h - 1 + slack)
            )
            inside = np.flatnonzero(reaches)
            return (int(inside[0]), int(inside[-1]) + 1) if inside.size else (0, 0)

        return (*span(*reach.rows), *span(*reach.cols))


def _geometry(depth_camera: CameraModel, color_camera: CameraModel, color_T_depth: SE3) -> _Geometry:
    key = b"|".join(
        [
            repr((c.width, c.height, c.distortion_model)).encode() + c.K.tobytes() + c.D.tobytes()
            for c in (depth_camera, color_camera)
        ]
        + [
            np.asarray(color_T_depth.rotation, dtype=np.float64).tobytes(),
            np.asarray(color_T_depth.translation, dtype=np.float64).tobytes(),
        ]
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


# Depth rows are processed in bands of about this many pixels: every temporary of a band stays in
# the CPU cache and is recycled by the allocator, where whole-image temporaries (a dozen live
# arrays of a few MB) cost a page fault per 4 KiB page on every frame.
_BAND_PIXELS = 16384


class _Band:
    """The depth points of a band of rows inside the window: depth, 1/Z and the products of 1/Z that
    all four corners share (computed once per band)."""

    def __init__(
        self, geometry: _Geometry, depth_m: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], check_front: bool
    ) -> None:
        """``depth_m``: the depth image with NaN wherever it is invalid."""
        (r0, r1), (c0, c1) = rows, cols
        self.geometry, self.rows, self.cols, self.check_front = geometry, rows, cols, check_front
        self.z = depth_m[r0:r1, c0:c1].astype(np.float64)
        self.inv_z = 1.0 / self.z  # NaN where invalid: every pixel below is NaN there and drops out
        t = geometry.t
        self.t_z_w = t[2] * self.inv_z
        if geometry.distortion == "none":
            self.offset_u, self.offset_v = geometry.B_u * self.inv_z, geometry.B_v * self.inv_z
        else:
            self.offset_u, self.offset_v = t[0] * self.inv_z, t[1] * self.inv_z

    def corner(self, i: int, j: int) -> tuple[np.ndarray, ...]:
        """Corner (i, j) coefficients of every pixel of the band (views of the cached grid)."""
        (r0, r1), (c0, c1) = self.rows, self.cols
        return tuple(grid[r0 + i : r1 + i, c0 + j : c1 + j] for grid in self.geometry.corners)

    def centre(self) -> tuple[np.ndarray, ...]:
        (r0, r1), (c0, c1) = self.rows, self.cols
        return tuple(grid[r0:r1, c0:c1] for grid in self.geometry.centres)

    def centre_z(self) -> np.ndarray:
        """Z of the points in the color frame."""
        centre_z = self.centre()[2] + self.t_z_w
        centre_z *= self.z
        return centre_z

    def pixels(self, coefficients: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Color pixels (u, v) of the points (NaN where Z <= 0 in the color frame)."""
        first, second, c = coefficients
        geometry = self.geometry
        denominator = c + self.t_z_w
        scale = np.divide(1.0, denominator, out=None if self.check_front else denominator)
        if self.check_front:
            scale[~(denominator > 0)] = np.nan  # behind the color camera
        u = first + self.offset_u
        u *= scale
        v = second + self.offset_v
        v *= scale
        if geometry.distortion == "none":
            return u, v
        shape = u.shape  # u, v are normalized coordinates here
        xy = distort(np.stack([u.ravel(), v.ravel()], axis=1), geometry.distortion, geometry.D)
        k = geometry.K
        u = k[0, 0] * xy[:, 0] + k[0, 1] * xy[:, 1] + k[0, 2]
        v = k[1, 1] * xy[:, 1] + k[1, 2]
        return u.reshape(shape), v.reshape(shape)


def _nearest_pixel(coordinate: np.ndarray) -> np.ndarray:
    coordinate += 0.5
    return np.floor(coordinate, out=coordinate)


def _footprints(band: _Band, librealsense_compatible: bool) -> tuple[np.ndarray, ...]:
    """Per depth pixel of the band: the color pixel box lo_u, lo_v, hi_u, hi_v (inclusive, float,
    NaN for no point), the color-frame Z and the Z to store."""
    centre_z = band.centre_z()
    if librealsense_compatible:
        u0, v0 = band.pixels(band.corner(0, 0))
        u1, v1 = band.pixels(band.corner(1, 1))
        return _nearest_pixel(u0), _nearest_pixel(v0), _nearest_pixel(u1), _nearest_pixel(v1), centre_z, band.z
    # the box around the four projected corners: running min / max, one corner at a time
    lo_u, lo_v = band.pixels(band.corner(0, 0))
    hi_u, hi_v = lo_u.copy(), lo_v.copy()
    for i, j in ((0, 1), (1, 0), (1, 1)):
        u, v = band.pixels(band.corner(i, j))
        np.minimum(lo_u, u, out=lo_u)
        np.maximum(hi_u, u, out=hi_u)
        np.minimum(lo_v, v, out=lo_v)
        np.maximum(hi_v, v, out=hi_v)
    for low, high in ((lo_u, hi_u), (lo_v, hi_v)):
        np.ceil(low, out=low)
        np.floor(high, out=high)
    # a box containing no pixel centre takes the pixel under the projected centre
    empty_u, empty_v = hi_u < lo_u, hi_v < lo_v
    if empty_u.any() or empty_v.any():
        nearest_u, nearest_v = (_nearest_pixel(c) for c in band.pixels(band.centre()))
        lo_u[empty_u] = hi_u[empty_u] = nearest_u[empty_u]
        lo_v[empty_v] = hi_v[empty_v] = nearest_v[empty_v]
    return lo_u, lo_v, hi_u, hi_v, centre_z, centre_z


def _scatter_nearest(
    aligned: np.ndarray,
    out_w: int,
    out_h: int,
    lo_u: np.ndarray,
    lo_v: np.ndarray,
    hi_u: np.ndarray,
    hi_v: np.ndarray,
    centre_z: np.ndarray,
    stored_z: np.ndarray,
) -> None:
    """Write stored_z over each footprint box into ``aligned`` (flat, +inf where empty), the
    smallest value winning; the order of calls does not matter."""
    # Clip the boxes to the image: a box entirely outside ends up empty (hi < lo) and goes, as
    # does any NaN (every comparison with it is False).
    lo_u, lo_v = np.maximum(lo_u, 0), np.maximum(lo_v, 0)
    hi_u, hi_v = np.minimum(hi_u, out_w - 1), np.minimum(hi_v, out_h - 1)
    keep = (hi_u >= lo_u) & (hi_v >= lo_v) & (centre_z > 0)
    kept = np.flatnonzero(keep)  # then gathers: far cheaper than 2-D boolean indexing
    lo_u, lo_v, hi_u, hi_v = (corner.ravel().take(kept) for corner in (lo_u, lo_v, hi_u, hi_v))
    last_u = np.minimum(hi_u - lo_u, _MAX_FOOTPRINT_PX - 1).astype(np.int64)  # last column offset
    last_v = np.minimum(hi_v - lo_v, _MAX_FOOTPRINT_PX - 1).astype(np.int64)
    values = stored_z.ravel().take(kept)
    # One pass per (column, row) offset inside the largest footprint, over every point: an offset
    # past a point's own footprint is clamped to its last pixel, which min leaves unchanged (cheaper
    # than shrinking the arrays; footprints are 1-3 pixels a side in practice).
    row_start = lo_v.astype(np.int64) * out_w + lo_u.astype(np.int64)
    for dy in range(int(last_v.max(initial=-1)) + 1):
        row = row_start + np.minimum(last_v, dy) * out_w if dy else row_start
        for dx in range(int(last_u.max(initial=-1)) + 1):
            np.minimum.at(aligned, row + np.minimum(last_u, dx) if dx else row, values)


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
    if depth_m.dtype.kind != "f":
        depth_m = depth_m.astype(np.float64)
    out_h, out_w = color_camera.height, color_camera.width
    aligned = np.full(out_h * out_w, np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = np.isfinite(depth_m) & (depth_m > 0)
        if valid.any():
            geometry = _geometry(depth_camera, color_camera, color_T_depth)
            depth_m = np.where(valid, depth_m, np.nan)
            # The nearest point bounds 1/Z over the frame (1/z rounds monotonically: exact bound).
            w_max = 1.0 / float(np.nanmin(depth_m))
            # Points behind the color camera need a mask only when the geometry cannot rule them out.
            check_front = not geometry.min_denominator(w_max) > _MIN_DENOMINATOR
            # Only depth rows and columns that can reach the color image are projected: a D435's
            # wider depth field of view leaves over half of its depth image outside the color image.
            r0, r1, c0, c1 = geometry.window(w_max, out_w, out_h) or (0, depth_m.shape[0], 0, depth_m.shape[1])
            band_rows = max(1, _BAND_PIXELS // max(c1 - c0, 1))
            for start in range(r0, r1, band_rows):
                band = _Band(geometry, depth_m, (start, min(start + band_rows, r1)), (c0, c1), check_front)
                _scatter_nearest(aligned, out_w, out_h, *_footprints(band, librealsense_compatible))
    aligned[np.isinf(aligned)] = np.nan
    return aligned.reshape(out_h, out_w).astype(np.float32)
