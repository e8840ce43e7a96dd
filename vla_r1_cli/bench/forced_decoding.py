"""Decode a prepared answer token by token through the real generate() loop.

A random-weight model writes random text, so benchmarks and tests that need a realistic answer
(its length, its `</output>` close) force it: every step allows only the next token of the
answer, then end-of-sequence. Prefill, the cache, streaming and stopping run exactly as usual.
"""

from __future__ import annotations

from collections.abc import Sequence


def forced_tokens_processor(answer_ids: Sequence[int], eos_token_id: int):
    """A fresh logits processor (it remembers where the answer starts, so one per generate call)."""
    import torch
    from transformers import LogitsProcessor

    if not answer_ids:
        raise ValueError("answer_ids is empty")
    answer = [int(t) for t in answer_ids] + [int(eos_token_id)]

    class ForcedTokens(LogitsProcessor):
        def __init__(self) -> None:
            self.prompt_len: int | None = None

        def __call__(self, input_ids, scores):
            if self.prompt_len is None:  # first call: the prompt alone
                self.prompt_len = input_ids.shape[1]
            step = min(input_ids.shape[1] - self.prompt_len, len(answer) - 1)
            forced = torch.full_like(scores, float("-inf"))
            forced[:, answer[step]] = 0.0
            return forced

    return ForcedTokens()
