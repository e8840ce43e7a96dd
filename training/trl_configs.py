"""TRL's own configuration classes with the project's defaults and the reference run's extra terms.

Every optimisation, logging, checkpoint and GRPO setting is a field of TRL's ``SFTConfig`` /
``GRPOConfig`` (so nothing is mirrored by hand); these subclasses change a few defaults and add
the fields ``training.trainers.VLAGRPOTrainer`` reads. Imported lazily (it imports TRL).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig, SFTConfig


def _cuda_bf16() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _project_defaults(config) -> None:
    """Settings TRL derives in __post_init__, decided first: bf16 autocast only on a GPU that has it;
    a CPU-only host runs several processes as accelerate's MULTI_CPU (gloo); non-reentrant checkpointing."""
    import torch

    if config.bf16 is None:
        config.bf16 = _cuda_bf16() and not config.fp16
    if not torch.cuda.is_available():
        config.use_cpu = True
    if config.gradient_checkpointing_kwargs is None:
        config.gradient_checkpointing_kwargs = {"use_reentrant": False}


@dataclass
class VLASFTConfig(SFTConfig):
    output_dir: str | None = field(default="runs/vla_r1_sft", metadata={"help": "run folder"})
    # None first: TRL's argument parser picks the type from the union's order (str here)
    report_to: None | str | list[str] = field(default_factory=lambda: ["tensorboard"], metadata={"help": "loggers"})  # noqa: RUF036
    resume_from_checkpoint: str | None = field(
        default="auto", metadata={"help": "auto: the newest checkpoint-* in output_dir, if any; or a folder; or null"}
    )
    remove_unused_columns: bool = field(default=False, metadata={"help": "images and ground truth reach the collator"})
    gradient_checkpointing: bool = field(default=True, metadata={"help": "activation checkpointing"})
    # TRL's own field is bool | None (None: decided in __post_init__); transformers' TrainingArguments says bool
    bf16: bool | None = field(default=None, metadata={"help": "bf16 autocast; null: on a GPU that has it"})  # type: ignore[assignment]
    max_length: int | None = field(default=4096, metadata={"help": "prompt (image tokens included) + answer"})
    completion_only_loss: bool | None = field(default=True, metadata={"help": "loss on the assistant answer only"})

    def __post_init__(self) -> None:
        _project_defaults(self)
        super().__post_init__()


@dataclass
class VLAGRPOConfig(GRPOConfig):
    output_dir: str | None = field(default="runs/vla_r1_grpo", metadata={"help": "run folder"})
    # None first: TRL's argument parser picks the type from the union's order (str here)
    report_to: None | str | list[str] = field(default_factory=lambda: ["tensorboard"], metadata={"help": "loggers"})  # noqa: RUF036
    resume_from_checkpoint: str | None = field(
        default="auto", metadata={"help": "auto: the newest checkpoint-* in output_dir, if any; or a folder; or null"}
    )
    remove_unused_columns: bool = field(default=False, metadata={"help": "images and ground truth reach the reward"})
    gradient_checkpointing: bool = field(default=True, metadata={"help": "activation checkpointing"})
    # TRL's own field is bool | None (None: decided in __post_init__); transformers' TrainingArguments says bool
    bf16: bool | None = field(default=None, metadata={"help": "bf16 autocast; null: on a GPU that has it"})  # type: ignore[assignment]
    # GRPOConfig's field is bool; None here: decided when the run starts
    use_vllm: bool | None = field(
        default=None, metadata={"help": "null: vLLM when it is installed and a GPU is present"}
    )  # type: ignore[assignment]
    kl_clamp: float | None = field(default=None, metadata={"help": "clamp the k3 KL per token to ±this (verl: 10)"})
    advantage_epsilon: float | None = field(
        default=None, metadata={"help": "added to the group std of the advantages (verl: 1e-6; None = TRL's 1e-4)"}
    )
    greedy_eval: bool = field(default=False, metadata={"help": "evaluate with greedy decoding (verl's validation)"})
    weight_decay_all_parameters: bool = field(
        default=False, metadata={"help": "decay biases and norms too (verl: AdamW over model.parameters())"}
    )

    def __post_init__(self) -> None:
        _project_defaults(self)
        if self.use_vllm is None:
            from .devices import vllm_available

            self.use_vllm = vllm_available()
        if self.greedy_eval and self.num_generations_eval is None:
            self.num_generations_eval = 1  # verl validates with one greedy answer per prompt
        super().__post_init__()
