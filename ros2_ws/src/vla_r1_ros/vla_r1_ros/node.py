"""vla_r1_node: the ExecuteInstruction action server around the ROS-free Pipeline. Thin on purpose.

Threads (MultiThreadedExecutor):
- camera callback group (reentrant): synchronized color / aligned depth / camera_info -> FrameSlot;
- action callback group (mutually exclusive): goal, cancel and execute callbacks; the execute
  callback runs the model on an executor thread, so subscriptions, tf and diagnostics keep going;
- timers group: diagnostics.
Decisions (freshness, refusals, the execution gate, result codes) are in node_logic.py.
"""
from __future__ import annotations

import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from message_filters import ApproximateTimeSynchronizer, Subscriber
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String
from tf2_ros import Buffer, TransformException, TransformListener
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from visualization_msgs.msg import MarkerArray

from vla_r1_interfaces.action import ExecuteInstruction
from vla_r1_interfaces.msg import Affordance2D, Trajectory2D

from . import conversions, node_logic
from .node_config import NODE_NAME, NodeConfig, default_parameters
from .pipeline import Pipeline


class VlaR1Node(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        defaults = default_parameters()
        for name, value in defaults.items():
            self.declare_parameter(name, value)
        self.config = NodeConfig.from_parameters({name: self.get_parameter(name).value for name in defaults})
        cfg = self.config

        self._camera_group = ReentrantCallbackGroup()
        self._action_group = MutuallyExclusiveCallbackGroup()
        self._timer_group = MutuallyExclusiveCallbackGroup()

        self._frames = node_logic.FrameSlot()
        self._rate = node_logic.RateMeter()
        self._latest_info: CameraInfo | None = None
        self._busy = False
        self._busy_lock = threading.Lock()
        self._cancel = threading.Event()
        self._policy = None
        self._model_error: str | None = None
        self._planner = None
        self._last_inference_s: float | None = None

        self._tf_buffer = Buffer()
        self._tf_listener = TransformListener(self._tf_buffer, self)

        self._overlay_pub = self.create_publisher(Image, "~/overlay", 1)
        self._markers_pub = self.create_publisher(MarkerArray, "~/markers", 1)
        self._affordance_pub = self.create_publisher(Affordance2D, "~/affordance", 10)
        self._trajectory_pub = self.create_publisher(Trajectory2D, "~/trajectory", 10)
        self._reasoning_pub = self.create_publisher(String, "~/reasoning", 10)
        self._plan_pub = self.create_publisher(JointTrajectoryMsg, "~/planned_trajectory", 1)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        qos = qos_profile_sensor_data  # best effort, like camera drivers publish
        color = self._filter_subscriber(Image, cfg.camera.color_topic, qos)
        depth = self._filter_subscriber(Image, cfg.camera.depth_topic, qos)
        if cfg.camera.sync_camera_info:
            info = self._filter_subscriber(CameraInfo, cfg.camera.info_topic, qos)
            self._sync = ApproximateTimeSynchronizer([color, depth, info], cfg.camera.sync_queue_size, cfg.camera.sync_slop_s)
        else:  # unstamped camera_info (some recordings): keep the newest, sync the images only
            self.create_subscription(CameraInfo, cfg.camera.info_topic, self._on_info, qos,
                                     callback_group=self._camera_group)
            self._sync = ApproximateTimeSynchronizer([color, depth], cfg.camera.sync_queue_size, cfg.camera.sync_slop_s)
        self._sync.registerCallback(self._on_frame)

        self._action_server = ActionServer(
            self, ExecuteInstruction, "~/execute_instruction", execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=self._on_cancel, callback_group=self._action_group)
        self.create_timer(cfg.output.diagnostics_period_s, self._publish_diagnostics, callback_group=self._timer_group)
        threading.Thread(target=self._load, name="vla_r1_model_loader", daemon=True).start()
        self.get_logger().info(f"waiting for {cfg.camera.color_topic}, {cfg.camera.depth_topic}, {cfg.camera.info_topic}; "
                               f"execution {'ALLOWED' if cfg.execution.allow_execution else 'disabled'}")

    def _filter_subscriber(self, msg_type, topic, qos):
        """message_filters Subscriber in the camera group. Some message_filters releases take only
        (node, type, topic, qos): those land in the node's default group, still apart from the action."""
        try:
            return Subscriber(self, msg_type, topic, qos_profile=qos, callback_group=self._camera_group)
        except TypeError:
            return Subscriber(self, msg_type, topic, qos_profile=qos)

    # --- startup --------------------------------------------------------------------------------
    def _load(self) -> None:
        """Model and planner load off the executor: the node answers (and refuses goals) meanwhile."""
        cfg = self.config
        try:
            if cfg.execution.planner == "moveit":
                from .moveit_bridge import MoveItPlanner, MoveItSettings

                e = cfg.execution
                self._planner = MoveItPlanner(
                    MoveItSettings(e.planning_group, e.pose_link, cfg.transforms.base_frame, e.planning_pipeline,
                                   e.planner_id, e.planning_time_s, e.planning_attempts, e.velocity_scaling,
                                   e.acceleration_scaling), cfg.safety, node_name=e.moveit_node_name)
            elif cfg.execution.planner == "pinocchio":
                from .pipeline import build_planner

                self._planner = build_planner(cfg.execution.urdf_path, cfg.execution.pose_link, cfg.safety, dict(cfg.planner))
            self._policy = cfg.model.build_policy()
            self.get_logger().info(f"model {cfg.model.model} loaded; planner {cfg.execution.planner}")
        except Exception as exc:  # reported in diagnostics and in every refusal
            self._model_error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"startup failed: {self._model_error}")

    # --- camera ---------------------------------------------------------------------------------
    def _on_info(self, info: CameraInfo) -> None:
        self._latest_info = info

    def _on_frame(self, color: Image, depth: Image, info: CameraInfo | None = None) -> None:
        info = info or self._latest_info
        if info is None:
            return
        try:
            frame = conversions.frame_from_messages(color, depth, info, self.config.camera.depth_scale_m,
                                                    self.config.camera.camera_frame_id)
        except ValueError as exc:
            self.get_logger().warning(f"dropped a frame: {exc}", throttle_duration_sec=5.0)
            return
        self._frames.put(frame)
        self._rate.tick()

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
        stop = getattr(self._planner, "stop", None)
        if stop is not None:
            stop()
        return CancelResponse.ACCEPT

    def _feedback(self, goal_handle, stage: str, reasoning: str = "") -> None:
        goal_handle.publish_feedback(ExecuteInstruction.Feedback(stage=stage, reasoning=reasoning))

    def _finish(self, goal_handle, data: node_logic.ResultData, frame=None):
        if data.outcome is not None and frame is not None:
            image_header = Header(stamp=conversions.s_to_time_msg(frame.stamp_s), frame_id=frame.frame_id)
            base_header = Header(stamp=image_header.stamp, frame_id=self.config.transforms.base_frame)
            result = conversions.result_msg(data, image_header, base_header, (frame.width, frame.height))
        else:
            result = conversions.result_msg(data)
        if data.error_code == node_logic.ERROR_CODES["CANCELLED"] and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif data.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        level = self.get_logger().info if data.success else self.get_logger().warning
        level(f"goal done: code {data.error_code}, {data.error_message}")
        with self._busy_lock:
            self._busy = False
        return result

    def _execute(self, goal_handle):
        try:
            return self._run_goal(goal_handle)
        except Exception as exc:  # a bug must not leave the server busy forever
            self.get_logger().error(f"goal failed unexpectedly: {type(exc).__name__}: {exc}")
            with self._busy_lock:
                self._busy = False
            goal_handle.abort()
            return ExecuteInstruction.Result(success=False, error_code=node_logic.ERROR_CODES["MODEL_FAILED"],
                                             error_message=f"internal error: {type(exc).__name__}: {exc}")

    def _run_goal(self, goal_handle):
        goal = goal_handle.request
        cfg = self.config
        arrived = time.monotonic()
        if self._policy is None:
            why = self._model_error or "the model is still loading"
            return self._finish(goal_handle, node_logic.refusal("NOT_READY", why, goal.task))

        self._feedback(goal_handle, "waiting_for_frame")
        max_age = node_logic.effective_max_age_s(goal.max_frame_age_s, cfg.camera.max_frame_age_s)
        frame, decision = self._frames.wait_for_usable(arrived, max_age, cfg.camera.frame_wait_timeout_s, self._cancel)
        if self._cancel.is_set():
            return self._finish(goal_handle, node_logic.refusal("CANCELLED", "cancelled", goal.task))
        if frame is None:
            topics = (cfg.camera.color_topic, cfg.camera.depth_topic, cfg.camera.info_topic)
            message = node_logic.no_frame_message(decision, time.monotonic() - arrived, topics)
            return self._finish(goal_handle, node_logic.refusal("NO_FRAME", message, goal.task))

        try:
            base_T_camera = self._lookup_base_T_camera(frame)
        except TransformException as exc:
            message = (f"no transform {cfg.transforms.base_frame} <- {frame.frame_id}: {exc}. "
                       "Publish the hand-eye result (arm.launch.py does it from the YAML).")
            return self._finish(goal_handle, node_logic.refusal("NOT_READY", message, goal.task))

        feedback = node_logic.ReasoningFeedback(cfg.output.feedback_period_s)

        def on_text(delta: str) -> None:
            text = feedback.add(delta)
            if text is not None:
                self._feedback(goal_handle, "model", text)

        start_positions = getattr(self._planner, "current_positions", None)
        pipeline = Pipeline(self._policy, cfg.grounding, cfg.safety, self._planner, base_T_camera, start_positions)
        self._feedback(goal_handle, "model")
        outcome = pipeline.run(frame, goal.instruction, goal.task, on_text=on_text, cancel=self._cancel)
        self._last_inference_s = outcome.timings_s.get("model")
        self._feedback(goal_handle, "planned" if outcome.ok else f"failed:{outcome.failed_stage}", outcome.reasoning)
        self._publish_outcome(frame, outcome, base_T_camera)

        allow = bool(self.get_parameter("execution.allow_execution").value)  # read now: it may be changed live
        decision = node_logic.execution_decision(goal.execute, allow, outcome.plan is not None,
                                                 hasattr(self._planner, "execute"))
        executed, execution_error, extra = False, None, {}
        if outcome.ok and decision.execute and not self._cancel.is_set():
            self._feedback(goal_handle, "executing", outcome.reasoning)
            started = time.perf_counter()
            try:
                self._planner.execute(outcome.plan, self._cancel)
                executed = True
            except InterruptedError:
                pass  # reported as cancelled below
            except Exception as exc:  # noqa: BLE001 - controller errors of any kind end the goal
                execution_error = str(exc)
            extra["execution"] = time.perf_counter() - started
        elif outcome.ok:
            self.get_logger().info(decision.note)
        data = node_logic.assemble_result(outcome, decision, executed, execution_error, self._cancel.is_set(), extra)
        return self._finish(goal_handle, data, frame)

    def _lookup_base_T_camera(self, frame):
        cfg = self.config.transforms
        stamp_s = node_logic.tf_lookup_stamp_s(cfg.eye_in_hand, frame.stamp_s)
        when = Time(seconds=stamp_s) if stamp_s else Time()  # Time() = zero = latest available
        transform = self._tf_buffer.lookup_transform(cfg.base_frame, frame.frame_id, when,
                                                     timeout=Duration(seconds=cfg.tf_timeout_s))
        return conversions.se3_from_transform(transform.transform)

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
            from PIL import Image as PILImage

            from vla_r1_model.overlay import draw_overlay

            overlay = draw_overlay(PILImage.fromarray(frame.color_rgb), action, outcome.instruction, outcome.error)
            self._overlay_pub.publish(conversions.image_msg(overlay, image_header))
        specs = node_logic.marker_specs(frame, outcome, base_T_camera)
        self._markers_pub.publish(conversions.marker_array_msg(specs, base_header))
        if outcome.plan is not None:
            self._plan_pub.publish(conversions.joint_trajectory_msg(outcome.plan, base_header))

    def _publish_diagnostics(self) -> None:
        latest = self._frames.latest()
        age = None if latest is None else time.monotonic() - latest[1]
        entries = node_logic.diagnostics(self._policy is not None, self._model_error, self._rate.rate_hz(), age,
                                         self._last_inference_s, self.config.camera.max_frame_age_s,
                                         bool(self.get_parameter("execution.allow_execution").value))
        self._diagnostics_pub.publish(conversions.diagnostic_array_msg(entries, self.get_clock().now().to_msg(),
                                                                       self.get_name()))


def main(args=None) -> None:
    rclpy.init(args=args)
    node = VlaR1Node()
    executor = MultiThreadedExecutor(num_threads=4)  # camera, action, timers and tf in parallel
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# --- the pyrealsense2 publisher: a camera (or .bag) without the realsense2_camera driver ------------

def realsense_publisher(args=None) -> None:
    """Publishes color, depth ALIGNED to color (32FC1 metres) and the color camera_info on the
    realsense2_camera topic names, from pyrealsense2 (parameters: width, height, fps, serial, bag_path)."""
    from .realsense_source import RealSenseSettings, RealSenseSource

    rclpy.init(args=args)
    node = Node("vla_r1_realsense")
    settings = RealSenseSettings(
        width=node.declare_parameter("width", 640).value, height=node.declare_parameter("height", 480).value,
        fps=node.declare_parameter("fps", 30).value, serial=node.declare_parameter("serial", "").value,
        bag_path=node.declare_parameter("bag_path", "").value, real_time=True)
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
                depth_pub.publish(Image(header=header, height=depth.shape[0], width=depth.shape[1], encoding="32FC1",
                                        is_bigendian=0, step=depth.shape[1] * 4, data=depth.tobytes()))
                info_pub.publish(CameraInfo(header=header, **info_fields))
                rclpy.spin_once(node, timeout_sec=0.0)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
