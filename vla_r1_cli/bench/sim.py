"""`vla-r1 bench sim`: the closed loop's success rate and speed on this machine, as JSON."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any


def run_sim_benchmark(
    episodes: int = 100,
    seed: int = 0,
    task: str = "affordance",
    box_noise_px: tuple[float, ...] = (0.0,),
    out: Path | None = None,
) -> dict[str, Any]:
    """Ground-truth episodes (few figures, no video: the time is the loop's); the summary per condition."""
    from vla_r1_robot.sim.run import EvalOptions, run_evaluation

    with tempfile.TemporaryDirectory(prefix="vla_r1_bench_sim_") as scratch:
        target = Path(out) if out is not None else Path(scratch) / "eval"
        options = EvalOptions(
            target, episodes, seed, task, box_noise_px, report_episodes=2, video_episodes=0, progress=False
        )
        start = time.perf_counter()
        summary = run_evaluation(options)
        wall_s = time.perf_counter() - start
    conditions = [
        {
            k: c[k]
            for k in (
                "box_noise_px",
                "episodes",
                "successes",
                "success_rate",
                "ci95",
                "median_grasp_error_mm",
                "median_episode_s",
                "failures_by_stage",
                "by_shape",
            )
        }
        for c in summary["conditions"]
    ]
    return {
        "benchmark": "sim",
        "task": task,
        "episodes_per_condition": episodes,
        "seed": seed,
        "answer_source": summary["answer_source"],
        "robot": summary["robot"],
        "conditions": conditions,
        "wall_s": round(wall_s, 2),
        "episodes_total": sum(c["episodes"] for c in conditions),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "out": str(out) if out is not None else None,
    }
