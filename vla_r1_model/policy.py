"""The Policy: image + instruction + task -> parsed Prediction, with the latency broken down."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .actions import OutOfRange, Prediction, validate_task
from .backends.base import Backend, GenerationResult, GenerationSettings, TextCallback
from .parsing import ParseError, parse_output
from .prompts import build_user_text


@dataclass(frozen=True)
class PolicyConfig:
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    out_of_range: OutOfRange = OutOfRange.CLIP
    no_think: bool = False  # explicit fast mode: ask for the answer without reasoning

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_of_range", OutOfRange(self.out_of_range))


@dataclass(frozen=True)
class Timings:
    """Seconds per stage of one answer, and the decode rate."""

    preprocess_s: float
    time_to_first_token_s: float
    decode_s: float
    parse_s: float
    total_s: float
    generated_tokens: int
    tokens_per_s: float

    def to_dict(self) -> dict[str, float]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class PolicyOutput:
    """One answer: the raw text always; the prediction, or the parse error that prevented it."""

    task: str
    raw_text: str
    prediction: Prediction | None
    error: str | None
    timings: Timings
    stop_reason: str
    model_input_size: tuple[int, int] | None

    @property
    def ok(self) -> bool:
        return self.prediction is not None

    @property
    def reasoning(self) -> str:
        from .parsing import extract_reasoning

        return self.prediction.reasoning if self.prediction else extract_reasoning(self.raw_text)


def as_pil_image(image: Any) -> Image.Image:
    """PIL image, HxWx3 uint8 RGB array, or a path."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image array must be HxWx3 uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        return Image.fromarray(image, mode="RGB")
    with Image.open(image) as opened:  # a path
        return opened.convert("RGB")


class Policy:
    """Wraps a backend with the VLA-R1 prompt forms and the output parser."""

    def __init__(self, backend: Backend, config: PolicyConfig | None = None):
        self.backend = backend
        self.config = config or PolicyConfig()

    @classmethod
    def from_pretrained(cls, model: str, config: PolicyConfig | None = None, **backend_options: Any) -> Policy:
        from .backends.transformers_backend import TransformersBackend, TransformersBackendConfig

        return cls(TransformersBackend(TransformersBackendConfig(model=model, **backend_options)), config)

    @classmethod
    def remote(cls, server_url: str, model: str, config: PolicyConfig | None = None, **client_options: Any) -> Policy:
        from .backends.openai_backend import OpenAIBackend, OpenAIChatClient

        return cls(OpenAIBackend(OpenAIChatClient(server_url, model, **client_options)), config)

    def predict(
        self,
        image: Any,
        instruction: str,
        task: str,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> PolicyOutput:
        """Never raises for a bad answer: a parse failure is an output with ``error`` set.
        Raises ValueError for a bad task or instruction and BackendError when no answer came."""
        validate_task(task)
        start = time.perf_counter()
        prompt = build_user_text(instruction, task, no_think=self.config.no_think)
        pil = as_pil_image(image)
        result: GenerationResult = self.backend.generate(pil, prompt, self.config.generation, on_text, cancel)
        parse_start = time.perf_counter()
        prediction, error = None, None
        try:
            prediction = parse_output(result.text, task, self.config.out_of_range, input_size=result.model_input_size)
        except ParseError as exc:
            error = str(exc)
        end = time.perf_counter()
        timings = Timings(
            preprocess_s=result.preprocess_s,
            time_to_first_token_s=result.time_to_first_token_s,
            decode_s=result.decode_s,
            parse_s=end - parse_start,
            total_s=end - start,
            generated_tokens=result.generated_tokens,
            tokens_per_s=result.decode_tokens_per_s,
        )
        return PolicyOutput(task, result.text, prediction, error, timings, result.stop_reason, result.model_input_size)
