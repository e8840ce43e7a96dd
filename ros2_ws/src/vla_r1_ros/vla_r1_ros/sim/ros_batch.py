"""A batch of goals sent over ROS 2 to the simulated cell: the success count beside ``vla-r1 sim eval``
with the same seeds (the same layouts and objects: ``evaluation.episode_specs``), and the time from
goal to result split into model, planning and execution (the node's own StageTimings).

    python -m vla_r1_ros.sim.ros_batch --episodes 20 --seed 0 [--out batch.json]

Each episode: a new scene (reset to the episode's layout seed), "pick up the <object>" with execution
allowed, then success = the result says executed AND the ground truth says the object is lifted (held
between the fingers, > 3 cm above its rest height) one second after the result.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path


def run_batch(episodes: int, seed: int, camera_rate_hz: float = 5.0, progress: bool = True) -> dict:
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Int64, String
    from tqdm import tqdm

    from vla_r1_interfaces.action import ExecuteInstruction
    from vla_r1_robot.sim.evaluation import episode_specs
    from vla_r1_robot.sim.policies import object_phrase

    from .ros_bringup import SimSystem

    context = rclpy.Context()
    rclpy.init(context=context)
    system = SimSystem(seed=seed, camera_rate_hz=camera_rate_hz, allow_execution=True, context=context)
    client = rclpy.create_node("vla_r1_batch_client", context=context)
    system.executor.add_node(client)
    truth: dict = {}
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)

    def on_truth(msg: String) -> None:
        truth.update(json.loads(msg.data))

    client.create_subscription(String, "/vla_r1_sim_cell/ground_truth", on_truth, latched)
    reset = client.create_publisher(Int64, "/vla_r1_sim_cell/reset_seed", 10)
    action = ActionClient(client, ExecuteInstruction, "/vla_r1_node/execute_instruction")
    spin = threading.Thread(target=system.executor.spin, daemon=True)
    spin.start()

    def wait(predicate, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    records = []
    try:
        if not (wait(lambda: system.node.ready, 30) and action.wait_for_server(timeout_sec=15)):
            raise RuntimeError("the VLA-R1 node did not come up")
        time.sleep(0.5)
        for spec in tqdm(
            episode_specs(episodes, seed, "affordance", (0.0,)), desc="goals over ROS", disable=not progress
        ):
            reset.publish(Int64(data=spec.seed))
            wait(lambda spec=spec: truth.get("scene_seed") == spec.seed and not truth.get("held"), 30)
            time.sleep(1.5 / camera_rate_hz + 0.1)  # a camera frame of the new scene
            instruction = f"pick up the {object_phrase(spec.object_name)}"
            start = time.monotonic()
            future = action.send_goal_async(
                ExecuteInstruction.Goal(instruction=instruction, task="affordance", execute=True)
            )
            wait(future.done, 15)
            handle = future.result()
            result_future = handle.get_result_async()
            wait(result_future.done, 120)
            goal_to_result_s = time.monotonic() - start
            r = result_future.result().result
            time.sleep(1.0)  # the object must stay up
            timings = {t.stage: t.seconds for t in r.timings}
            lifted = spec.object_name in truth.get("lifted", [])
            records.append(
                {
                    "index": spec.index,
                    "seed": spec.seed,
                    "object": spec.object_name,
                    "executed": bool(r.executed),
                    "lifted": lifted,
                    "success": bool(r.executed and lifted),
                    "error": r.error_message,
                    "goal_to_result_s": round(goal_to_result_s, 3),
                    # sim time the cell skipped because its physics thread stood still > 1 s (0 when healthy)
                    "dropped_sim_time_s": truth.get("dropped_sim_time_s"),
                    **{f"{k}_s": round(timings[k], 3) for k in ("model", "planning", "execution") if k in timings},
                }
            )
    finally:
        system.executor.remove_node(client)
        client.destroy_node()
        system.close()
        rclpy.try_shutdown(context=context)

    def median(key: str):
        values = [r[key] for r in records if key in r]
        return round(statistics.median(values), 3) if values else None

    return {
        "episodes": len(records),
        "seed": seed,
        "successes": sum(r["success"] for r in records),
        "executed": sum(r["executed"] for r in records),
        "median_s": {k: median(f"{k}_s") for k in ("goal_to_result", "model", "planning", "execution")},
        "records": records,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_r1_ros.sim.ros_batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument(
        "--seed", type=int, default=0, help="as `vla-r1 sim eval --seed` (the same layouts and objects)"
    )
    parser.add_argument("--camera-rate-hz", type=float, default=5.0)
    parser.add_argument("--out", type=Path, help="write the JSON here (a new file)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    from vla_r1_model.files import atomic_write_text, check_output_file

    if args.out:
        check_output_file(args.out)
    from .ros_bringup import dds_environment

    dds_environment()
    summary = run_batch(args.episodes, args.seed, args.camera_rate_hz, not args.no_progress)
    text = json.dumps(summary, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
