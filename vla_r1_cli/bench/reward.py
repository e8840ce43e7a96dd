"""`vla-r1 bench reward`: the cost of the GRPO reward (training.rewards.vla_r1_reward) per sample."""

from __future__ import annotations

import json
import random
import time

from training.rewards import vla_r1_reward


def benchmark_reward(samples: int = 2000, points: int = 10, seed: int = 0) -> dict[str, float]:
    """Time ``vla_r1_reward`` on random ``points``-point trajectories; microseconds per sample.

    Also times boxes, for comparison. Pure Python, one core.
    """
    rng = random.Random(seed)

    def trajectory_text() -> str:
        pts = [[round(rng.random(), 6), round(rng.random(), 6)] for _ in range(points)]
        return f"<think>plan</think> so, the answer is <output>{json.dumps(pts)}</output>"

    def box_text() -> str:
        box = {k: round(rng.random(), 6) for k in ("x", "y", "width", "height")}
        return f"<think>look</think> so, the answer is <output>{json.dumps(box)}</output>"

    out: dict[str, float] = {"samples": float(samples), "points": float(points)}
    for name, make in (("trajectory", trajectory_text), ("box", box_text)):
        completions = [make() for _ in range(samples)]
        truths = [make() for _ in range(samples)]
        start = time.perf_counter()
        vla_r1_reward(None, completions, ground_truth=truths)
        elapsed = time.perf_counter() - start
        out[f"{name}_us_per_sample"] = elapsed / samples * 1e6
    return out
