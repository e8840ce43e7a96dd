"""launch_testing: the node with the tiny checkpoint on the recorded D435 rosbag2, one goal end to end.

Runs in the Docker image (``colcon test --packages-select vla_r1_ros``); needs the test data
mounted and VLA_R1_TESTDATA pointing at it (docs/ros2.md). What it checks:
- a goal gets a result (the tiny random-weight model usually writes no parseable action, so the
  result is an honest PARSE_FAILED or later-stage failure, never a crash, NO_FRAME or NOT_READY);
- nothing executes without permission: goal.execute is true but execution.allow_execution is false;
- an empty instruction is rejected at the goal stage;
- after shutdown (SIGINT from launch_testing), the node has exited cleanly (exit code 0).
"""

import os
import time
import unittest
from pathlib import Path

import launch_ros.actions
import launch_testing
import launch_testing.actions
import launch_testing.asserts
import pytest
import rclpy
from rclpy.action import ActionClient

import launch
from vla_r1_interfaces.action import ExecuteInstruction

BAG_SUBDIR = Path("realsense_d435") / "d435_mcap"
CAMERA_FRAME = "camera_color_optical_frame"
TOPICS = {
    "camera.color_topic": "/device_0/sensor_1/Color_0/image/data",
    "camera.depth_topic": "/device_0/sensor_0/Depth_0/image/data",  # this recording is not aligned; the sizes match
    "camera.info_topic": "/device_0/sensor_1/Color_0/info/camera_info",
}


def _bag() -> Path | None:
    root = os.environ.get("VLA_R1_TESTDATA")
    path = Path(root) / BAG_SUBDIR if root else None
    return path if path is not None and path.is_dir() else None


@pytest.mark.launch_test
def generate_test_description():
    bag = _bag()
    if bag is None:
        pytest.skip("set VLA_R1_TESTDATA to the shared testdata folder (with realsense_d435/d435_mcap)")
    node = launch_ros.actions.Node(
        package="vla_r1_ros",
        executable="vla_r1_node",
        name="vla_r1_node",
        output="screen",
        parameters=[
            {
                "model.model": "tiny",
                "model.max_new_tokens": 48,
                "execution.planner": "none",
                "execution.allow_execution": False,
                "camera.pair_tolerance_s": 0.2,
                "camera.camera_frame_id": CAMERA_FRAME,
                "camera.frame_wait_timeout_s": 20.0,
                "transforms.base_frame": "base_link",
                **TOPICS,
            }
        ],
    )
    camera_pose = launch_ros.actions.Node(  # camera 0.6 m above the table, looking down
        package="tf2_ros",
        executable="static_transform_publisher",
        arguments=[
            "--x",
            "0.4",
            "--y",
            "0",
            "--z",
            "0.6",
            "--qx",
            "1",
            "--qy",
            "0",
            "--qz",
            "0",
            "--qw",
            "0",
            "--frame-id",
            "base_link",
            "--child-frame-id",
            CAMERA_FRAME,
        ],
    )
    play = launch.actions.ExecuteProcess(cmd=["ros2", "bag", "play", "--loop", str(bag)], output="screen")
    return (
        launch.LaunchDescription([node, camera_pose, play, launch_testing.actions.ReadyToTest()]),
        {"vla_r1_node": node},
    )


class TestExecuteInstruction(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("vla_r1_test_client")
        cls.client = ActionClient(cls.node, ExecuteInstruction, "/vla_r1_node/execute_instruction")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def _send(self, goal, timeout_s=300.0):
        self.assertTrue(self.client.wait_for_server(timeout_sec=60.0), "the action server did not come up")
        sent = self.client.send_goal_async(goal)
        rclpy.spin_until_future_complete(self.node, sent, timeout_sec=30.0)
        handle = sent.result()
        if handle is None or not handle.accepted:
            return None
        result = handle.get_result_async()
        rclpy.spin_until_future_complete(self.node, result, timeout_sec=timeout_s)
        self.assertTrue(result.done(), "no result in time")
        return result.result().result

    def _goal(self, instruction="pick up the object on the table", task="affordance", execute=True):
        return ExecuteInstruction.Goal(instruction=instruction, task=task, execute=execute, max_frame_age_s=3600.0)

    def test_goal_gets_a_result_and_nothing_executes(self):
        codes = ExecuteInstruction.Result
        deadline = time.monotonic() + 240.0
        while True:  # the tiny model loads in the background: NOT_READY until then
            result = self._send(self._goal())
            self.assertIsNotNone(result, "the goal was rejected")
            if result.error_code != codes.NOT_READY or time.monotonic() > deadline:
                break
            time.sleep(2.0)
        self.assertNotIn(result.error_code, (codes.NOT_READY, codes.NO_FRAME), result.error_message)
        self.assertFalse(result.executed, "executed although execution.allow_execution is false")
        self.assertEqual(result.task, "affordance")
        self.assertTrue(result.raw_text or result.error_message)
        self.assertTrue(any(t.stage == "model" for t in result.timings))
        if result.success:  # a lucky random answer: a targets-only success (planner none) that says so
            self.assertIn("targets only", result.error_message)

    def test_empty_instruction_is_rejected(self):
        self.assertIsNone(self._send(self._goal(instruction="   ")))


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_node_exited_cleanly(self, proc_info, vla_r1_node):
        launch_testing.asserts.assertExitCodes(proc_info, process=vla_r1_node)
