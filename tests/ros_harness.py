"""Real rclpy over Fast DDS for tests: a private context and domain, a camera publisher playing the
recorded D435 frame on the RealSense topic names, an ExecuteInstruction client, topic recorders.

DDS stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) and in a domain of this test
process's own (derived from the pid), so two test runs on one machine never talk to each other.
Nothing here assumes every frame arrives: a loaded 2-core machine drops best-effort images.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

if os.environ.get("CI"):  # CI runs `make test`, which installs and builds both: never skip there
    import rclpy

    import vla_r1_interfaces  # noqa: F401
else:
    rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (make setup installs the ROS 2 wheels)")
    pytest.importorskip("vla_r1_interfaces", reason="vla_r1_interfaces is not built (make setup builds it)")

from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from vla_r1_interfaces.action import ExecuteInstruction
from vla_r1_ros.conversions import depth_mm_image_msg, image_msg

CAMERA_FRAME = "camera_color_optical_frame"
PREFIX = "/camera/camera"  # realsense2_camera's topic names with align_depth
COLOR_TOPIC = f"{PREFIX}/color/image_raw"
DEPTH_TOPIC = f"{PREFIX}/aligned_depth_to_color/image_raw"
INFO_TOPIC = f"{PREFIX}/color/camera_info"
STATUS = {
    GoalStatus.STATUS_SUCCEEDED: "SUCCEEDED",
    GoalStatus.STATUS_ABORTED: "ABORTED",
    GoalStatus.STATUS_CANCELED: "CANCELED",
}


_harnesses = 0


def test_domain_id(salt: int = 0) -> int:
    """A DDS domain of this process's own: 1..100 from the pid (and the xdist worker, if any);
    ``salt`` gives each harness of the process another one, so no module sees another's leftovers."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return 1 + (os.getpid() * 7 + int(worker or 0) * 31 + salt * 13) % 100


test_domain_id.__test__ = False  # a helper, not a test


def ros_env(domain_id: int, base: dict | None = None) -> dict:
    """The environment a ROS process of these tests runs with (subprocesses of a harness)."""
    env = dict(os.environ if base is None else base)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env.pop("ROS_STATIC_PEERS", None)
    return env


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str, period_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class RosHarness:
    """One rclpy context and one executor thread for the nodes of a test module."""

    def __init__(self) -> None:
        global _harnesses
        _harnesses += 1
        self.domain_id = test_domain_id(_harnesses)
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # read by rcl at init
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=self.domain_id)
        # one thread, as a deployed node runs: rclpy's MultiThreadedExecutor spins hot and starves other threads
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list[Node] = []
        self._thread = threading.Thread(target=self._spin, name="ros_harness_spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        with contextlib.suppress(Exception):  # the context was shut down under it
            self.executor.spin()

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def remove(self, node: Node) -> None:
        self.executor.remove_node(node)
        self.nodes.remove(node)
        node.destroy_node()

    def close(self) -> None:
        for node in list(self.nodes):
            self.remove(node)
        self.executor.shutdown(timeout_sec=5.0)
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)


def d435_frame(testdata):
    """The recorded D435 frame, depth aligned to color (BagSource does the alignment)."""
    from vla_r1_robot.bags.source import open_bag

    with open_bag(testdata / "realsense_d435" / "d435_mcap") as bag:
        return next(iter(bag.frames()))


class CameraPublisher(Node):
    """Publishes one frame over and over like realsense2_camera: rgb8 color, 16UC1 depth (mm)
    aligned to color, the color camera_info; fresh stamps, best effort. ``active`` pauses it."""

    def __init__(self, frame, context, rate_hz: float = 10.0, name: str = "test_camera") -> None:
        super().__init__(name, context=context)
        header = Header(frame_id=CAMERA_FRAME)
        # the messages are built once: a publish only changes the stamps
        self.color = image_msg(frame.color_rgb, header)
        self.depth = depth_mm_image_msg(frame.depth_m, header)
        self.info = CameraInfo(header=header, **frame.camera.to_camera_info())
        self.published = 0
        self.last_stamp = None
        self.active = True
        qos = qos_profile_sensor_data
        self._pubs = [
            self.create_publisher(Image, COLOR_TOPIC, qos),
            self.create_publisher(Image, DEPTH_TOPIC, qos),
            self.create_publisher(CameraInfo, INFO_TOPIC, qos),
        ]
        self.create_timer(1.0 / rate_hz, self._tick)

    def _tick(self) -> None:
        if not self.active:
            return
        stamp = self.get_clock().now().to_msg()
        for msg, pub in zip((self.color, self.depth, self.info), self._pubs, strict=True):
            msg.header.stamp = stamp
            pub.publish(msg)
        self.last_stamp = stamp
        self.published += 1


@dataclass
class GoalRun:
    accepted: bool
    status: int | None = None
    result: Any = None
    feedback: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def status_name(self) -> str:
        return STATUS.get(self.status, str(self.status))

    @property
    def stages(self) -> list[str]:
        return [f.stage for f in self.feedback]


class Recorder:
    """Keeps every message of a topic (thread-safe list)."""

    def __init__(self, node: Node, msg_type, topic: str, qos=10) -> None:
        self.messages: list = []
        self._lock = threading.Lock()
        node.create_subscription(msg_type, topic, self._on, qos)

    def _on(self, msg) -> None:
        with self._lock:
            self.messages.append(msg)

    def since(self, count: int) -> list:
        with self._lock:
            return self.messages[count:]

    def __len__(self) -> int:
        with self._lock:
            return len(self.messages)


class Client(Node):
    """An ExecuteInstruction ActionClient and topic recorders."""

    def __init__(self, context, server_node: str = "vla_r1_node", name: str = "test_client") -> None:
        super().__init__(name, context=context)
        self.action = ActionClient(self, ExecuteInstruction, f"/{server_node}/execute_instruction")
        self._server_seen = False

    def record(self, msg_type, topic: str, qos=10) -> Recorder:
        return Recorder(self, msg_type, topic, qos)

    def send(
        self,
        instruction: str,
        task: str = "affordance",
        execute: bool = False,
        max_frame_age_s: float = 0.0,
        timeout_s: float = 20.0,
    ):
        """(goal handle or None when rejected, the GoalRun being filled)."""
        if not self._server_seen:
            assert self.action.wait_for_server(timeout_sec=timeout_s), "the action server did not appear"
            # wait_for_server sees the server's request side only; give the response side (server ->
            # client) a moment to match too, or the first goal response can be lost on a busy machine
            time.sleep(0.5)
            self._server_seen = True
        run = GoalRun(accepted=False)
        goal = ExecuteInstruction.Goal(
            instruction=instruction, task=task, execute=execute, max_frame_age_s=max_frame_age_s
        )
        future = self.action.send_goal_async(goal, feedback_callback=lambda msg: run.feedback.append(msg.feedback))
        handle = wait_until(lambda: future.done() and future.result(), timeout_s, "the goal response")
        run.accepted = bool(handle.accepted)
        return (handle if run.accepted else None), run

    def finish(self, handle, run: GoalRun, timeout_s: float = 30.0) -> GoalRun:
        started = time.monotonic()
        future = handle.get_result_async()
        response = wait_until(lambda: future.done() and future.result(), timeout_s, "the goal result")
        run.status, run.result = response.status, response.result
        run.seconds = time.monotonic() - started
        return run

    def run(
        self,
        instruction: str,
        task: str = "affordance",
        execute: bool = False,
        max_frame_age_s: float = 0.0,
        timeout_s: float = 30.0,
    ) -> GoalRun:
        started = time.monotonic()
        handle, run = self.send(instruction, task, execute, max_frame_age_s)
        if handle is None:
            return run
        self.finish(handle, run, timeout_s)
        run.seconds = time.monotonic() - started
        return run


@pytest.fixture(scope="module")
def ros():
    """One private ROS context per test module (import this fixture); every node added to it is stopped at the end."""
    harness = RosHarness()
    yield harness
    harness.close()
