"""The simulated work cell: a Panda (from the planner's own URDF), a table, free objects, an RGB-D camera.

Physics (MuJoCo, CPU): 2 ms steps, ``implicitfast``, elliptic friction cones (impratio 10) and
torsional friction (condim 4) on the fingers and the objects. The arm has gravity compensation,
armature 0.1 and a position servo per joint (kp 4500/4500/3500/3500/2000/2000/2000, kv = kp/10)
whose set-point carries a velocity feed-forward: ``ctrl = q_des + qd_des · kv/kp`` makes the servo
force ``kp (q_des − q) + kv (qd_des − qd)``. The gripper is one servo on ``panda_finger_joint1``
(kp 400); the second finger follows through the URDF's mimic (an equality). Its force limit is the
commanded gripper force.

Interface (what a ROS wrapper drives): ``reset(layout, arm_positions)``, ``command_arm(q, qd)``,
``command_gripper(width_m, force_n)``, ``step(n)``, sensors (``arm_positions()``, ``finger_width_m()``,
``contacts()``), cameras (``render_frame()``, ``render_side()``) and ground truth (``object_pose``,
``object_boxes``, ``fingertip_centre_base_m``). Frames: MuJoCo's world frame is ``base_link``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibration import SE3

from ..motion.robot_profile import PANDA
from ..perception.frame import Frame
from ..poses import pose_matrix
from .demo_scene import _gl_hint, _import_mujoco, depth_to_millimetres
from .demo_scene_layout import (
    MODEL_EXTENT_M,
    OPTICAL_R_MUJOCO_CAMERA,
    TABLE_CENTRE_XY_M,
    TABLE_HALF_SIZE_M,
    TABLE_TOP_Z_M,
    ZFAR_FRACTION,
    ZNEAR_FRACTION,
    CameraSpec,
    SceneLayout,
)
from .robot_description import panda_urdf, robot_spec

ARM_KP = (4500.0, 4500.0, 3500.0, 3500.0, 2000.0, 2000.0, 2000.0)
FINGER_KP = 400.0
ARMATURE = 0.1
TIMESTEP_S = 0.002
FINGER_ARMATURE_KG = 0.1
# Stiffer contacts on fingers and objects than MuJoCo's default 0.02 s: soft contacts sink in by
# roughly force / (mass * stiffness), centimetres for a squeezing gripper (2 timesteps is the floor).
CONTACT_TIMECONST_S = 0.004
SIDE_CAMERA = CameraSpec(
    width=320,
    height=240,
    fovy_deg=45.0,
    position_base_m=(0.95, -0.75, 0.55),
    target_base_m=(0.45, 0.0, 0.12),
    up_hint_base=(0.0, 0.0, 1.0),
)


@dataclass(frozen=True)
class CellConfig:
    urdf: Path | None = None  # None: example-robot-data's Panda (the planner must use the same file)
    camera: CameraSpec = field(default_factory=CameraSpec)
    side_camera: CameraSpec = SIDE_CAMERA
    gl: str = "egl"
    object_density_kg_m3: float = 500.0  # light wooden/plastic blocks
    friction: tuple[float, float, float] = (1.0, 0.005, 0.0001)

    def __post_init__(self) -> None:
        if self.gl not in ("egl", "osmesa", "glfw"):
            raise ValueError(f"gl must be egl, osmesa or glfw, got {self.gl!r}")
        if not self.object_density_kg_m3 > 0:
            raise ValueError(f"object_density_kg_m3 must be > 0, got {self.object_density_kg_m3}")


@dataclass(frozen=True)
class Contact:
    """One active contact: the two bodies' names, and the normal force in newtons."""

    body1: str
    body2: str
    normal_force_n: float


def _xyaxes(camera: CameraSpec) -> list[float]:
    mujoco_R = camera.base_T_camera().rotation @ OPTICAL_R_MUJOCO_CAMERA
    return [*mujoco_R[:, 0], *mujoco_R[:, 1]]


class SimCell:
    """One MuJoCo model holding the robot and the objects of a layout. Rebuilt by ``reset`` when the
    layout's objects differ (shapes are compiled in); otherwise only the state is reset."""

    def __init__(self, config: CellConfig | None = None) -> None:
        self.config = config or CellConfig()
        self._mujoco = _import_mujoco(self.config.gl)
        self.urdf = Path(self.config.urdf) if self.config.urdf else panda_urdf()
        self.model: Any = None
        self.data: Any = None
        self.layout: SceneLayout | None = None
        self._renderers: dict[tuple[int, int], Any] = {}
        self._signature: tuple | None = None

    # ------------------------------------------------------------------ building
    def _build(self, layout: SceneLayout) -> None:
        mujoco = self._mujoco
        spec = robot_spec(self.urdf)
        spec.option.timestep = TIMESTEP_S
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        spec.option.impratio = 10.0
        spec.stat.extent = MODEL_EXTENT_M  # fixes the clip planes in metres (as the demo scene)
        spec.stat.center = [0.5, 0.0, 0.2]
        spec.visual.map.znear = ZNEAR_FRACTION
        spec.visual.map.zfar = ZFAR_FRACTION
        spec.visual.global_.offwidth = max(self.config.camera.width, self.config.side_camera.width)
        spec.visual.global_.offheight = max(self.config.camera.height, self.config.side_camera.height)
        spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
        spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]

        joints = {j.name: j for j in spec.joints}
        missing = [n for n in (*PANDA.arm_joints, *PANDA.finger_joints) if n not in joints]
        if missing:
            raise ValueError(f"{self.urdf}: not a Panda with gripper (missing joints {missing})")
        for name in PANDA.arm_joints:
            joints[name].armature = ARMATURE
        for name in PANDA.finger_joints:  # the gripper's lead screw: a heavy finger, not 15 g of URDF mass
            joints[name].armature = FINGER_ARMATURE_KG
        for body in spec.bodies:
            if body.name.startswith("panda_"):
                body.gravcomp = 1.0
        for geom in spec.geoms:
            geom.friction = list(self.config.friction)
            if geom.parent.name in PANDA.finger_links:
                geom.condim = 4
                geom.solref = [CONTACT_TIMECONST_S, 1.0]
        for name, kp in zip(PANDA.arm_joints, ARM_KP, strict=True):
            actuator = spec.add_actuator(name=f"servo_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
            actuator.set_to_position(kp=kp, kv=kp / 10.0)
        gripper = spec.add_actuator(
            name="servo_gripper", target=PANDA.finger_joints[0], trntype=mujoco.mjtTrn.mjTRN_JOINT
        )
        gripper.set_to_position(kp=FINGER_KP, kv=FINGER_KP / 20.0)
        gripper.forcelimited = True
        gripper.forcerange = [-40.0, 40.0]

        world = spec.worldbody
        tx, ty = TABLE_CENTRE_XY_M
        hx, hy, hz = TABLE_HALF_SIZE_M
        world.add_geom(
            name="floor",
            type=mujoco.mjtGeom.mjGEOM_PLANE,
            pos=[0, 0, -0.75],
            size=[3, 3, 0.05],
            rgba=[0.32, 0.33, 0.36, 1],
        )
        world.add_geom(
            name="table",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            pos=[tx, ty, TABLE_TOP_Z_M - hz],
            size=[hx, hy, hz],
            rgba=[0.72, 0.66, 0.58, 1],
            friction=list(self.config.friction),
        )
        world.add_geom(
            name="robot_pedestal",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            pos=[0, 0, -0.376],
            size=[0.09, 0.374, 0],
            rgba=[0.25, 0.25, 0.27, 1],
        )
        world.add_light(
            name="ceiling",
            pos=[0.4, 0.3, 2.0],
            dir=[0.1, -0.15, -1],
            diffuse=[0.5, 0.5, 0.5],
            specular=[0.1, 0.1, 0.1],
            castshadow=True,
        )
        shapes = {
            "box": mujoco.mjtGeom.mjGEOM_BOX,
            "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
            "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
        }
        for obj in layout.objects:
            quat = obj.base_T_object.quaternion_xyzw()
            body = world.add_body(name=obj.spec.name, pos=list(obj.position_base_m), quat=[quat[3], *quat[:3]])
            body.add_freejoint(name=f"{obj.spec.name}_free")
            size = list(obj.spec.half_size_m) + [0.0] * (3 - len(obj.spec.half_size_m))
            body.add_geom(
                name=obj.spec.name,
                type=shapes[obj.spec.shape],
                size=size,
                rgba=list(obj.spec.rgba),
                density=self.config.object_density_kg_m3,
                condim=4,
                friction=list(self.config.friction),
                solref=[CONTACT_TIMECONST_S, 1.0],
            )
        for name, camera in (("rgbd", self.config.camera), ("side", self.config.side_camera)):
            cam = world.add_camera(name=name, pos=list(camera.position_base_m), fovy=camera.fovy_deg)
            cam.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
            cam.alt.xyaxes = _xyaxes(camera)
        try:
            self.model = spec.compile()
        except Exception as error:  # noqa: BLE001 - MuJoCo's compiler errors are plain exceptions
            raise ValueError(f"cannot build the simulated cell from {self.urdf}: {error}") from None
        self.data = mujoco.MjData(self.model)
        self._close_renderers()
        m = self.model

        def name_of(kind, i):
            return mujoco.mj_id2name(m, kind, i)

        self.arm_qpos = np.array(
            [m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)] for n in PANDA.arm_joints]
        )
        self.arm_dof = np.array(
            [m.jnt_dofadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)] for n in PANDA.arm_joints]
        )
        self.finger_qpos = np.array(
            [m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)] for n in PANDA.finger_joints]
        )
        self.gripper_actuator = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, "servo_gripper")
        self.hand_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, PANDA.tip_link)
        self.body_names = [name_of(mujoco.mjtObj.mjOBJ_BODY, i) or "world" for i in range(m.nbody)]
        self.robot_bodies = {i for i, n in enumerate(self.body_names) if n.startswith("panda_")}
        self.finger_bodies = {self.body_names.index(name) for name in PANDA.finger_links}
        self.object_bodies = {o.spec.name: self.body_names.index(o.spec.name) for o in layout.objects}
        self.object_geoms = {
            o.spec.name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, o.spec.name) for o in layout.objects
        }
        self.table_geoms = {
            mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n) for n in ("table", "floor", "robot_pedestal")
        }
        self.geom_body = np.asarray(m.geom_bodyid)
        self._object_free_qpos = {
            o.spec.name: m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"{o.spec.name}_free")]
            for o in layout.objects
        }
        self.znear_m = float(m.vis.map.znear * m.stat.extent)
        self.zfar_m = float(m.vis.map.zfar * m.stat.extent)

    # ------------------------------------------------------------------ state
    def scene(self) -> SceneLayout:
        """The layout of the last reset."""
        if self.layout is None:
            raise RuntimeError("the simulated cell has no scene yet: reset it with a layout first")
        return self.layout

    def reset(
        self,
        layout: SceneLayout,
        arm_positions: np.ndarray,
        gripper_width_m: float = PANDA.gripper_open_width_m,
        settle_s: float = 0.1,
    ) -> None:
        """Objects at the layout's poses (at rest), arm at ``arm_positions``, gripper at a width. The
        cell's own cameras are used (``config.camera``), whatever camera the layout names."""
        q = np.asarray(arm_positions, dtype=np.float64).reshape(-1)
        if q.shape != (len(PANDA.arm_joints),) or not np.isfinite(q).all():
            raise ValueError(
                f"arm_positions must be {len(PANDA.arm_joints)} finite values {PANDA.arm_joints}, got {q.tolist()}"
            )
        signature = tuple(o.spec for o in layout.objects)  # the shapes are compiled into the model
        if self.model is None or signature != self._signature:
            self._build(layout)
            self._signature = signature
        mujoco, m, d = self._mujoco, self.model, self.data
        mujoco.mj_resetData(m, d)
        self.layout = layout
        for obj in layout.objects:
            adr = self._object_free_qpos[obj.spec.name]
            quat = obj.base_T_object.quaternion_xyzw()
            d.qpos[adr : adr + 7] = [*obj.position_base_m, quat[3], *quat[:3]]
        d.qpos[self.arm_qpos] = q
        d.qpos[self.finger_qpos] = gripper_width_m / 2.0
        self.command_arm(q)
        self.command_gripper(gripper_width_m, 40.0)
        mujoco.mj_forward(m, d)
        self.step(max(0, round(settle_s / TIMESTEP_S)))

    def command_arm(self, positions: np.ndarray, velocities: np.ndarray | None = None) -> None:
        """Servo set-points; ``velocities`` (rad/s) become the feed-forward term."""
        ctrl = np.asarray(positions, dtype=np.float64)
        if velocities is not None:
            ctrl = ctrl + np.asarray(velocities, dtype=np.float64) * 0.1  # kv / kp
        self.data.ctrl[:7] = ctrl

    def command_gripper(self, width_m: float, force_n: float) -> None:
        """Drive the pads towards ``width_m`` apart, pushing with at most ``force_n``. Closing on an object
        the set-point lies beyond it (force_n / kp), so the squeeze is the commanded force."""
        target = max(0.0, min(0.04, width_m / 2.0))
        closing = width_m / 2.0 < self.finger_width_m() / 2.0 - 1e-4
        self.data.ctrl[self.gripper_actuator] = target - (force_n / FINGER_KP if closing else 0.0)
        self.model.actuator_forcerange[self.gripper_actuator] = (-force_n, force_n)

    def step(self, n: int = 1) -> None:
        self._mujoco.mj_step(self.model, self.data, nstep=int(n)) if n > 0 else None

    @property
    def time_s(self) -> float:
        return float(self.data.time)

    # ------------------------------------------------------------------ sensors and ground truth
    def arm_positions(self) -> np.ndarray:
        return self.data.qpos[self.arm_qpos].copy()

    def arm_velocities(self) -> np.ndarray:
        return self.data.qvel[self.arm_dof].copy()

    def finger_width_m(self) -> float:
        return float(self.data.qpos[self.finger_qpos].sum())

    def hand_pose(self) -> np.ndarray:
        """base_T_hand (4x4) of the simulated robot."""
        return pose_matrix(self.data.xmat[self.hand_body].reshape(3, 3), self.data.xpos[self.hand_body])

    def fingertip_centre_base_m(self) -> np.ndarray:
        pose = self.hand_pose()
        return pose[:3, 3] + PANDA.fingertip_offset_m * pose[:3, 2]

    def object_position(self, name: str) -> np.ndarray:
        return self.data.xpos[self.object_bodies[name]].copy()

    def object_pose(self, name: str) -> SE3:
        body = self.object_bodies[name]
        return SE3(self.data.xmat[body].reshape(3, 3).copy(), self.data.xpos[body].copy())

    def unstable(self) -> bool:
        """Whether MuJoCo met non-finite positions, velocities or accelerations since the last reset
        (it then resets the state)."""
        warnings = self._mujoco.mjtWarning
        return any(
            int(self.data.warning[w].number) > 0
            for w in (warnings.mjWARN_BADQPOS, warnings.mjWARN_BADQVEL, warnings.mjWARN_BADQACC)
        )

    def contacts(self) -> list[Contact]:
        """Active contacts with their normal forces (elliptic cones: the first constraint row)."""
        d = self.data
        out = []
        for i in range(d.ncon):
            contact = d.contact[i]
            if contact.efc_address < 0:
                continue
            b1, b2 = self.geom_body[contact.geom[0]], self.geom_body[contact.geom[1]]
            out.append(Contact(self.body_names[b1], self.body_names[b2], float(d.efc_force[contact.efc_address])))
        return out

    # ------------------------------------------------------------------ cameras
    def _renderer(self, width: int, height: int) -> Any:
        key = (width, height)
        if key not in self._renderers:
            try:
                self._renderers[key] = self._mujoco.Renderer(self.model, height, width)
            except Exception as error:  # noqa: BLE001 - GL problems are plain exceptions
                raise RuntimeError(
                    f"MuJoCo cannot render offscreen with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}: "
                    f"{error}; {_gl_hint(self.config.gl)}"
                ) from None
        return self._renderers[key]

    def render_frame(self, stamp_s: float | None = None) -> Frame:
        """The RGB-D camera as the pipeline sees it: color, depth aligned to color quantized to whole
        millimetres (as a RealSense 16UC1 image), NaN where nothing was hit; the COLOR camera model."""
        camera = self.config.camera
        renderer = self._renderer(camera.width, camera.height)
        renderer.update_scene(self.data, camera="rgbd")
        color = renderer.render().copy()
        renderer.enable_depth_rendering()
        try:
            renderer.update_scene(self.data, camera="rgbd")
            depth = renderer.render().astype(np.float32)
        finally:
            renderer.disable_depth_rendering()
        depth[~(depth < 0.999 * self.zfar_m)] = np.nan
        millimetres = depth_to_millimetres(depth).astype(np.float32)
        depth_m = np.where(millimetres > 0, millimetres / 1000.0, np.nan).astype(np.float32)
        return Frame(color, depth_m, camera.camera_model(), self.time_s if stamp_s is None else stamp_s)

    def object_boxes(self) -> dict[str, dict[str, Any] | None]:
        """Per object its 2D box in the RGB-D image from a segmentation render (None when hidden):
        pixel edges and the model's normalized centre format, as the demo scene's ground truth."""
        from .demo_scene import _box_of

        camera = self.config.camera
        renderer = self._renderer(camera.width, camera.height)
        renderer.enable_segmentation_rendering()
        try:
            renderer.update_scene(self.data, camera="rgbd")
            seg = renderer.render()
        finally:
            renderer.disable_segmentation_rendering()
        ids = np.where(seg[:, :, 1] == int(self._mujoco.mjtObj.mjOBJ_GEOM), seg[:, :, 0], -1)
        return {name: _box_of(ids == geom) for name, geom in self.object_geoms.items()}

    def render_side(self) -> np.ndarray:
        camera = self.config.side_camera
        renderer = self._renderer(camera.width, camera.height)
        renderer.update_scene(self.data, camera="side")
        return renderer.render().copy()

    def _close_renderers(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers = {}

    def close(self) -> None:
        self._close_renderers()

    def __enter__(self) -> SimCell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fk_errors_against_planner(cell: SimCell, robot_model, configurations: np.ndarray) -> np.ndarray:
    """(M, 2): position error (mm) and rotation error (degrees) of the tip link between the simulator's
    forward kinematics and the planner's (``kinematics.RobotModel``) at each arm configuration. The
    cell's state is overwritten (reset it afterwards)."""
    mujoco = cell._mujoco
    errors = []
    for q in np.atleast_2d(configurations):
        cell.data.qpos[cell.arm_qpos] = q
        mujoco.mj_kinematics(cell.model, cell.data)
        sim = cell.hand_pose()
        planned = robot_model.fk(q)
        position = float(np.linalg.norm(sim[:3, 3] - planned[:3, 3])) * 1e3
        angle = math.degrees(math.acos(min(1.0, max(-1.0, (np.trace(sim[:3, :3].T @ planned[:3, :3]) - 1) / 2))))
        errors.append((position, angle))
    return np.array(errors)
