"""The ground-truth answer source: the simulator's own knowledge written as VLA-R1 would write it.

``GroundTruthBackend`` is a model backend (``vla_r1_model.backends.base.Backend``): wrapped in the real
``Policy`` its answer goes through the same prompt, parser and pipeline as a checkpoint's, so an
evaluation with it measures the control stack's own ceiling. The object is the one NAMED IN THE
INSTRUCTION (``red_box`` is named "red box"); the answer is exact VLA-R1 format:
``<think>…</think> so, the answer is <output>{"x": …, "y": …, "width": …, "height": …}</output>``,
normalized, centre box, 6 decimals (or ``[[x, y], …]`` for a trajectory). Optional Gaussian pixel
noise on the box centre and size (or the waypoints) shows how the success rate falls with error.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from vla_r1_model.backends.base import GenerationResult, GenerationSettings, TextCallback

SceneTruth = Callable[[], dict]  # {"boxes": {name: box dict | None}, "trajectories": {name: [[x, y], ...] normalized}}


def object_phrase(name: str) -> str:
    return name.replace("_", " ")


def named_object(text: str, names) -> str | None:
    """The object whose phrase occurs in ``text`` (the longest when several do), or None."""
    lowered = text.lower()
    found = [n for n in names if re.search(rf"\b{re.escape(object_phrase(n))}\b", lowered)]
    return max(found, key=len) if found else None


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


class GroundTruthBackend:
    """Answers from ``truth()`` (called at each generate: the scene as rendered for this frame)."""

    name = "ground-truth"

    def __init__(self, truth: SceneTruth, noise_px: float = 0.0, seed: int = 0) -> None:
        if not noise_px >= 0:
            raise ValueError(f"noise_px must be >= 0, got {noise_px}")
        self.truth = truth
        self.noise_px = float(noise_px)
        self.rng = np.random.default_rng(seed)

    def _box_answer(self, name: str, box: dict, width: int, height: int) -> str:
        b = box["box_normalized"]
        x, y, w, h = b["x"], b["y"], b["width"], b["height"]
        if self.noise_px > 0:
            dx, dy, dw, dh = self.rng.normal(0.0, self.noise_px, 4)
            x, y = x + dx / width, y + dy / height
            w, h = max(0.0, w + dw / width), max(0.0, h + dh / height)
        values = {"x": _clip01(x), "y": _clip01(y), "width": _clip01(w), "height": _clip01(h)}
        think = (
            f"The instruction names the {object_phrase(name)}. The simulator's ground truth puts it at pixels "
            f"x {box['box_pixels']['x_min']}-{box['box_pixels']['x_max']}, y {box['box_pixels']['y_min']}-"
            f"{box['box_pixels']['y_max']}"
            + (f"; {self.noise_px:g} px of noise added" if self.noise_px else "")
            + ". Its affordance region is that box."
        )
        body = "{" + ", ".join(f'"{k}": {v:.6f}' for k, v in values.items()) + "}"
        return f"<think>{think}</think> so, the answer is <output>{body}</output>"

    def _trajectory_answer(self, name: str, points: list[list[float]], width: int, height: int) -> str:
        pts = np.asarray(points, dtype=float)
        if self.noise_px > 0:
            pts = pts + self.rng.normal(0.0, self.noise_px, pts.shape) / (width, height)
        body = "[" + ", ".join(f"[{_clip01(x):.6f}, {_clip01(y):.6f}]" for x, y in pts) + "]"
        think = (
            f"The instruction names the {object_phrase(name)}. From the simulator's ground truth the end-effector "
            f"moves in {len(pts)} steps from in front of it to its top centre."
        )
        return f"<think>{think}</think> so, the answer is <output>{body}</output>"

    def generate(
        self,
        image: Image.Image,
        prompt: str,
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        start = time.perf_counter()
        truth = self.truth()
        trajectory = "trajectory of the end-effector" in prompt
        name = named_object(prompt, truth["boxes"])
        if name is None:
            text = (
                f"<think>The instruction names none of the objects in the scene "
                f"({', '.join(object_phrase(n) for n in truth['boxes'])}).</think> so, the answer is none."
            )
        elif trajectory:
            points = truth.get("trajectories", {}).get(name)
            text = (
                self._trajectory_answer(name, points, image.width, image.height)
                if points
                else f"<think>The {object_phrase(name)} is not visible.</think> so, the answer is none."
            )
        else:
            box = truth["boxes"].get(name)
            text = (
                self._box_answer(name, box, image.width, image.height)
                if box
                else f"<think>The {object_phrase(name)} is not visible.</think> so, the answer is none."
            )
        if on_text is not None:
            on_text(text)
        elapsed = time.perf_counter() - start
        return GenerationResult(
            text=text,
            generated_tokens=0,
            stop_reason="output_closed",
            preprocess_s=0.0,
            time_to_first_token_s=elapsed,
            decode_s=0.0,
            model_input_size=(image.width, image.height),
        )
