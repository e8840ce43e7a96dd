"""One command for the whole robot over ROS 2 on this machine (no ``launch`` package here):
the simulated cell (``vla_r1_sim_cell``), the ground-truth answer server and the VLA-R1 node
(``model.backend: openai`` against that server, planner pinocchio, execution through the
JointTrajectory controller topics), in one process on one executor.

    python -m vla_r1_ros.sim.ros_bringup [--allow-execution] [--seed 0] [--camera-rate-hz 5]
    python -m vla_r1_ros.sim.ros_goal "pick up the red box" --execute      # in a second shell

DDS: shared memory (config/fastdds_shm.xml) unless a Fast DDS profile is already exported, and
discovery on this machine only. On a ROS install ``ros2 launch vla_r1_ros sim.launch.py`` does the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

FASTDDS_PROFILE = Path(__file__).resolve().parents[2] / "config" / "fastdds_shm.xml"


def dds_environment(env=os.environ) -> None:
    """Shared-memory Fast DDS and localhost discovery, set before rclpy starts (an exported profile wins)."""
    if FASTDDS_PROFILE.is_file() and not (
        env.get("FASTDDS_DEFAULT_PROFILES_FILE") or env.get("FASTRTPS_DEFAULT_PROFILES_FILE")
    ):
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = env["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(FASTDDS_PROFILE)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("MUJOCO_GL", "egl")
    env.setdefault("PYOPENGL_PLATFORM", env["MUJOCO_GL"])


def node_parameters(
    server_url: str, hand_eye_yaml: str, urdf: str, allow_execution: bool, extra: dict | None = None
) -> dict:
    values = {
        "model.backend": "openai",
        "model.model": "vla-r1-ground-truth",
        "model.server_url": server_url,
        "model.timeout_s": 30.0,
        "camera.camera_frame_id": "camera_color_optical_frame",
        "camera.frame_wait_timeout_s": 10.0,  # a simulated camera rendering on a busy CPU
        "transforms.hand_eye_yaml": hand_eye_yaml,
        "execution.planner": "pinocchio",
        "execution.urdf_path": urdf,
        "execution.allow_execution": allow_execution,
    }
    values.update(extra or {})
    return values


class SimSystem:
    """The three parts on one rclpy context (``with SimSystem(...) as system``); used by the bringup,
    the batch measurement and available to tests."""

    def __init__(
        self,
        seed: int = 0,
        camera_rate_hz: float = 5.0,
        allow_execution: bool = False,
        answer_port: int = 0,
        context=None,
        node_extra: dict | None = None,
    ) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter

        from vla_r1_robot.sim.answer_server import AnswerServer

        from ..node import VlaR1Node
        from .ros_cell import make_sim_cell_node

        self._tmp = tempfile.TemporaryDirectory(prefix="vla_r1_sim_")
        hand_eye = str(Path(self._tmp.name) / "base_T_camera.yaml")
        self.context = context
        self.cell = make_sim_cell_node(
            context,
            [
                Parameter("camera_rate_hz", value=camera_rate_hz),
                Parameter("seed", value=seed),
                Parameter("hand_eye_yaml", value=hand_eye),
            ],
        )
        self.answers = AnswerServer(self.cell.answer_truth, port=answer_port).__enter__()
        values = node_parameters(self.answers.url, hand_eye, str(self.cell.cell.urdf), allow_execution, node_extra)
        self.node = VlaR1Node(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        # One executor thread, as the node runs itself (goals work on their own threads): rclpy's
        # MultiThreadedExecutor spins hot in Python and starved the physics thread of the GIL (the cell
        # fell seconds behind real time on an idle 2-core machine).
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.cell)
        self.executor.add_node(self.node)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        for node in (self.node, self.cell):
            node.destroy_node()
        self.answers.__exit__(None, None, None)
        self._tmp.cleanup()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_r1_ros.sim.ros_bringup", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--allow-execution", action="store_true", help="let goals with execute=true move the simulated arm"
    )
    parser.add_argument("--seed", type=int, default=0, help="scene seed of the first layout")
    parser.add_argument("--camera-rate-hz", type=float, default=5.0)
    parser.add_argument("--answer-port", type=int, default=0, help="ground-truth answer server port (0: a free one)")
    args = parser.parse_args(argv)
    dds_environment()
    import rclpy

    rclpy.init()
    try:
        system = SimSystem(args.seed, args.camera_rate_hz, args.allow_execution, args.answer_port)
    except Exception as error:  # noqa: BLE001 - one clear line, not a traceback
        print(f"sim bringup: cannot start: {error}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    print(
        f"simulated cell, answer server {system.answers.url} and vla_r1_node up; execution "
        f"{'ALLOWED' if args.allow_execution else 'off (plan only)'}. Ctrl-C stops.",
        flush=True,
    )
    try:
        system.executor.spin()
    except KeyboardInterrupt:
        pass
    finally:
        system.close()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
