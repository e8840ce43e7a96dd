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
    "TASKS", "Action", "ActionError", "Affordance", "OutOfRange", "Prediction", "Trajectory",
    "action_to_dict", "ParseError", "parse_output", "AFFORDANCE_PROMPT_SUFFIX",
    "TRAJECTORY_PROMPT_SUFFIX", "build_messages", "build_prompt", "build_user_text",
]
