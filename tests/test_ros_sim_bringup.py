"""The documented bringup, run as a user runs it: `python -m vla_r1_ros.sim.ros_bringup --allow-execution`
in one process, `python -m vla_r1_ros.sim.ros_goal ... --execute` in another, over real DDS; then Ctrl-C."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import threading

import pytest

# find_spec, not import: this process must not import mujoco before MUJOCO_GL is set (other test
# modules render off-screen; mujoco picks its GL backend once, at its first import)
if importlib.util.find_spec("mujoco") is None:
    pytest.skip("mujoco is not installed", allow_module_level=True)
pytest.importorskip("rclpy", reason="rclpy is not installed")
from ros_harness import ros_env, test_domain_id


def start_reader(proc: subprocess.Popen, lines: list[str], ready: threading.Event) -> None:
    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()


def test_the_documented_bringup_picks_an_object_and_stops_cleanly_on_ctrl_c():
    env = ros_env(test_domain_id(salt=41))
    env.setdefault("MUJOCO_GL", "egl")
    bringup = subprocess.Popen(
        [sys.executable, "-m", "vla_r1_ros.sim.ros_bringup", "--allow-execution", "--camera-rate-hz", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    ready = threading.Event()
    start_reader(bringup, lines, ready)
    try:
        assert ready.wait(120), "the bringup did not come up:\n" + "".join(lines)
        # --reset: the Trigger service builds the next scene (every layout holds the four objects)
        goal = subprocess.run(
            [sys.executable, "-m", "vla_r1_ros.sim.ros_goal", "pick up the red box", "--execute", "--reset"],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
        assert goal.returncode == 0, goal.stdout + goal.stderr + "".join(lines)
        assert "[reset] scene seed 1" in goal.stdout, goal.stdout
        stages = [line.split()[1] for line in goal.stdout.splitlines() if line.startswith("[feedback]")]
        assert stages.index("model") < stages.index("planned") < stages.index("executing"), goal.stdout
        assert "[result] success True executed True" in goal.stdout, goal.stdout
    finally:
        bringup.send_signal(signal.SIGINT)
        try:
            bringup.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bringup.kill()
            bringup.wait()
            pytest.fail("the bringup did not stop on SIGINT:\n" + "".join(lines))
    output = "".join(lines)
    assert bringup.returncode == 0, output
    assert "Traceback" not in output and "the simulation stopped" not in output, output
