"""Training configuration: validated dataclasses loaded from YAML, with ``key=value`` overrides.

    config = load_config(SFTRunConfig, "training/configs/sft.yaml", ["learning_rate=2e-5", "finetune=lora"])

Values of overrides are parsed as YAML (``max_steps=10`` is an int, ``report_to=[tensorboard]`` a
list, ``val_file=null`` None). Every field is converted to its declared type (YAML reads ``1e-5``
as a string; it becomes a float here) and checked in ``__post_init__``; unknown keys are errors
that list the valid ones.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, TypeVar

FINETUNE_MODES = ("full", "lora", "qlora")
# Shipped with the package (pyproject package-data): found from any working directory.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
ACCELERATE_DIR = Path(__file__).resolve().parent / "accelerate"
# LoRA goes into the language model's attention and MLP projections (regex, full match).
LANGUAGE_MODEL_LINEARS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it."""


@dataclass
class TrainConfigBase:
    """What SFT and GRPO share: model, data, optimisation, fine-tuning mode, logging, checkpoints."""

    model: str = "Qwen/Qwen2.5-VL-3B-Instruct"  # hub id, local folder, or "tiny"
    train_file: str = ""  # VLA-CoT ShareGPT (.json/.jsonl, images relative to it) or a save_to_disk folder
    output_dir: str = "runs/vla_r1"
    val_file: str | None = None
    val_fraction: float = 0.0  # split from train_file when val_file is not given
    max_samples: int | None = None
    seed: int = 42

    finetune: str = "full"  # full | lora | qlora
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    lora_target_modules: str = LANGUAGE_MODEL_LINEARS
    freeze_vision: bool = False
    gradient_checkpointing: bool = True
    dtype: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bfloat16 | float16 | float32
    attn_implementation: str | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None

    learning_rate: float = 1e-5
    num_train_epochs: float = 1.0
    max_steps: int = -1
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.0
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0

    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 3
    eval_steps: int | None = None
    report_to: list = field(default_factory=lambda: ["tensorboard"])  # + "wandb" when configured
    run_name: str | None = None
    resume_from_checkpoint: str | None = "auto"  # auto: the newest checkpoint in output_dir, if any
    dataloader_num_workers: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.resume_from_checkpoint, bool):  # YAML true/false
            self.resume_from_checkpoint = "auto" if self.resume_from_checkpoint else None
        coerce_fields(self)
        if self.finetune not in FINETUNE_MODES:
            raise ConfigError(f"finetune must be one of {FINETUNE_MODES}, got {self.finetune!r}")
        if not self.train_file:
            raise ConfigError("train_file is required")
        if not self.model:
            raise ConfigError("model is required")
        positive = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps",
                    "save_steps", "lora_r", "lora_alpha")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 <= self.lora_dropout < 1.0 or not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError("lora_dropout and warmup_ratio must be in [0, 1)")
        if self.max_steps == 0 or (self.max_steps < 0 and self.num_train_epochs <= 0):
            raise ConfigError("set max_steps > 0 or num_train_epochs > 0")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        unknown = set(self.report_to) - {"tensorboard", "wandb", "none"}
        if unknown:
            raise ConfigError(f"report_to accepts tensorboard, wandb, none; got {sorted(unknown)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else tp), type(None) in typing.get_args(tp)
    return tp, False


def _coerce(name: str, value: Any, tp: Any) -> Any:
    base, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise ConfigError(f"{name} may not be null")
    try:
        if base is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
                return value.lower() in ("true", "yes", "1")
            if isinstance(value, bool):
                return value
            raise ValueError
        if base is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() else int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            return str(value)
        if base is list or typing.get_origin(base) is list:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return list(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot use {value!r} as {getattr(base, '__name__', base)}") from None
    return value


def coerce_fields(config: Any) -> None:
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        setattr(config, f.name, _coerce(f.name, getattr(config, f.name), hints[f.name]))


def find_config(value: str | Path, folder: Path = CONFIG_DIR) -> Path:
    """A config file: the path as given when it exists, else a shipped one by name (``grpo``,
    ``grpo.yaml``); ConfigError naming both places when neither exists."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    name = path.name if path.suffix == ".yaml" else f"{path.name}.yaml"
    shipped = folder / name
    if (len(path.parts) == 1 or str(path).startswith(("training/", "training\\"))) and shipped.is_file():
        return shipped
    known = sorted(p.stem for p in folder.glob("*.yaml"))
    raise ConfigError(f"config file {value} not found (shipped configs in {folder}: {known})")


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    import yaml

    values: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value")
        try:
            values[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            values[key.strip()] = raw
    return values


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """``cls`` from a YAML mapping (optional) updated with ``key=value`` overrides."""
    import yaml

    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config {path} must be a mapping of keys to values")
        data.update(loaded or {})
    data.update(parse_overrides(overrides))
    valid = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} for {cls.__name__}; valid keys: {sorted(valid)}")
    return cls(**data)


def dump_config(config: Any, path: str | Path) -> Path:
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False), encoding="utf-8")
    return path
