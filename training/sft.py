"""Supervised fine-tuning on VLA-CoT data with TRL's SFTTrainer.

    vla-r1 train sft --config training/configs/sft.yaml [key=value ...]

The dataset is in prompt/completion form (``training.data.to_hf_dataset``): the user turn is the
exact training prompt (text, then the image) and the completion is ``<think>…</think> so, the
answer is <output>…</output>``. ``completion_only_loss`` puts the loss on the assistant answer only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, RunConfig, TrainConfigBase, dump_config

logger = logging.getLogger(__name__)


@dataclass
class SFTRunConfig(TrainConfigBase):
    """SFT's project arguments; its TRL config is ``training.trl_configs.VLASFTConfig`` (SFTConfig)."""

    def check(self, args) -> None:
        super().check(args)
        if args.max_length is not None and args.max_length < 16:
            raise ConfigError(f"max_length must be >= 16, got {args.max_length}")
        if not args.completion_only_loss:
            logger.warning("completion_only_loss is off: the prompt tokens are trained on too")


def load_datasets(config: RunConfig):
    """(train, eval or None) Hugging Face datasets; logs the records that were rejected."""
    from .data import load_training_dataset

    try:
        train, val, conversion = load_training_dataset(
            config.train_file, config.val_fraction if not config.val_file else 0.0, config.seed, config.max_samples
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"train_file {config.train_file}: {exc}") from None
    if conversion.bad:
        logger.warning("train_file: %s", conversion.summary())
    if config.val_file:
        val, _, val_conversion = load_training_dataset(config.val_file, 0.0, config.seed)
        if val_conversion.bad:
            logger.warning("val_file: %s", val_conversion.summary())
    return train, val


def build_sft_trainer(config: RunConfig, callbacks: list | None = None):
    from .modeling import load_training_model, load_training_processor, set_eval_strategy
    from .trainers import VLASFTTrainer

    train, val = load_datasets(config)
    # the TRL arguments exist already (load_config built them): accelerate's per-process state is up
    # before the model loads, which from_pretrained needs to shard at load time
    args = config.trainer
    set_eval_strategy(args, has_eval=val is not None)
    processor = load_training_processor(config)
    model = load_training_model(config, args)
    if config.finetune == "qlora":
        args.gradient_checkpointing = False  # peft's prepare_model_for_kbit_training turned it on
    trainer = VLASFTTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=val, processing_class=processor, callbacks=callbacks
    )
    return trainer, processor


def run_sft(config: RunConfig, callbacks: list | None = None) -> dict[str, Any]:
    """Train, save the final model (or adapters) with its processor, and return the metrics."""
    from .modeling import resume_checkpoint, save_final, trainable_parameter_count

    trainer, processor = build_sft_trainer(config, callbacks)
    trainable, total = trainable_parameter_count(trainer.model)
    logger.info("SFT: %d of %d parameters trainable (%s)", trainable, total, config.finetune)
    dump_config(config, Path(config.output_dir) / "vla_r1_sft_config.yaml")
    result = trainer.train(resume_from_checkpoint=resume_checkpoint(config))
    out = save_final(trainer, processor, config.output_dir)
    metrics = {
        "output_dir": str(out),
        "global_step": trainer.state.global_step,
        "trainable_parameters": trainable,
        **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))},
    }
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    metrics["losses"] = losses
    (out / "vla_r1_train_metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
