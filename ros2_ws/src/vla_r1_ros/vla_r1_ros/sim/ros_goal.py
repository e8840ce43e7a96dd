"""A small ExecuteInstruction client: send one goal, print the feedback as it comes and the result.

    python -m vla_r1_ros.sim.ros_goal "pick up the red box" [--execute] [--task affordance] [--reset]

The same as ``ros2 action send_goal --feedback /vla_r1_node/execute_instruction
vla_r1_interfaces/action/ExecuteInstruction "{instruction: 'pick up the red box', task: affordance, execute: true}"``.
``--reset`` first asks the simulated cell for a new scene (service /vla_r1_sim_cell/reset; with a seed,
topic /vla_r1_sim_cell/reset_seed).
"""

from __future__ import annotations

import argparse
import sys
import time


def reset_scene(node, seed: int) -> bool:
    """A new scene: the Trigger service (it answers once the scene is built) for the next layout, the
    ``reset_seed`` topic for a given seed or where std_srvs is not installed."""
    import rclpy
    from std_msgs.msg import Int64

    try:
        from std_srvs.srv import Trigger
    except ImportError:
        Trigger = None
    if seed < 0 and Trigger is not None:
        client = node.create_client(Trigger, "/vla_r1_sim_cell/reset")
        if not client.wait_for_service(timeout_sec=15.0):
            print("no service /vla_r1_sim_cell/reset (is the bringup running?)", file=sys.stderr)
            return False
        future = client.call_async(Trigger.Request())
        rclpy.spin_until_future_complete(node, future, timeout_sec=40.0)
        response = future.result()
        if response is None or not response.success:
            print(f"the reset failed: {'no answer' if response is None else response.message}", file=sys.stderr)
            return False
        print(f"[reset] {response.message}", flush=True)
    else:
        publisher = node.create_publisher(Int64, "/vla_r1_sim_cell/reset_seed", 10)
        time.sleep(1.0)  # discovery
        publisher.publish(Int64(data=seed))
        time.sleep(0.5)  # the new scene
    wait_for_camera_frame(node)  # of the new scene, before the goal asks for one
    return True


def wait_for_camera_frame(node, timeout_s: float = 15.0) -> bool:
    """Spin until a color image arrives (a rendered frame of the current scene), at most ``timeout_s``."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    received: list[bool] = []
    subscription = node.create_subscription(
        Image, "/camera/camera/color/image_raw", lambda _msg: received.append(True), qos_profile_sensor_data
    )
    deadline = time.monotonic() + timeout_s
    try:
        while not received and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_subscription(subscription)
    if not received:
        print(f"warning: no camera frame within {timeout_s:g} s after the reset", file=sys.stderr, flush=True)
    return bool(received)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_r1_ros.sim.ros_goal", description=__doc__.split("\n\n")[0])
    parser.add_argument("instruction")
    parser.add_argument("--task", choices=("affordance", "trajectory"), default="affordance")
    parser.add_argument("--execute", action="store_true", help="ask to move the arm (the node must allow it too)")
    parser.add_argument("--node", default="vla_r1_node")
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument(
        "--reset",
        type=int,
        nargs="?",
        const=-1,
        default=None,
        metavar="SEED",
        help="new simulated scene first (optional layout seed)",
    )
    args = parser.parse_args(argv)
    from .ros_bringup import dds_environment

    dds_environment()
    import rclpy
    from rclpy.action import ActionClient

    from vla_r1_interfaces.action import ExecuteInstruction

    rclpy.init()
    node = rclpy.create_node("vla_r1_goal_client")
    try:
        if args.reset is not None and not reset_scene(node, args.reset):
            return 1
        client = ActionClient(node, ExecuteInstruction, f"/{args.node}/execute_instruction")
        if not client.wait_for_server(timeout_sec=15.0):
            print(f"no action server /{args.node}/execute_instruction (is the bringup running?)", file=sys.stderr)
            return 2
        goal = ExecuteInstruction.Goal(instruction=args.instruction, task=args.task, execute=args.execute)

        def on_feedback(msg) -> None:
            f = msg.feedback
            segment = (
                f" segment {f.segment_index + 1}/{f.segment_count} {f.segment_kind}" if f.segment_index >= 0 else ""
            )
            print(f"[feedback] {f.stage}{segment}", flush=True)

        future = client.send_goal_async(goal, feedback_callback=on_feedback)
        rclpy.spin_until_future_complete(node, future, timeout_sec=15.0)
        handle = future.result()
        if handle is None or not handle.accepted:
            print("goal rejected", file=sys.stderr)
            return 1
        result_future = handle.get_result_async()
        rclpy.spin_until_future_complete(node, result_future, timeout_sec=args.timeout_s)
        if not result_future.done():
            print(f"no result within {args.timeout_s:g} s", file=sys.stderr)
            return 1
        r = result_future.result().result
        print(f"[result] success {r.success} executed {r.executed}: {r.error_message}")
        print("[timings] " + ", ".join(f"{t.stage} {t.seconds:.3f} s" for t in r.timings))
        return 0 if r.success else 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
