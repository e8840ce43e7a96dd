"""`vla-r1 bench pipeline`: the non-model work of a frame, per stage, and the replay reading rate.

Runs on the demo scene (640x480, real depth): for each frame and object, the model's answer text
(the ground-truth box, as the model would write it) goes through parse -> grounding -> safety ->
IK -> time parameterization. Reading is timed side by side with raw rosbags deserialization.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from vla_r1_model.parsing import parse_output
from vla_r1_robot.bags import compare_with_raw, open_bag
from vla_r1_robot.motion.planning import PlanningError
from vla_r1_robot.motion.robot_profile import PANDA
from vla_r1_robot.motion.safety import SafetyConfig, check_targets, check_tool_points
from vla_r1_robot.perception.frame import Frame
from vla_r1_robot.perception.grounding import GroundingConfig, ground


def _stats_ms(values: list[float]) -> dict[str, float]:
    values_ms = sorted(v * 1e3 for v in values)
    return {
        "median_ms": round(statistics.median(values_ms), 4),
        "p95_ms": round(values_ms[int(0.95 * (len(values_ms) - 1))], 4),
        "n": len(values_ms),
    }


def run_pipeline_benchmark(
    urdf: str | None,
    tip_link: str = PANDA.tip_link,
    frames: int = 5,
    repeats: int = 3,
    bag: str | None = None,
    progress: bool = True,
) -> dict:
    from tqdm import tqdm

    from vla_r1_robot.pipeline import build_planner, default_start_positions
    from vla_r1_robot.sim.demo_scene import generate_demo_scene

    with tempfile.TemporaryDirectory(prefix="vla_r1_bench_") as tmp:
        scene = generate_demo_scene(Path(tmp) / "scene", seed=0, n_frames=frames)
        answers = [
            f"<think>r</think> so, the answer is <output>{json.dumps(o['box_normalized'])}</output>"
            for o in scene.ground_truth["objects"]
        ]
        grounding, safety = GroundingConfig(), SafetyConfig()
        planner = build_planner(urdf, tip_link, safety) if urdf else None
        start_positions = default_start_positions(getattr(planner, "robot", None)) if planner is not None else None
        stages: dict[str, list[float]] = {"parse": [], "grounding": [], "safety": []}
        failures: dict[str, int] = {}
        with open_bag(scene.bag_path) as source:
            base_T_camera = source.static_transform("base_link", "camera_color_optical_frame")
            if base_T_camera is None:
                raise RuntimeError(f"{scene.bag_path}: the demo scene has no base_T_camera")
            loaded = [frame for frame in source if isinstance(frame, Frame)]  # no FrameError without skip_bad_frames
        work = [(frame, text) for frame in loaded for text in answers]
        for _ in tqdm(range(repeats), desc="bench pipeline", disable=not progress):
            for frame, text in work:
                t0 = time.perf_counter()
                prediction = parse_output(text, "affordance")
                t1 = time.perf_counter()
                targets = ground(frame, prediction.action, base_T_camera, grounding)
                t2 = time.perf_counter()
                violations = check_targets(targets.positions_base_m, safety) + check_tool_points(
                    targets.grasp_points_base_m, safety
                )
                t3 = time.perf_counter()
                stages["parse"].append(t1 - t0)
                stages["grounding"].append(t2 - t1)
                stages["safety"].append(t3 - t2)
                if planner is None or start_positions is None or violations:
                    continue
                try:
                    plan = planner.plan(list(targets.poses_base_T_tip), start_positions)
                except PlanningError as exc:
                    failures[exc.stage] = failures.get(exc.stage, 0) + 1
                    continue
                for stage, seconds in plan.timings_s.items():
                    stages.setdefault(f"planning.{stage.removesuffix('_s')}", []).append(seconds)
        reading = [compare_with_raw(scene.bag_path).as_dict()]
    if bag:
        reading.append(compare_with_raw(bag).as_dict())
    per_stage = {name: _stats_ms(values) for name, values in stages.items() if values}
    non_model = sum(v["median_ms"] for v in per_stage.values())
    return {
        "benchmark": "pipeline",
        "image_size": [loaded[0].width, loaded[0].height],
        "frames": len(loaded),
        "objects": len(answers),
        "repeats": repeats,
        "stages": per_stage,
        "non_model_median_ms_sum": round(non_model, 4),
        "planning_failures": failures,
        "reading": reading,
    }
