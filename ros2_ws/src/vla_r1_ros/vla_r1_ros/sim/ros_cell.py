"""The simulated cell as a ROS 2 node (``vla_r1_sim_cell``): a RealSense and a ros2_control Panda to the node.

Publishes what the hardware publishes: color (rgb8), aligned depth (16UC1 mm) and camera_info on the
realsense2_camera topic names at ``camera_rate_hz`` with sim-time stamps, ``/joint_states`` (50 Hz of
sim time), and ground truth (JSON, transient local, 5 Hz) on ``/vla_r1_sim_cell/ground_truth``. Takes
the commands a JointTrajectoryController offers on its topic interface: ``/<arm_controller>/joint_trajectory``
(points interpolated in time as a JTC samples them: cubic Hermite on positions and velocities, the
velocity as servo feed-forward; a new trajectory replaces the running one at once) and
``/<gripper_controller>/joint_trajectory`` (``panda_finger_joint1`` = width / 2, effort = force limit).
``/vla_r1_sim_cell/reset`` (std_srvs/Trigger, where std_srvs is installed) samples the next scene; the
topic ``/vla_r1_sim_cell/reset_seed`` (std_msgs/Int64: a layout seed, < 0 = the next one) does it
everywhere (std_srvs is not among the wheels here); the ground truth's ``scene_seed`` says when it is done.
``fault_stuck_joint`` names a joint whose servo stops following commands (fault injection for tests).

The camera transform: no tf2_ros here, so the node writes the hand-eye YAML (the format of
``vla-r1 calibrate hand-eye``) to ``hand_eye_yaml`` for the VLA-R1 node's ``transforms.hand_eye_yaml``.
Physics and rendering run on one thread (MuJoCo's GL context belongs to the thread that made it).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np

from vla_r1_model.files import atomic_write_text
from vla_r1_robot.motion.robot_profile import PANDA
from vla_r1_robot.sim.cell import TIMESTEP_S, CellConfig, SimCell
from vla_r1_robot.sim.demo_scene_layout import sample_layout
from vla_r1_robot.sim.execute import held_objects

from ..conversions import depth_mm_image_msg, image_msg

CHUNK_STEPS = 5  # the set-point is resampled every 10 ms of sim time
LIFTED_M = 0.03  # ground truth: an object this far above its rest height (and held) is lifted


def hermite(t: float, t0: float, p0: np.ndarray, v0: np.ndarray, t1: float, p1: np.ndarray, v1: np.ndarray):
    """Cubic Hermite position and velocity at t in [t0, t1] (a JointTrajectoryController's spline)."""
    h = max(t1 - t0, 1e-9)
    s = min(1.0, max(0.0, (t - t0) / h))
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    d00, d10, d01, d11 = 6 * s**2 - 6 * s, 3 * s**2 - 4 * s + 1, -6 * s**2 + 6 * s, 3 * s**2 - 2 * s
    position = h00 * p0 + h10 * h * v0 + h01 * p1 + h11 * h * v1
    velocity = (d00 * p0 + d01 * p1) / h + d10 * v0 + d11 * v1
    return position, velocity


class ArmTrajectory:
    """One commanded trajectory in sim time: starts at the set-point held when it arrived."""

    def __init__(self, start_s: float, start_q: np.ndarray, times_s, positions, velocities) -> None:
        self.times = [start_s] + [start_s + t for t in times_s]
        self.positions = [np.asarray(start_q, float)] + [np.asarray(p, float) for p in positions]
        self.velocities = [np.zeros(len(start_q))] + [np.asarray(v, float) for v in velocities]

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        if t >= self.times[-1]:
            return self.positions[-1], np.zeros_like(self.positions[-1])
        k = max(i for i in range(len(self.times) - 1) if self.times[i] <= t) if t > self.times[0] else 0
        return hermite(
            t,
            self.times[k],
            self.positions[k],
            self.velocities[k],
            self.times[k + 1],
            self.positions[k + 1],
            self.velocities[k + 1],
        )


def hand_eye_yaml_text(base_T_camera) -> str:
    x, y, z = (float(v) for v in base_T_camera.translation)
    qx, qy, qz, qw = (float(v) for v in base_T_camera.quaternion_xyzw())
    return (
        f"frame_id: base_link\nchild_frame_id: camera_color_optical_frame\nx: {x!r}\ny: {y!r}\nz: {z!r}\n"
        f"qx: {qx!r}\nqy: {qy!r}\nqz: {qz!r}\nqw: {qw!r}\ninfo:\n  setup: eye-to-hand\n  source: vla_r1_sim_cell\n"
    )


def make_sim_cell_node(context=None, parameter_overrides=None, cell_config: CellConfig | None = None):
    """The node class needs rclpy: built here so that importing this module does not."""
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_msgs.msg import Header, Int64, String
    from trajectory_msgs.msg import JointTrajectory

    class SimCellNode(Node):
        def __init__(self) -> None:
            super().__init__("vla_r1_sim_cell", context=context, parameter_overrides=parameter_overrides or [])
            p = lambda name, default: self.declare_parameter(name, default).value  # noqa: E731
            self.camera_rate_hz = float(p("camera_rate_hz", 5.0))
            self.arm_controller = p("arm_controller", PANDA.arm_controller)
            self.gripper_controller = p("gripper_controller", PANDA.gripper_controller)
            self.seed = int(p("seed", 0))
            self.real_time_factor = float(p("real_time_factor", 1.0))
            self.hand_eye_path = p("hand_eye_yaml", "")
            p("fault_stuck_joint", "")
            if not (self.camera_rate_hz > 0 and self.real_time_factor > 0):
                raise ValueError("camera_rate_hz and real_time_factor must be > 0")
            self.cell = SimCell(cell_config or CellConfig())
            self.lock = threading.Lock()
            self.trajectory: ArmTrajectory | None = None
            self.pending_reset: tuple[int, threading.Event] | None = None
            self.resets = 0
            self.rest_z: dict[str, float] = {}
            self.boxes: dict = {}
            self.scene_moved = False  # commands arrived since the boxes were rendered
            self.truth: dict = {}
            self.stuck_q: float | None = None
            self.start_error = ""
            self.scene_seed = -1
            self.time_offset_s = 0.0
            self.dropped_s = 0.0  # sim time not simulated because physics stalled > 1 s (should stay 0)
            self.arm_commands = 0
            self.gripper_commands = 0
            sensor = qos_profile_sensor_data
            prefix = "/camera/camera"
            self.color_pub = self.create_publisher(Image, f"{prefix}/color/image_raw", sensor)
            self.depth_pub = self.create_publisher(Image, f"{prefix}/aligned_depth_to_color/image_raw", sensor)
            self.info_pub = self.create_publisher(CameraInfo, f"{prefix}/color/camera_info", sensor)
            self.joint_pub = self.create_publisher(JointState, "/joint_states", 10)
            latched = QoSProfile(
                depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
            )
            self.truth_pub = self.create_publisher(String, "/vla_r1_sim_cell/ground_truth", latched)
            self.create_subscription(JointTrajectory, f"/{self.arm_controller}/joint_trajectory", self._on_arm, 10)
            self.create_subscription(
                JointTrajectory, f"/{self.gripper_controller}/joint_trajectory", self._on_gripper, 10
            )
            self.create_subscription(Int64, "/vla_r1_sim_cell/reset_seed", self._on_reset_seed, 10)
            try:
                from std_srvs.srv import Trigger
            except ImportError:  # the topic above is the reset interface then
                pass
            else:
                self.create_service(Trigger, "/vla_r1_sim_cell/reset", self._on_reset)
            self._msgs = (Header, CameraInfo, JointState, String)
            self.pending_reset = (self.seed, threading.Event())
            first = self.pending_reset[1]
            if self.hand_eye_path:
                atomic_write_text(Path(self.hand_eye_path), hand_eye_yaml_text(self.cell.config.camera.base_T_camera()))
            self._running = True
            self.thread = threading.Thread(target=self._physics, name="sim_cell_physics", daemon=True)
            self.thread.start()
            if (
                not first.wait(60.0) or self.start_error
            ):  # the first scene is built on the physics thread (it owns the GL context)
                raise RuntimeError(
                    f"the simulated cell did not build its first scene: {self.start_error or 'timed out'}"
                )

        # ---------------------------------------------------------------- commands (executor threads)
        def _on_arm(self, msg) -> None:
            index = {name: i for i, name in enumerate(msg.joint_names)}
            if sorted(index) != sorted(PANDA.arm_joints) or not msg.points:
                self.get_logger().error(
                    f"arm trajectory ignored: joints {list(msg.joint_names)}, {len(msg.points)} points"
                )
                return
            order = [index[j] for j in PANDA.arm_joints]
            times = [pt.time_from_start.sec + pt.time_from_start.nanosec * 1e-9 for pt in msg.points]
            positions = [[pt.positions[i] for i in order] for pt in msg.points]
            velocities = [
                [pt.velocities[i] for i in order] if len(pt.velocities) == 7 else [0.0] * 7 for pt in msg.points
            ]
            with self.lock:
                start_q = (
                    np.array(self.cell.data.ctrl[:7])
                    if self.trajectory is None
                    else self.trajectory.sample(self.cell.time_s)[0]
                )
                self.trajectory = ArmTrajectory(self.cell.time_s, start_q, times, positions, velocities)
                self.arm_commands += 1
                self.scene_moved = True

        def _on_gripper(self, msg) -> None:
            if list(msg.joint_names) != [PANDA.finger_joints[0]] or len(msg.points) != 1:
                self.get_logger().error(f"gripper trajectory ignored: joints {list(msg.joint_names)}")
                return
            point = msg.points[0]
            force = float(point.effort[0]) if len(point.effort) else 20.0
            with self.lock:
                self.cell.command_gripper(2.0 * float(point.positions[0]), force)
                self.gripper_commands += 1
                self.scene_moved = True

        def request_reset(self, seed: int = -1) -> tuple[int, threading.Event]:
            """Queue a new scene (the physics thread builds it); seed < 0: the next one."""
            done = threading.Event()
            with self.lock:
                self.resets += 1
                seed = self.seed + self.resets if seed < 0 else int(seed)
                self.pending_reset = (seed, done)
            return seed, done

        def _on_reset_seed(self, msg) -> None:
            self.request_reset(int(msg.data))

        def _on_reset(self, request, response):
            seed, done = self.request_reset()
            response.success = done.wait(30.0)
            response.message = f"scene seed {seed}" if response.success else "reset timed out"
            return response

        # ---------------------------------------------------------------- physics thread
        def _reset_scene(self, seed: int) -> None:
            layout = sample_layout(seed, camera=self.cell.config.camera)
            if self.cell.data is not None:  # MuJoCo restarts its clock at a reset; the stamps must not go back
                self.time_offset_s += self.cell.time_s + 0.1
            self.cell.reset(layout, PANDA.ready_positions())
            self.trajectory, self.stuck_q, self.scene_seed, self.scene_moved = None, None, seed, False
            self.rest_z = {o.spec.name: float(self.cell.object_position(o.spec.name)[2]) for o in layout.objects}
            self.boxes = self.cell.object_boxes()

        def _setpoint(self, t: float) -> tuple[np.ndarray, np.ndarray]:
            if self.trajectory is None:
                return np.array(self.cell.data.ctrl[:7]), np.zeros(7)
            return self.trajectory.sample(t)

        def _physics(self) -> None:
            try:
                self._physics_loop()
            except Exception as error:  # noqa: BLE001 - reported, the node stays up without physics
                if not self.context.ok():
                    return  # shutting down (Ctrl-C): the publishers are gone, nothing went wrong
                self.start_error = f"{type(error).__name__}: {error}"
                self.get_logger().error(f"the simulation stopped: {self.start_error}")

        def _physics_loop(self) -> None:
            wall0, sim0 = time.monotonic(), 0.0
            next_camera = next_truth = next_joints = 0.0
            while self._running:
                with self.lock:
                    if self.pending_reset is not None:
                        seed, done = self.pending_reset
                        self._reset_scene(seed)
                        self.pending_reset = None
                        wall0, sim0 = time.monotonic(), self.cell.time_s
                        next_camera = next_truth = next_joints = 0.0
                        done.set()
                    stuck = self.get_parameter("fault_stuck_joint").value
                    target = sim0 + (time.monotonic() - wall0) * self.real_time_factor
                    chunks = int((target - self.cell.time_s) / (CHUNK_STEPS * TIMESTEP_S))
                    # A render (~0.1 s on a loaded 2-core CPU) puts physics behind; it catches up at once
                    # (10 ms of sim time costs ~0.15 ms), so the arm moves in real time. Only a stall of
                    # over 1 s (a debugger, a suspended process) is dropped instead of replayed.
                    if chunks > 100:
                        self.dropped_s += (target - self.cell.time_s) - 100 * CHUNK_STEPS * TIMESTEP_S
                        wall0, sim0, chunks = time.monotonic(), self.cell.time_s, 100
                    for _ in range(chunks):
                        q, qd = self._setpoint(self.cell.time_s)
                        if stuck in PANDA.arm_joints:
                            j = PANDA.arm_joints.index(stuck)
                            if self.stuck_q is None:
                                self.stuck_q = float(self.cell.data.ctrl[j])
                            q, qd = q.copy(), qd.copy()
                            q[j], qd[j] = self.stuck_q, 0.0
                        else:
                            self.stuck_q = None
                        self.cell.command_arm(q, qd)
                        self.cell.step(CHUNK_STEPS)
                        # 50 Hz of sim time (the contract's rate), not per 10 ms chunk: a burst of 100 Hz
                        # publishes after a render convoys on the GIL with the executor threads and stalls physics
                        if self.cell.time_s >= next_joints:
                            next_joints = self.cell.time_s + 0.02 - 1e-6
                            self._publish_joints()
                    now = self.cell.time_s
                    if now >= next_camera:
                        next_camera = now + 1.0 / self.camera_rate_hz
                        self._publish_camera()
                    if now >= next_truth:
                        next_truth = now + 0.2
                        self._publish_truth()
                time.sleep(CHUNK_STEPS * TIMESTEP_S / self.real_time_factor)
            self.cell.close()  # on this thread: its GL context

        def _header(self, frame_id: str = ""):
            Header = self._msgs[0]
            t = self.time_offset_s + self.cell.time_s
            header = Header(frame_id=frame_id)
            header.stamp.sec, header.stamp.nanosec = int(t), round((t - int(t)) * 1e9) % 1_000_000_000
            return header

        def _publish_joints(self) -> None:
            JointState = self._msgs[2]
            fingers = self.cell.data.qpos[self.cell.finger_qpos]
            finger_dof = [
                self.cell.model.jnt_dofadr[self.cell.model.jnt_qposadr.tolist().index(a)] for a in self.cell.finger_qpos
            ]
            self.joint_pub.publish(
                JointState(
                    header=self._header(),
                    name=[*PANDA.arm_joints, *PANDA.finger_joints],
                    position=[*self.cell.arm_positions().tolist(), *map(float, fingers)],
                    velocity=[
                        *self.cell.arm_velocities().tolist(),
                        *(float(self.cell.data.qvel[d]) for d in finger_dof),
                    ],
                )
            )

        def _publish_camera(self) -> None:
            CameraInfo = self._msgs[1]
            frame = self.cell.render_frame()
            header = self._header("camera_color_optical_frame")
            assert frame.depth_m is not None  # render_frame renders depth with every frame
            self.color_pub.publish(image_msg(frame.color_rgb, header))
            self.depth_pub.publish(depth_mm_image_msg(frame.depth_m, header))
            self.info_pub.publish(CameraInfo(header=header, **frame.camera.to_camera_info()))
            # The answers describe the scene as the camera sees it: after the arm moved things, the boxes are
            # rendered again once it rests (one segmentation render; none while nothing moves).
            if self.scene_moved and np.abs(self.cell.arm_velocities()).max() < 0.01:
                self.boxes, self.scene_moved = self.cell.object_boxes(), False

        def ground_truth(self) -> dict:
            cell = self.cell
            names = list(self.rest_z)
            held = held_objects(cell.contacts(), names)
            objects = []
            for o in cell.scene().objects:
                pose = cell.object_pose(o.spec.name)
                lift = float(pose.translation[2]) - self.rest_z[o.spec.name]
                objects.append(
                    {
                        "name": o.spec.name,
                        "shape": o.spec.shape,
                        "size_m": o.spec.size_m(),
                        "position_base_m": np.round(pose.translation, 5).tolist(),
                        "quaternion_xyzw": np.round(pose.quaternion_xyzw(), 5).tolist(),
                        "lifted_m": round(lift, 5),
                        "box": self.boxes.get(o.spec.name),
                    }
                )
            lifted = [o["name"] for o in objects if o["lifted_m"] > LIFTED_M and o["name"] in held]
            return {
                "sim_time_s": round(self.time_offset_s + cell.time_s, 4),
                "scene_seed": self.scene_seed,
                "objects": objects,
                "held": held,
                "lifted": lifted,
                "arm_positions": cell.arm_positions().round(5).tolist(),
                "finger_width_m": round(cell.finger_width_m(), 5),
                "arm_commands": self.arm_commands,
                "gripper_commands": self.gripper_commands,
                "unstable": cell.unstable(),
                "fault_stuck_joint": self.get_parameter("fault_stuck_joint").value,
                "dropped_sim_time_s": round(self.dropped_s, 3),
            }

        def _publish_truth(self) -> None:
            self.truth = self.ground_truth()
            self.truth_pub.publish(self._msgs[3](data=json.dumps(self.truth)))

        def answer_truth(self) -> dict:
            """What the ground-truth answer server needs: the boxes as the camera saw the scene (at the last
            reset, and again whenever the arm came to rest after commands)."""
            with self.lock:
                return {"boxes": dict(self.boxes)}

        def destroy_node(self) -> None:
            self._running = False
            if self.thread.is_alive():
                self.thread.join(timeout=5.0)
            super().destroy_node()

    return SimCellNode()
