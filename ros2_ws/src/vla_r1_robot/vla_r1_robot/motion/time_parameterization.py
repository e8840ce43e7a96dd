"""Time parameterization of a piecewise-linear joint path: a synchronized trapezoid per segment.

Every segment between consecutive path points is traversed along the straight joint-space line
(so the dense Cartesian checks made on that line stay valid), starting and ending AT REST, with one
trapezoidal speed profile shared by all joints (each joint's velocity and acceleration stay within
its own limit; the slowest joint sets the pace). The output knots are the phase boundaries (start,
end of acceleration, start of deceleration, end) with their velocities: a controller that
interpolates positions and velocities with cubic Hermite splines (ROS joint_trajectory_controller
does) reproduces the trapezoid exactly, because each phase is a polynomial of degree <= 2.

The price of stopping at every point is time on dense paths; blending through waypoints (TOTG,
Ruckig) is left to MoveIt in the ROS layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimedPath:
    positions: np.ndarray  # (K, N)
    velocities: np.ndarray  # (K, N)
    time_from_start_s: np.ndarray  # (K,)
    path_point_indices: tuple[int, ...]  # row of each input path point in the output


def _segment_phases(max_speed: float, max_accel: float) -> tuple[float, float]:
    """Trapezoid over a path parameter s in [0, 1]: (acceleration time, cruise time)."""
    if max_speed * max_speed / max_accel >= 1.0:  # never reaches max_speed: a triangle
        return math.sqrt(1.0 / max_accel), 0.0
    accel_time = max_speed / max_accel
    return accel_time, (1.0 - max_speed * accel_time) / max_speed


def trapezoidal_profile(
    path_positions: np.ndarray,
    max_velocity: np.ndarray,
    max_acceleration: np.ndarray,
    min_segment_rad: float = 1e-9,
) -> TimedPath:
    """Time the joint path (P, N) with per-joint velocity (N,) and acceleration (N,) limits.

    Segments shorter than `min_segment_rad` on every joint are dropped (duplicate points).
    """
    path = np.asarray(path_positions, dtype=np.float64)
    vmax = np.asarray(max_velocity, dtype=np.float64)
    amax = np.asarray(max_acceleration, dtype=np.float64)
    if path.ndim != 2 or path.shape[0] < 1:
        raise ValueError(f"path_positions must be (P>=1, N), got shape {path.shape}")
    n = path.shape[1]
    for name, limit in (("max_velocity", vmax), ("max_acceleration", amax)):
        if limit.shape != (n,) or not (np.isfinite(limit).all() and (limit > 0).all()):
            raise ValueError(f"{name} must be ({n},) finite and > 0, got {limit}")
    if not np.isfinite(path).all():
        raise ValueError("path_positions has non-finite values")

    positions = [path[0]]
    velocities = [np.zeros(n)]
    times = [0.0]
    indices = [0]
    for k in range(1, path.shape[0]):
        delta = path[k] - path[k - 1]
        moving = np.abs(delta) > min_segment_rad
        if not moving.any():
            indices.append(len(positions) - 1)
            continue
        # Path parameter s in [0, 1]: q = q_a + s * delta, so joint i moves at s' * delta_i.
        # The tightest moving joint sets the path parameter's speed and acceleration limits.
        speed = float(np.min(vmax[moving] / np.abs(delta[moving])))
        accel = float(np.min(amax[moving] / np.abs(delta[moving])))
        accel_time, cruise_time = _segment_phases(speed, accel)
        peak = accel * accel_time  # <= speed
        s_accel = 0.5 * accel * accel_time**2
        start = times[-1]
        knots = [(accel_time, s_accel, peak)]
        if cruise_time > 0:
            knots.append((accel_time + cruise_time, 1.0 - s_accel, peak))
        knots.append((2 * accel_time + cruise_time, 1.0, 0.0))
        for t, s, s_dot in knots:
            times.append(start + t)
            positions.append(path[k - 1] + s * delta if s < 1.0 else path[k].copy())  # ends exactly on its point
            velocities.append(s_dot * delta)
        indices.append(len(positions) - 1)
    return TimedPath(np.array(positions), np.array(velocities), np.array(times), tuple(indices))
