"""Reinforcement fine-tuning with TRL's GRPOTrainer and the VLA-R1 reward.

    vla-r1 train grpo --config training/configs/grpo.yaml model=runs/sft [key=value ...]

Defaults follow the reference run (ARCHITECTURE.md; verl GRPO): lr 3e-5, 5 rollouts per prompt,
KL coefficient 0.01 with the low-variance (k3) estimator — TRL's only KL estimator — no entropy
bonus, clip 0.2, rollout temperature 1.0, 2048 response tokens, 512 prompts (2560 rollouts) per
generation batch and 128 prompts (640 rollouts) per optimizer step. Token-mean loss aggregation
(verl's default) is TRL's ``dapo`` loss. Generation uses vLLM (colocated) when it is installed and
a GPU is present (``use_vllm: auto``), else transformers' ``generate``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import ConfigError, TrainConfigBase, dump_config
from .rewards import REWARD_FUNCTIONS

logger = logging.getLogger(__name__)


@dataclass
class GRPORunConfig(TrainConfigBase):
    learning_rate: float = 3e-5
    lr_scheduler_type: str = "constant"
    num_generations: int = 5  # rollouts per prompt
    beta: float = 0.01  # KL coefficient (k3 / low-variance estimator)
    epsilon: float = 0.2  # PPO clip
    entropy_coef: float = 0.0
    temperature: float = 1.0
    top_p: float = 1.0
    max_completion_length: int = 2048
    loss_type: str = "dapo"  # token-mean over the accumulated batch, as verl's default
    scale_rewards: str = "group"  # advantages = (r - group mean) / group std, as verl's GRPO
    steps_per_generation: int | None = None  # micro-batches per generation batch (TRL default: grad accumulation)
    num_iterations: int = 1
    rewards: list = field(default_factory=lambda: ["vla_r1"])  # names in training.rewards.REWARD_FUNCTIONS
    reward_weights: list | None = None
    use_vllm: str = "auto"  # auto | true | false
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.6
    log_completions: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_generations < 2:
            raise ConfigError("num_generations must be >= 2 (GRPO compares rollouts of one prompt)")
        if self.beta < 0 or self.epsilon <= 0 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ConfigError("beta must be >= 0, epsilon and temperature > 0, top_p in (0, 1]")
        if self.max_completion_length < 1:
            raise ConfigError("max_completion_length must be >= 1")
        unknown = [r for r in self.rewards if r not in REWARD_FUNCTIONS]
        if unknown or not self.rewards:
            raise ConfigError(f"rewards must name some of {sorted(REWARD_FUNCTIONS)}, got {self.rewards}")
        if self.reward_weights is not None:
            self.reward_weights = [float(w) for w in self.reward_weights]
            if len(self.reward_weights) != len(self.rewards):
                raise ConfigError("reward_weights needs one weight per reward")
        self.use_vllm = str(self.use_vllm).lower()
        if self.use_vllm not in ("auto", "true", "false"):
            raise ConfigError(f"use_vllm must be auto, true or false, got {self.use_vllm!r}")
        if self.vllm_mode not in ("colocate", "server"):
            raise ConfigError("vllm_mode must be colocate or server")


def grpo_dataset(dataset):
    """The GRPO view of a training dataset: prompt, images and the ground truth for the reward."""
    if dataset is None:
        return None
    drop = [c for c in ("completion",) if c in dataset.column_names]
    return dataset.remove_columns(drop)


def build_grpo_trainer(config: GRPORunConfig, reward_funcs: list[Callable] | None = None, callbacks: list | None = None):
    """The trainer; ``reward_funcs`` replaces the configured rewards (tests add a shaped one)."""
    from trl import GRPOConfig

    from .trainers import VLAGRPOTrainer

    from .modeling import load_training_model, load_training_processor, training_arguments, vllm_available
    from .sft import load_datasets

    train, val = load_datasets(config)
    train, val = grpo_dataset(train), grpo_dataset(val)
    processor = load_training_processor(config)
    model = load_training_model(config)
    use_vllm = vllm_available() if config.use_vllm == "auto" else config.use_vllm == "true"
    if use_vllm and not vllm_available():
        raise ConfigError("use_vllm=true but vLLM is not installed or no GPU is present")
    funcs = reward_funcs if reward_funcs is not None else [REWARD_FUNCTIONS[name] for name in config.rewards]
    extra: dict[str, Any] = {}
    if config.steps_per_generation is not None:
        extra["steps_per_generation"] = config.steps_per_generation
    if use_vllm:
        extra.update(vllm_mode=config.vllm_mode, vllm_gpu_memory_utilization=config.vllm_gpu_memory_utilization)
    args = GRPOConfig(
        **training_arguments(config, has_eval=val is not None),
        num_generations=config.num_generations,
        beta=config.beta,
        epsilon=config.epsilon,
        entropy_coef=config.entropy_coef,
        temperature=config.temperature,
        top_p=config.top_p,
        max_completion_length=config.max_completion_length,
        loss_type=config.loss_type,
        scale_rewards=config.scale_rewards,
        num_iterations=config.num_iterations,
        reward_weights=config.reward_weights if reward_funcs is None else None,
        use_vllm=use_vllm,
        log_completions=config.log_completions,
        **extra,
    )
    trainer = VLAGRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=train, eval_dataset=val,
                          processing_class=processor, callbacks=callbacks)
    return trainer, processor


def run_grpo(config: GRPORunConfig, reward_funcs: list[Callable] | None = None, callbacks: list | None = None) -> dict[str, Any]:
    from .modeling import resume_checkpoint, save_final, trainable_parameter_count

    trainer, processor = build_grpo_trainer(config, reward_funcs, callbacks)
    trainable, total = trainable_parameter_count(trainer.model)
    logger.info("GRPO: %d of %d parameters trainable (%s)", trainable, total, config.finetune)
    dump_config(config, Path(config.output_dir) / "vla_r1_grpo_config.yaml")
    result = trainer.train(resume_from_checkpoint=resume_checkpoint(config))
    out = save_final(trainer, processor, config.output_dir)
    metrics = {"output_dir": str(out), "global_step": trainer.state.global_step, "trainable_parameters": trainable,
               **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}}
    history = trainer.state.log_history
    metrics["losses"] = [h["loss"] for h in history if "loss" in h]
    metrics["rewards"] = [h["reward"] for h in history if "reward" in h]
    (out / "vla_r1_train_metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
