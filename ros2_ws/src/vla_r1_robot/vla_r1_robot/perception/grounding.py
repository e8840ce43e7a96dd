"""Grounding: a normalized 2D action + aligned depth + camera model + ``base_T_camera`` -> 3D targets.

- Affordance -> (pre-grasp, grasp): robust depth over the inner part of the box, the box centre
  deprojected at that depth and moved into the base frame; approach top-down or against the normal
  of a plane fitted to the box's points; fingers closing across the object's short side (2D box
  aspect or PCA of the top-surface points); pre-grasp ``pregrasp_distance_m`` back along the approach.
- Trajectory -> Cartesian path. A waypoint pixel sees the SURFACE under the path (table, object),
  not the gripper (docs/grounding.md), so each waypoint is grounded on that surface and lifted by
  ``hover_height_m`` along base z; after the last waypoint (hovering above its surface point) the
  path descends vertically to that surface point + ``final_clearance_m``. Straight segments between
  those points are resampled to at most ``max_waypoint_spacing_m``; the orientation is constant.

Pixels: normalized coordinates are image-edge based (x * width spans the image); the camera model
uses pixel CENTRES, so ``u = x * width - 0.5``. Every target records the pixels, depth and number of
valid depth pixels behind it. Bad data (no depth, NaN holes everywhere, a box off the image, too few
points for a normal) raises GroundingError; nothing else escapes for bad data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibration import SE3, NoValidDepthError, sample_depth_at_pixel, sample_depth_in_box
from vla_r1_model.actions import Affordance, Prediction, Trajectory

from ..poses import as_se3, pose_matrix, se3_from_pose
from .frame import Frame
from .grounding_config import APPROACHES, YAW_SOURCES, GroundingConfig

__all__ = [
    "APPROACHES",
    "YAW_SOURCES",
    "GraspTarget",
    "GroundedTargets",
    "GroundingConfig",
    "GroundingError",
    "PathTarget",
    "base_T_camera_eye_in_hand",
    "ground",
    "ground_affordance",
    "ground_trajectory",
]

BASE_Z = np.array([0.0, 0.0, 1.0])
_TINY = 1e-9
# Degenerate answers are refused, not grounded: a box thinner than a pixel of the frame has no
# region to take depth from and no short side to close the fingers across; a path whose points all
# lie within a pixel of each other goes nowhere.
MIN_BOX_SIDE_PX = 1.0
MIN_PATH_EXTENT_PX = 1.0


class GroundingError(ValueError):
    """The action cannot be grounded on this frame (no depth under it, too few points, off the image)."""


def _readonly(array: Any) -> np.ndarray:
    array = np.array(array, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array


def base_T_camera_eye_in_hand(base_T_ee: SE3, ee_T_camera: SE3) -> SE3:
    """Eye-in-hand: the camera rides on the arm. ``base_T_ee`` must be the arm's pose AT THE FRAME'S
    TIME (interpolate joint states to ``frame.stamp_s``); ``ee_T_camera`` is the hand-eye result."""
    if not isinstance(base_T_ee, SE3) or not isinstance(ee_T_camera, SE3):
        raise TypeError("base_T_ee and ee_T_camera must be calibration.SE3")
    return base_T_ee @ ee_T_camera


def _pose(
    base_R_grasp: np.ndarray, position_base_m: np.ndarray, grasp_T_tip: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(base_T_grasp, base_T_tip) as 4x4; the planner gets the tip: base_T_grasp @ inv(tip_T_grasp).
    Not read-only yet: the targets keep read-only copies."""
    base_T_grasp = pose_matrix(base_R_grasp, position_base_m)
    return base_T_grasp, base_T_grasp @ grasp_T_tip


# ---------------------------------------------------------------------------------------- results
class _PoseTarget:
    """Shared by both target kinds: where the tip link goes, and where the fingertips go."""

    base_T_tip: np.ndarray
    base_T_grasp: np.ndarray

    @property
    def position_base_m(self) -> np.ndarray:
        return self.base_T_tip[:3, 3]

    @property
    def grasp_point_base_m(self) -> np.ndarray:
        return self.base_T_grasp[:3, 3]


@dataclass(frozen=True, eq=False)
class GraspTarget(_PoseTarget):
    """One pose of an affordance grasp. ``pixel``: the deprojected box centre (pixel-centre
    convention); ``box_pixels_xyxy``: the box whose inner part gave ``depth_m``."""

    role: str  # "pregrasp" | "grasp"
    base_T_grasp: np.ndarray  # 4x4, the tool point
    base_T_tip: np.ndarray  # 4x4, what the planner reaches
    pixel: tuple[float, float]
    box_pixels_xyxy: tuple[float, float, float, float]
    depth_m: float  # camera Z of the grasp point
    n_valid_depth: int  # valid depth pixels behind depth_m
    n_depth_pixels: int  # pixels looked at (valid or not)
    approach_base: np.ndarray  # unit, pointing into the surface
    closing_axis_base: np.ndarray  # unit, the fingers close along it
    yaw_rad: float  # heading of the grasp x axis in the base xy plane
    yaw_from: str  # "box" | "points" (what was actually used)
    n_surface_points: int  # 3D points behind the normal / the PCA yaw (0 when neither was used)

    def __post_init__(self) -> None:
        if self.role not in ("pregrasp", "grasp"):
            raise ValueError(f"role must be 'pregrasp' or 'grasp', got {self.role!r}")
        for name in ("base_T_grasp", "base_T_tip", "approach_base", "closing_axis_base"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            **_pose_dict(self.base_T_grasp, self.base_T_tip),
            "pixels": [_round(self.pixel, 2)],
            "box_pixels_xyxy": _round(self.box_pixels_xyxy, 2),
            "depth_m": round(self.depth_m, 6),
            "n_valid_depth": self.n_valid_depth,
            "n_depth_pixels": self.n_depth_pixels,
            "approach_base": _round(self.approach_base),
            "closing_axis_base": _round(self.closing_axis_base),
            "yaw_deg": round(math.degrees(self.yaw_rad), 3),
            "yaw_from": self.yaw_from,
            "n_surface_points": self.n_surface_points,
        }


@dataclass(frozen=True, eq=False)
class PathTarget(_PoseTarget):
    """One pose of a grounded trajectory. ``role``: "waypoint" (a model point, lifted), "resampled"
    (between two), "final" (the descent's end). ``source_index``: the model waypoint it comes from,
    fractional for resampled poses. Depth evidence of a resampled pose: the camera Z of its
    (interpolated) surface point and the smaller valid count of its two ends."""

    role: str
    source_index: float
    base_T_grasp: np.ndarray
    base_T_tip: np.ndarray
    pixels: tuple[tuple[float, float], ...]
    surface_point_base_m: np.ndarray
    height_above_surface_m: float
    depth_m: float
    n_valid_depth: int
    n_depth_pixels: int

    def __post_init__(self) -> None:
        if self.role not in ("waypoint", "resampled", "final"):
            raise ValueError(f"role must be 'waypoint', 'resampled' or 'final', got {self.role!r}")
        for name in ("base_T_grasp", "base_T_tip", "surface_point_base_m"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "source_index": round(self.source_index, 4),
            **_pose_dict(self.base_T_grasp, self.base_T_tip),
            "pixels": [_round(p, 2) for p in self.pixels],
            "surface_point_base_m": _round(self.surface_point_base_m),
            "height_above_surface_m": round(self.height_above_surface_m, 6),
            "depth_m": round(self.depth_m, 6),
            "n_valid_depth": self.n_valid_depth,
            "n_depth_pixels": self.n_depth_pixels,
        }


Target = GraspTarget | PathTarget


@dataclass(frozen=True, eq=False)
class GroundedTargets:
    """Targets in the order the arm should reach them (pre-grasp, grasp; or the path). Each target's
    base_T_tip is for the planner's tip link; its grasp point is base_T_tip @ tip_T_grasp."""

    kind: str  # "grasp" | "path"
    targets: tuple[Target, ...]
    stamp_s: float

    def __post_init__(self) -> None:
        if self.kind not in ("grasp", "path"):
            raise ValueError(f"kind must be 'grasp' or 'path', got {self.kind!r}")
        if not self.targets:
            raise ValueError("grounded targets cannot be empty")
        object.__setattr__(self, "targets", tuple(self.targets))

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def poses_base_T_tip(self) -> tuple[np.ndarray, ...]:
        return tuple(t.base_T_tip for t in self.targets)

    @property
    def positions_base_m(self) -> np.ndarray:
        """(N, 3) tip-link origins: the translations of poses_base_T_tip (what safety checks)."""
        return np.stack([t.position_base_m for t in self.targets])

    @property
    def grasp_points_base_m(self) -> np.ndarray:
        """(N, 3) tool points (fingertip centre): equal to positions_base_m when tip_T_grasp is identity."""
        return np.stack([t.grasp_point_base_m for t in self.targets])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "stamp_s": self.stamp_s,
            "n_targets": len(self.targets),
            "targets": [t.to_dict() for t in self.targets],
        }


def _round(values: Any, decimals: int = 6) -> list[float]:
    return [round(float(v), decimals) for v in np.asarray(values).reshape(-1)]


def _pose_dict(base_T_grasp: np.ndarray, base_T_tip: np.ndarray) -> dict[str, Any]:
    tip = se3_from_pose(base_T_tip)
    return {
        "position_base_m": _round(tip.translation),
        "quaternion_xyzw_base_tip": _round(tip.quaternion_xyzw()),
        "grasp_point_base_m": _round(base_T_grasp[:3, 3]),
    }


# ---------------------------------------------------------------------------------------- geometry
def _grasp_rotation(approach_base: np.ndarray, closing_hint_base: np.ndarray) -> np.ndarray:
    """base_R_grasp with z = approach and y = the closing hint made orthogonal to it. The gripper
    is symmetric, so y's sign is chosen to keep x towards base +x (no wrist flips between grasps)."""
    z = approach_base / np.linalg.norm(approach_base)
    y = closing_hint_base - (closing_hint_base @ z) * z
    if np.linalg.norm(y) < 1e-6:  # hint along the approach: any perpendicular will do
        fallback = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
        y = fallback - (fallback @ z) * z
    y = y / np.linalg.norm(y)
    x = np.cross(y, z)
    if x[0] < -_TINY or (abs(x[0]) <= _TINY and x[1] > 0):
        x, y = -x, -y
    return np.stack([x, y, z], axis=1)


def _region_grid(box_xyxy: Sequence[float], fraction: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres (u, v) inside the box shrunk about its centre to ``fraction`` (as sample_depth_in_box)."""
    x1, y1, x2, y2 = box_xyxy
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    hw, hh = (x2 - x1) * fraction / 2, (y2 - y1) * fraction / 2
    c0, c1 = max(math.ceil(cx - hw), 0), min(math.floor(cx + hw), width - 1)
    r0, r1 = max(math.ceil(cy - hh), 0), min(math.floor(cy + hh), height - 1)
    if c1 < c0 or r1 < r0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    v, u = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
    return u.ravel(), v.ravel()


def _points_base(frame: Frame, base_T_camera: SE3, box_xyxy: Sequence[float], fraction: float) -> np.ndarray:
    """Valid depth pixels of a box region as (N, 3) base-frame points."""
    u, v = _region_grid(box_xyxy, fraction, frame.width, frame.height)
    depth = _depth_image(frame)[v, u].astype(np.float64)
    keep = np.isfinite(depth) & (depth > 0)
    if not keep.any():
        return np.zeros((0, 3))
    pixels = np.stack([u[keep], v[keep]], axis=1).astype(np.float64)
    return base_T_camera.apply(frame.camera.deproject(pixels, depth[keep]))


def _fit_plane_normal(
    points: np.ndarray, band_m: float, toward_base: np.ndarray, min_points: int, n_hypotheses: int = 64
) -> tuple[np.ndarray, int]:
    """Unit normal of the dominant plane in ``points``: the 3-point plane with most points within
    ``band_m`` (seeded, so deterministic), refitted by SVD on those inliers. A plain least-squares
    fit would tilt towards background seen inside the box. Oriented towards ``toward_base`` (the
    camera sees the front face)."""
    if len(points) < min_points:
        raise GroundingError(
            f"only {len(points)} valid surface points in the box (min_surface_points {min_points}): no surface normal"
        )
    rng = np.random.default_rng(0)
    scored = points if len(points) <= 4000 else points[rng.choice(len(points), 4000, replace=False)]
    best_normal, best_count = None, -1
    for _ in range(n_hypotheses):
        p0, p1, p2 = scored[rng.choice(len(scored), 3, replace=False)]
        normal = np.cross(p1 - p0, p2 - p0)
        norm = np.linalg.norm(normal)
        if norm < 1e-12:
            continue
        normal /= norm
        count = int(np.count_nonzero(np.abs((scored - p0) @ normal) <= band_m))
        if count > best_count:
            best_normal, best_count, best_point = normal, count, p0
    if best_normal is None:
        raise GroundingError(f"surface points are collinear ({len(points)} points): no surface normal")
    inliers = points[np.abs((points - best_point) @ best_normal) <= band_m]
    for _ in range(2):  # least squares on the inliers, then re-select with the better plane
        if len(inliers) < min_points:
            break
        centroid = inliers.mean(axis=0)
        _, singular, vt = np.linalg.svd(inliers - centroid, full_matrices=False)
        if singular[1] <= 1e-6 * max(singular[0], _TINY):
            raise GroundingError(f"surface points are collinear ({len(inliers)} points): no surface normal")
        best_normal = vt[2]
        inliers = points[np.abs((points - centroid) @ best_normal) <= band_m]
    if len(inliers) < min_points:
        raise GroundingError(
            f"only {len(inliers)} surface points on the fitted plane (min_surface_points {min_points}): "
            "no surface normal"
        )
    normal = best_normal if best_normal @ (toward_base - inliers.mean(axis=0)) >= 0 else -best_normal
    return normal, len(inliers)


def _closing_from_points(
    points_base: np.ndarray, grasp_base: np.ndarray, approach: np.ndarray, band_m: float, min_points: int
) -> tuple[np.ndarray | None, int]:
    """Short in-plane axis of the points on the grasped surface (within band_m of the grasp point
    along the approach), from a PCA of their projection onto the plane across the approach."""
    offsets = points_base - grasp_base
    along = offsets @ approach
    surface = offsets[np.abs(along) <= band_m]
    if len(surface) < min_points:
        return None, len(surface)
    flat = surface - np.outer(surface @ approach, approach)
    flat = flat - flat.mean(axis=0)
    _, eigenvectors = np.linalg.eigh(flat.T @ flat)
    long_axis = eigenvectors[:, 2]
    return np.cross(approach, long_axis), len(surface)


# ---------------------------------------------------------------------------------------- grounding
def _depth_image(frame: Frame) -> np.ndarray:
    if not isinstance(frame, Frame):
        raise TypeError(f"frame must be a vla_r1_robot.perception.frame.Frame, got {type(frame).__name__}")
    if frame.depth_m is None:
        raise GroundingError("the frame has no depth image: grounding needs depth aligned to color")
    return frame.depth_m


def _pixel_centre(normalized_xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalized (edge-based) -> pixel-centre coordinates, kept on the image."""
    pixels = np.asarray(normalized_xy, dtype=np.float64) * (width, height) - 0.5
    return np.clip(pixels, 0.0, (width - 1, height - 1))


def _check_support(what: str, n_valid: int, n_total: int, config: GroundingConfig) -> None:
    if n_valid < config.min_valid_depth_pixels:
        raise GroundingError(
            f"{what}: only {n_valid} of {n_total} depth pixels are valid (min_valid_depth_pixels "
            f"{config.min_valid_depth_pixels})"
        )


def ground_affordance(
    frame: Frame, affordance: Affordance, base_T_camera: SE3, config: GroundingConfig | None = None
) -> GroundedTargets:
    """(pre-grasp, grasp) for an affordance box; see the module docstring for the method."""
    config = config or GroundingConfig()
    depth = _depth_image(frame)
    base_T_camera = as_se3(base_T_camera, "base_T_camera")
    width, height = frame.width, frame.height
    x1, y1, x2, y2 = (c - 0.5 for c in affordance.corners_pixels(width, height))  # edges -> pixel centres
    u, v = _pixel_centre(np.array([affordance.x, affordance.y]), width, height)
    if x2 - x1 < MIN_BOX_SIDE_PX or y2 - y1 < MIN_BOX_SIDE_PX:
        raise GroundingError(
            f"degenerate box: {x2 - x1:.2f} x {y2 - y1:.2f} px inside the {width}x{height} frame (normalized width "
            f"{affordance.width:g}, height {affordance.height:g}); "
            f"a box must be at least {MIN_BOX_SIDE_PX:g} px on each side"
        )
    box = (float(x1), float(y1), float(x2), float(y2))
    what = f"grasp target (box centre pixel u={u:.1f}, v={v:.1f}; box {tuple(round(c, 1) for c in box)})"
    try:
        sample = sample_depth_in_box(depth, box, config.inner_fraction, config.depth_percentile)
    except NoValidDepthError as error:
        raise GroundingError(f"{what}: 0 valid depth pixels: {error}") from error
    except ValueError as error:
        raise GroundingError(f"{what}: {error}") from error
    _check_support(what, sample.n_valid, sample.n_total, config)

    camera = frame.camera
    point_camera = camera.deproject(np.array([[u, v]]), np.array([sample.value_m]))[0]
    grasp_base = base_T_camera.apply(point_camera)
    if not np.isfinite(grasp_base).all():  # a pixel outside the distortion model's valid range
        raise GroundingError(f"{what}: deprojection is not finite ({grasp_base.tolist()})")

    n_surface = 0
    if config.approach == "top_down":
        approach = -BASE_Z
    else:
        points = _points_base(frame, base_T_camera, box, config.inner_fraction)
        normal, n_surface = _fit_plane_normal(
            points, config.surface_band_m, base_T_camera.translation, config.min_surface_points
        )
        approach = -normal

    closing, yaw_from = None, config.yaw_from
    if config.yaw_from == "points":
        points = _points_base(frame, base_T_camera, box, 1.0)
        closing, n_yaw = _closing_from_points(
            points, grasp_base, approach, config.surface_band_m, config.min_surface_points
        )
        n_surface = max(n_surface, n_yaw)
    if closing is None:  # from the box, also the fallback when too few surface points
        yaw_from = "box"
        # metric length of one pixel step along u and v at the grasp depth, across the approach
        steps = camera.deproject(np.array([[u + 1, v], [u, v + 1]]), np.full(2, sample.value_m)) - point_camera
        steps = steps @ base_T_camera.rotation.T
        steps -= np.outer(steps @ approach, approach)
        box_width_m = (x2 - x1) * np.linalg.norm(steps[0])
        box_height_m = (y2 - y1) * np.linalg.norm(steps[1])
        closing = steps[1] if box_width_m >= box_height_m else steps[0]  # close across the short side

    base_R_grasp = _grasp_rotation(approach, closing)
    approach = base_R_grasp[:, 2]
    yaw_rad = math.atan2(base_R_grasp[1, 0], base_R_grasp[0, 0])
    targets = []
    for role, position in (("pregrasp", grasp_base - config.pregrasp_distance_m * approach), ("grasp", grasp_base)):
        base_T_grasp, base_T_tip = _pose(base_R_grasp, position, config.grasp_T_tip)
        targets.append(
            GraspTarget(
                role,
                base_T_grasp,
                base_T_tip,
                (float(u), float(v)),
                box,
                sample.value_m,
                sample.n_valid,
                sample.n_total,
                approach,
                base_R_grasp[:, 1],
                yaw_rad,
                yaw_from,
                n_surface,
            )
        )
    return GroundedTargets("grasp", tuple(targets), float(frame.stamp_s))


@dataclass(frozen=True)
class _PathNode:
    position_base_m: np.ndarray
    surface_base_m: np.ndarray
    height_m: float
    source_index: float
    role: str
    pixels: tuple[tuple[float, float], ...]
    depth_m: float
    n_valid: int
    n_total: int


def _interpolate(a: _PathNode, b: _PathNode, t: float) -> _PathNode:
    # Linear in 3D; the camera Z of the interpolated surface point is the same blend of the ends'.
    def blend(p, q):
        return p + t * (q - p)  # exact at both ends and when p == q

    pixels = a.pixels + tuple(p for p in b.pixels if p not in a.pixels)
    return _PathNode(
        blend(a.position_base_m, b.position_base_m),
        blend(a.surface_base_m, b.surface_base_m),
        blend(a.height_m, b.height_m),
        blend(a.source_index, b.source_index),
        "resampled",
        pixels,
        blend(a.depth_m, b.depth_m),
        min(a.n_valid, b.n_valid),
        min(a.n_total, b.n_total),
    )


def _resample(nodes: list[_PathNode], max_spacing_m: float) -> list[_PathNode]:
    """Split each straight segment into equal pieces no longer than max_spacing_m; a zero-length
    segment keeps only its end (so the final pose keeps its role when hover == clearance)."""
    out = [nodes[0]]
    for b in nodes[1:]:
        a = out[-1]
        length = float(np.linalg.norm(b.position_base_m - a.position_base_m))
        if length < 1e-9:
            out[-1] = b
            continue
        pieces = max(1, math.ceil(length / max_spacing_m - 1e-9))
        out.extend(_interpolate(a, b, k / pieces) for k in range(1, pieces))
        out.append(b)
    return out


def ground_trajectory(
    frame: Frame, trajectory: Trajectory, base_T_camera: SE3, config: GroundingConfig | None = None
) -> GroundedTargets:
    """A lifted, resampled Cartesian path for a 2D trajectory; see the module docstring."""
    config = config or GroundingConfig()
    depth = _depth_image(frame)
    base_T_camera = as_se3(base_T_camera, "base_T_camera")
    pixels = _pixel_centre(trajectory.as_array(), frame.width, frame.height)
    extent_px = float(np.max(np.linalg.norm(pixels - pixels[0], axis=1)))
    if extent_px < MIN_PATH_EXTENT_PX:
        raise GroundingError(
            f"degenerate trajectory: all {len(pixels)} points lie within {extent_px:.2f} px of the first "
            f"(pixel u={pixels[0, 0]:.1f}, v={pixels[0, 1]:.1f}); the path must move at least "
            f"{MIN_PATH_EXTENT_PX:g} px"
        )
    samples = []
    for i, (u, v) in enumerate(pixels):
        what = f"trajectory waypoint {i} (pixel u={u:.1f}, v={v:.1f}, {config.waypoint_depth_window_px} px window)"
        try:
            sample = sample_depth_at_pixel(depth, u, v, config.waypoint_depth_window_px)
        except NoValidDepthError as error:
            raise GroundingError(f"{what}: 0 valid depth pixels: {error}") from error
        except ValueError as error:
            raise GroundingError(f"{what}: {error}") from error
        _check_support(what, sample.n_valid, sample.n_total, config)
        samples.append(sample)
    depths = np.array([s.value_m for s in samples])
    surface_base = base_T_camera.apply(frame.camera.deproject(pixels, depths))
    if not np.all(np.isfinite(surface_base)):
        not_finite = np.flatnonzero(~np.isfinite(surface_base).all(axis=1)).tolist()
        raise GroundingError(f"trajectory: deprojection is not finite for waypoints {not_finite}")

    nodes = []
    last = len(pixels) - 1
    for i, (sample, surface) in enumerate(zip(samples, surface_base, strict=True)):
        pixel = ((float(pixels[i, 0]), float(pixels[i, 1])),)
        nodes.append(
            _PathNode(
                surface + config.hover_height_m * BASE_Z,
                surface,
                config.hover_height_m,
                float(i),
                "waypoint",
                pixel,
                sample.value_m,
                sample.n_valid,
                sample.n_total,
            )
        )
    # Vertical descent above the last waypoint's surface point down to the target height.
    end = nodes[-1]
    nodes.append(
        _PathNode(
            end.surface_base_m + config.final_clearance_m * BASE_Z,
            end.surface_base_m,
            config.final_clearance_m,
            float(last),
            "final",
            end.pixels,
            end.depth_m,
            end.n_valid,
            end.n_total,
        )
    )

    base_R_grasp = config.trajectory_base_R_grasp()
    targets = []
    for node in _resample(nodes, config.max_waypoint_spacing_m):
        base_T_grasp, base_T_tip = _pose(base_R_grasp, node.position_base_m, config.grasp_T_tip)
        targets.append(
            PathTarget(
                node.role,
                node.source_index,
                base_T_grasp,
                base_T_tip,
                node.pixels,
                node.surface_base_m,
                node.height_m,
                float(node.depth_m),
                node.n_valid,
                node.n_total,
            )
        )
    return GroundedTargets("path", tuple(targets), float(frame.stamp_s))


def ground(
    frame: Frame,
    action: Affordance | Trajectory | Prediction,
    base_T_camera: SE3,
    config: GroundingConfig | None = None,
) -> GroundedTargets:
    """Dispatch on the action's type (a Prediction's action is used)."""
    if isinstance(action, Prediction):
        action = action.action
    if isinstance(action, Affordance):
        return ground_affordance(frame, action, base_T_camera, config)
    if isinstance(action, Trajectory):
        return ground_trajectory(frame, action, base_T_camera, config)
    raise TypeError(f"action must be an Affordance or a Trajectory, got {type(action).__name__}")
