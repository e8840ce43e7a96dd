"""The simulated cell: FK agreement with the planner, picks of every shape, detectors, evaluation outputs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("mujoco") is None:  # not importorskip: mujoco reads MUJOCO_GL when first imported
    pytest.skip("the simulated cell needs the 'sim' extra (mujoco)", allow_module_level=True)
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

from vla_r1_robot.motion.robot_profile import PANDA
from vla_r1_robot.sim.cell import Contact
from vla_r1_robot.sim.demo_scene_layout import sample_layout
from vla_r1_robot.sim.execute import (
    ExecutionConfig,
    arm_table_collision,
    dropped,
    execute_plan,
    held_objects,
    press_forces,
)

READY = PANDA.ready_positions()


@pytest.fixture(scope="module")
def cell():
    from vla_r1_robot.sim.cell import SimCell
    from vla_r1_robot.sim.robot_description import panda_urdf

    try:
        panda_urdf()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    cell = SimCell()
    cell.reset(sample_layout(0), READY)
    yield cell
    cell.close()


@pytest.fixture(scope="module")
def evaluator(cell):
    from vla_r1_model.policy import Policy
    from vla_r1_robot.sim.evaluation import Evaluator
    from vla_r1_robot.sim.policies import GroundTruthBackend

    holder = {}
    evaluator = Evaluator(cell, lambda spec: holder["policy"])
    holder["policy"] = Policy(GroundTruthBackend(evaluator.scene_truth))
    return evaluator


def _spec(index, seed, name, task="affordance"):
    from vla_r1_robot.sim.evaluation import EpisodeSpec

    return EpisodeSpec(index, seed, name, task, 0.0)


def _random_arm_configurations(robot, count, seed=0):
    return np.random.default_rng(seed).uniform(robot.lower_limits, robot.upper_limits, size=(count, robot.num_joints))


def test_fk_of_the_simulated_robot_agrees_with_pinocchio(cell):
    from vla_r1_robot.motion.kinematics import RobotModel
    from vla_r1_robot.sim.cell import fk_errors_against_planner

    robot = RobotModel.from_urdf(str(cell.urdf), "panda_hand")
    configurations = np.vstack([READY, _random_arm_configurations(robot, 12)])
    errors = fk_errors_against_planner(cell, robot, configurations)
    assert errors.shape == (13, 2)
    assert errors[:, 0].max() < 0.01  # mm
    assert errors[:, 1].max() < 0.01  # degrees
    cell.reset(sample_layout(0), READY)


def test_fk_agrees_on_the_shared_test_urdf_too(testdata):
    from vla_r1_robot.motion.kinematics import RobotModel
    from vla_r1_robot.sim.cell import CellConfig, SimCell, fk_errors_against_planner

    urdf = testdata / "urdf_panda" / "panda.urdf"
    with SimCell(CellConfig(urdf=urdf)) as other:
        other.reset(sample_layout(0), READY)
        robot = RobotModel.from_urdf(str(urdf), "panda_hand")
        errors = fk_errors_against_planner(other, robot, _random_arm_configurations(robot, 8, seed=1))
    assert errors[:, 0].max() < 0.01


@pytest.mark.parametrize(
    "seed, name", [(11, "red_box"), (12, "green_cylinder"), (13, "blue_sphere"), (14, "yellow_box")]
)
def test_a_ground_truth_pick_of_each_shape_succeeds(evaluator, seed, name):
    episode = evaluator.run(_spec(0, seed, name))
    assert episode.success, f"{episode.failed_stage}: {episode.reason}"
    assert episode.lifted_m >= 0.05 and episode.held_object == name
    assert episode.plan and [s["type"] for s in episode.plan["steps"]] == ["gripper", "arm", "gripper", "arm"]
    assert episode.grasp_error_mm < 10.0
    # The answer went through the real parser in VLA-R1's exact format.
    assert episode.raw_text.startswith("<think>") and '</think> so, the answer is <output>{"x": ' in episode.raw_text


def test_a_box_beside_the_object_fails_with_a_clear_reason(cell):
    from vla_r1_model.policy import Policy
    from vla_r1_robot.sim.evaluation import Evaluator
    from vla_r1_robot.sim.policies import GroundTruthBackend

    class Beside(GroundTruthBackend):
        def _box_answer(self, name, box, width, height):  # the true box moved 80 px to the right
            box = json.loads(json.dumps(box))
            box["box_normalized"]["x"] += 80 / width
            return super()._box_answer(name, box, width, height)

    holder = {}
    evaluator = Evaluator(cell, lambda spec: holder["policy"])
    holder["policy"] = Policy(Beside(evaluator.scene_truth))
    episode = evaluator.run(_spec(0, 11, "red_box"))
    assert not episode.success
    assert episode.failed_stage in ("safety", "close", "judge")
    assert episode.reason and len(episode.reason) > 20
    # On the bare table the fingers would have to go below the table: refused before moving.
    if episode.failed_stage == "safety":
        assert "fingertip" in episode.reason


def test_a_trajectory_episode_reaches_above_the_object(evaluator):
    episode = evaluator.run(_spec(0, 21, "green_cylinder", task="trajectory"))
    assert episode.success, f"{episode.failed_stage}: {episode.reason}"
    assert [s["type"] for s in episode.plan["steps"]] == ["gripper", "arm"]


# ----------------------------------------------------------------- detectors on constructed cases
def test_detectors_on_constructed_contacts():
    weights = {"red_box": 1.0}
    squeezing = [
        Contact("panda_leftfinger", "red_box", 20.0),
        Contact("red_box", "panda_rightfinger", 20.0),
        Contact("world", "red_box", 1.0),
    ]
    assert press_forces(squeezing, weights) == {"red_box": pytest.approx(0.0)}
    assert held_objects(squeezing, weights) == ["red_box"]
    pressing = [Contact("panda_leftfinger", "red_box", 90.0), Contact("world", "red_box", 91.0)]
    assert press_forces(pressing, weights)["red_box"] == pytest.approx(90.0)
    assert held_objects(pressing, weights) == []
    assert arm_table_collision(squeezing) is None
    assert arm_table_collision([Contact("panda_link7", "world", 5.0)]).body1 == "panda_link7"
    assert dropped(0.05, 0.01, 0.02) and not dropped(0.02, 0.01, 0.02)


def _plan(cell, layout_seed, name, task_config, safety=None):
    from vla_r1_model.actions import Affordance
    from vla_r1_robot.motion.kinematics import RobotModel
    from vla_r1_robot.motion.planning import PinocchioPlanner
    from vla_r1_robot.motion.safety import SafetyConfig
    from vla_r1_robot.motion.task import plan_task
    from vla_r1_robot.perception.grounding import GroundingConfig, ground

    safety = safety or SafetyConfig()
    cell.reset(sample_layout(layout_seed), READY)
    frame = cell.render_frame()
    box = cell.object_boxes()[name]["box_normalized"]
    targets = ground(
        frame,
        Affordance(box["x"], box["y"], box["width"], box["height"]),
        cell.config.camera.base_T_camera(),
        GroundingConfig(),
    )
    planner = PinocchioPlanner(RobotModel.from_urdf(str(cell.urdf), "panda_hand"), safety)
    return plan_task(targets, planner, cell.arm_positions(), safety, GroundingConfig().grasp_T_tip, task_config)


def test_contact_force_detector_fires_when_the_fingers_press_an_object_into_the_table(cell):
    from vla_r1_robot.motion.task import TaskConfig

    # Fingers almost closed (1 cm apart) come down 2 cm into the top of the box: they push it into the table.
    plan = _plan(cell, 11, "red_box", TaskConfig(gripper_open_width_m=0.01))
    result = execute_plan(cell, plan, ExecutionConfig(), "red_box")
    assert result.stop is not None and result.stop.detector == "excessive_contact_force"
    assert result.stop.stage == "execute" and "red_box" in result.stop.reason


def test_drop_detector_fires_when_the_object_slips_during_the_lift(cell):
    from vla_r1_robot.motion.task import TaskConfig, TaskPlan

    plan = _plan(cell, 12, "green_cylinder", TaskConfig())
    grasped = execute_plan(cell, TaskPlan("pick", plan.steps[:3]), ExecutionConfig(), "green_cylinder")
    assert grasped.stop is None and grasped.held_object == "green_cylinder"
    # Then the object turns slippery (MuJoCo takes the larger friction of a pair: fingers and object both).
    slippery = [cell.object_geoms["green_cylinder"]] + [
        g for g in range(cell.model.ngeom) if cell.geom_body[g] in cell.finger_bodies
    ]
    saved = cell.model.geom_friction[slippery].copy()
    cell.model.geom_friction[slippery] = [0.002, 0.0, 0.0]  # 2 x 20 N x 0.002 < its 0.24 N weight
    try:  # close again (holding) and lift
        result = execute_plan(cell, TaskPlan("pick", plan.steps[2:]), ExecutionConfig(), "green_cylinder")
    finally:
        cell.model.geom_friction[slippery] = saved
    assert result.stop is not None and result.stop.detector == "object_dropped", result.stop
    assert result.stop.stage == "lift" and "dropped during the lift" in result.stop.reason


def test_arm_table_collision_stops_the_cell(cell):
    from vla_r1_robot.motion.safety import SafetyConfig
    from vla_r1_robot.motion.task import TaskConfig

    # Safety switched off on purpose (floors below the table): the fingers are driven into the table.
    unsafe = SafetyConfig(min_z_m=-0.5, tool_min_z_m=-0.5)
    plan = _plan(cell, 13, "yellow_box", TaskConfig(grasp_depth_m=0.07), unsafe)
    result = execute_plan(cell, plan, ExecutionConfig(), "yellow_box")
    assert result.stop is not None and result.stop.detector == "arm_table_collision"
    assert "touched the table" in result.stop.reason


# ----------------------------------------------------------------- evaluation outputs and the command
def test_summary_intervals_and_table():
    from vla_r1_robot.sim.evaluation import summarize, summary_markdown, wilson_interval

    low, high = wilson_interval(100, 100)
    assert high == 1.0 and 0.96 < low < 0.97
    assert wilson_interval(0, 10)[0] == 0.0
    records = [
        {
            "success": i % 4 != 0,
            "failed_stage": None if i % 4 else "close",
            "box_noise_px": 0.0,
            "shape": "box" if i % 2 else "sphere",
            "grasp_error_mm": float(i),
            "wall_s": 0.2,
        }
        for i in range(8)
    ]
    summary = summarize(records)
    condition = summary["conditions"][0]
    assert condition["successes"] == 6 and condition["failures_by_stage"] == {"close": 2}
    assert condition["by_shape"]["sphere"]["successes"] == 2
    assert "| 0 | all | 8 | 6 | 75.0 %" in summary_markdown(summary)


@pytest.mark.slow
def test_sim_eval_command_writes_results_and_refuses_an_existing_folder(tmp_path):
    out = tmp_path / "eval"
    # The installed command, as a user runs it.
    command = [
        str(Path(sys.executable).parent / "vla-r1"),
        "sim",
        "eval",
        "--episodes",
        "4",
        "--seed",
        "3",
        "--video-episodes",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 of 4 episodes succeeded" in done.stdout
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["shape"] for r in records} == {"box", "cylinder", "sphere"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["successes"] == 4 and "no model ran" in summary["answer_source"]
    page = (out / "report.html").read_text()
    assert "no model ran" in page and "episode_00000/side.gif" in page and "4 of 4 episodes succeeded" in page
    assert (out / "episode_00000" / "joints.png").is_file() and (out / "episode_00000" / "scene.png").is_file()
    # An existing folder is refused before any work and left as it was.
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists" in again.stderr
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".eval.partial")]


def test_instability_detector_fires(cell, tmp_path, monkeypatch):
    from vla_r1_robot.sim.execute import hold

    monkeypatch.chdir(tmp_path)  # MuJoCo writes MUJOCO_LOG.TXT into the working folder
    cell.reset(sample_layout(0), READY)
    assert hold(cell, 0.05) is None
    cell.data.qvel[10] = np.nan  # a velocity of the first object
    stop = hold(cell, 0.05)
    assert stop is not None and stop.detector == "simulation_unstable"
    cell.reset(sample_layout(0), READY)
    assert not cell.unstable()


def test_the_pipeline_plans_the_task_when_given_a_task_config(cell):
    from vla_r1_model.actions import Affordance
    from vla_r1_robot.motion.kinematics import RobotModel
    from vla_r1_robot.motion.planning import PinocchioPlanner
    from vla_r1_robot.motion.safety import SafetyConfig
    from vla_r1_robot.motion.task import TaskConfig
    from vla_r1_robot.perception.grounding import GroundingConfig
    from vla_r1_robot.pipeline import Pipeline

    cell.reset(sample_layout(14), READY)
    frame = cell.render_frame()
    b = cell.object_boxes()["red_box"]["box_normalized"]
    planner = PinocchioPlanner(RobotModel.from_urdf(str(cell.urdf), "panda_hand"), SafetyConfig())

    def run(task_config):
        pipeline = Pipeline(
            None,
            GroundingConfig(),
            SafetyConfig(),
            planner,
            cell.config.camera.base_T_camera(),
            start_positions=READY,
            task_config=task_config,
        )
        return pipeline.run_action(frame, Affordance(b["x"], b["y"], b["width"], b["height"]), "pick up the red box")

    outcome = run(TaskConfig())
    assert outcome.ok and outcome.task_plan.step_names() == [
        "gripper:open",
        "arm:approach",
        "gripper:close",
        "arm:lift",
    ]
    assert outcome.plan is outcome.task_plan.arm_segments[0].trajectory
    assert outcome.to_dict()["task_plan"]["steps"][2] == {
        "type": "gripper",
        "action": "close",
        "width_m": 0.0,
        "force_n": 20.0,
    }
    refused = run(TaskConfig(lift_height_m=1.5))
    assert refused.failed_stage == "safety" and "lift segment" in refused.error and refused.violations
    assert run(None).task_plan is None  # without a task config: the grounded targets only, as before


def test_a_failed_demo_never_touches_an_earlier_demo(tmp_path, monkeypatch):
    import argparse

    from vla_r1_cli import sim as cli_sim

    def fake_eval(args):  # what run_eval leaves: a finished folder, or nothing when it fails
        if fail:
            raise RuntimeError("the model crashed")
        args.out.mkdir()
        (args.out / "report.html").write_text(args.out.name)
        return 0

    monkeypatch.setattr(cli_sim, "run_eval", fake_eval)
    args = argparse.Namespace(out_root=tmp_path / "demo", episodes=4)
    fail = False
    assert cli_sim.run_demo(argparse.Namespace(**vars(args))) == 0
    first = (tmp_path / "demo" / "latest").resolve()
    assert (first / "report.html").is_file()
    fail = True
    with pytest.raises(RuntimeError):
        cli_sim.run_demo(argparse.Namespace(**vars(args)))
    assert (tmp_path / "demo" / "latest").resolve() == first and (first / "report.html").is_file()
    fail = False
    cli_sim.run_demo(argparse.Namespace(**vars(args)))
    runs = sorted(p.name for p in (tmp_path / "demo").iterdir() if p.name.startswith("run-"))
    assert len(runs) == 2 and (tmp_path / "demo" / "latest").resolve() != first and first.is_dir()
