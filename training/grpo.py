"""Reinforcement fine-tuning with TRL's GRPOTrainer and the VLA-R1 reward.

    vla-r1 train grpo --config training/configs/grpo.yaml model=runs/sft [key=value ...]

Defaults are the reference run's (verl GRPO, ``run_vla_r1_3b.sh`` and the verl defaults it uses;
docs/training.md has the table): lr 3e-5 constant, AdamW weight decay 0.01, gradient clip 1.0,
5 rollouts per prompt at temperature 1.0, KL loss 0.01 with the low-variance k3 estimator clamped
to ±10 and no importance-sampling factor, no entropy bonus, clip 0.2 with dual-clip c = 3,
advantages (r − group mean) / (group std + 1e-6), token-mean loss per micro-batch (TRL ``bnpo``),
no importance-sampling correction of vLLM rollouts, prompts longer than 2048 tokens dropped,
2048 response tokens, greedy validation every 5 generation steps, a checkpoint every 10.
Generation uses vLLM when it is installed and a GPU is present (``use_vllm: auto``).
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
    weight_decay: float = 0.01  # verl actor.optim.weight_decay
    weight_decay_all_parameters: bool = True  # verl's AdamW decays biases and norms too
    num_generations: int = 5  # rollouts per prompt
    beta: float = 0.01  # KL coefficient (k3 / low-variance estimator)
    epsilon: float = 0.2  # PPO clip
    entropy_coef: float = 0.0
    temperature: float = 1.0
    top_p: float = 1.0
    max_completion_length: int = 2048
    loss_type: str = "bnpo"  # verl token-mean: masked mean per micro-batch, averaged over accumulation
    kl_clamp: float | None = 10.0  # verl clamps the k3 KL per token to ±10
    kl_importance_weighted: bool = False  # TRL's use_bias_correction_kl (k3 × ratio); verl: no factor
    dual_clip: float | None = 3.0  # verl clip_ratio_c (dual-clip for negative advantages) = TRL's delta
    advantage_epsilon: float | None = 1e-6  # verl: (r - mean) / (std + 1e-6); None keeps TRL's 1e-4
    max_prompt_length: int | None = 2048  # prompts longer than this (image tokens included) are dropped
    greedy_eval: bool = True  # validation decodes greedily, one answer per prompt (verl val_kwargs)
    eval_every_generations: int | None = None  # validation cadence in generation steps (verl test_freq)
    validate_before_train: bool = True  # one validation before the first step (verl val_before_train)
    save_every_generations: int | None = None  # checkpoint cadence in generation steps (verl save_freq)
    scale_rewards: str = "group"  # advantages = (r - group mean) / group std, as verl's GRPO
    steps_per_generation: int | None = None  # micro-batches per generation batch (TRL default: grad accumulation)
    num_iterations: int = 1
    rewards: list = field(default_factory=lambda: ["vla_r1"])  # names in training.rewards.REWARD_FUNCTIONS
    reward_weights: list | None = None
    use_vllm: str = "auto"  # auto | true | false
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.6
    vllm_importance_sampling_correction: bool = False  # verl applies none to its vLLM rollouts
    vllm_tensor_parallel_size: int = 1  # colocate mode; server mode: pass it to `trl vllm-serve`
    vllm_server_host: str = "0.0.0.0"
    vllm_server_port: int = 8000
    vllm_server_base_url: str | None = None  # e.g. http://node0:8000 (overrides host and port)
    log_completions: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.use_vllm, bool):  # YAML true/false
            self.use_vllm = "true" if self.use_vllm else "false"
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
        if self.kl_clamp is not None and self.kl_clamp <= 0:
            raise ConfigError(f"kl_clamp must be > 0 or null, got {self.kl_clamp}")
        if self.dual_clip is not None and self.dual_clip <= 1.0 + self.epsilon:
            raise ConfigError(f"dual_clip must be > 1 + epsilon (verl asserts c > 1), got {self.dual_clip}")
        if self.advantage_epsilon is not None and self.advantage_epsilon <= 0:
            raise ConfigError("advantage_epsilon must be > 0 or null")
        for name in ("max_prompt_length", "eval_every_generations", "save_every_generations", "vllm_tensor_parallel_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        spg = self.steps_per_generation or self.gradient_accumulation_steps
        if spg % self.gradient_accumulation_steps:
            raise ConfigError(f"steps_per_generation ({spg}) must be a multiple of gradient_accumulation_steps "
                              f"({self.gradient_accumulation_steps}): one generation batch = whole optimizer steps")

    @property
    def optimizer_steps_per_generation(self) -> int:
        """Optimizer steps per generation batch (verl: mini-batches per training step; 4 in the reference)."""
        return (self.steps_per_generation or self.gradient_accumulation_steps) // self.gradient_accumulation_steps


def grpo_dataset(dataset):
    """The GRPO view of a training dataset: prompt, images and the ground truth for the reward."""
    if dataset is None:
        return None
    drop = [c for c in ("completion",) if c in dataset.column_names]
    return dataset.remove_columns(drop)


def grpo_arguments(config: GRPORunConfig, has_eval: bool, custom_rewards: bool, use_vllm: bool):
    """The TRL arguments of the run (``VLAGRPOConfig``: GRPOConfig plus the reference's loss terms).

    Cadences in generation steps become optimizer steps: one generation batch is
    ``optimizer_steps_per_generation`` optimizer steps (verl's mini-batches per training step)."""
    from .modeling import training_arguments
    from .trainers import VLAGRPOConfig

    common = training_arguments(config, has_eval=has_eval)
    per_generation = config.optimizer_steps_per_generation
    if config.save_every_generations is not None:
        common["save_steps"] = config.save_every_generations * per_generation
    if has_eval and config.eval_every_generations is not None:
        common.update(eval_strategy="steps", eval_steps=config.eval_every_generations * per_generation)
    extra: dict[str, Any] = {}
    if config.steps_per_generation is not None:
        extra["steps_per_generation"] = config.steps_per_generation
    if use_vllm:
        extra.update(vllm_mode=config.vllm_mode, vllm_gpu_memory_utilization=config.vllm_gpu_memory_utilization,
                     vllm_tensor_parallel_size=config.vllm_tensor_parallel_size,
                     vllm_server_host=config.vllm_server_host, vllm_server_port=config.vllm_server_port,
                     vllm_server_base_url=config.vllm_server_base_url)
    return VLAGRPOConfig(
        **common,
        num_generations=config.num_generations,
        num_generations_eval=1 if config.greedy_eval else None,
        beta=config.beta,
        epsilon=config.epsilon,
        delta=config.dual_clip,
        entropy_coef=config.entropy_coef,
        temperature=config.temperature,
        top_p=config.top_p,
        max_completion_length=config.max_completion_length,
        loss_type=config.loss_type,
        scale_rewards=config.scale_rewards,
        num_iterations=config.num_iterations,
        reward_weights=None if custom_rewards else config.reward_weights,
        use_vllm=use_vllm,
        vllm_importance_sampling_correction=config.vllm_importance_sampling_correction,
        use_bias_correction_kl=config.kl_importance_weighted,
        kl_clamp=config.kl_clamp,
        advantage_epsilon=config.advantage_epsilon,
        greedy_eval=config.greedy_eval,
        weight_decay_all_parameters=config.weight_decay_all_parameters,
        log_completions=config.log_completions,
        **extra,
    )


def drop_long_prompts(dataset, processor, max_tokens: int | None, name: str):
    """verl's ``filter_overlong_prompts``: rows whose prompt (chat template + image tokens) is longer
    than ``max_tokens`` are dropped, and the count is logged."""
    if dataset is None or max_tokens is None:
        return dataset
    from .data import prompt_token_count

    kept = dataset.filter(lambda row: prompt_token_count(processor, row["prompt"], row["images"]) <= max_tokens,
                          desc=f"dropping {name} prompts longer than {max_tokens} tokens")
    if len(kept) < len(dataset):
        logger.warning("%s: %d of %d prompts are longer than %d tokens and were dropped (as verl's "
                       "filter_overlong_prompts)", name, len(dataset) - len(kept), len(dataset), max_tokens)
    if len(kept) == 0:
        raise ConfigError(f"every {name} prompt is longer than max_prompt_length={max_tokens}")
    return kept


def build_grpo_trainer(config: GRPORunConfig, reward_funcs: list[Callable] | None = None, callbacks: list | None = None):
    """The trainer; ``reward_funcs`` replaces the configured rewards (tests add a shaped one).

    The TRL arguments are built BEFORE the model is loaded: they set up accelerate's per-process
    state (device, FSDP/DeepSpeed plugins) that ``from_pretrained`` reads to shard at load time."""
    from .modeling import load_training_model, load_training_processor, vllm_available
    from .sft import load_datasets
    from .trainers import VLAGRPOTrainer

    train, val = load_datasets(config)
    train, val = grpo_dataset(train), grpo_dataset(val)
    use_vllm = vllm_available() if config.use_vllm == "auto" else config.use_vllm == "true"
    if use_vllm and not vllm_available():
        raise ConfigError("use_vllm=true but vLLM is not installed or no GPU is present")
    args = grpo_arguments(config, has_eval=val is not None, custom_rewards=reward_funcs is not None, use_vllm=use_vllm)
    processor = load_training_processor(config)
    train = drop_long_prompts(train, processor, config.max_prompt_length, "train")
    val = drop_long_prompts(val, processor, config.max_prompt_length, "validation")
    model = load_training_model(config, args)
    funcs = reward_funcs if reward_funcs is not None else [REWARD_FUNCTIONS[name] for name in config.rewards]
    trainer = VLAGRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=train, eval_dataset=val,
                             processing_class=processor, callbacks=callbacks)
    return trainer, processor


def run_grpo(config: GRPORunConfig, reward_funcs: list[Callable] | None = None, callbacks: list | None = None) -> dict[str, Any]:
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
    metrics = {"output_dir": str(out), "global_step": trainer.state.global_step, "trainable_parameters": trainable,
               **{k: v for k, v in {**before, **result.metrics}.items() if isinstance(v, (int, float))}}
    history = trainer.state.log_history
    metrics["losses"] = [h["loss"] for h in history if "loss" in h]
    metrics["rewards"] = [h["reward"] for h in history if "reward" in h]
    (out / "vla_r1_train_metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
