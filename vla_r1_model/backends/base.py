"""The one interface every model backend implements, and the settings they share."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

OUTPUT_CLOSE_TAG = "</output>"

StopReason = Literal["eos", "output_closed", "max_new_tokens", "cancelled"]
TextCallback = Callable[[str], None]


class BackendError(RuntimeError):
    """The backend could not produce an answer (server unreachable, garbage reply, bad settings)."""


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings. Greedy by default: a robot should answer the same frame the same way."""

    max_new_tokens: int = 1024
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.0
    stop_at_output_close: bool = True  # stop as soon as `</output>` is written
    ignore_eos: bool = False  # benchmarks decode a fixed number of tokens

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not self.repetition_penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")

    @classmethod
    def reference_sampling(cls, **overrides) -> GenerationSettings:
        """The decoding of the VLA-R1 reference inference script."""
        values: dict[str, Any] = dict(
            max_new_tokens=2048, do_sample=True, temperature=0.7, top_p=0.9, repetition_penalty=1.1
        )
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class GenerationResult:
    """What a backend produced, with the timings the latency budget is made of (seconds)."""

    text: str
    generated_tokens: int
    stop_reason: StopReason
    preprocess_s: float
    time_to_first_token_s: float  # from the start of generation (prefill included) to the first new token
    decode_s: float  # from the first new token to the last
    model_input_size: tuple[int, int] | None = None  # (width, height) of the image the model saw
    extra: dict = field(default_factory=dict)

    @property
    def decode_tokens_per_s(self) -> float:
        """Tokens after the first, per second of decoding (prefill excluded)."""
        if self.generated_tokens < 2 or self.decode_s <= 0:
            return 0.0
        return (self.generated_tokens - 1) / self.decode_s


class Backend(Protocol):
    """Generates the model's text for one image and one user prompt."""

    name: str

    def generate(
        self,
        image: Image.Image,
        prompt: str,
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """``on_text`` receives each new piece of text as it is written; setting ``cancel`` stops early."""
        ...
