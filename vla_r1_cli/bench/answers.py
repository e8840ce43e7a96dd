"""What the operator waits for: whole answers and image budgets, timed on the real decoding path.

`bench model` decodes a fixed number of tokens to measure speed; this module measures the
settings that decide how many tokens and image tokens an answer costs:

- answers with reasoning of several lengths, and without (`--no-think`), each ending at the
  real `</output>` stop criterion; one answer also without early stop, to show what it saves;
- time to first token at several image-token budgets (`--max-pixels`).

Realistic answers are forced token by token (see `forced_decoding`): a random-weight model
would otherwise write random text and never close `<output>`.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from PIL import Image

from vla_r1_model.backends.base import GenerationSettings
from vla_r1_model.prompts import build_user_text

from ..defaults import DEFAULT_MAX_PIXELS, DEFAULT_REASONING_TOKENS  # re-exported: the parser's defaults
from .forced_decoding import forced_tokens_processor

INSTRUCTION = "pick up the broccoli and place it in a pot."
OUTPUT_BLOCK = '<output>{"x": 0.503125, "y": 0.558333, "width": 0.15625, "height": 0.197917}</output>'
# Reasoning in the four steps of the CoT data; repeated or cut to the wanted length in tokens.
REASONING = (
    "Task parsing: the instruction asks the arm to pick up the broccoli and then place it in a pot, so the "
    "first target is the broccoli and the region to predict is where the gripper can close around it. "
    "Scene understanding: a green broccoli floret lies near the centre of the table, a steel pot with two "
    "handles stands to its right, and a wooden spoon and a folded towel sit at the back edge. Nothing rests "
    "on the broccoli and the pot hides no part of it. "
    "Region localization: the floret spans about x 0.43 to 0.58 and y 0.46 to 0.66 of the frame; its thick "
    "stem points toward the camera and gives the steadiest grasp, so the region is centred just below the crown. "
    "Feasibility check: the stem is narrower than the open gripper, the approach from above is free, and the "
    "pot is within reach for the place step. "
)
ANSWER_MAX_NEW_TOKENS = 1024  # the production default: one static-cache shape for every answer


@dataclass(frozen=True)
class Answer:
    name: str
    prompt: str
    token_ids: tuple[int, ...]
    reasoning_tokens: int
    early_stop: bool = True


@dataclass(frozen=True)
class AnswerTiming:
    scenario: str
    reasoning_tokens: int
    generated_tokens: int
    stop_reason: str
    early_stop: bool
    latency_ms: float  # preprocessing + prefill + decoding: the whole wait for the action
    time_to_first_token_ms: float
    decode_ms_per_token: float


@dataclass(frozen=True)
class BudgetTiming:
    max_pixels: int | None  # None: the checkpoint's own budget
    model_input_size: tuple[int, int] | None
    image_tokens: int | None
    prompt_tokens: int
    preprocess_ms: float
    time_to_first_token_ms: float


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def build_answers(tokenizer, reasoning_tokens=DEFAULT_REASONING_TOKENS, task: str = "affordance") -> list[Answer]:
    """A no-think answer, then one reasoning answer per length; the middle length also without early stop."""
    reasoning_ids = _ids(tokenizer, REASONING)
    closing = _ids(tokenizer, f"</think> so, the answer is {OUTPUT_BLOCK}")
    answers = [
        Answer("no_think", build_user_text(INSTRUCTION, task, no_think=True), tuple(_ids(tokenizer, OUTPUT_BLOCK)), 0)
    ]
    think_prompt = build_user_text(INSTRUCTION, task)
    for n in reasoning_tokens:
        if n < 1:
            raise ValueError(f"reasoning lengths must be >= 1 token, got {n}")
        body = (reasoning_ids * (n // len(reasoning_ids) + 1))[:n]
        answers.append(Answer(f"think_{n}", think_prompt, tuple(_ids(tokenizer, "<think>") + body + closing), n))
    if reasoning_tokens:
        middle = answers[1 + len(reasoning_tokens) // 2]
        answers.append(
            Answer(f"{middle.name}_no_early_stop", middle.prompt, middle.token_ids, middle.reasoning_tokens, False)
        )
    return answers


def time_answers(backend, image: Image.Image, answers: list[Answer], repeats: int = 3) -> list[dict]:
    """Median timings per answer; every run writes exactly the answer (plus EOS without early stop)."""
    eos_id = backend.processor.tokenizer.convert_tokens_to_ids("<|im_end|>")

    def run(answer: Answer):
        settings = GenerationSettings(max_new_tokens=ANSWER_MAX_NEW_TOKENS, stop_at_output_close=answer.early_stop)
        return backend.generate(
            image, answer.prompt, settings, logits_processors=[forced_tokens_processor(answer.token_ids, eos_id)]
        )

    run(answers[0])  # warm-up: the answer-sized cache (and its compiled decode step) exists before timing
    rows = []
    for answer in answers:
        runs = [run(answer) for _ in range(repeats)]
        rate = statistics.median(r.decode_tokens_per_s for r in runs)
        rows.append(
            asdict(
                AnswerTiming(
                    scenario=answer.name,
                    reasoning_tokens=answer.reasoning_tokens,
                    generated_tokens=runs[0].generated_tokens,
                    stop_reason=runs[0].stop_reason,
                    early_stop=answer.early_stop,
                    latency_ms=round(
                        statistics.median(r.preprocess_s + r.time_to_first_token_s + r.decode_s for r in runs) * 1e3, 2
                    ),
                    time_to_first_token_ms=round(statistics.median(r.time_to_first_token_s for r in runs) * 1e3, 2),
                    decode_ms_per_token=round(1e3 / rate, 3) if rate else float("nan"),
                )
            )
        )
    return rows


def time_image_budgets(backend, image: Image.Image, max_pixels=DEFAULT_MAX_PIXELS, repeats: int = 3) -> list[dict]:
    """Time to first token per image-token budget (the checkpoint's own budget first)."""
    prompt = build_user_text(INSTRUCTION, "affordance")
    settings = GenerationSettings(max_new_tokens=2, ignore_eos=True)
    merge = 28  # one image token per 28x28 merged patch
    rows = []
    try:
        for budget in (None, *max_pixels):
            backend.set_image_budget(
                backend.config.min_pixels, budget if budget is not None else backend.config.max_pixels
            )
            backend.generate(image, prompt, settings)  # warm-up at this input size
            runs = [backend.generate(image, prompt, settings) for _ in range(repeats)]
            size = runs[0].model_input_size
            rows.append(
                asdict(
                    BudgetTiming(
                        max_pixels=budget,
                        model_input_size=size,
                        image_tokens=(size[0] // merge) * (size[1] // merge) if size else None,
                        prompt_tokens=runs[0].extra["prompt_tokens"],
                        preprocess_ms=round(statistics.median(r.preprocess_s for r in runs) * 1e3, 2),
                        time_to_first_token_ms=round(statistics.median(r.time_to_first_token_s for r in runs) * 1e3, 2),
                    )
                )
            )
    finally:
        backend.set_image_budget(backend.config.min_pixels, backend.config.max_pixels)
    return rows
