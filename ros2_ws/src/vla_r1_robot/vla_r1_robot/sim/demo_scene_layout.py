"""The demo tabletop as data: table, objects, camera pose, and its MuJoCo (MJCF) description.

Frames: ``base_link`` is the robot base and MuJoCo's world frame (x forward over the table, z up,
metres); the table top is the plane z = 0 in front of the base. The camera is an optical frame
(x right, y down, z forward); MuJoCo cameras look along -z with y up, so
``mujoco_camera_R_optical = diag(1, -1, -1)``. Pure numpy: no MuJoCo needed to build or test this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from calibration import SE3, CameraModel

TABLE_TOP_Z_M = 0.0
TABLE_CENTRE_XY_M = (0.6, 0.0)
TABLE_HALF_SIZE_M = (0.35, 0.5, 0.02)
# Objects are placed in a disc under the camera: a near-vertical view keeps the 2D box centre on
# the object's top face (tall objects seen obliquely would put it on a side).
PLACEMENT_CENTRE_XY_M = (0.55, 0.0)
PLACEMENT_RADIUS_M = 0.11
MIN_GAP_M = 0.03
# MuJoCo clip planes are fractions of the model extent; fixing the extent fixes them in metres.
MODEL_EXTENT_M = 2.0
ZNEAR_FRACTION = 0.01  # 2 cm
ZFAR_FRACTION = 2.5  # 5 m
OPTICAL_R_MUJOCO_CAMERA = np.diag([1.0, -1.0, -1.0])  # its own inverse


@dataclass(frozen=True)
class ObjectSpec:
    """A primitive: box (half sizes x, y, z), cylinder (radius, half height), sphere (radius)."""

    name: str
    shape: str
    rgba: tuple[float, float, float, float]
    half_size_m: tuple[float, ...]

    def __post_init__(self) -> None:
        expected = {"box": 3, "cylinder": 2, "sphere": 1}
        if self.shape not in expected:
            raise ValueError(f"{self.name}: shape must be one of {sorted(expected)}, got {self.shape!r}")
        if len(self.half_size_m) != expected[self.shape] or min(self.half_size_m) <= 0:
            raise ValueError(
                f"{self.name}: a {self.shape} needs {expected[self.shape]} positive half sizes, got {self.half_size_m}"
            )
        if len(self.rgba) != 4 or not all(0 <= c <= 1 for c in self.rgba):
            raise ValueError(f"{self.name}: rgba must be 4 values in [0, 1], got {self.rgba}")

    @property
    def height_m(self) -> float:
        return 2 * self.half_size_m[-1] if self.shape != "sphere" else 2 * self.half_size_m[0]

    @property
    def footprint_radius_m(self) -> float:
        """Radius of a circle around the object's footprint (any yaw)."""
        return math.hypot(*self.half_size_m[:2]) if self.shape == "box" else self.half_size_m[0]

    def size_m(self) -> dict[str, float]:
        if self.shape == "box":
            return {"x": 2 * self.half_size_m[0], "y": 2 * self.half_size_m[1], "z": 2 * self.half_size_m[2]}
        if self.shape == "cylinder":
            return {"radius": self.half_size_m[0], "height": 2 * self.half_size_m[1]}
        return {"radius": self.half_size_m[0]}


DEFAULT_OBJECTS = (
    ObjectSpec("red_box", "box", (0.85, 0.1, 0.1, 1.0), (0.03, 0.02, 0.025)),
    ObjectSpec("green_cylinder", "cylinder", (0.1, 0.7, 0.15, 1.0), (0.025, 0.025)),
    ObjectSpec("blue_sphere", "sphere", (0.1, 0.25, 0.85, 1.0), (0.028,)),
    ObjectSpec("yellow_box", "box", (0.9, 0.8, 0.1, 1.0), (0.022, 0.022, 0.02)),
)


@dataclass(frozen=True)
class PlacedObject:
    spec: ObjectSpec
    position_base_m: tuple[float, float, float]  # geometric centre
    yaw_rad: float

    @property
    def base_T_object(self) -> SE3:
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        return SE3(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]), np.array(self.position_base_m))

    @property
    def top_centre_base_m(self) -> np.ndarray:
        """Centre of the top face (box, cylinder) or the highest point (sphere)."""
        x, y, _ = self.position_base_m
        return np.array([x, y, TABLE_TOP_Z_M + self.spec.height_m])


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole RGB-D camera aimed at ``target_base_m`` from ``position_base_m``; ``up_hint_base``
    is the base direction that should point up in the image."""

    width: int = 640
    height: int = 480
    fovy_deg: float = 50.0
    position_base_m: tuple[float, float, float] = (0.50, 0.0, 0.78)
    target_base_m: tuple[float, float, float] = PLACEMENT_CENTRE_XY_M + (TABLE_TOP_Z_M,)
    up_hint_base: tuple[float, float, float] = (1.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not 10.0 <= self.fovy_deg <= 120.0:
            raise ValueError(f"fovy must be within 10..120 degrees, got {self.fovy_deg}")
        forward = np.subtract(self.target_base_m, self.position_base_m)
        if np.linalg.norm(forward) < 0.1:
            raise ValueError("camera target must be at least 0.1 m from the camera")
        if np.linalg.norm(np.cross(forward, self.up_hint_base)) < 1e-6:
            raise ValueError("up_hint_base must not be parallel to the viewing direction")

    def camera_model(self) -> CameraModel:
        """MuJoCo renders square pixels with the optical axis through the image centre, which is
        pixel ((W-1)/2, (H-1)/2) in the OpenCV/ROS convention (pixel centres on integers)."""
        f = (self.height / 2.0) / math.tan(math.radians(self.fovy_deg) / 2.0)
        K = np.array([[f, 0.0, (self.width - 1) / 2.0], [0.0, f, (self.height - 1) / 2.0], [0.0, 0.0, 1.0]])
        return CameraModel(self.width, self.height, K, "plumb_bob", np.zeros(5), camera_name="demo_rgbd")

    def base_T_camera(self) -> SE3:
        """The OPTICAL frame in the base frame (x right, y down, z along the view)."""
        z = np.subtract(self.target_base_m, self.position_base_m)
        z = z / np.linalg.norm(z)
        x = np.cross(z, self.up_hint_base)  # image right (x = y x z with y = -up)
        x = x / np.linalg.norm(x)
        y = np.cross(z, x)  # image down: the up hint's opposite, made orthogonal to z
        return SE3(np.stack([x, y, z], axis=1), np.array(self.position_base_m))


@dataclass(frozen=True)
class SceneLayout:
    objects: tuple[PlacedObject, ...]
    camera: CameraSpec = field(default_factory=CameraSpec)


def sample_layout(
    seed: int,
    specs: tuple[ObjectSpec, ...] = DEFAULT_OBJECTS,
    camera: CameraSpec | None = None,
    max_tries: int = 10_000,
) -> SceneLayout:
    """Non-overlapping positions and yaws in the placement disc, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    placed: list[PlacedObject] = []
    for spec in specs:
        for _ in range(max_tries):
            radius = PLACEMENT_RADIUS_M * math.sqrt(rng.uniform())  # uniform over the disc
            angle = rng.uniform(0, 2 * math.pi)
            x = PLACEMENT_CENTRE_XY_M[0] + radius * math.cos(angle)
            y = PLACEMENT_CENTRE_XY_M[1] + radius * math.sin(angle)
            if all(
                math.hypot(x - o.position_base_m[0], y - o.position_base_m[1])
                >= spec.footprint_radius_m + o.spec.footprint_radius_m + MIN_GAP_M
                for o in placed
            ):
                z = TABLE_TOP_Z_M + spec.height_m / 2.0
                yaw = float(rng.uniform(-math.pi / 2, math.pi / 2)) if spec.shape == "box" else 0.0
                placed.append(PlacedObject(spec, (x, y, z), yaw))
                break
        else:
            raise ValueError(f"could not place {spec.name} without overlap in {max_tries} tries")
    return SceneLayout(tuple(placed), camera or CameraSpec())


def _vec(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def mjcf(layout: SceneLayout) -> str:
    """The MuJoCo model of the scene (static: no joints, nothing moves)."""
    camera = layout.camera
    mujoco_R = camera.base_T_camera().rotation @ OPTICAL_R_MUJOCO_CAMERA  # base_R_mujococamera
    xyaxes = _vec(np.concatenate([mujoco_R[:, 0], mujoco_R[:, 1]]))
    geoms = []
    for obj in layout.objects:
        spec = obj.spec
        quat = obj.base_T_object.quaternion_xyzw()
        geoms.append(
            f'    <geom name="{spec.name}" type="{spec.shape}" size="{_vec(spec.half_size_m)}" '
            f'pos="{_vec(obj.position_base_m)}" quat="{_vec([quat[3], *quat[:3]])}" rgba="{_vec(spec.rgba)}"/>'
        )
    tx, ty = TABLE_CENTRE_XY_M
    hx, hy, hz = TABLE_HALF_SIZE_M
    return f"""<mujoco model="vla_r1_demo_tabletop">
  <statistic extent="{MODEL_EXTENT_M}" center="0.5 0 0.2"/>
  <visual>
    <global offwidth="{camera.width}" offheight="{camera.height}"/>
    <map znear="{ZNEAR_FRACTION}" zfar="{ZFAR_FRACTION}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0 0 0"/>
    <quality shadowsize="2048"/>
  </visual>
  <worldbody>
    <light name="ceiling" pos="0.4 0.3 2.0" dir="0.1 -0.15 -1" diffuse="0.5 0.5 0.5" specular="0.1 0.1 0.1"
           castshadow="true"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="3 3 0.05" rgba="0.32 0.33 0.36 1"/>
    <geom name="table" type="box" pos="{tx} {ty} {TABLE_TOP_Z_M - hz}" size="{hx} {hy} {hz}" rgba="0.72 0.66 0.58 1"/>
    <geom name="robot_pedestal" type="cylinder" pos="0 0 -0.375" size="0.09 0.375" rgba="0.25 0.25 0.27 1"/>
{chr(10).join(geoms)}
    <camera name="rgbd" pos="{_vec(camera.position_base_m)}" xyaxes="{xyaxes}" fovy="{camera.fovy_deg}"/>
  </worldbody>
</mujoco>
"""
