"""A backend that answers with a given text: replays a recorded answer through parsing, grounding
and planning without running a model (debugging a cell, re-planning logged answers)."""

from __future__ import annotations

import threading
import time

from PIL import Image

from .base import GenerationResult, GenerationSettings, TextCallback


class FixedAnswerBackend:
    name = "fixed"

    def __init__(self, answer: str):
        if not answer.strip():
            raise ValueError("the fixed answer is empty")
        self.answer = answer

    def generate(
        self,
        image: Image.Image,
        prompt: str,
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        start = time.perf_counter()
        if on_text is not None:
            on_text(self.answer)
        elapsed = time.perf_counter() - start
        return GenerationResult(self.answer, 0, "eos", 0.0, elapsed, 0.0, image.size, extra={"backend": "fixed"})
