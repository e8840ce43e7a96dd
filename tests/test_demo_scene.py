"""Demo scene: the rendered recording reads back through the bag source and its ground truth is
right (boxes on the objects, metric depth that lands on the objects' top surfaces)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from vla_r1_robot.bags import open_bag
from vla_r1_robot.sim.demo_scene_layout import PLACEMENT_RADIUS_M, CameraSpec, sample_layout

N_FRAMES = 3


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    if importlib.util.find_spec("mujoco") is None:  # find_spec, not import: MUJOCO_GL must be set first
        pytest.skip("the demo scene needs the 'sim' extra (mujoco)")
    from vla_r1_robot.sim.demo_scene import generate_demo_scene

    try:
        return generate_demo_scene(tmp_path_factory.mktemp("demo"), seed=3, n_frames=N_FRAMES)
    except RuntimeError as error:  # no offscreen GL on this machine
        pytest.skip(f"MuJoCo offscreen rendering unavailable: {error}")


@pytest.fixture(scope="module")
def truth(scene):
    from vla_r1_robot.sim.demo_scene import load_ground_truth

    return load_ground_truth(scene.out_dir)


@pytest.fixture(scope="module")
def frames(scene):
    with open_bag(scene.bag_path) as source:
        assert source.depth_aligned and source.color_T_depth is None
        base_T_camera = source.static_transform("base_link", "camera_color_optical_frame")
        return list(source), base_T_camera


def test_bag_reads_back_with_the_ground_truth_camera(scene, truth, frames):
    frames, base_T_camera_from_bag = frames
    assert len(frames) == N_FRAMES
    assert [f.stamp_s for f in frames] == pytest.approx(scene.ground_truth["stamps_s"])
    assert all(f.camera == truth.camera and f.frame_id == "camera_color_optical_frame" for f in frames)
    assert (truth.camera.width, truth.camera.height) == (640, 480)
    assert base_T_camera_from_bag.allclose(truth.base_T_camera, atol_m=1e-6, atol_rad=1e-6)
    camera_height_m = truth.base_T_camera.translation[2] - truth.table_top_z_m
    assert 0.6 <= camera_height_m <= 0.9
    assert truth.base_T_camera.rotation[2, 2] < -0.95  # optical z looks down at the table
    assert {o.name for o in truth.objects} == {"red_box", "green_cylinder", "blue_sphere", "yellow_box"}
    assert scene.preview_path.is_file() and scene.base_T_camera_path.is_file()


def test_ground_truth_boxes_sit_on_the_rendered_objects(truth, frames):
    color = frames[0][0].color_rgb.astype(np.float64)
    for obj in truth.objects:
        x0, y0, x1, y1 = obj.box_pixels
        assert 10 < x1 - x0 < 200 and 10 < y1 - y0 < 200, obj.name
        w, h = x1 - x0, y1 - y0
        inner = color[y0 + h // 4 : y1 - h // 4, x0 + w // 4 : x1 - w // 4].reshape(-1, 3)
        # chromaticity: which channels dominate is what shading does not change
        chroma = inner / inner.sum(axis=1, keepdims=True)
        target = np.asarray(obj.rgba[:3]) / sum(obj.rgba[:3])
        assert np.mean(np.linalg.norm(chroma - target, axis=1) < 0.12) > 0.8, obj.name
        # just outside the box is table, not the object
        ring = np.concatenate([color[max(y0 - 3, 0), x0:x1], color[min(y1 + 2, 479), x0:x1]])
        ring_chroma = ring / ring.sum(axis=1, keepdims=True)
        assert np.mean(np.linalg.norm(ring_chroma - target, axis=1) < 0.12) < 0.2, obj.name
        # normalized centre format agrees with the pixel box
        cx, cy, nw, nh = obj.box_normalized
        assert (cx * 640, cy * 480, nw * 640, nh * 480) == pytest.approx(((x0 + x1) / 2, (y0 + y1) / 2, w, h), abs=1e-3)


def test_depth_at_box_centre_lands_on_the_top_surface(truth, frames):
    frame = frames[0][0]
    errors = {}
    for obj in truth.objects:
        x0, y0, x1, y1 = obj.box_pixels
        u, v = (x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5  # edge coordinates -> pixel centres
        depth = frame.depth_m[round(v), round(u)]
        point_base = truth.base_T_camera.apply(frame.camera.deproject(np.array([[u, v]]), np.array([depth]))[0])
        errors[obj.name] = float(np.linalg.norm(point_base - obj.top_centre_base_m))
    assert max(errors.values()) < 0.01, errors


def test_depth_is_metric_on_the_table_plane(truth, frames):
    """The table top is z = 0 in the base frame: a wrong near/far conversion would bend it."""
    frame = frames[0][0]
    points = truth.base_T_camera.apply(frame.camera.deproject_image(frame.depth_m).reshape(-1, 3))
    z = points[:, 2].reshape(480, 640)
    for rows, cols in (
        (slice(20, 60), slice(20, 60)),
        (slice(20, 60), slice(580, 620)),
        (slice(200, 220), slice(100, 140)),
    ):
        assert abs(np.nanmedian(z[rows, cols]) - truth.table_top_z_m) < 0.003


def test_top_centres_project_into_their_boxes(truth):
    camera_T_base = truth.base_T_camera.inverse()
    for obj in truth.objects:
        u, v = truth.camera.project(camera_T_base.apply(obj.top_centre_base_m)[None])[0]
        x0, y0, x1, y1 = obj.box_pixels
        assert x0 <= u + 0.5 <= x1 and y0 <= v + 0.5 <= y1, obj.name


def test_ground_truth_file_is_self_describing(scene):
    data = json.loads(scene.ground_truth_path.read_text())
    assert data["depth"]["encoding"] == "16UC1" and data["depth"]["znear_m"] == pytest.approx(0.02)
    assert data["topics"]["depth"] == "/camera/aligned_depth_to_color/image_raw"
    assert scene.render_s_per_frame > 0


def test_layout_is_reproducible_and_keeps_objects_apart():
    a, b, c = sample_layout(7), sample_layout(7), sample_layout(8)
    assert a == b and a != c
    for layout in (a, c):
        for i, p in enumerate(layout.objects):
            assert np.hypot(p.position_base_m[0] - 0.55, p.position_base_m[1]) <= PLACEMENT_RADIUS_M + 1e-9
            for q in layout.objects[i + 1 :]:
                gap = np.hypot(*np.subtract(p.position_base_m[:2], q.position_base_m[:2]))
                assert gap >= p.spec.footprint_radius_m + q.spec.footprint_radius_m


def test_camera_spec_validation_and_optical_convention():
    with pytest.raises(ValueError):
        CameraSpec(fovy_deg=5.0)
    base_T_camera = CameraSpec().base_T_camera()
    # image up (-y optical) points away from the robot (+x base); image right is the robot's right
    assert (-base_T_camera.rotation[:, 1])[0] > 0.95
    assert base_T_camera.rotation[1, 0] < -0.95
