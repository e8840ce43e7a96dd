"""The project's TRL trainers: TRL's own, plus resume that really restores the weights
(``training.checkpoints``) and, for GRPO, the reference run's loss terms (``training.grpo_loss``).

Imported lazily (it imports TRL) by ``training.sft`` and ``training.grpo``.
"""
from __future__ import annotations

from trl import GRPOTrainer, SFTTrainer

from .checkpoints import ResumeWeightsMixin


class VLASFTTrainer(ResumeWeightsMixin, SFTTrainer):
    pass


class VLAGRPOTrainer(ResumeWeightsMixin, GRPOTrainer):
    pass
