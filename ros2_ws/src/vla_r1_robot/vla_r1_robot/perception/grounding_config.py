"""GroundingConfig: how 2D actions become 3D targets (validated on construction, loadable from dicts).

Frames and conventions used by grounding (see docs/grounding.md):
- the GRASP frame is the tool point: z = approach direction (pointing INTO the surface), y = the
  axis the fingers close along, x = y x z. Top-down with yaw 0 is ``diag(1, -1, -1)`` in the base.
- ``tip_T_grasp`` places that grasp frame in the planner's tip link, so the pose handed to the
  planner is ``base_T_tip = base_T_grasp @ inv(tip_T_grasp)``. For a Panda planned at
  ``panda_hand`` the fingertip centre is 0.1034 m along hand z (the default); for a tip link that
  already is the grasp point use the identity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np

from calibration import SE3
from vla_r1_model.config_files import number_vector
from vla_r1_model.validation import finite_number, integer_at_least, one_of

from ..motion.robot_profile import PANDA

APPROACHES = ("top_down", "surface_normal")
YAW_SOURCES = ("box", "points")
# Top-down grasp, yaw 0: tool z points down (-base z), fingers close along base y.
TOP_DOWN_base_R_grasp = np.diag([1.0, -1.0, -1.0])


def parse_transform(name: str, value: Any) -> SE3:
    """An SE3, a 4x4 matrix, or a mapping ``{xyz: [x, y, z], quaternion_xyzw: [qx, qy, qz, qw]}``."""
    if isinstance(value, SE3):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"xyz", "quaternion_xyzw"})
        if unknown or "xyz" not in value:
            raise ValueError(
                f"{name} as a mapping needs 'xyz' and optionally 'quaternion_xyzw'; got keys {sorted(value)}"
            )
        try:
            xyz = number_vector(value["xyz"], 3, f"{name}.xyz")
            quaternion = number_vector(value.get("quaternion_xyzw", (0.0, 0.0, 0.0, 1.0)), 4, f"{name}.quaternion_xyzw")
            return SE3.from_quaternion_xyzw(quaternion, xyz)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{name}: {error}") from error
    try:
        return SE3.from_matrix(np.asarray(value, dtype=np.float64))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name} must be an SE3, a 4x4 matrix or {{xyz, quaternion_xyzw}}: {error}") from error


def _quaternion(name: str, value: Any) -> tuple[float, float, float, float]:
    q = number_vector(value, 4, f"{name} (x, y, z, w)")
    norm = math.sqrt(sum(v * v for v in q))
    if abs(norm - 1.0) > 1e-3:
        raise ValueError(f"{name} must be a unit quaternion, got norm {norm:.6f}")
    return tuple(v / norm for v in q)  # type: ignore[return-value]


@dataclass(frozen=True)
class GroundingConfig:
    """Every length in metres, every pixel count in pixels of the color image."""

    # Affordance depth: a percentile of the valid depths over the central part of the box (box
    # edges usually hold background). 50 = median; lower picks the nearer (higher) surface.
    inner_fraction: float = 0.5
    depth_percentile: float = 50.0
    # Trajectory depth: median of the valid depths in a square window around each waypoint pixel.
    waypoint_depth_window_px: int = 5
    # Fewer valid depth pixels than this under a target is a GroundingError.
    min_valid_depth_pixels: int = 1
    approach: str = "top_down"  # or "surface_normal": against the normal of a plane fitted to the box's points
    yaw_from: str = "box"  # close the fingers across the short side of the 2D box, or of the 3D points ("points")
    # Points within this distance of the grasp point along the approach are "the object's top
    # surface" for the yaw PCA; also the inlier threshold floor of the normal plane fit.
    surface_band_m: float = 0.01
    min_surface_points: int = 10  # fewer points than this cannot give a normal or a PCA yaw
    pregrasp_distance_m: float = 0.10  # pre-grasp: this far back along the approach
    hover_height_m: float = 0.10  # trajectory waypoints: surface point + this along base z
    final_clearance_m: float = 0.01  # last waypoint: its surface point + this along base z
    max_waypoint_spacing_m: float = 0.02  # resampled path: no two consecutive poses further apart
    tip_T_grasp: Any = field(default_factory=lambda: PANDA.hand_T_fingertip)  # SE3 | 4x4 | {xyz, quaternion_xyzw}
    # Constant orientation of trajectory poses, base_R_grasp as a quaternion; None = top-down.
    trajectory_orientation_xyzw: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        inner = finite_number("inner_fraction", self.inner_fraction)
        if not 0.0 < inner <= 1.0:
            raise ValueError(f"inner_fraction must be in (0, 1], got {inner}")
        percentile = finite_number("depth_percentile", self.depth_percentile)
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"depth_percentile must be in [0, 100], got {percentile}")
        window = integer_at_least("waypoint_depth_window_px", self.waypoint_depth_window_px, 1)
        if window % 2 == 0:
            raise ValueError(f"waypoint_depth_window_px must be odd (centred on the pixel), got {window}")
        integer_at_least("min_valid_depth_pixels", self.min_valid_depth_pixels, 1)
        integer_at_least("min_surface_points", self.min_surface_points, 3)
        one_of("approach", self.approach, APPROACHES)
        one_of("yaw_from", self.yaw_from, YAW_SOURCES)
        for name in ("surface_band_m", "max_waypoint_spacing_m"):
            if finite_number(name, getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("pregrasp_distance_m", "hover_height_m", "final_clearance_m"):
            if finite_number(name, getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.final_clearance_m > self.hover_height_m:
            raise ValueError(
                f"final_clearance_m ({self.final_clearance_m}) must not exceed hover_height_m ({self.hover_height_m}): "
                "the path descends to its target"
            )
        for name in (
            "inner_fraction",
            "depth_percentile",
            "surface_band_m",
            "pregrasp_distance_m",
            "hover_height_m",
            "final_clearance_m",
            "max_waypoint_spacing_m",
        ):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "tip_T_grasp", parse_transform("tip_T_grasp", self.tip_T_grasp))
        if self.trajectory_orientation_xyzw is not None:
            object.__setattr__(
                self,
                "trajectory_orientation_xyzw",
                _quaternion("trajectory_orientation_xyzw", self.trajectory_orientation_xyzw),
            )

    @cached_property
    def grasp_T_tip(self) -> np.ndarray:
        """inv(tip_T_grasp) as a read-only 4x4, computed once per config: base_T_tip = base_T_grasp @ grasp_T_tip."""
        matrix = self.tip_T_grasp.inverse().matrix()
        matrix.setflags(write=False)
        return matrix

    # the trajectory's constant tool orientation in the base frame
    def trajectory_base_R_grasp(self) -> np.ndarray:
        if self.trajectory_orientation_xyzw is None:
            return TOP_DOWN_base_R_grasp.copy()
        return SE3.from_quaternion_xyzw(self.trajectory_orientation_xyzw, (0.0, 0.0, 0.0)).rotation.copy()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, file: Any = None) -> GroundingConfig:
        """From YAML/ROS-parameter data; unknown keys and values of the wrong kind are refused (a typo
        must not fall back silently): ConfigError naming ``file`` and the key."""
        from vla_r1_model.config_files import dataclass_from_mapping

        return dataclass_from_mapping(cls, data, "grounding", file=file)

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready; ``from_dict(to_dict())`` gives the same config (tip_T_grasp to rounding)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["tip_T_grasp"] = {
            "xyz": [float(v) for v in self.tip_T_grasp.translation],
            "quaternion_xyzw": [float(v) for v in self.tip_T_grasp.quaternion_xyzw()],
        }
        if self.trajectory_orientation_xyzw is not None:
            out["trajectory_orientation_xyzw"] = list(self.trajectory_orientation_xyzw)
        return out
