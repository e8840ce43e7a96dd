"""A planner's optional abilities are declared protocols (planning.py), checked with isinstance:
the pinocchio planner has a robot model, a MoveIt-like planner reads positions, executes and stops."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vla_r1_robot.motion.kinematics import RobotModel
from vla_r1_robot.motion.planning import (
    ExecutesOwnPlans,
    HasRobotModel,
    JointTrajectory,
    PinocchioPlanner,
    Planner,
    PlanningError,
    ReadsCurrentPositions,
    Stoppable,
)
from vla_r1_robot.motion.robot_profile import PANDA
from vla_r1_robot.motion.safety import SafetyConfig
from vla_r1_robot.pipeline import Pipeline

PLAN = JointTrajectory(("j1",), np.array([[0.0], [0.1]]), np.array([0.0, 1.0]))


class PlanOnly:
    def plan(self, targets, start_positions):
        return PLAN


class MoveItLike(PlanOnly):
    def __init__(self) -> None:
        self.stopped = False

    def current_positions(self):
        return np.zeros(1)

    def execute(self, plan, cancel: threading.Event | None = None) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture(scope="module")
def pinocchio_planner(testdata):
    return PinocchioPlanner(
        RobotModel.from_urdf(testdata / "urdf_panda" / "panda.urdf", PANDA.tip_link), SafetyConfig()
    )


def test_pinocchio_planner_has_a_model_and_no_execution(pinocchio_planner):
    assert isinstance(pinocchio_planner, Planner) and isinstance(pinocchio_planner, HasRobotModel)
    for ability in (ReadsCurrentPositions, ExecutesOwnPlans, Stoppable):
        assert not isinstance(pinocchio_planner, ability)


def test_moveit_like_planner_has_every_optional_ability_but_no_model():
    planner = MoveItLike()
    assert all(isinstance(planner, p) for p in (Planner, ReadsCurrentPositions, ExecutesOwnPlans, Stoppable))
    assert not isinstance(planner, HasRobotModel)
    assert not any(
        isinstance(PlanOnly(), p) for p in (ReadsCurrentPositions, ExecutesOwnPlans, Stoppable, HasRobotModel)
    )


def test_the_moveit_bridge_declares_the_abilities_it_has():
    from vla_r1_ros.moveit_bridge import MoveItPlanner

    for ability in ("plan", "current_positions", "execute", "stop"):
        assert callable(getattr(MoveItPlanner, ability))
    assert all(issubclass(MoveItPlanner, p) for p in (Planner, ReadsCurrentPositions, ExecutesOwnPlans, Stoppable))
    assert not hasattr(MoveItPlanner, "robot")  # no model: the pipeline has no default start for it


def test_pipeline_default_start_needs_a_planner_with_a_model(pinocchio_planner):
    pipeline = Pipeline(None, None, SafetyConfig(), pinocchio_planner, None)
    np.testing.assert_array_equal(pipeline._start(), PANDA.ready_positions())
    with pytest.raises(PlanningError, match="no robot model"):
        Pipeline(None, None, SafetyConfig(), PlanOnly(), None)._start()
