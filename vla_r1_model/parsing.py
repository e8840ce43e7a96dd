"""Turn a model's text into a Prediction, or a ParseError that says what is wrong.

Rules (shared with the GRPO reward so training and deployment agree):
- tags match case-insensitively, across lines;
- the FIRST complete ``<output>…</output>`` block is the answer; later blocks are ignored;
- the reasoning is the body of the first ``<think>…</think>`` block (empty when there is none);
- the body may be wrapped in a Markdown code fence and surrounded by whitespace.
Qwen2.5-VL-Instruct's own grounding answer (``[{"bbox_2d": [x1, y1, x2, y2], ...}]`` in pixels
of the resized model input) is accepted for affordance tasks when no ``<output>`` block exists,
so the stack can run the public base model before a VLA-R1 checkpoint is at hand.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .actions import ActionError, Affordance, OutOfRange, Prediction, Trajectory, validate_task

# The rules as regular expressions. They define what the linear-time functions below return
# (tests check both agree), but searching with them is quadratic on text that repeats an opening
# tag or fence without closing it (1 MB of "<output>" took over a minute): never search with them.
OUTPUT_BLOCK = re.compile(r"<output>(.*?)</output>", re.IGNORECASE | re.DOTALL)
THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.IGNORECASE | re.DOTALL)
CODE_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?\s*```$", re.DOTALL)
QWEN_FENCED_JSON = re.compile(r"```(?:json)?\s*(\[.*?\])\s*```", re.DOTALL)

OUTPUT_OPEN = re.compile(r"<output>", re.IGNORECASE)
_TAGS = {
    tag: (re.compile(f"<{tag}>", re.IGNORECASE), re.compile(f"</{tag}>", re.IGNORECASE)) for tag in ("output", "think")
}
_FENCE_LANGUAGE = re.compile(r"[a-zA-Z0-9_-]*")
_WHITESPACE = re.compile(r"\s*")
_QWEN_FENCE_OPEN = re.compile(r"```(?:json)?\s*\[")
_QWEN_FENCE_CLOSE = re.compile(r"\]\s*```")


class ParseError(ValueError):
    """The model's answer cannot be turned into an action; the message says why."""


def first_block(text: str, tag: str) -> str | None:
    """Body of the first complete ``<tag>…</tag>`` block (tag "output" or "think"), unstripped;
    None when there is none. Linear time: what ``OUTPUT_BLOCK.search`` / ``THINK_BLOCK.search`` find.

    The leftmost block starts at the first opening tag: when no closing tag follows that one, none
    follows any later one either.
    """
    opening, closing = _TAGS[tag]
    start = opening.search(text)
    if start is None:
        return None
    end = closing.search(text, start.end())
    return None if end is None else text[start.end() : end.start()]


def extract_reasoning(text: str) -> str:
    body = first_block(text, "think")
    return body.strip() if body is not None else ""


def extract_output_body(text: str) -> str | None:
    """Body of the first complete <output> block, stripped and unfenced; None when there is none."""
    body = first_block(text, "output")
    if body is None:
        return None
    return _unfence(body.strip())


def _match_end(pattern: re.Pattern[str], text: str, position: int) -> int:
    """Where ``pattern`` matched at ``position`` ends (``position`` when it does not match)."""
    match = pattern.match(text, position)
    return position if match is None else match.end()


def _unfence(body: str) -> str:
    """What ``CODE_FENCE`` takes from a stripped body, in linear time: after the opening fence, a
    language word and whitespace; the rest up to the closing fence, stripped."""
    if len(body) < 6 or not (body.startswith("```") and body.endswith("```")):
        return body
    after_language = _match_end(_FENCE_LANGUAGE, body, 3)
    start = _match_end(_WHITESPACE, body, after_language)
    # language and whitespace cannot run into the closing backticks, so start <= len(body) - 3
    return body[start : len(body) - 3].strip()


def _qwen_fenced_json(text: str) -> str | None:
    """What ``QWEN_FENCED_JSON.search`` captures, in linear time: the first fence opening a list
    (after an optional "json" and whitespace), up to the first "]" that whitespace and a fence follow."""
    opening = _QWEN_FENCE_OPEN.search(text)
    if opening is None:
        return None
    # The capture starts at that "[" and may end at any later "]"; no later opening can do better,
    # as the closing fences it could use are a subset of this one's.
    closing = _QWEN_FENCE_CLOSE.search(text, opening.end())
    return None if closing is None else text[opening.end() - 1 : closing.start() + 1]


def _loads(body: str, where: str) -> Any:
    if not body:
        raise ParseError(f"{where} is empty")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        snippet = body if len(body) <= 80 else body[:77] + "..."
        raise ParseError(f"{where} is not valid JSON ({exc}): {snippet!r}") from None


def _is_box(value: Any) -> bool:
    return isinstance(value, dict) and all(k in value for k in ("x", "y", "width", "height"))


def _is_point_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(f"{name} must be a number, got {json.dumps(value)[:40]}")
    try:
        number = float(value)
    except OverflowError:
        raise ParseError(f"{name} is too large to be a coordinate") from None
    if not math.isfinite(number):
        raise ParseError(f"{name} is {value} (not a finite number)")
    return number


def _action_from_json(value: Any, task: str, out_of_range: OutOfRange) -> Affordance | Trajectory:
    if task == "affordance":
        if _is_point_list(value):
            raise ParseError("got a trajectory (list of points) for an affordance task")
        if not _is_box(value):
            raise ParseError(
                'affordance output must be an object with keys "x", "y", "width", "height", '
                f"got {json.dumps(value)[:60]}"
            )
        x, y, width, height = (_number(value[k], k) for k in ("x", "y", "width", "height"))
        # The GRPO reward reads a negative size as its absolute value; so does deployment.
        return Affordance.from_values(x, y, abs(width), abs(height), out_of_range=out_of_range)
    if _is_box(value):
        raise ParseError("got a box for a trajectory task")
    if not _is_point_list(value):
        raise ParseError(f"trajectory output must be a list of [x, y] points, got {json.dumps(value)[:60]}")
    if len(value) < 2:
        raise ParseError(f"trajectory output has {len(value)} point(s); at least 2 are needed")
    points = [(_number(p[0], f"point {i} x"), _number(p[1], f"point {i} y")) for i, p in enumerate(value)]
    return Trajectory.from_values(points, out_of_range=out_of_range)


def _qwen_grounding(text: str, input_size: tuple[int, int] | None) -> Affordance | None:
    """Qwen2.5-VL-Instruct's `bbox_2d` answer, in pixels of the resized model input."""
    if "bbox_2d" not in text:
        return None
    fenced = _qwen_fenced_json(text)
    candidates = [fenced] if fenced is not None else []
    start, end = text.find("["), text.rfind("]")
    if start != -1 and end > start:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, RecursionError, ValueError):
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("bbox_2d"), list) and len(item["bbox_2d"]) == 4:
                if input_size is None:
                    raise ParseError(
                        "a Qwen bbox_2d answer is in pixels of the model input; its size is needed to normalize it"
                    )
                x1, y1, x2, y2 = (_number(v, f"bbox_2d[{i}]") for i, v in enumerate(item["bbox_2d"]))
                w, h = input_size
                clip = lambda v, hi: min(max(v, 0.0), float(hi))  # noqa: E731 - grounding boxes may overshoot by a pixel
                return Affordance.from_corners_pixels(clip(x1, w), clip(y1, h), clip(x2, w), clip(y2, h), w, h)
    raise ParseError("found 'bbox_2d' but no list of {\"bbox_2d\": [x1, y1, x2, y2]} objects")


def parse_output(
    text: str,
    task: str,
    out_of_range: OutOfRange | str = OutOfRange.CLIP,
    input_size: tuple[int, int] | None = None,
) -> Prediction:
    """Parse a VLA-R1 answer for ``task``. Raises ParseError, and only ParseError, on any bad input.

    ``input_size`` (width, height of the image the model saw) is only needed for Qwen
    ``bbox_2d`` answers, which are in pixels of that image.
    """
    try:
        task = validate_task(task)
        policy = OutOfRange(out_of_range)
    except ValueError as exc:
        raise ParseError(str(exc)) from None
    if not isinstance(text, str):
        raise ParseError(f"model output must be a string, got {type(text).__name__}")
    try:
        reasoning = extract_reasoning(text)
        body = extract_output_body(text)
        if body is None:
            if OUTPUT_OPEN.search(text):
                raise ParseError("the <output> block is never closed (generation stopped early?)")
            if task == "affordance":
                grounding = _qwen_grounding(text, input_size)
                if grounding is not None:
                    return Prediction(task, grounding, reasoning, text, source_format="qwen_bbox_2d")
            raise ParseError("no <output>…</output> block in the model's answer")
        action = _action_from_json(_loads(body, "the <output> block"), task, policy)
        return Prediction(task, action, reasoning, text)
    except ParseError:
        raise
    except ActionError as exc:
        raise ParseError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the contract: nothing but ParseError escapes, whatever the text
        raise ParseError(f"unexpected {type(exc).__name__} while parsing: {exc}") from None
