"""Grounding: synthetic planar scenes with exact answers, bad depth, yaw, surface normals, waypoint
lifting and resampling, eye-in-hand, and accuracy on the rendered demo scene.

``python tests/test_grounding.py [SEEDS...]`` prints the demo-scene perturbation table and the
time per frame that docs/grounding.md quotes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from calibration import SE3, CameraModel
from vla_r1_model.actions import Affordance, Trajectory
from vla_r1_robot.motion.robot_profile import PANDA
from vla_r1_robot.perception.frame import Frame
from vla_r1_robot.perception.grounding import (
    GroundingConfig,
    GroundingError,
    base_T_camera_eye_in_hand,
    ground,
    ground_trajectory,
)

WIDTH, HEIGHT = 640, 480
CAMERA = CameraModel(
    WIDTH, HEIGHT, np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]]), "plumb_bob", np.zeros(5)
)
# Looking straight down from 1 m: image right = base -y, image down = base -x (image up = forward).
BASE_T_CAMERA = SE3(np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]), (0.5, 0.0, 1.0))
IDENTITY_TOOL = {"tip_T_grasp": np.eye(4)}


# ---------------------------------------------------------------------------------------- synthetic scenes
def _rays_base(base_T_camera: SE3) -> np.ndarray:
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    rays = CAMERA.pixels_to_rays(np.stack([u.ravel(), v.ravel()], axis=1))
    rays = np.concatenate([rays, np.ones((len(rays), 1))], axis=1)  # camera Z = 1 per unit of s
    return rays @ base_T_camera.rotation.T


def render_depth(surfaces, base_T_camera: SE3 = BASE_T_CAMERA) -> np.ndarray:
    """Exact Z-depth of planar patches: each (normal_base, point_base, inside(points) -> mask)."""
    origin = base_T_camera.translation
    directions = _rays_base(base_T_camera)
    depth = np.full(len(directions), np.inf)
    for normal, point, inside in surfaces:
        normal = np.asarray(normal, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (normal @ (np.asarray(point) - origin)) / (directions @ normal)
        hits = origin + s[:, None] * directions
        ok = (s > 0) & inside(hits) & (s < depth)
        depth[ok] = s[ok]
    depth[~np.isfinite(depth)] = np.nan
    return depth.reshape(HEIGHT, WIDTH).astype(np.float32)


def table(z_m: float = 0.0):
    return ((0, 0, 1), (0, 0, z_m), lambda p: np.ones(len(p), bool))


def box_top(centre_xy, size_xy, top_z_m, yaw_rad=0.0):
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)

    def inside(p):
        dx, dy = p[:, 0] - centre_xy[0], p[:, 1] - centre_xy[1]
        along, across = c * dx + s * dy, -s * dx + c * dy
        return (np.abs(along) <= size_xy[0] / 2) & (np.abs(across) <= size_xy[1] / 2)

    return ((0, 0, 1), (centre_xy[0], centre_xy[1], top_z_m), inside)


def frame_of(depth: np.ndarray, stamp_s: float = 12.5) -> Frame:
    return Frame(np.zeros((HEIGHT, WIDTH, 3), np.uint8), depth, CAMERA, stamp_s)


def box_action(corners_base: np.ndarray, base_T_camera: SE3 = BASE_T_CAMERA) -> Affordance:
    """The 2D box (edge coordinates) around projected 3D corners."""
    pixels = CAMERA.project(base_T_camera.inverse().apply(corners_base)) + 0.5  # centres -> edges
    (x1, y1), (x2, y2) = pixels.min(axis=0), pixels.max(axis=0)
    return Affordance.from_corners_pixels(x1, y1, x2, y2, WIDTH, HEIGHT)


def box_corners(centre_xy, size_xy, z_m, yaw_rad=0.0) -> np.ndarray:
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    local = np.array([[sx * size_xy[0] / 2, sy * size_xy[1] / 2] for sx in (-1, 1) for sy in (-1, 1)])
    xy = local @ np.array([[c, s], [-s, c]]) + centre_xy
    return np.concatenate([xy, np.full((4, 1), z_m)], axis=1)


def axis_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two lines (sign-free), degrees."""
    return math.degrees(math.acos(min(1.0, abs(float(a @ b)) / (np.linalg.norm(a) * np.linalg.norm(b)))))


# ---------------------------------------------------------------------------------------- affordance
BOX_CENTRE = (0.55, 0.04)
BOX_SIZE = (0.08, 0.04)  # long along base x
BOX_TOP_Z = 0.05


@pytest.fixture(scope="module")
def box_scene():
    depth = render_depth([table(), box_top(BOX_CENTRE, BOX_SIZE, BOX_TOP_Z)])
    return depth, box_action(box_corners(BOX_CENTRE, BOX_SIZE, BOX_TOP_Z))


def test_box_on_a_table_grounds_exactly(box_scene):
    depth, action = box_scene
    targets = ground(frame_of(depth), action, BASE_T_CAMERA, GroundingConfig(pregrasp_distance_m=0.12))
    assert targets.kind == "grasp" and [t.role for t in targets.targets] == ["pregrasp", "grasp"]
    grasp = targets.targets[1]
    np.testing.assert_allclose(grasp.grasp_point_base_m, [*BOX_CENTRE, BOX_TOP_Z], atol=1e-6)
    assert grasp.depth_m == pytest.approx(1.0 - BOX_TOP_Z, abs=1e-6)
    assert grasp.n_valid_depth == grasp.n_depth_pixels > 100
    # top-down, pre-grasp 12 cm above; the planner's tip (panda_hand) 0.1034 m above the fingertips
    np.testing.assert_allclose(grasp.approach_base, [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(targets.grasp_points_base_m[0], [*BOX_CENTRE, BOX_TOP_Z + 0.12], atol=1e-6)
    np.testing.assert_allclose(targets.positions_base_m, targets.grasp_points_base_m + [0, 0, 0.1034], atol=1e-9)
    for pose in targets.poses_base_T_tip:
        np.testing.assert_allclose(pose[:3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-9)  # yaw 0: close along y
    assert targets.stamp_s == 12.5
    summary = json.loads(json.dumps(targets.to_dict()))
    assert summary["kind"] == "grasp" and summary["targets"][1]["n_valid_depth"] == grasp.n_valid_depth
    assert summary["targets"][1]["grasp_point_base_m"] == pytest.approx([*BOX_CENTRE, BOX_TOP_Z], abs=1e-6)


def test_tool_offset_forms_and_identity(box_scene):
    depth, action = box_scene
    frame = frame_of(depth)
    plain = ground(frame, action, BASE_T_CAMERA, GroundingConfig(**IDENTITY_TOOL))
    np.testing.assert_allclose(plain.positions_base_m, plain.grasp_points_base_m, atol=1e-12)
    for form in (
        PANDA.hand_T_fingertip,
        PANDA.hand_T_fingertip.matrix(),
        {"xyz": [0, 0, 0.1034]},
        {"xyz": [0, 0, 0.1034], "quaternion_xyzw": [0, 0, 0, 1]},
    ):
        targets = ground(frame, action, BASE_T_CAMERA, GroundingConfig(tip_T_grasp=form))
        # what the planner reaches, moved by tip_T_grasp, is the grounded grasp point
        for tip, grasp in zip(targets.poses_base_T_tip, targets.targets, strict=True):
            np.testing.assert_allclose(tip @ PANDA.hand_T_fingertip.matrix(), grasp.base_T_grasp, atol=1e-12)


def test_depth_holes_and_outliers_do_not_move_the_grasp(box_scene):
    depth, action = box_scene
    rng = np.random.default_rng(0)
    holed = depth.copy()
    holed[rng.random(depth.shape) < 0.4] = np.nan  # 40 % dropouts
    spikes = rng.random(depth.shape) < 0.05
    holed[spikes] = depth[spikes] + rng.uniform(-0.3, 0.3, int(spikes.sum()))  # flying pixels
    clean = ground(frame_of(depth), action, BASE_T_CAMERA).targets[1]
    noisy = ground(frame_of(holed), action, BASE_T_CAMERA).targets[1]
    assert noisy.n_valid_depth < 0.7 * noisy.n_depth_pixels
    np.testing.assert_allclose(noisy.grasp_point_base_m, clean.grasp_point_base_m, atol=1e-3)


def test_missing_depth_is_a_grounding_error_naming_the_target(box_scene):
    depth, action = box_scene
    x1, y1, x2, y2 = (int(c) for c in action.corners_pixels(WIDTH, HEIGHT))
    holed = depth.copy()
    holed[y1 : y2 + 1, x1 : x2 + 1] = np.nan
    with pytest.raises(GroundingError, match=r"grasp target \(box centre pixel u=.*0 valid depth pixels"):
        ground(frame_of(holed), action, BASE_T_CAMERA)
    with pytest.raises(GroundingError, match="no depth image"):
        ground(Frame(np.zeros((HEIGHT, WIDTH, 3), np.uint8), None, CAMERA, 0.0), action, BASE_T_CAMERA)
    sparse = np.full_like(depth, np.nan)
    sparse[::7, ::7] = depth[::7, ::7]
    with pytest.raises(GroundingError, match=r"only \d+ of \d+ depth pixels are valid"):
        ground(frame_of(sparse), action, BASE_T_CAMERA, GroundingConfig(min_valid_depth_pixels=50))
    # a degenerate (zero-size) box is refused (tests/test_degenerate_actions.py)
    trajectory = Trajectory(((0.2, 0.2), (action.x, action.y)))
    u, v = 0.2 * WIDTH - 0.5, 0.2 * HEIGHT - 0.5
    holed = depth.copy()
    holed[int(v) - 5 : int(v) + 6, int(u) - 5 : int(u) + 6] = np.nan
    with pytest.raises(GroundingError, match=r"trajectory waypoint 0 \(pixel u=127.5, v=95.5.*0 valid depth pixels"):
        ground(frame_of(holed), trajectory, BASE_T_CAMERA)


@pytest.mark.parametrize("yaw_deg", [0.0, 90.0])
def test_yaw_closes_across_the_short_side_of_the_box(yaw_deg):
    yaw = math.radians(yaw_deg)
    depth = render_depth([table(), box_top(BOX_CENTRE, BOX_SIZE, BOX_TOP_Z, yaw)])
    action = box_action(box_corners(BOX_CENTRE, BOX_SIZE, BOX_TOP_Z, yaw))
    long_axis = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    for yaw_from in ("box", "points"):
        grasp = ground(frame_of(depth), action, BASE_T_CAMERA, GroundingConfig(yaw_from=yaw_from)).targets[1]
        assert grasp.yaw_from == yaw_from
        assert axis_angle_deg(grasp.closing_axis_base, long_axis) == pytest.approx(90.0, abs=0.5)
        assert grasp.base_T_grasp[0, 0] >= 0  # the symmetric gripper keeps x forward: no wrist flip


def test_yaw_from_points_follows_a_rotated_object():
    yaw = math.radians(30.0)
    depth = render_depth([table(), box_top(BOX_CENTRE, (0.10, 0.04), BOX_TOP_Z, yaw)])
    action = box_action(box_corners(BOX_CENTRE, (0.10, 0.04), BOX_TOP_Z, yaw))
    grasp = ground(frame_of(depth), action, BASE_T_CAMERA, GroundingConfig(yaw_from="points")).targets[1]
    closing_expected = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
    assert axis_angle_deg(grasp.closing_axis_base, closing_expected) < 2.0
    assert math.degrees(grasp.yaw_rad) == pytest.approx(30.0, abs=2.0)
    assert grasp.n_surface_points > 100  # only the top face: the table corners are outside the band
    np.testing.assert_allclose(grasp.grasp_point_base_m, [*BOX_CENTRE, BOX_TOP_Z], atol=1e-6)
    # too few surface points: falls back to the box aspect and says so
    fallback = ground(
        frame_of(depth), action, BASE_T_CAMERA, GroundingConfig(yaw_from="points", min_surface_points=10**6)
    ).targets[1]
    assert fallback.yaw_from == "box"


def test_surface_normal_approach_on_a_tilted_plane():
    tilt = math.radians(25.0)
    normal = np.array([0.0, -math.sin(tilt), math.cos(tilt)])  # tilted about base x, facing the camera
    point = np.array([0.5, 0.0, 0.1])
    base_T_camera = SE3.from_rotvec([0.0, 0.0, 0.0], (0, 0, 0)) @ BASE_T_CAMERA
    depth = render_depth([(normal, point, lambda p: np.ones(len(p), bool))], base_T_camera)
    action = Affordance(0.5, 0.5, 0.15, 0.15)
    config = GroundingConfig(approach="surface_normal", pregrasp_distance_m=0.1, **IDENTITY_TOOL)
    targets = ground(frame_of(depth), action, base_T_camera, config)
    grasp = targets.targets[1]
    assert axis_angle_deg(grasp.approach_base, -normal) < 0.1 and grasp.approach_base @ normal < 0
    assert abs((grasp.grasp_point_base_m - point) @ normal) < 1e-6  # on the plane
    np.testing.assert_allclose(targets.grasp_points_base_m[0], grasp.grasp_point_base_m + 0.1 * normal, atol=1e-6)
    np.testing.assert_allclose(grasp.base_T_grasp[:3, 2], grasp.approach_base)
    assert grasp.n_surface_points > 1000
    # top-down on the same plane keeps the point, ignores the tilt
    top_down = ground(frame_of(depth), action, base_T_camera, GroundingConfig(**IDENTITY_TOOL)).targets[1]
    np.testing.assert_allclose(top_down.grasp_point_base_m, grasp.grasp_point_base_m, atol=1e-9)
    np.testing.assert_allclose(top_down.approach_base, [0, 0, -1])


def test_surface_normal_ignores_a_background_outlier_region():
    # a 1/5 of the inner box sees the table 10 cm below the object's top: the refit drops it
    depth = render_depth([table(), box_top(BOX_CENTRE, (0.12, 0.12), BOX_TOP_Z)])
    action = box_action(box_corners(BOX_CENTRE, (0.12, 0.12), BOX_TOP_Z))
    x1, y1, x2, y2 = (int(c) for c in action.corners_pixels(WIDTH, HEIGHT))
    depth[y1:y2, x1 : x1 + int(0.35 * (x2 - x1))] = 1.0
    grasp = ground(frame_of(depth), action, BASE_T_CAMERA, GroundingConfig(approach="surface_normal")).targets[1]
    assert axis_angle_deg(grasp.approach_base, np.array([0, 0, -1.0])) < 0.5
    holes = np.full_like(depth, np.nan)
    holes[240, 100:400] = 0.9  # one row of points: collinear, no plane
    with pytest.raises(GroundingError, match=r"collinear|no surface normal"):
        ground(
            frame_of(holes), Affordance(0.4, 0.5, 0.5, 0.1), BASE_T_CAMERA, GroundingConfig(approach="surface_normal")
        )


# ---------------------------------------------------------------------------------------- trajectory
@pytest.fixture(scope="module")
def path_scene():
    """A table with a 5 cm box under the middle of a 4-point path."""
    depth = render_depth([table(), box_top((0.50, 0.0), (0.06, 0.06), 0.05)])
    surface_base = np.array([[0.62, 0.15, 0.0], [0.50, 0.10, 0.0], [0.50, 0.0, 0.05], [0.40, -0.12, 0.0]])
    pixels = CAMERA.project(BASE_T_CAMERA.inverse().apply(surface_base)) + 0.5
    return depth, surface_base, Trajectory.from_pixels(pixels, WIDTH, HEIGHT)


def test_waypoints_are_lifted_above_their_surface_and_descend_at_the_end(path_scene):
    depth, surface_base, trajectory = path_scene
    config = GroundingConfig(hover_height_m=0.08, final_clearance_m=0.015, max_waypoint_spacing_m=1.0, **IDENTITY_TOOL)
    path = ground(frame_of(depth), trajectory, BASE_T_CAMERA, config)
    assert path.kind == "path" and [t.role for t in path.targets] == ["waypoint"] * 4 + ["final"]
    expected = np.concatenate([surface_base + [0, 0, 0.08], surface_base[-1:] + [0, 0, 0.015]])
    np.testing.assert_allclose(path.grasp_points_base_m, expected, atol=1e-6)
    for target, surface in zip(path.targets, np.concatenate([surface_base, surface_base[-1:]]), strict=True):
        np.testing.assert_allclose(target.surface_point_base_m, surface, atol=1e-6)
        assert target.depth_m == pytest.approx(1.0 - surface[2], abs=1e-6)
        assert target.n_valid_depth == target.n_depth_pixels == 25 and len(target.pixels) == 1
        np.testing.assert_allclose(target.base_T_tip[:3, :3], np.diag([1.0, -1.0, -1.0]))  # constant top-down
    assert path.targets[-1].height_above_surface_m == pytest.approx(0.015)
    # the descent is vertical: above the last surface point, then down to it
    np.testing.assert_allclose(path.grasp_points_base_m[-2, :2], path.grasp_points_base_m[-1, :2], atol=1e-9)
    assert path.targets[-1].source_index == path.targets[-2].source_index == 3


def test_resampling_keeps_spacing_and_the_model_waypoints(path_scene):
    depth, surface_base, trajectory = path_scene
    config = GroundingConfig(hover_height_m=0.1, final_clearance_m=0.0, max_waypoint_spacing_m=0.02)
    path = ground(frame_of(depth), trajectory, BASE_T_CAMERA, config)
    steps = np.linalg.norm(np.diff(path.positions_base_m, axis=0), axis=1)
    assert steps.max() <= 0.02 + 1e-9 and steps.min() > 0.005
    corners = [t for t in path.targets if t.role != "resampled"]
    np.testing.assert_allclose(
        [t.grasp_point_base_m for t in corners],
        np.concatenate([surface_base + [0, 0, 0.1], surface_base[-1:]]),
        atol=1e-6,
    )
    segment_lengths = np.linalg.norm(np.diff([t.grasp_point_base_m for t in corners], axis=0), axis=1)
    assert len(path) == 1 + sum(math.ceil(length / 0.02 - 1e-9) for length in segment_lengths)
    sources = [t.source_index for t in path.targets]
    assert sources == sorted(sources) and sources[0] == 0 and sources[-1] == 3
    middle = next(t for t in path.targets if t.role == "resampled")
    assert len(middle.pixels) == 2 and middle.n_valid_depth == 25
    assert middle.height_above_surface_m == pytest.approx(0.1)


def test_trajectory_orientation_and_equal_heights(path_scene):
    depth, _, trajectory = path_scene
    q = SE3.from_rotvec([math.pi, 0, 0], (0, 0, 0)) @ SE3.from_rotvec([0, 0, math.radians(45)], (0, 0, 0))
    config = GroundingConfig(
        trajectory_orientation_xyzw=tuple(q.quaternion_xyzw()),
        hover_height_m=0.05,
        final_clearance_m=0.05,
        max_waypoint_spacing_m=1.0,
        **IDENTITY_TOOL,
    )
    path = ground_trajectory(frame_of(depth), trajectory, BASE_T_CAMERA, config)
    assert [t.role for t in path.targets] == ["waypoint"] * 3 + ["final"]  # no zero-length descent
    for pose in path.poses_base_T_tip:
        np.testing.assert_allclose(pose[:3, :3], q.rotation, atol=1e-9)


# ---------------------------------------------------------------------------------------- config, frames
def test_config_is_validated_and_loads_from_dicts():
    for bad in (
        {"inner_fraction": 0},
        {"depth_percentile": 101},
        {"approach": "sideways"},
        {"yaw_from": "pca"},
        {"waypoint_depth_window_px": 4},
        {"pregrasp_distance_m": -0.1},
        {"max_waypoint_spacing_m": 0},
        {"hover_height_m": 0.01, "final_clearance_m": 0.02},
        {"tip_T_grasp": np.ones((4, 4))},
        {"tip_T_grasp": {"xyz": [0, 0, 0.1], "rpy": [0, 0, 0]}},
        {"trajectory_orientation_xyzw": (0, 0, 0, 2)},
        {"hover_height_m": float("nan")},
        {"min_surface_points": 2},
        {"hover_height_m": True},
    ):
        with pytest.raises(ValueError):
            GroundingConfig(**bad)
    with pytest.raises(ValueError, match=r"unknown grounding config keys.*hover_height"):
        GroundingConfig.from_dict({"hover_height": 0.1})
    config = GroundingConfig.from_dict(
        {"approach": "surface_normal", "tip_T_grasp": {"xyz": [0, 0, 0.2]}, "trajectory_orientation_xyzw": [1, 0, 0, 0]}
    )
    assert config.tip_T_grasp.allclose(SE3(np.eye(3), (0, 0, 0.2)))
    again = GroundingConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again.approach == "surface_normal" and again.tip_T_grasp.allclose(config.tip_T_grasp, atol_m=1e-12)
    assert GroundingConfig().tip_T_grasp.allclose(PANDA.hand_T_fingertip)


def test_eye_in_hand_composes_the_arm_pose_at_the_frame_time(box_scene):
    depth, action = box_scene
    base_T_ee = SE3.from_rotvec([0.1, -0.2, 0.3], (0.4, 0.1, 0.6))
    ee_T_camera = base_T_ee.inverse() @ BASE_T_CAMERA  # the mount that puts the camera where it is
    composed = base_T_camera_eye_in_hand(base_T_ee, ee_T_camera)
    np.testing.assert_allclose(composed.matrix(), base_T_ee.matrix() @ ee_T_camera.matrix(), atol=1e-12)
    assert composed.allclose(BASE_T_CAMERA, atol_m=1e-12, atol_rad=1e-12)
    a = ground(frame_of(depth), action, composed).targets[1]
    b = ground(frame_of(depth), action, BASE_T_CAMERA.matrix()).targets[1]
    np.testing.assert_allclose(a.base_T_tip, b.base_T_tip, atol=1e-9)
    with pytest.raises(TypeError):
        base_T_camera_eye_in_hand(base_T_ee.matrix(), ee_T_camera)


# ---------------------------------------------------------------------------------------- demo scene
def _perturbed(box, dx: float, dy: float, scale: float) -> Affordance:
    """Shift the centre by dx, dy (fractions of the box size) and scale the size."""
    x, y, w, h = box
    return Affordance.from_values(x + dx * w, y + dy * h, w * scale, h * scale)


PERTURBATIONS = {
    "exact": [(0.0, 0.0, 1.0)],
    "shift 5%": [(sx * 0.05, sy * 0.05, 1.0) for sx in (-1, 0, 1) for sy in (-1, 0, 1) if sx or sy],
    "shift 10%": [(sx * 0.10, sy * 0.10, 1.0) for sx in (-1, 0, 1) for sy in (-1, 0, 1) if sx or sy],
    "shift 20%": [(sx * 0.20, sy * 0.20, 1.0) for sx in (-1, 0, 1) for sy in (-1, 0, 1) if sx or sy],
    "scale 0.8/1.2": [(0.0, 0.0, 0.8), (0.0, 0.0, 1.2)],
    "scale 0.5/1.5": [(0.0, 0.0, 0.5), (0.0, 0.0, 1.5)],
}


def demo_errors_m(frame, truth, config: GroundingConfig | None = None) -> dict[str, list[float]]:
    """Distance from the grounded grasp point to each object's top centre, per perturbation."""
    errors: dict[str, list[float]] = {name: [] for name in PERTURBATIONS}
    for obj in truth.objects:
        for name, cases in PERTURBATIONS.items():
            for dx, dy, scale in cases:
                action = _perturbed(obj.box_normalized, dx, dy, scale)
                grasp = ground(frame, action, truth.base_T_camera, config).targets[1]
                errors[name].append(float(np.linalg.norm(grasp.grasp_point_base_m - obj.top_centre_base_m)))
    return errors


def _demo(tmp_dir, seed: int):
    from vla_r1_robot.bags import open_bag
    from vla_r1_robot.sim.demo_scene import generate_demo_scene, load_ground_truth

    scene = generate_demo_scene(tmp_dir, seed=seed, n_frames=1)
    with open_bag(scene.bag_path) as source:
        frame = next(iter(source))
    return frame, load_ground_truth(scene.out_dir)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    try:
        return _demo(tmp_path_factory.mktemp("grounding_demo"), seed=3)
    except RuntimeError as error:  # no offscreen GL here
        pytest.skip(f"MuJoCo offscreen rendering unavailable: {error}")


def test_demo_scene_ground_truth_boxes_land_within_1_cm_of_the_top_centre(demo):
    frame, truth = demo
    assert len(truth.objects) == 4
    errors = {}
    for obj in truth.objects:
        targets = ground(frame, Affordance(*obj.box_normalized), truth.base_T_camera)
        errors[obj.name] = float(np.linalg.norm(targets.targets[1].grasp_point_base_m - obj.top_centre_base_m))
        assert targets.targets[1].n_valid_depth > 50
    assert max(errors.values()) < 0.01, errors


def test_demo_scene_error_grows_gracefully_with_box_perturbations(demo):
    frame, truth = demo
    errors = demo_errors_m(frame, truth)
    assert max(errors["shift 5%"]) < 0.01
    assert np.median(errors["shift 10%"]) < 0.01
    assert max(errors["scale 0.8/1.2"]) < 0.01


if __name__ == "__main__":  # the numbers in docs/grounding.md
    import sys
    import tempfile
    import time

    seeds = [int(s) for s in sys.argv[1:]] or [0, 1, 2, 3, 4]
    table_rows: dict[str, list[float]] = {name: [] for name in PERTURBATIONS}
    timing_frame = None
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            frame, truth = _demo(tmp, seed)
        timing_frame = (frame, truth)
        for name, values in demo_errors_m(frame, truth).items():
            table_rows[name].extend(values)
    print(f"{len(seeds)} scenes, {len(timing_frame[1].objects)} objects each; grasp point to top centre, mm")
    print("| box | n | median | p90 | max |\n|---|---|---|---|---|")
    for name, values in table_rows.items():
        mm = np.asarray(values) * 1e3
        print(f"| {name} | {len(mm)} | {np.median(mm):.1f} | {np.percentile(mm, 90):.1f} | {mm.max():.1f} |")
    frame, truth = timing_frame
    box = Affordance(*truth.objects[0].box_normalized)
    points = Trajectory(tuple((0.2 + 0.06 * i, 0.3 + 0.04 * i) for i in range(10)))
    for label, action, config in (
        ("affordance top_down/box", box, GroundingConfig()),
        ("affordance surface_normal/points", box, GroundingConfig(approach="surface_normal", yaw_from="points")),
        ("trajectory 10 points", points, GroundingConfig()),
    ):
        ground(frame, action, truth.base_T_camera, config)
        start, n = time.perf_counter(), 200
        for _ in range(n):
            result = ground(frame, action, truth.base_T_camera, config)
        print(f"{label}: {(time.perf_counter() - start) / n * 1e3:.2f} ms per frame ({len(result)} poses)")
