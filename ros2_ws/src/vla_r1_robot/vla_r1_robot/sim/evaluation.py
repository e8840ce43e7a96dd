"""Closed-loop evaluation: episodes of render -> answer -> parse -> ground -> safety -> plan -> execute
-> close -> lift -> judge on the simulated cell, and the success rate with its uncertainty.

Each episode draws a layout (object poses) from its seed and names one object in the instruction,
cycling through the objects so every shape is covered. An affordance episode succeeds when the
named object ends ``lift_success_m`` (5 cm) or more above where it rested, held between both fingers
after ``hold_s``, and no detector stopped the cell. A trajectory episode succeeds when the fingertip
centre ends within ``reach_tolerance_m`` (horizontally) above the named object's top centre, the
object undisturbed, and nothing stopped the cell. Every failure records its stage and reason.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..motion.planning import PinocchioPlanner, PlannerConfig
from ..motion.robot_profile import PANDA
from ..motion.safety import SafetyConfig
from ..motion.task import TaskConfig, TaskPlan
from ..perception.grounding import GroundingConfig, PathTarget
from ..pipeline import Pipeline
from .cell import SimCell
from .demo_scene_layout import SceneLayout, sample_layout
from .execute import ExecutionConfig, ExecutionResult, execute_plan, held_objects, hold
from .policies import object_phrase

STAGES = ("render", "model", "parse", "grounding", "safety", "planning", "execute", "close", "lift", "place", "judge")
READY = PANDA.ready_positions()


@dataclass(frozen=True)
class EpisodeSpec:
    index: int
    seed: int
    object_name: str
    task: str
    box_noise_px: float


@dataclass(frozen=True)
class JudgeConfig:
    lift_success_m: float = 0.05
    hold_s: float = 0.3
    reach_tolerance_m: float = 0.02
    reach_max_above_m: float = 0.04  # trajectory: fingertips end at most this far above the top
    disturb_limit_m: float = 0.01  # trajectory: the object may not be pushed more than this


@dataclass
class Episode:
    """One episode's record (``to_dict`` is one line of episodes.jsonl)."""

    spec: EpisodeSpec
    shape: str = ""
    instruction: str = ""
    success: bool = False
    failed_stage: str | None = None
    reason: str | None = None
    raw_text: str = ""
    reasoning: str = ""
    action: dict | None = None
    targets: dict | None = None
    plan: dict | None = None
    object_top_base_m: list[float] | None = None
    grounded_point_base_m: list[float] | None = None
    grasp_error_mm: float | None = None
    lifted_m: float | None = None
    held_object: str | None = None
    stop: dict | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    sim_time_s: float = 0.0
    wall_s: float = 0.0
    scene: dict = field(default_factory=dict)
    execution: ExecutionResult | None = None  # not serialized: the report reads it
    frame_rgb: np.ndarray | None = None
    action_value: Any = None  # the parsed Affordance / Trajectory, for the overlay
    task_plan: TaskPlan | None = None

    def fail(self, stage: str, reason: str) -> Episode:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        self.success, self.failed_stage, self.reason = False, stage, reason
        return self

    def to_dict(self) -> dict[str, Any]:
        s = self.spec
        return {
            "index": s.index,
            "seed": s.seed,
            "task": s.task,
            "box_noise_px": s.box_noise_px,
            "object": s.object_name,
            "shape": self.shape,
            "instruction": self.instruction,
            "success": self.success,
            "failed_stage": self.failed_stage,
            "reason": self.reason,
            "raw_text": self.raw_text,
            "reasoning": self.reasoning,
            "action": self.action,
            "targets": self.targets,
            "plan": self.plan,
            "object_top_base_m": self.object_top_base_m,
            "grounded_point_base_m": self.grounded_point_base_m,
            "grasp_error_mm": self.grasp_error_mm,
            "lifted_m": self.lifted_m,
            "held_object": self.held_object,
            "stop": self.stop,
            "timings_ms": self.timings_ms,
            "sim_time_s": round(self.sim_time_s, 4),
            "wall_s": round(self.wall_s, 4),
            "scene": self.scene,
        }


def episode_specs(
    episodes: int,
    seed: int,
    task: str,
    noise_levels: tuple[float, ...],
    layout_for: Callable[[int], SceneLayout] = sample_layout,
) -> list[EpisodeSpec]:
    """``episodes`` per noise level; the same layouts and objects under every level (paired)."""
    specs: list[EpisodeSpec] = []
    for noise in noise_levels:
        for i in range(episodes):
            layout_seed = seed * 1_000_003 + i
            objects = layout_for(layout_seed).objects
            specs.append(EpisodeSpec(len(specs), layout_seed, objects[i % len(objects)].spec.name, task, float(noise)))
    return specs


def trajectory_pixels(cell: SimCell, object_name: str, n_points: int = 5, run_up_m: float = 0.15) -> list[list[float]]:
    """A ground-truth 2D trajectory for ``object_name``: from the table ``run_up_m`` in front of it
    (towards the robot) to its top centre, normalized image coordinates (edge-based)."""
    camera = cell.config.camera
    model = camera.camera_model()
    camera_T_base = camera.base_T_camera().inverse()
    obj = next(o for o in cell.scene().objects if o.spec.name == object_name)
    top = obj.top_centre_base_m
    points = []
    for s in np.linspace(0.0, 1.0, n_points):
        p = top + (1.0 - s) * np.array([-run_up_m, 0.0, 0.0])
        if s < 1.0:
            p[2] = 0.0  # the pixel sees the table under the path
        u, v = model.project(camera_T_base.apply(p)[None])[0]
        points.append([float((u + 0.5) / model.width), float((v + 0.5) / model.height)])
    return points


class Evaluator:
    """Runs episodes on one cell with one pipeline configuration."""

    def __init__(
        self,
        cell: SimCell,
        policy_for: Callable[[EpisodeSpec], Any],
        grounding: GroundingConfig | None = None,
        safety: SafetyConfig | None = None,
        planner_config: PlannerConfig | None = None,
        task_config: TaskConfig | None = None,
        execution: ExecutionConfig | None = None,
        judge: JudgeConfig | None = None,
    ) -> None:
        from ..motion.kinematics import RobotModel

        self.cell = cell
        self.policy_for = policy_for
        self.grounding = grounding or GroundingConfig()
        self.safety = safety or SafetyConfig()
        self.task_config = task_config or TaskConfig()
        self.execution = execution or ExecutionConfig()
        self.judge = judge or JudgeConfig()
        # The planner reads the very URDF the simulator was built from.
        self.planner = PinocchioPlanner(
            RobotModel.from_urdf(str(cell.urdf), PANDA.tip_link), self.safety, planner_config or PlannerConfig()
        )
        self.truth: dict = {}

    def scene_truth(self) -> dict:
        return self.truth

    def run(self, spec: EpisodeSpec, video: bool = False, keep_frame: bool = False) -> Episode:
        start = time.perf_counter()
        episode = Episode(spec)
        try:
            self._run(spec, episode, video, keep_frame)
        finally:
            episode.wall_s = time.perf_counter() - start
            episode.sim_time_s = self.cell.time_s if self.cell.data is not None else 0.0
        return episode

    def _run(self, spec: EpisodeSpec, episode: Episode, video: bool, keep_frame: bool) -> None:
        cell, timings = self.cell, episode.timings_ms
        layout = sample_layout(spec.seed, camera=cell.config.camera)
        obj = next(o for o in layout.objects if o.spec.name == spec.object_name)
        episode.shape = obj.spec.shape
        verb = "pick up" if spec.task == "affordance" else "reach for"
        episode.instruction = f"{verb} the {object_phrase(spec.object_name)}"
        t = time.perf_counter()
        cell.reset(layout, READY)
        frame = cell.render_frame(stamp_s=0.0)
        boxes = cell.object_boxes()
        self.truth = {"boxes": boxes}
        if spec.task == "trajectory":
            self.truth["trajectories"] = {spec.object_name: trajectory_pixels(cell, spec.object_name)}
        timings["render"] = (time.perf_counter() - t) * 1e3
        if keep_frame:
            episode.frame_rgb = frame.color_rgb
        top = cell.object_position(spec.object_name) + np.array([0.0, 0.0, obj.spec.height_m / 2.0])
        episode.object_top_base_m = np.round(top, 6).tolist()
        episode.scene = {
            "objects": [
                {
                    "name": o.spec.name,
                    "shape": o.spec.shape,
                    "rgba": list(o.spec.rgba),
                    "size_m": o.spec.size_m(),
                    "position_base_m": list(o.position_base_m),
                    "yaw_deg": math.degrees(o.yaw_rad),
                    "box": boxes.get(o.spec.name),
                }
                for o in layout.objects
            ],
            "camera_position_base_m": list(cell.config.camera.position_base_m),
        }

        # The same pipeline as replay and the node, planning the whole task from the arm's current state.
        pipeline = Pipeline(
            self.policy_for(spec),
            self.grounding,
            self.safety,
            self.planner,
            cell.config.camera.base_T_camera(),
            start_positions=cell.arm_positions(),
            task_config=self.task_config,
        )
        outcome = pipeline.run(frame, episode.instruction, spec.task)
        for stage, seconds in outcome.timings_s.items():
            timings[stage] = seconds * 1e3
        episode.raw_text, episode.reasoning = outcome.raw_text, outcome.reasoning
        if outcome.prediction is not None:
            from vla_r1_model.actions import action_to_dict

            episode.action = action_to_dict(outcome.prediction.action, frame.width, frame.height)
            episode.action_value = outcome.prediction.action
        if outcome.targets is not None:
            episode.targets = outcome.targets.to_dict()
            last = outcome.targets.targets[-1]
            grounded = last.surface_point_base_m if isinstance(last, PathTarget) else last.grasp_point_base_m
            episode.grounded_point_base_m = np.round(grounded, 6).tolist()
            episode.grasp_error_mm = round(float(np.linalg.norm(np.asarray(grounded) - top)) * 1e3, 3)
        if outcome.task_plan is not None:
            episode.plan, episode.task_plan = outcome.task_plan.to_dict(), outcome.task_plan
        if outcome.failed_stage is not None:  # not outcome.ok
            episode.fail(outcome.failed_stage, outcome.error or "")
            return
        plan = outcome.task_plan

        t = time.perf_counter()
        rest_z = cell.object_position(spec.object_name)[2]
        rest_xy = cell.object_position(spec.object_name)[:2]
        execution_config = (
            replace(self.execution, video_fps=self.execution.video_fps or 8.0) if video else self.execution
        )
        result = execute_plan(cell, plan, execution_config, spec.object_name)
        episode.execution = result
        timings["execute"] = (time.perf_counter() - t) * 1e3
        if result.stop is None and spec.task == "affordance":
            t = time.perf_counter()
            result.stop = hold(cell, self.judge.hold_s, result, execution_config)
            timings["judge"] = (time.perf_counter() - t) * 1e3
        episode.held_object = result.held_object
        position = cell.object_position(spec.object_name)
        episode.lifted_m = round(float(position[2] - rest_z), 5)
        if result.stop is not None:
            stop = result.stop
            episode.stop = {
                "detector": stop.detector,
                "stage": stop.stage,
                "reason": stop.reason,
                "time_s": stop.time_s,
            }
            episode.fail(stop.stage, f"{stop.detector}: {stop.reason}")
            return
        self._judge(spec, episode, position, rest_xy, top)

    def _judge(
        self, spec: EpisodeSpec, episode: Episode, position: np.ndarray, rest_xy: np.ndarray, top: np.ndarray
    ) -> None:
        cell, judge = self.cell, self.judge
        assert episode.lifted_m is not None  # measured before the judge is asked
        if spec.task == "affordance":
            held = held_objects(cell.contacts(), cell.object_bodies)
            if spec.object_name not in held:
                other = f" (the gripper holds {', '.join(held)})" if held else ""
                episode.fail(
                    "judge",
                    f"{spec.object_name} is not held between both fingers after the lift{other}; "
                    f"it rose {episode.lifted_m * 100:.1f} cm",
                )
                return
            if episode.lifted_m < judge.lift_success_m:
                episode.fail(
                    "judge",
                    f"{spec.object_name} rose {episode.lifted_m * 100:.1f} cm, "
                    f"less than {judge.lift_success_m * 100:.0f} cm",
                )
                return
        else:
            tip = cell.fingertip_centre_base_m()
            off_m = float(np.linalg.norm(tip[:2] - top[:2]))
            above_m = float(tip[2] - top[2])
            moved_m = float(np.linalg.norm(position[:2] - rest_xy))
            if off_m > judge.reach_tolerance_m or not -0.005 <= above_m <= judge.reach_max_above_m:
                episode.fail(
                    "judge",
                    f"the fingertips ended {off_m * 100:.1f} cm beside and {above_m * 100:.1f} cm above "
                    f"the top of {spec.object_name} (tolerance {judge.reach_tolerance_m * 100:.0f} cm beside, "
                    f"0-{judge.reach_max_above_m * 100:.0f} cm above)",
                )
                return
            if moved_m > judge.disturb_limit_m:
                episode.fail("judge", f"{spec.object_name} was pushed {moved_m * 100:.1f} cm")
                return
        episode.success = True


# ------------------------------------------------------------------ summary
def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate (sound at 0 % and 100 %, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _group(records: list[dict]) -> dict[str, Any]:
    n = len(records)
    k = sum(r["success"] for r in records)
    low, high = wilson_interval(k, n)
    errors = [r["grasp_error_mm"] for r in records if r["grasp_error_mm"] is not None]
    failures: dict[str, int] = {}
    for r in records:
        if not r["success"]:
            failures[r["failed_stage"]] = failures.get(r["failed_stage"], 0) + 1
    return {
        "episodes": n,
        "successes": k,
        "success_rate": round(k / n, 4) if n else None,
        "ci95": [round(low, 4), round(high, 4)],
        "median_grasp_error_mm": round(statistics.median(errors), 2) if errors else None,
        "median_episode_s": round(statistics.median(r["wall_s"] for r in records), 3) if n else None,
        "failures_by_stage": failures,
    }


def summarize(records: list[dict]) -> dict[str, Any]:
    """Per condition (box noise) and per object shape within it, plus everything together."""
    conditions = []
    for noise in sorted({r["box_noise_px"] for r in records}):
        subset = [r for r in records if r["box_noise_px"] == noise]
        shapes = {
            shape: _group([r for r in subset if r["shape"] == shape]) for shape in sorted({r["shape"] for r in subset})
        }
        conditions.append({"box_noise_px": noise, **_group(subset), "by_shape": shapes})
    return {
        "overall": _group(records) if records else None,
        "conditions": conditions,
        "total_wall_s": round(sum(r["wall_s"] for r in records), 3),
    }


def summary_markdown(summary: dict[str, Any]) -> str:
    lines = [
        "| box noise (px) | shape | episodes | successes | success rate | 95 % interval | median grasp error (mm) "
        "| median time per episode (s) | failures by stage |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for condition in summary["conditions"]:
        rows = [("all", condition)] + list(condition["by_shape"].items())
        for shape, g in rows:
            low, high = g["ci95"]
            failures = ", ".join(f"{k} {v}" for k, v in sorted(g["failures_by_stage"].items())) or "none"
            lines.append(
                f"| {condition['box_noise_px']:g} | {shape} | {g['episodes']} | {g['successes']} | "
                f"{100 * g['success_rate']:.1f} % | {100 * low:.1f}–{100 * high:.1f} % | "
                f"{'' if g['median_grasp_error_mm'] is None else g['median_grasp_error_mm']} | "
                f"{g['median_episode_s']} | {failures} |"
            )
    return "\n".join(lines) + "\n"
