"""Reinforcement fine-tuning with TRL's GRPOTrainer and the VLA-R1 reward.

    vla-r1 train grpo --config training/configs/grpo.yaml model=runs/sft [key=value ...]

Defaults are the reference run's (verl GRPO, ``run_vla_r1_3b.sh`` and the verl defaults it uses;
docs/training.md has the table): lr 3e-5 constant, AdamW weight decay 0.01, gradient clip 1.0,
5 rollouts per prompt at temperature 1.0, KL loss 0.01 with the low-variance k3 estimator clamped
to ±10 and no importance-sampling factor, no entropy bonus, clip 0.2 with dual-clip c = 3,
advantages (r − group mean) / (group std + 1e-6), token-mean loss per micro-batch (TRL ``bnpo``),
no importance-sampling correction of vLLM rollouts, prompts longer than 2048 tokens dropped,
2048 response tokens, greedy validation every 5 generation steps, a checkpoint every 10.
Generation uses vLLM when it is installed and a GPU is present (``use_vllm: null``). The settings
are TRL's GRPOConfig fields (``training.trl_configs.VLAGRPOConfig``); ``GRPORunConfig`` holds the
project's few own keys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ConfigError, RunConfig, TrainConfigBase, dump_config
from .rewards import REWARD_FUNCTIONS

logger = logging.getLogger(__name__)


@dataclass
class GRPORunConfig(TrainConfigBase):
    """GRPO's project arguments; every optimisation and loss setting is a field of TRL's GRPOConfig
    (``training.trl_configs.VLAGRPOConfig``), set in grpo.yaml to the reference run's values."""

    rewards: list[str] = field(default_factory=lambda: ["vla_r1"])  # names in training.rewards.REWARD_FUNCTIONS
    max_prompt_length: int | None = 2048  # prompts longer than this (image tokens included) are dropped
    eval_every_generations: int | None = None  # validation cadence in generation steps (verl test_freq)
    save_every_generations: int | None = None  # checkpoint cadence in generation steps (verl save_freq)
    validate_before_train: bool = True  # one validation before the first step (verl val_before_train)

    @classmethod
    def trainer_config_class(cls) -> type:
        from .trl_configs import VLAGRPOConfig

        return VLAGRPOConfig

    def check(self, args) -> None:
        super().check(args)
        if args.num_generations < 2:
            raise ConfigError("num_generations must be >= 2 (GRPO compares rollouts of one prompt)")
        if args.beta < 0 or args.epsilon <= 0 or args.temperature <= 0 or not 0 < args.top_p <= 1:
            raise ConfigError("beta must be >= 0, epsilon and temperature > 0, top_p in (0, 1]")
        if args.max_completion_length < 1:
            raise ConfigError("max_completion_length must be >= 1")
        unknown = [r for r in self.rewards if r not in REWARD_FUNCTIONS]
        if unknown or not self.rewards:
            raise ConfigError(f"rewards must name some of {sorted(REWARD_FUNCTIONS)}, got {self.rewards}")
        if args.reward_weights is not None and len(args.reward_weights) != len(self.rewards):
            raise ConfigError("reward_weights needs one weight per reward")
        if args.kl_clamp is not None and args.kl_clamp <= 0:
            raise ConfigError(f"kl_clamp must be > 0 or null, got {args.kl_clamp}")
        if args.delta is not None and args.delta <= 1.0 + args.epsilon:
            raise ConfigError(f"delta (dual-clip c) must be > 1 + epsilon (verl asserts c > 1), got {args.delta}")
        if args.advantage_epsilon is not None and args.advantage_epsilon <= 0:
            raise ConfigError("advantage_epsilon must be > 0 or null")
        for name in ("max_prompt_length", "eval_every_generations", "save_every_generations"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if args.steps_per_generation % args.gradient_accumulation_steps:
            raise ConfigError(
                f"steps_per_generation ({args.steps_per_generation}) must be a multiple of "
                f"gradient_accumulation_steps ({args.gradient_accumulation_steps}): one generation batch "
                "= whole optimizer steps"
            )


def optimizer_steps_per_generation(args) -> int:
    """Optimizer steps per generation batch (verl: mini-batches per training step; 4 in the reference)."""
    return args.steps_per_generation // args.gradient_accumulation_steps


def grpo_dataset(dataset):
    """The GRPO view of a training dataset: prompt, images and the ground truth for the reward."""
    if dataset is None:
        return None
    drop = [c for c in ("completion",) if c in dataset.column_names]
    return dataset.remove_columns(drop)


def apply_generation_cadence(config: RunConfig, args, has_eval: bool) -> None:
    """Cadences counted in generation steps (verl's training steps) become optimizer steps."""
    from transformers.trainer_utils import IntervalStrategy

    from .modeling import set_eval_strategy

    per_generation = optimizer_steps_per_generation(args)
    if config.save_every_generations is not None:
        args.save_steps = config.save_every_generations * per_generation
    if has_eval and config.eval_every_generations is not None:
        args.eval_strategy, args.eval_steps = IntervalStrategy.STEPS, config.eval_every_generations * per_generation
    set_eval_strategy(args, has_eval)


def drop_long_prompts(dataset, processor, max_tokens: int | None, name: str):
    """verl's ``filter_overlong_prompts``: rows whose prompt (chat template + image tokens) is longer
    than ``max_tokens`` are dropped, and the count is logged."""
    if dataset is None or max_tokens is None:
        return dataset
    from .data import prompt_token_count

    kept = dataset.filter(
        lambda row: prompt_token_count(processor, row["prompt"], row["images"]) <= max_tokens,
        desc=f"dropping {name} prompts longer than {max_tokens} tokens",
    )
    if len(kept) < len(dataset):
        logger.warning(
            "%s: %d of %d prompts are longer than %d tokens and were dropped (as verl's filter_overlong_prompts)",
            name,
            len(dataset) - len(kept),
            len(dataset),
            max_tokens,
        )
    if len(kept) == 0:
        raise ConfigError(f"every {name} prompt is longer than max_prompt_length={max_tokens}")
    return kept


def build_grpo_trainer(config: RunConfig, reward_funcs: list[Callable] | None = None, callbacks: list | None = None):
    """The trainer; ``reward_funcs`` replaces the configured rewards (tests add a shaped one).

    The TRL arguments exist before the model is loaded (``load_config`` built them): they set up
    accelerate's per-process state (device, FSDP/DeepSpeed plugins) that ``from_pretrained`` reads
    to shard at load time."""
    from .devices import vllm_available
    from .modeling import load_training_model, load_training_processor
    from .sft import load_datasets
    from .trainers import VLAGRPOTrainer

    train, val = load_datasets(config)
    train, val = grpo_dataset(train), grpo_dataset(val)
    args = config.trainer
    if args.use_vllm and not vllm_available():
        raise ConfigError("use_vllm=true but vLLM is not installed or no GPU is present")
    apply_generation_cadence(config, args, has_eval=val is not None)
    if reward_funcs is not None:
        args.reward_weights = None  # the weights belong to the configured rewards
    processor = load_training_processor(config)
    train = drop_long_prompts(train, processor, config.max_prompt_length, "train")
    val = drop_long_prompts(val, processor, config.max_prompt_length, "validation")
    model = load_training_model(config, args)
    if config.finetune == "qlora":
        args.gradient_checkpointing = False  # peft's prepare_model_for_kbit_training turned it on
    funcs = reward_funcs if reward_funcs is not None else [REWARD_FUNCTIONS[name] for name in config.rewards]
    # TRL types a reward function as returning list[float | None]; list is invariant, so list[float] does not match
    trainer = VLAGRPOTrainer(
        model=model,
        reward_funcs=funcs,  # type: ignore[arg-type]
        args=args,
        train_dataset=train,
        eval_dataset=val,
        processing_class=processor,
        callbacks=callbacks,
    )
    return trainer, processor


def run_grpo(
    config: RunConfig, reward_funcs: list[Callable] | None = None, callbacks: list | None = None
) -> dict[str, Any]:
    from .modeling import resume_checkpoint, save_final, trainable_parameter_count

    trainer, processor = build_grpo_trainer(config, reward_funcs, callbacks)
    trainable, total = trainable_parameter_count(trainer.model)
    logger.info("GRPO: %d of %d parameters trainable (%s)", trainable, total, config.finetune)
    dump_config(config, Path(config.output_dir) / "vla_r1_grpo_config.yaml")
    before: dict[str, Any] = {}
    if config.validate_before_train and trainer.eval_dataset is not None:
        before = trainer.evaluate(metric_key_prefix="eval_before_train")  # verl val_before_train
    result = trainer.train(resume_from_checkpoint=resume_checkpoint(config))
    out = save_final(trainer, processor, config.output_dir)
    metrics = {
        "output_dir": str(out),
        "global_step": trainer.state.global_step,
        "trainable_parameters": trainable,
        **{k: v for k, v in {**before, **result.metrics}.items() if isinstance(v, (int, float))},
    }
    history = trainer.state.log_history
    metrics["losses"] = [h["loss"] for h in history if "loss" in h]
    metrics["rewards"] = [h["reward"] for h in history if "reward" in h]
    (out / "vla_r1_train_metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
