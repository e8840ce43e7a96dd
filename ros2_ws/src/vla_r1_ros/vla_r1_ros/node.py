"""vla_r1_node: the ExecuteInstruction action server around the ROS-free Pipeline. Thin on purpose.

Threads: ONE executor thread (SingleThreadedExecutor: rclpy's MultiThreadedExecutor costs several
times the CPU per message, too much for 30 Hz images on a small computer) runs every callback:
color / aligned depth paired by frame_sync's rule (the one replay uses), the newest camera_info,
goal / cancel callbacks, diagnostics. Camera messages are kept as received and converted only when
a goal takes a frame. A goal's work (model, planning, execution) runs on a worker thread that the
coroutine execute callback awaits, so the camera intake never waits for the model.
Decisions (freshness, refusals, the execution gate, result codes) are in node_logic.py.

Runs on a full ROS 2 install and on the pip-only install of `make setup` (rclpy and the message
packages from PyPI, no tf2_ros / message_filters): there base_T_camera comes from
``transforms.hand_eye_yaml``. Start it with
``python -m vla_r1_ros.node --ros-args --params-file params.yaml`` or ``ros2 run vla_r1_ros vla_r1_node``.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.task import Future
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from visualization_msgs.msg import MarkerArray

from vla_r1_interfaces.action import ExecuteInstruction
from vla_r1_interfaces.msg import Affordance2D, Trajectory2D
from vla_r1_robot.motion.planning import ExecutesOwnPlans, ReadsCurrentPositions, Stoppable
from vla_r1_robot.perception.frame_sync import NearestStampSync, StampedItem
from vla_r1_robot.pipeline import Pipeline
from vla_r1_robot.poses import se3_from_transform_msg

from . import conversions, node_logic
from .node_config import NODE_NAME, NodeConfig, default_parameters

try:  # a full ROS install has tf2; the PyPI wheels do not (then transforms.hand_eye_yaml is needed)
    from tf2_ros import Buffer, TransformException, TransformListener
except ImportError:
    Buffer = TransformListener = None

    class TransformException(Exception):  # type: ignore[no-redef]
        """Stand-in so the except clauses read the same without tf2."""


# Parameters every rclpy node has; they are not the node's own and never "unknown".
_BUILTIN_PARAMETERS = ("use_sim_time", "start_type_description_service")


class StartupError(RuntimeError):
    """The node cannot start with these parameters; the message says which and why."""


class VlaR1Node(Node):
    def __init__(self, node_name: str = NODE_NAME, **node_kwargs) -> None:
        super().__init__(node_name, **node_kwargs)
        self.config = self._read_config()
        cfg = self.config

        self._camera_group = ReentrantCallbackGroup()
        self._action_group = MutuallyExclusiveCallbackGroup()
        self._timer_group = MutuallyExclusiveCallbackGroup()

        self._frames = node_logic.FrameSlot()
        self._rate = node_logic.RateMeter()
        self._sync: NearestStampSync[Any, Any] = NearestStampSync(cfg.camera.sync_config())
        self._sync_lock = threading.Lock()
        self.synced_pairs = 0  # color/depth pairs taken in (bench and diagnostics)
        self.unpaired_colors = 0
        self.received_images = 0  # color and depth messages that reached the callbacks
        self._latest_info: CameraInfo | None = None
        self._busy = False
        self._busy_lock = threading.Lock()
        self._cancel = threading.Event()
        self._policy = None
        self._model_error: str | None = None
        self._planner: Any = None  # pinocchio's Planner, MoveItPlanner or a test double: used by what it offers
        self._controllers = None  # planner pinocchio: the ros2_control executor of task plans
        self._last_inference_s: float | None = None
        self._ended_result = None  # the result the running goal ended with (see _execute)

        self._hand_eye = self._load_hand_eye()
        self._tf_buffer = None
        if self._hand_eye is None:
            if Buffer is None:
                raise StartupError(self._no_tf2_message())
            self._tf_buffer = Buffer()
            self._tf_listener = TransformListener(self._tf_buffer, self)
        if cfg.execution.planner == "pinocchio":  # fast: a bad URDF stops the start, not the first goal
            self._planner = self._build_pinocchio_planner()
            self._controllers = self._build_controller_executor()

        self._overlay_pub = self.create_publisher(Image, "~/overlay", 1)
        self._markers_pub = self.create_publisher(MarkerArray, "~/markers", 1)
        self._affordance_pub = self.create_publisher(Affordance2D, "~/affordance", 10)
        self._trajectory_pub = self.create_publisher(Trajectory2D, "~/trajectory", 10)
        self._reasoning_pub = self.create_publisher(String, "~/reasoning", 10)
        self._plan_pub = self.create_publisher(JointTrajectoryMsg, "~/planned_trajectory", 1)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        qos = qos_profile_sensor_data  # best effort, like camera drivers publish
        self.create_subscription(Image, cfg.camera.color_topic, self._on_color, qos, callback_group=self._camera_group)
        self.create_subscription(Image, cfg.camera.depth_topic, self._on_depth, qos, callback_group=self._camera_group)
        self.create_subscription(
            CameraInfo, cfg.camera.info_topic, self._on_info, qos, callback_group=self._camera_group
        )

        self._action_server = ActionServer(
            self,
            ExecuteInstruction,
            "~/execute_instruction",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=self._on_cancel,
            callback_group=self._action_group,
        )
        self.create_timer(cfg.output.diagnostics_period_s, self._publish_diagnostics, callback_group=self._timer_group)
        threading.Thread(target=self._load, name="vla_r1_model_loader", daemon=True).start()
        self.get_logger().info(
            f"waiting for {cfg.camera.color_topic}, {cfg.camera.depth_topic}, {cfg.camera.info_topic}; "
            f"execution {'ALLOWED' if cfg.execution.allow_execution else 'disabled'}"
        )

    # --- startup --------------------------------------------------------------------------------
    def _read_config(self) -> NodeConfig:
        """Declare every parameter; refuse unknown names and wrong types with the name in the message."""
        from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

        defaults = default_parameters()
        # rclpy keeps the --ros-args / params-file / parameter_overrides values here (no public accessor)
        overrides = getattr(self, "_parameter_overrides", {}) or {}
        unknown = sorted(
            name
            for name in overrides
            if name not in defaults and name not in _BUILTIN_PARAMETERS and not name.startswith("qos_overrides.")
        )
        if unknown:
            sections = sorted({name.split(".")[0] for name in defaults})
            raise StartupError(
                f"unknown parameter(s) {', '.join(unknown)} (a typo? the sections are {', '.join(sections)}; "
                "config/params.yaml lists every parameter)"
            )
        for name, value in defaults.items():
            try:
                self.declare_parameter(name, value)
            except (InvalidParameterTypeException, InvalidParameterValueException):
                given = overrides.get(name)
                shown = given.value if given is not None else "?"
                hint = (
                    f" (write {float(shown)!r}: a double parameter refuses an integer)"
                    if isinstance(value, float) and isinstance(shown, int) and not isinstance(shown, bool)
                    else ""
                )
                raise StartupError(
                    f"parameter {name}: expected a {type(value).__name__} like {value!r}, got {shown!r}{hint}"
                ) from None
        try:
            return NodeConfig.from_parameters({name: self.get_parameter(name).value for name in defaults})
        except (ValueError, TypeError) as exc:
            raise StartupError(f"invalid parameters: {exc}") from None

    def _no_tf2_message(self) -> str:
        if self.config.transforms.eye_in_hand:
            return (
                "transforms.eye_in_hand needs tf2_ros (base_T_camera changes as the arm moves) and this install has "
                "none: run the node on a full ROS 2 install, or mount the camera eye-to-hand and set "
                "transforms.hand_eye_yaml"
            )
        return (
            "no source of base_T_camera: tf2_ros is not installed (the PyPI wheels lack it). Set "
            "transforms.hand_eye_yaml to the file `vla-r1 calibrate hand-eye --setup eye-to-hand` writes"
        )

    def _load_hand_eye(self):
        """The hand-eye YAML as (camera frame, base_T_camera), or None when tf2 is to be used."""
        cfg = self.config.transforms
        if not cfg.hand_eye_yaml:
            return None
        from calibration.errors import CalibrationFileError
        from calibration.transforms import NamedTransform, load_yaml_file

        try:
            data = load_yaml_file(cfg.hand_eye_yaml)
            named = NamedTransform.from_dict(data, cfg.hand_eye_yaml)
        except CalibrationFileError as exc:
            raise StartupError(f"transforms.hand_eye_yaml: {exc}") from None
        setup = (data.get("info") or {}).get("setup") if isinstance(data.get("info"), dict) else None
        if setup == "eye-in-hand":
            raise StartupError(
                f"transforms.hand_eye_yaml {cfg.hand_eye_yaml} is an eye-in-hand result "
                f"({named.parent_frame}_T_{named.child_frame}): it needs the live arm pose from tf2; "
                "give an eye-to-hand result (base_T_camera) or use tf2"
            )
        if named.parent_frame != cfg.base_frame:
            raise StartupError(
                f"transforms.hand_eye_yaml {cfg.hand_eye_yaml} maps into {named.parent_frame!r}, but "
                f"transforms.base_frame is {cfg.base_frame!r}"
            )
        return named

    def _build_pinocchio_planner(self):
        e = self.config.execution
        if not Path(e.urdf_path).is_file():
            raise StartupError(f"execution.urdf_path: no such file {e.urdf_path!r}")
        from vla_r1_robot.pipeline import build_planner

        try:
            return build_planner(e.urdf_path, e.pose_link, self.config.safety, dict(self.config.planner))
        except Exception as exc:  # noqa: BLE001 - any URDF/pinocchio failure is a start-up error with its reason
            raise StartupError(f"execution.urdf_path {e.urdf_path}: {type(exc).__name__}: {exc}") from None

    def _build_controller_executor(self):
        from .controller_execution import ControllerError, ControllerExecutor

        e = self.config.execution
        planned = list(self._planner.robot.joint_names)
        if set(planned) != set(e.arm_joints):
            raise StartupError(
                f"execution.arm_joints {list(e.arm_joints)} are not the joints of execution.urdf_path's "
                f"chain to {e.pose_link}: {planned}"
            )
        try:
            return ControllerExecutor(self, e, callback_group=self._camera_group)
        except ControllerError as exc:
            raise StartupError(str(exc)) from None

    def _load(self) -> None:
        """Model (and MoveIt) load off the executor: the node answers (and refuses goals) meanwhile."""
        cfg = self.config
        try:
            if cfg.execution.planner == "moveit":
                from .moveit_bridge import MoveItPlanner, MoveItSettings

                e = cfg.execution
                self._planner = MoveItPlanner(
                    MoveItSettings(
                        e.planning_group,
                        e.pose_link,
                        cfg.transforms.base_frame,
                        e.planning_pipeline,
                        e.planner_id,
                        e.planning_time_s,
                        e.planning_attempts,
                        e.velocity_scaling,
                        e.acceleration_scaling,
                    ),
                    cfg.safety,
                    node_name=e.moveit_node_name,
                )
            self._policy = cfg.model.build_policy()
            self.get_logger().info(f"model {cfg.model.model} loaded; planner {cfg.execution.planner}")
        except Exception as exc:  # noqa: BLE001 - reported in diagnostics and in every refusal
            self._model_error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"startup failed: {self._model_error}")

    @property
    def ready(self) -> bool:
        return self._policy is not None

    # --- camera ---------------------------------------------------------------------------------
    def _on_info(self, info: CameraInfo) -> None:
        self._latest_info = info

    def _on_color(self, msg: Image) -> None:
        with self._sync_lock:
            pairs = self._sync.add_color(StampedItem(conversions.stamp_to_s(msg.header.stamp), msg))
        self._take(pairs)

    def _on_depth(self, msg: Image) -> None:
        with self._sync_lock:
            pairs = self._sync.add_depth(StampedItem(conversions.stamp_to_s(msg.header.stamp), msg))
        self._take(pairs)

    def _take(self, pairs) -> None:
        """Keep the newest pair as messages (no conversion here: most frames are never used)."""
        self.received_images += 1
        info = self._latest_info
        for pair in pairs:
            if pair.depth is None:
                self.unpaired_colors += 1
                continue
            self.synced_pairs += 1
            self._rate.tick()
            if info is not None:
                self._frames.put((pair.color.item, pair.depth.item, info))

    def _frame_from(self, messages):
        color, depth, info = messages
        return conversions.frame_from_messages(
            color, depth, info, self.config.camera.depth_scale_m, self.config.camera.camera_frame_id
        )

    # --- action ---------------------------------------------------------------------------------
    def _on_goal(self, goal: ExecuteInstruction.Goal) -> GoalResponse:
        with self._busy_lock:
            reason = node_logic.goal_refusal(goal.instruction, goal.task, goal.max_frame_age_s, self._busy)
            if reason is not None:
                self.get_logger().warning(f"goal rejected: {reason}")
                return GoalResponse.REJECT
            self._busy = True
            self._cancel.clear()
        return GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle) -> CancelResponse:
        self._cancel.set()  # the model stops at its next token; an execution is stopped now
        if isinstance(self._planner, Stoppable):
            self._planner.stop()
        return CancelResponse.ACCEPT

    def _feedback(
        self, goal_handle, stage: str, reasoning: str = "", segment: tuple[int, int, str] = (-1, 0, "")
    ) -> None:
        index, count, kind = segment
        goal_handle.publish_feedback(
            ExecuteInstruction.Feedback(
                stage=stage, reasoning=reasoning, segment_index=index, segment_count=count, segment_kind=kind
            )
        )

    def _finish(self, goal_handle, data: node_logic.ResultData, frame=None):
        if data.outcome is not None and frame is not None:
            image_header = Header(stamp=conversions.s_to_time_msg(frame.stamp_s), frame_id=frame.frame_id)
            base_header = Header(stamp=image_header.stamp, frame_id=self.config.transforms.base_frame)
            result = conversions.result_msg(data, image_header, base_header, (frame.width, frame.height))
        else:
            result = conversions.result_msg(data)
        # One logging call site per severity: rclpy refuses a call site whose severity changes, and
        # such an error after the state change below would lose this result.
        if data.success:
            self.get_logger().info(f"goal done: code {data.error_code}, {data.error_message}")
        else:
            self.get_logger().warning(f"goal done: code {data.error_code}, {data.error_message}")
        self._ended_result = result  # what the goal ends with, even if something fails after the state change
        if data.error_code == node_logic.ERROR_CODES["CANCELLED"] and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif data.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    async def _execute(self, goal_handle):
        """Runs the goal on a worker thread and awaits it: the executor keeps serving the camera."""
        done = Future()
        executor = self.executor

        def work() -> None:
            try:
                done.set_result(self._execute_blocking(goal_handle))
            except BaseException as exc:  # noqa: BLE001 - handed to the executor, which reports it
                done.set_exception(exc)
            if executor is not None:
                executor.wake()  # resume the awaiting callback now, not at the next message or timer

        threading.Thread(target=work, name="vla_r1_goal", daemon=True).start()
        return await done

    def _execute_blocking(self, goal_handle):
        self._ended_result = None
        try:
            return self._run_goal(goal_handle)
        except Exception as exc:  # noqa: BLE001 - a bug must not leave the server busy forever nor lose the goal's answer
            message = f"internal error: {type(exc).__name__}: {exc}"
            self.get_logger().error(f"goal failed unexpectedly: {message}")
            if not goal_handle.is_active:  # it already ended (a second abort would raise): keep its result
                return self._ended_result or ExecuteInstruction.Result(
                    success=False, error_code=node_logic.ERROR_CODES["MODEL_FAILED"], error_message=message
                )
            goal_handle.abort()
            return ExecuteInstruction.Result(
                success=False, error_code=node_logic.ERROR_CODES["MODEL_FAILED"], error_message=message
            )
        finally:
            with self._busy_lock:
                self._busy = False

    def _run_goal(self, goal_handle):
        goal = goal_handle.request
        cfg = self.config
        arrived = time.monotonic()
        if self._policy is None:
            why = self._model_error or "the model is still loading"
            return self._finish(goal_handle, node_logic.refusal("NOT_READY", why, goal.task))

        self._feedback(goal_handle, "waiting_for_frame")
        max_age = node_logic.effective_max_age_s(goal.max_frame_age_s, cfg.camera.max_frame_age_s)
        messages, decision = self._frames.wait_for_usable(
            arrived, max_age, cfg.camera.frame_wait_timeout_s, self._cancel
        )
        if self._cancel.is_set():
            return self._finish(goal_handle, node_logic.refusal("CANCELLED", "cancelled", goal.task))
        if messages is None:
            topics = (cfg.camera.color_topic, cfg.camera.depth_topic, cfg.camera.info_topic)
            message = node_logic.no_frame_message(decision, time.monotonic() - arrived, topics)
            return self._finish(goal_handle, node_logic.refusal("NO_FRAME", message, goal.task))
        try:
            frame = self._frame_from(messages)
        except ValueError as exc:  # sizes or encodings that do not fit together
            return self._finish(goal_handle, node_logic.refusal("NO_FRAME", f"unusable camera frame: {exc}", goal.task))

        try:
            base_T_camera = self._base_T_camera(frame)
        except (TransformException, LookupError) as exc:
            return self._finish(goal_handle, node_logic.refusal("NOT_READY", str(exc), goal.task))

        feedback = node_logic.ReasoningFeedback(cfg.output.feedback_period_s)

        def on_text(delta: str) -> None:
            text = feedback.add(delta)
            if text is not None:
                self._feedback(goal_handle, "model", text)

        executes_itself = isinstance(self._planner, ExecutesOwnPlans)  # MoveIt (or a test double)
        if executes_itself or self._controllers is None:
            reads = isinstance(self._planner, ReadsCurrentPositions)
            start_positions, task_config = self._planner.current_positions if reads else None, None
        else:  # pinocchio: the task plan, from the current /joint_states
            may_execute = goal.execute and bool(self.get_parameter("execution.allow_execution").value)
            start_positions, task_config = self._start_positions(may_execute), cfg.task
        pipeline = Pipeline(
            self._policy, cfg.grounding, cfg.safety, self._planner, base_T_camera, start_positions, task_config
        )
        self._feedback(goal_handle, "model")
        outcome = pipeline.run(frame, goal.instruction, goal.task, on_text=on_text, cancel=self._cancel)
        self._last_inference_s = outcome.timings_s.get("model")
        self._feedback(goal_handle, "planned" if outcome.ok else f"failed:{outcome.failed_stage}", outcome.reasoning)
        self._publish_outcome(frame, outcome, base_T_camera)

        allow = bool(self.get_parameter("execution.allow_execution").value)  # read now: it may be changed live
        can_execute = executes_itself or (self._controllers is not None and outcome.task_plan is not None)
        decision = node_logic.execution_decision(goal.execute, allow, outcome.plan is not None, can_execute)
        executed, execution_error, extra, segments = False, None, {}, (0, 0)
        if outcome.ok and decision.execute and not self._cancel.is_set():
            started = time.perf_counter()
            if executes_itself:
                self._feedback(goal_handle, "executing", outcome.reasoning)
                try:
                    self._planner.execute(outcome.plan, self._cancel)
                    executed = True
                except InterruptedError:
                    pass  # reported as cancelled below
                except Exception as exc:  # noqa: BLE001 - controller errors of any kind end the goal
                    execution_error = str(exc)
            else:
                report = self._controllers.execute(
                    outcome.task_plan,
                    self._cancel,
                    lambda i, n, kind: self._feedback(goal_handle, "executing", outcome.reasoning, (i, n, kind)),
                )
                executed, execution_error = report.executed, report.error
                segments = (report.steps_total, report.steps_completed)
                extra.update({f"execution.{name}": seconds for name, seconds in report.step_seconds})
            extra["execution"] = time.perf_counter() - started
        elif outcome.ok:
            self.get_logger().info(decision.note)
        data = node_logic.assemble_result(
            outcome, decision, executed, execution_error, self._cancel.is_set(), extra, segments
        )
        return self._finish(goal_handle, data, frame)

    def _start_positions(self, may_execute: bool):
        """The planning start: the current /joint_states. Without a fresh one a plan-only goal plans from
        the default start (the ready pose); a goal that may execute must not (LookupError: planning fails)."""
        joints = list(self._planner.robot.joint_names)

        def start():
            try:
                return self._controllers.start_positions(joints)
            except LookupError:
                if may_execute:
                    raise
                from vla_r1_robot.pipeline import default_start_positions

                return default_start_positions(self._planner.robot)

        return start

    def _base_T_camera(self, frame):
        """From the hand-eye YAML (eye-to-hand) or tf2. Raises LookupError / TransformException."""
        cfg = self.config.transforms
        if self._hand_eye is not None:
            if frame.frame_id != self._hand_eye.child_frame:
                raise LookupError(
                    f"transforms.hand_eye_yaml is for camera frame {self._hand_eye.child_frame!r}, the "
                    f"images are in {frame.frame_id!r} (set camera.camera_frame_id, or calibrate that frame)"
                )
            return self._hand_eye.transform
        stamp_s = node_logic.tf_lookup_stamp_s(cfg.eye_in_hand, frame.stamp_s)
        when = Time(seconds=stamp_s) if stamp_s else Time()  # Time() = zero = latest available
        try:
            transform = self._tf_buffer.lookup_transform(
                cfg.base_frame, frame.frame_id, when, timeout=Duration(seconds=cfg.tf_timeout_s)
            )
        except TransformException as exc:
            raise LookupError(
                f"no transform {cfg.base_frame} <- {frame.frame_id}: {exc}. "
                "Publish the hand-eye result (arm.launch.py does it from the YAML)."
            ) from exc
        return se3_from_transform_msg(transform.transform)

    # --- outputs --------------------------------------------------------------------------------
    def _publish_outcome(self, frame, outcome, base_T_camera) -> None:
        image_header = Header(stamp=conversions.s_to_time_msg(frame.stamp_s), frame_id=frame.frame_id)
        base_header = Header(stamp=image_header.stamp, frame_id=self.config.transforms.base_frame)
        if outcome.reasoning:
            self._reasoning_pub.publish(String(data=outcome.reasoning))
        action = outcome.prediction.action if outcome.prediction is not None else None
        affordance, trajectory = conversions.action_msgs(action, image_header, frame.width, frame.height)
        if affordance is not None:
            self._affordance_pub.publish(affordance)
        if trajectory is not None:
            self._trajectory_pub.publish(trajectory)
        if self.config.output.publish_overlay:
            import numpy as np
            from PIL import Image as PILImage

            from vla_r1_model.overlay import draw_overlay

            overlay = draw_overlay(PILImage.fromarray(frame.color_rgb), action, outcome.instruction, outcome.error)
            self._overlay_pub.publish(conversions.image_msg(np.asarray(overlay), image_header))
        specs = node_logic.marker_specs(frame, outcome, base_T_camera)
        self._markers_pub.publish(conversions.marker_array_msg(specs, base_header))
        if outcome.plan is not None:
            self._plan_pub.publish(conversions.joint_trajectory_msg(outcome.plan, base_header))

    def _publish_diagnostics(self) -> None:
        latest = self._frames.latest()
        age = None if latest is None else time.monotonic() - latest[1]
        entries = node_logic.diagnostics(
            self._policy is not None,
            self._model_error,
            self._rate.rate_hz(),
            age,
            self._last_inference_s,
            self.config.camera.max_frame_age_s,
            bool(self.get_parameter("execution.allow_execution").value),
        )
        self._diagnostics_pub.publish(
            conversions.diagnostic_array_msg(entries, self.get_clock().now().to_msg(), self.get_name())
        )


def node_executor():
    """The node's executor: one thread for the callbacks; goals run on their own worker thread."""
    return SingleThreadedExecutor()


def main(args=None) -> int:
    """Start the node; a bad parameter or file ends it with one clear line on stderr and exit 2."""
    rclpy.init(args=args)
    try:
        node = VlaR1Node()
    except StartupError as exc:
        print(f"{NODE_NAME}: cannot start: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = node_executor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


# --- the pyrealsense2 publisher: a camera (or .bag) without the realsense2_camera driver ------------


def realsense_publisher(args=None) -> None:
    """Publishes color, depth ALIGNED to color (32FC1 metres) and the color camera_info on the
    realsense2_camera topic names, from pyrealsense2 (parameters: width, height, fps, serial, bag_path)."""
    from vla_r1_robot.bags.realsense_source import RealSenseSettings, RealSenseSource

    rclpy.init(args=args)
    node = Node("vla_r1_realsense")
    settings = RealSenseSettings(
        width=node.declare_parameter("width", 640).value,
        height=node.declare_parameter("height", 480).value,
        fps=node.declare_parameter("fps", 30).value,
        serial=node.declare_parameter("serial", "").value,
        bag_path=node.declare_parameter("bag_path", "").value,
        real_time=True,
    )
    prefix = node.declare_parameter("topic_prefix", "/camera/camera").value
    color_pub = node.create_publisher(Image, f"{prefix}/color/image_raw", qos_profile_sensor_data)
    depth_pub = node.create_publisher(Image, f"{prefix}/aligned_depth_to_color/image_raw", qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, f"{prefix}/color/camera_info", qos_profile_sensor_data)
    try:
        with RealSenseSource(settings) as source:
            info_fields = None
            for frame in source.frames():
                if not rclpy.ok():
                    break
                header = Header(stamp=node.get_clock().now().to_msg(), frame_id=frame.frame_id)
                if info_fields is None:
                    info_fields = frame.camera.to_camera_info()
                color_pub.publish(conversions.image_msg(frame.color_rgb, header))
                depth = frame.depth_m
                if depth is not None:  # RealSenseSource aligns depth to every color frame
                    depth_pub.publish(
                        Image(
                            header=header,
                            height=depth.shape[0],
                            width=depth.shape[1],
                            encoding="32FC1",
                            is_bigendian=0,
                            step=depth.shape[1] * 4,
                            data=depth.tobytes(),
                        )
                    )
                info_pub.publish(CameraInfo(header=header, **info_fields))
                rclpy.spin_once(node, timeout_sec=0.0)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
