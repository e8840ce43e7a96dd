"""Bringup without launch: `python -m vla_r1_ros.node --ros-args --params-file ...` serves goals and
stops cleanly on Ctrl-C; bad parameters end it at once with one clear line and exit 2, no traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# ros_harness first: it skips this module where ROS 2 is not installed
from ros_harness import CameraPublisher, Client, RosHarness, d435_frame, ros_env, test_domain_id, wait_until

# isort: split
from action_msgs.msg import GoalStatus
from chat_server import ChatServer
from test_ros_node import ANSWERS, HAND_EYE_YAML, answer

PARAMS_YAML = Path(__file__).resolve().parents[1] / "ros2_ws/src/vla_r1_ros/config/params.yaml"


def node_command(*params_files: Path, args: tuple[str, ...] = ()) -> list[str]:
    command = [sys.executable, "-m", "vla_r1_ros.node", "--ros-args"]
    for path in params_files:
        command += ["--params-file", str(path)]
    return command + list(args)


def write_params(path: Path, **flat) -> Path:
    nested: dict = {}
    for name, value in flat.items():
        node = nested
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump({"vla_r1_node": {"ros__parameters": nested}}))
    return path


@pytest.fixture(scope="module")
def hand_eye(tmp_path_factory):
    path = tmp_path_factory.mktemp("startup") / "base_T_camera.yaml"
    path.write_text(HAND_EYE_YAML)
    return path


def test_bad_parameters_stop_the_node_with_a_clear_message(tmp_path, hand_eye, testdata):
    plain = dict(**{"transforms.hand_eye_yaml": str(hand_eye), "execution.planner": "none"})
    cases = {  # name -> (command, words the one error line must contain)
        "unknown key": (
            node_command(PARAMS_YAML, write_params(tmp_path / "a.yaml", **plain, **{"camera.colour_topic": "/x"})),
            ["unknown parameter", "camera.colour_topic"],
        ),
        "wrong type": (
            node_command(PARAMS_YAML, write_params(tmp_path / "b.yaml", **plain, **{"model.timeout_s": "soon"})),
            ["model.timeout_s", "soon"],
        ),
        "integer for a double": (
            node_command(
                PARAMS_YAML, args=("-p", "camera.max_frame_age_s:=1", "-p", f"transforms.hand_eye_yaml:={hand_eye}")
            ),
            ["camera.max_frame_age_s", "1.0"],
        ),
        "missing URDF": (
            node_command(
                PARAMS_YAML,
                write_params(
                    tmp_path / "c.yaml",
                    **{
                        "transforms.hand_eye_yaml": str(hand_eye),
                        "execution.planner": "pinocchio",
                        "execution.urdf_path": str(tmp_path / "no_robot.urdf"),
                    },
                ),
            ),
            ["execution.urdf_path", "no_robot.urdf"],
        ),
        "bad value": (
            node_command(
                PARAMS_YAML, write_params(tmp_path / "d.yaml", **plain, **{"execution.velocity_scaling": 2.0})
            ),
            ["execution.velocity_scaling", "(0, 1]"],
        ),
        "missing hand-eye file": (
            node_command(
                PARAMS_YAML,
                write_params(tmp_path / "e.yaml", **{"transforms.hand_eye_yaml": str(tmp_path / "nowhere.yaml")}),
            ),
            ["transforms.hand_eye_yaml", "nowhere.yaml"],
        ),
    }
    pinocchio = {
        "transforms.hand_eye_yaml": str(hand_eye),
        "execution.planner": "pinocchio",
        "execution.urdf_path": str(testdata / "urdf_panda" / "panda.urdf"),
    }
    cases["arm joints not the URDF's"] = (
        node_command(
            PARAMS_YAML,
            write_params(tmp_path / "f.yaml", **pinocchio, **{"execution.arm_joints": ["joint_a", "joint_b"]}),
        ),
        ["execution.arm_joints", "joint_a", "panda_joint7"],
    )
    try:
        import control_msgs  # noqa: F401
    except ImportError:  # a pip install: no control_msgs, so the action interface is refused at start
        cases["action interface without control_msgs"] = (
            node_command(
                PARAMS_YAML,
                write_params(tmp_path / "g.yaml", **pinocchio, **{"execution.controller_interface": "action"}),
            ),
            ["execution.controller_interface", "control_msgs"],
        )
    try:
        import tf2_ros  # noqa: F401
    except ImportError:  # a pip install: no tf2, so eye-in-hand is refused at start
        cases["eye-in-hand without tf2"] = (
            node_command(PARAMS_YAML, args=("-p", "transforms.eye_in_hand:=true")),
            ["eye_in_hand", "tf2_ros"],
        )
    # all at once: each start costs seconds of imports on a small machine
    env = ros_env(test_domain_id(99))  # these nodes never get far enough to talk
    procs = {
        name: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for name, (command, _) in cases.items()
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, f"{name}: exit {proc.returncode}\n{err}"
        assert "Traceback" not in err + out, f"{name}:\n{err}"
        lines = [line for line in err.splitlines() if "cannot start" in line]
        assert len(lines) == 1, f"{name}:\n{err}"
        for word in cases[name][1]:
            assert word in lines[0], f"{name}: {word!r} not in {lines[0]!r}"


def test_the_node_starts_from_a_params_file_serves_a_goal_and_stops_on_ctrl_c(tmp_path, hand_eye, testdata):
    frame = d435_frame(testdata)
    with ChatServer(answer) as chat:
        overrides = write_params(
            tmp_path / "site.yaml",
            **{
                "model.backend": "openai",
                "model.model": "vla-r1-test",
                "model.server_url": chat.url,
                "camera.camera_frame_id": "camera_color_optical_frame",
                "transforms.hand_eye_yaml": str(hand_eye),
                "execution.planner": "none",
            },
        )
        ros = RosHarness()
        proc = subprocess.Popen(
            node_command(PARAMS_YAML, overrides),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ros_env(ros.domain_id),
        )
        failure = None
        try:
            ros.add(CameraPublisher(frame, ros.context, rate_hz=10.0))
            client = ros.add(Client(ros.context))
            assert client.action.wait_for_server(timeout_sec=60), "the node's action server did not appear"
            # codes 2 and 3: the model client is still loading, or no frame has crossed over yet
            run = wait_until(
                lambda: (lambda r: r if r.result.error_code not in (2, 3) else None)(client.run("pick up the cup")),
                40,
                "a goal the loaded node answers",
            )
            assert run.status == GoalStatus.STATUS_SUCCEEDED, run.result.error_message
            assert run.result.raw_text == ANSWERS["cup"] and len(run.result.targets.poses) == 2
            assert run.result.error_message == "targets only: no planner is configured"
        except AssertionError as exc:
            failure = exc
        finally:
            ros.close()
            proc.send_signal(signal.SIGINT)
            try:
                out, _ = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                pytest.fail(f"the node did not stop on SIGINT:\n{out}")
    if failure is not None:
        pytest.fail(f"{failure}\nthe node's output:\n{out}")
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
