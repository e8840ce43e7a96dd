"""Prompt forms VLA-R1 was trained on, and the chat messages built from them.

The two suffixes are byte-exact copies of the training prompts (including the original
"define by" wording): a paraphrase measurably changes the model's output format.
"""

from __future__ import annotations

from typing import Any

from .actions import validate_task

AFFORDANCE_PROMPT_SUFFIX = (
    " Please output the 2D affordance region define by bounding box of the object in the format "
    '<output>{"x": value, "y": value, "width": value, "height": value}</output>.'
)
TRAJECTORY_PROMPT_SUFFIX = (
    " Please output the optimal trajectory of the end-effector to the target object in the format "
    "<output>[[x1, y1], [x2, y2], ...]</output>."
)
# The user turn is the prompt, a newline, then the image: the reference's VLA-CoT human turns end
# in ".\n<image>" and its loaders split the text at <image> (verl: text segment, image segment).
PROMPT_IMAGE_SEPARATOR = "\n"
# Explicit fast mode (issue: speed). Not a training prompt: answers come without reasoning.
NO_THINK_SUFFIX = " Answer directly with the <output> block and no <think> reasoning."

_SUFFIXES = {"affordance": AFFORDANCE_PROMPT_SUFFIX, "trajectory": TRAJECTORY_PROMPT_SUFFIX}


def build_prompt(instruction: str, task: str, no_think: bool = False) -> str:
    """The instruction followed by its task form (the reference appends the form to the instruction)."""
    validate_task(task)
    instruction = instruction.strip()
    if not instruction:
        raise ValueError("instruction is empty")
    return instruction + _SUFFIXES[task] + (NO_THINK_SUFFIX if no_think else "")


def build_user_text(instruction: str, task: str, no_think: bool = False) -> str:
    """The text part of the user turn, byte for byte as the model was trained: prompt + newline
    (the image follows it)."""
    return build_prompt(instruction, task, no_think=no_think) + PROMPT_IMAGE_SEPARATOR


def build_messages(instruction: str, task: str, image: Any = None, no_think: bool = False) -> list[dict]:
    """One user turn: the prompt text and its newline first, then the image, as in training."""
    content: list[dict] = [{"type": "text", "text": build_user_text(instruction, task, no_think=no_think)}]
    content.append({"type": "image"} if image is None else {"type": "image", "image": image})
    return [{"role": "user", "content": content}]
