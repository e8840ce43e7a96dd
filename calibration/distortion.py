"""Lens distortion on normalized image coordinates (x = X/Z, y = Y/Z), vectorized.

Models follow ROS CameraInfo / OpenCV:
- ``plumb_bob`` (k1, k2, p1, p2, k3) and ``rational_polynomial`` (k1, k2, p1, p2, k3, k4, k5, k6):
  OpenCV's pinhole model, identical to RealSense "Brown Conrady".
- ``equidistant`` (k1, k2, k3, k4): OpenCV's fisheye model, identical to RealSense "Kannala Brandt4".
- ``none``: no coefficients.
"""

from __future__ import annotations

import numpy as np

COEFFICIENT_COUNTS: dict[str, int] = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4, "none": 0}

# Newton iterations for the inverse; the residual tolerance is in normalized units
# (1e-10 is ~1e-7 px at f = 1000 px), points that do not reach it get NaN.
_MAX_ITERATIONS = 30
_TOLERANCE = 1e-10


def _pinhole_distort(xy: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    c = np.zeros(8)
    c[: coefficients.size] = coefficients
    k1, k2, p1, p2, k3, k4, k5, k6 = c
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=1)


def _theta_series(theta: np.ndarray, k: np.ndarray) -> np.ndarray:
    t2 = theta * theta
    return theta * (1 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3]))))


def _fisheye_distort(xy: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    r = np.hypot(xy[:, 0], xy[:, 1])
    theta_d = _theta_series(np.arctan(r), coefficients)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(r > 1e-12, theta_d / r, 1.0)  # the series has slope 1 at the centre
    return xy * scale[:, None]


def distort(xy: np.ndarray, model: str, coefficients: np.ndarray) -> np.ndarray:
    """Ideal normalized coordinates (N, 2) -> distorted normalized coordinates (N, 2)."""
    xy = np.asarray(xy, dtype=np.float64)
    if model == "none" or not np.any(coefficients):
        return xy.copy()
    if model in ("plumb_bob", "rational_polynomial"):
        return _pinhole_distort(xy, coefficients)
    if model == "equidistant":
        return _fisheye_distort(xy, coefficients)
    raise ValueError(f"unknown distortion model {model!r}")


def _undistort_fisheye(xy_d: np.ndarray, k: np.ndarray) -> np.ndarray:
    theta_d = np.hypot(xy_d[:, 0], xy_d[:, 1])
    theta = theta_d.copy()
    for _ in range(_MAX_ITERATIONS):
        t2 = theta * theta
        slope = 1 + t2 * (3 * k[0] + t2 * (5 * k[1] + t2 * (7 * k[2] + t2 * 9 * k[3])))
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = theta - (_theta_series(theta, k) - theta_d) / slope
    residual = np.abs(_theta_series(theta, k) - theta_d)
    ok = (residual < _TOLERANCE) & (theta >= 0) & (theta < np.pi / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(theta_d > 1e-12, np.tan(theta) / theta_d, 1.0)
    out = xy_d * scale[:, None]
    out[~ok] = np.nan
    return out


def _undistort_pinhole(xy_d: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    # Newton's method with a finite-difference Jacobian: robust for strong distortion
    # where OpenCV's fixed-point iteration (undistortPoints) stops short.
    xy = xy_d.copy()
    h = 1e-7
    for _ in range(_MAX_ITERATIONS):
        f = _pinhole_distort(xy, coefficients) - xy_d
        if np.all(np.abs(f) < _TOLERANCE * 1e-2):
            break
        fx = (_pinhole_distort(xy + [h, 0.0], coefficients) - xy_d - f) / h
        fy = (_pinhole_distort(xy + [0.0, h], coefficients) - xy_d - f) / h
        a, c = fx[:, 0], fx[:, 1]  # d(f_x, f_y)/dx
        b, d = fy[:, 0], fy[:, 1]  # d(f_x, f_y)/dy
        det = a * d - b * c
        with np.errstate(invalid="ignore", divide="ignore"):
            step_x = (d * f[:, 0] - b * f[:, 1]) / det
            step_y = (-c * f[:, 0] + a * f[:, 1]) / det
        xy = xy - np.stack([step_x, step_y], axis=1)
    residual = np.max(np.abs(_pinhole_distort(xy, coefficients) - xy_d), axis=1)
    xy[~(residual < _TOLERANCE)] = np.nan  # no undistorted ray (outside the model's valid region)
    return xy


def undistort(xy_d: np.ndarray, model: str, coefficients: np.ndarray) -> np.ndarray:
    """Distorted normalized coordinates (N, 2) -> ideal ones; NaN where there is no solution."""
    xy_d = np.asarray(xy_d, dtype=np.float64)
    if model == "none" or not np.any(coefficients):
        return xy_d.copy()
    finite = np.all(np.isfinite(xy_d), axis=1)
    out = np.full_like(xy_d, np.nan)
    if model in ("plumb_bob", "rational_polynomial"):
        out[finite] = _undistort_pinhole(xy_d[finite], coefficients)
    elif model == "equidistant":
        out[finite] = _undistort_fisheye(xy_d[finite], coefficients)
    else:
        raise ValueError(f"unknown distortion model {model!r}")
    return out
