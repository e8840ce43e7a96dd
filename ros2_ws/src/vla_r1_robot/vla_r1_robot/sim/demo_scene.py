"""A rendered tabletop recording with ground truth, for demos and grounding-accuracy tests.

``generate_demo_scene(out_dir)`` renders the scene of ``demo_scene_layout`` with MuJoCo offscreen
(EGL by default, OSMesa on request) and writes:

* ``out_dir/demo_bag/``: rosbag2 MCAP, laid out like realsense2_camera: ``/camera/color/image_raw``
  (rgb8), ``/camera/aligned_depth_to_color/image_raw`` (16UC1 millimetres, 0 = invalid; depth is
  aligned by construction), ``/camera/color/camera_info`` and ``/tf_static``
  (base_link -> camera_color_optical_frame);
* ``out_dir/ground_truth.json``: camera, ``base_T_camera``, and per object its pose, size,
  top-centre point in the base frame and its 2D box (pixels and normalized centre format);
* ``out_dir/base_T_camera.yaml``: the same transform in the calibration package's YAML format;
* ``out_dir/preview.png``: the first color frame with the ground-truth boxes drawn.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from calibration import SE3, CameraModel, NamedTransform
from vla_r1_model.validation import integer_at_least, one_of

from ..bags.writer import RgbdBagWriter
from .demo_scene_layout import (
    MODEL_EXTENT_M,
    TABLE_TOP_Z_M,
    ZFAR_FRACTION,
    ZNEAR_FRACTION,
    CameraSpec,
    SceneLayout,
    mjcf,
    sample_layout,
)

BASE_FRAME = "base_link"
CAMERA_FRAME = "camera_color_optical_frame"
COLOR_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "/camera/color/camera_info"
DEPTH_INFO_TOPIC = "/camera/aligned_depth_to_color/camera_info"
START_STAMP_S = 1_700_000_000.0  # fixed, so two runs with one seed write identical bags
SCHEMA = "vla_r1_demo_scene/1"
_GL_BACKENDS = ("egl", "osmesa", "glfw")


@dataclass(frozen=True)
class DemoSceneConfig:
    seed: int = 0
    n_frames: int = 10
    fps: float = 10.0
    camera: CameraSpec = field(default_factory=CameraSpec)
    gl: str = "egl"  # MuJoCo offscreen backend; only honoured before mujoco is first imported

    def __post_init__(self) -> None:
        integer_at_least("n_frames", self.n_frames, 1)
        if not (0 < self.fps <= 1000):
            raise ValueError(f"fps must be in (0, 1000], got {self.fps}")
        one_of("gl", self.gl, _GL_BACKENDS)


@dataclass(frozen=True)
class DemoScene:
    """What generate_demo_scene wrote, plus how long rendering took."""

    out_dir: Path
    bag_path: Path
    ground_truth_path: Path
    base_T_camera_path: Path
    preview_path: Path
    ground_truth: dict
    render_s_per_frame: float


def _import_mujoco(gl: str) -> Any:
    """MuJoCo reads MUJOCO_GL once, at import; set it first unless the user already chose."""
    if "mujoco" not in sys.modules:
        os.environ.setdefault("MUJOCO_GL", gl)
        if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
            os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    import mujoco

    return mujoco


def _gl_hint(gl: str) -> str:
    if "MUJOCO_GL" not in os.environ:
        return (
            f"mujoco was imported before MUJOCO_GL was set, so it chose a windowed backend; "
            f"run with MUJOCO_GL={gl} in the environment"
        )
    return "use gl='egl' (needs libEGL) or gl='osmesa' (Debian package libosmesa6)"


class _Renderer:
    """Color, metric depth and per-pixel geom ids from the scene camera."""

    def __init__(self, layout: SceneLayout, gl: str) -> None:
        self._mujoco = mujoco = _import_mujoco(gl)
        self.model = mujoco.MjModel.from_xml_string(mjcf(layout))
        self.data = mujoco.MjData(self.model)
        mujoco.mj_forward(self.model, self.data)
        camera = layout.camera
        try:
            self._renderer = mujoco.Renderer(self.model, camera.height, camera.width)
        except Exception as error:  # MuJoCo raises plain Exceptions for GL problems
            raise RuntimeError(
                f"MuJoCo cannot render offscreen with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}: "
                f"{error}; {_gl_hint(gl)}"
            ) from error
        # MuJoCo's near/far clip planes in metres; its Renderer undoes the (reversed-Z) projection
        # with exactly these, so the depth it returns is metric Z along the optical axis.
        self.znear_m = float(self.model.vis.map.znear * self.model.stat.extent)
        self.zfar_m = float(self.model.vis.map.zfar * self.model.stat.extent)

    def color(self) -> np.ndarray:
        self._renderer.update_scene(self.data, camera="rgbd")
        return self._renderer.render().copy()

    def depth_m(self) -> np.ndarray:
        """float32 metres, NaN where nothing was hit (at or beyond the far plane)."""
        self._renderer.enable_depth_rendering()
        try:
            self._renderer.update_scene(self.data, camera="rgbd")
            depth = self._renderer.render().astype(np.float32)
        finally:
            self._renderer.disable_depth_rendering()
        depth[~(depth < 0.999 * self.zfar_m)] = np.nan
        return depth

    def geom_ids(self) -> np.ndarray:
        """HxW geom id per pixel, -1 for none."""
        self._renderer.enable_segmentation_rendering()
        try:
            self._renderer.update_scene(self.data, camera="rgbd")
            seg = self._renderer.render()
        finally:
            self._renderer.disable_segmentation_rendering()
        ids = seg[:, :, 0].copy()
        ids[seg[:, :, 1] != int(self._mujoco.mjtObj.mjOBJ_GEOM)] = -1
        return ids

    def geom_id(self, name: str) -> int:
        return int(self._mujoco.mj_name2id(self.model, self._mujoco.mjtObj.mjOBJ_GEOM, name))

    def close(self) -> None:
        self._renderer.close()


def depth_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """float metres (NaN invalid) -> uint16 millimetres (0 invalid), the ROS 16UC1 convention."""
    mm = np.rint(np.nan_to_num(depth_m, nan=0.0) * 1000.0)
    mm[(mm <= 0) | (mm > 65535)] = 0
    return mm.astype(np.uint16)


def _box_of(mask: np.ndarray) -> dict[str, Any] | None:
    """Pixel box in edge coordinates (x_max/y_max exclusive: max index + 1) and normalized centre
    format (x, y, width, height in [0, 1]) as the model outputs."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    height, width = mask.shape
    x_min, x_max, y_min, y_max = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    return {
        "box_pixels": {"x_min": x_min, "y_min": y_min, "x_max": x_max, "y_max": y_max},
        "box_normalized": {
            "x": round((x_min + x_max) / 2 / width, 6),
            "y": round((y_min + y_max) / 2 / height, 6),
            "width": round((x_max - x_min) / width, 6),
            "height": round((y_max - y_min) / height, 6),
        },
        "visible_pixels": int(mask.sum()),
    }


def _ground_truth(
    config: DemoSceneConfig,
    layout: SceneLayout,
    camera: CameraModel,
    base_T_camera: SE3,
    geom_ids: np.ndarray,
    renderer: _Renderer,
    stamps_s: list[float],
) -> dict:
    camera_T_base = base_T_camera.inverse()
    objects = []
    for obj in layout.objects:
        box = _box_of(geom_ids == renderer.geom_id(obj.spec.name))
        top = obj.top_centre_base_m
        top_pixel = camera.project(camera_T_base.apply(top)[None])[0]
        objects.append(
            {
                "name": obj.spec.name,
                "shape": obj.spec.shape,
                "rgba": list(obj.spec.rgba),
                "size_m": obj.spec.size_m(),
                "position_base_m": [float(v) for v in obj.position_base_m],
                "quaternion_xyzw_base": [float(v) for v in obj.base_T_object.quaternion_xyzw()],
                "yaw_deg": float(np.degrees(obj.yaw_rad)),
                "top_centre_base_m": [float(v) for v in top],
                "top_centre_pixel": [float(v) for v in top_pixel],
                **(box or {"box_pixels": None, "box_normalized": None, "visible_pixels": 0}),
            }
        )
    return {
        "schema": SCHEMA,
        "seed": config.seed,
        "n_frames": config.n_frames,
        "fps": config.fps,
        "bag": "demo_bag",
        "topics": {"color": COLOR_TOPIC, "depth": DEPTH_TOPIC, "camera_info": INFO_TOPIC, "tf_static": "/tf_static"},
        "frames": {"base": BASE_FRAME, "camera": CAMERA_FRAME},
        "conventions": {
            "camera_frame": "optical: x right, y down, z forward",
            "box_pixels": "edge coordinates: pixel column c spans [c, c+1); x_max, y_max exclusive",
            "box_normalized": "centre x, y and width, height divided by the image size (the model's format)",
            "top_centre_base_m": "centre of the top face (box, cylinder) or highest point (sphere), base frame",
        },
        "camera": camera.to_camera_info(),
        "base_T_camera": {
            "matrix": base_T_camera.matrix().tolist(),
            "translation_m": base_T_camera.translation.tolist(),
            "quaternion_xyzw": base_T_camera.quaternion_xyzw().tolist(),
        },
        "table": {"top_z_m": TABLE_TOP_Z_M},
        "depth": {
            "encoding": "16UC1",
            "unit_m": 0.001,
            "znear_m": renderer.znear_m,
            "zfar_m": renderer.zfar_m,
            "model_extent_m": MODEL_EXTENT_M,
            "znear_fraction": ZNEAR_FRACTION,
            "zfar_fraction": ZFAR_FRACTION,
        },
        "stamps_s": stamps_s,
        "objects": objects,
    }


def _preview(color_rgb: np.ndarray, objects: list[dict], path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.fromarray(color_rgb)
    draw = ImageDraw.Draw(image)
    for obj in objects:
        box = obj["box_pixels"]
        if box:
            draw.rectangle([box["x_min"], box["y_min"], box["x_max"] - 1, box["y_max"] - 1], outline=(255, 255, 255))
            draw.text((box["x_min"], max(0, box["y_min"] - 12)), obj["name"], fill=(255, 255, 255))
    image.save(path)


def generate_demo_scene(
    out_dir: str | PathLike[str], seed: int = 0, n_frames: int = 10, *, config: DemoSceneConfig | None = None
) -> DemoScene:
    """Render the scene and write the bag, ground truth, base_T_camera YAML and a preview into
    ``out_dir`` (created; an existing ``demo_bag`` inside it is an error)."""
    config = config or DemoSceneConfig(seed=seed, n_frames=n_frames)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bag_path = out / "demo_bag"
    if bag_path.exists():
        raise FileExistsError(f"{bag_path} exists; choose a new output folder or remove it")
    layout = sample_layout(config.seed, camera=config.camera)
    camera = config.camera.camera_model()
    base_T_camera = config.camera.base_T_camera()
    renderer = _Renderer(layout, config.gl)
    try:
        geom_ids = renderer.geom_ids()
        stamps_s = [START_STAMP_S + i / config.fps for i in range(config.n_frames)]
        render_s = 0.0
        first_color = None
        with RgbdBagWriter(bag_path, storage="mcap") as bag:
            bag.write_static_transforms([(BASE_FRAME, CAMERA_FRAME, base_T_camera)], stamps_s[0])
            for stamp_s in stamps_s:
                start = time.perf_counter()
                color_rgb = renderer.color()
                depth_m = renderer.depth_m()
                render_s += time.perf_counter() - start
                first_color = color_rgb if first_color is None else first_color
                bag.write_camera_info(INFO_TOPIC, camera, stamp_s, CAMERA_FRAME)
                bag.write_camera_info(DEPTH_INFO_TOPIC, camera, stamp_s, CAMERA_FRAME)
                bag.write_image(COLOR_TOPIC, color_rgb, stamp_s, CAMERA_FRAME)
                bag.write_image(DEPTH_TOPIC, depth_to_millimetres(depth_m), stamp_s, CAMERA_FRAME)
        truth = _ground_truth(config, layout, camera, base_T_camera, geom_ids, renderer, stamps_s)
    finally:
        renderer.close()
    truth_path = out / "ground_truth.json"
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    transform_path = out / "base_T_camera.yaml"
    NamedTransform(BASE_FRAME, CAMERA_FRAME, base_T_camera).to_yaml(transform_path, extra={"source": "demo scene"})
    preview_path = out / "preview.png"
    assert first_color is not None  # n_frames >= 1 (DemoSceneConfig)
    _preview(first_color, truth["objects"], preview_path)
    return DemoScene(out, bag_path, truth_path, transform_path, preview_path, truth, render_s / config.n_frames)


@dataclass(frozen=True)
class DemoObject:
    name: str
    shape: str
    top_centre_base_m: np.ndarray
    box_pixels: tuple[int, int, int, int]  # x_min, y_min, x_max (exclusive), y_max (exclusive)
    box_normalized: tuple[float, float, float, float]  # centre x, y, width, height
    rgba: tuple[float, float, float, float]


@dataclass(frozen=True)
class DemoGroundTruth:
    camera: CameraModel
    base_T_camera: SE3
    objects: tuple[DemoObject, ...]
    table_top_z_m: float


def load_ground_truth(path: str | PathLike[str]) -> DemoGroundTruth:
    """Read ``ground_truth.json`` (or the folder holding it) into typed values."""
    path = Path(path)
    if path.is_dir():
        path = path / "ground_truth.json"
    data = json.loads(path.read_text())
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a demo scene ground truth (schema {data.get('schema')!r}, expected {SCHEMA!r})")
    objects = []
    for obj in data["objects"]:
        if obj["box_pixels"] is None:
            continue  # not visible from the camera
        b, n = obj["box_pixels"], obj["box_normalized"]
        objects.append(
            DemoObject(
                obj["name"],
                obj["shape"],
                np.asarray(obj["top_centre_base_m"], dtype=np.float64),
                (b["x_min"], b["y_min"], b["x_max"], b["y_max"]),
                (n["x"], n["y"], n["width"], n["height"]),
                tuple(obj["rgba"]),
            )
        )
    return DemoGroundTruth(
        CameraModel.from_camera_info(data["camera"], source=f"{path}: camera"),
        SE3.from_matrix(data["base_T_camera"]["matrix"]),
        tuple(objects),
        data["table"]["top_z_m"],
    )
