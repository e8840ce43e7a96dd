"""VLA-R1 model runtime: action types, prompts, output parsing, backends and the Policy."""

from .actions import (
    TASKS,
    Action,
    ActionError,
    Affordance,
    OutOfRange,
    Prediction,
    Trajectory,
    action_to_dict,
)
from .parsing import ParseError, parse_output
from .prompts import AFFORDANCE_PROMPT_SUFFIX, TRAJECTORY_PROMPT_SUFFIX, build_messages, build_prompt, build_user_text

__all__ = [
    "AFFORDANCE_PROMPT_SUFFIX",
    "TASKS",
    "TRAJECTORY_PROMPT_SUFFIX",
    "Action",
    "ActionError",
    "Affordance",
    "OutOfRange",
    "ParseError",
    "Prediction",
    "Trajectory",
    "action_to_dict",
    "build_messages",
    "build_prompt",
    "build_user_text",
    "parse_output",
]
