"""What the training host offers: CUDA, and vLLM for GRPO's generation (both probed lazily)."""

from __future__ import annotations

import importlib.util


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None and cuda_available()
