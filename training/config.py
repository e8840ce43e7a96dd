"""Training configuration: TRL's own config classes and parser, plus the project's few arguments.

    config = load_config(SFTRunConfig, "sft", ["learning_rate=2e-5", "finetune=lora"])
    config.learning_rate   # a field of TRL's SFTConfig (training.trl_configs.VLASFTConfig)
    config.finetune        # a project argument (model, data, fine-tuning mode, image budget)

One YAML mapping holds both: every optimisation / logging / checkpoint / GRPO key is a field of
TRL's ``SFTConfig`` or ``GRPOConfig`` (subclassed in ``training.trl_configs`` for the project's
defaults), parsed and typed by TRL's ``TrlParser``; the project's own keys are the dataclasses
below. ``key=value`` overrides are read as YAML (``max_steps=10`` an int, ``report_to=[tensorboard]``
a list, ``val_file=null`` None) and win over the file. Unknown keys are errors that list the valid
ones; values that do not fit their field's type are errors naming the field.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FINETUNE_MODES = ("full", "lora", "qlora")
# LoRA goes into the language model's attention and MLP projections (regex, full match).
LANGUAGE_MODEL_LINEARS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
# Shipped with the package (pyproject package-data): found from any working directory.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
ACCELERATE_DIR = Path(__file__).resolve().parent / "accelerate"


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it."""


@dataclass
class TrainConfigBase:
    """The project's arguments shared by SFT and GRPO: model, data, fine-tuning mode, image budget.
    Everything else (optimiser, schedule, batches, logging, checkpoints) is TRL's."""

    model: str = "Qwen/Qwen2.5-VL-3B-Instruct"  # hub id, local folder, or "tiny"
    train_file: str = ""  # VLA-CoT ShareGPT (.json/.jsonl, images relative to it) or a save_to_disk folder
    val_file: str | None = None
    val_fraction: float = 0.0  # split from train_file when val_file is not given
    max_samples: int | None = None
    finetune: str = "full"  # full | lora | qlora
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    lora_target_modules: str = LANGUAGE_MODEL_LINEARS
    freeze_vision: bool = False
    dtype: str = (
        "auto"  # weights of a frozen LoRA/QLoRA base: auto (bf16 on GPU, fp32 on CPU) | bfloat16 | float16 | float32
    )
    attn_implementation: str | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None

    def __post_init__(self) -> None:
        if self.finetune not in FINETUNE_MODES:
            raise ConfigError(f"finetune must be one of {FINETUNE_MODES}, got {self.finetune!r}")
        if not self.train_file:
            raise ConfigError("train_file is required")
        if not self.model:
            raise ConfigError("model is required")
        for name in ("lora_r", "lora_alpha"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError("lora_dropout must be in [0, 1)")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")

    @classmethod
    def trainer_config_class(cls) -> type:
        from .trl_configs import VLASFTConfig

        return VLASFTConfig

    def check(self, args: Any) -> None:
        """Checks across the project's arguments and TRL's."""
        for name in (
            "learning_rate",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "logging_steps",
            "save_steps",
        ):
            if not getattr(args, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(args, name)}")
        if args.max_steps == 0 or (args.max_steps < 0 and args.num_train_epochs <= 0):
            raise ConfigError("set max_steps > 0 or num_train_epochs > 0")


class RunConfig:
    """The project's arguments and TRL's read as one object (``config.finetune``, ``config.beta``);
    ``config.project`` and ``config.trainer`` are the two dataclasses."""

    def __init__(self, project: Any, trainer: Any):
        self.project, self.trainer = project, trainer

    def __getattr__(self, name: str) -> Any:
        project, trainer = self.__dict__.get("project"), self.__dict__.get("trainer")
        if project is not None and name in {f.name for f in dataclasses.fields(project)}:
            return getattr(project, name)
        if trainer is not None and hasattr(trainer, name):
            return getattr(trainer, name)
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        trainer = json.loads(self.trainer.to_json_string())
        return {**dataclasses.asdict(self.project), **trainer}


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


def _parser(types: tuple):
    from trl import TrlParser

    class ConfigParser(TrlParser):
        def error(self, message: str):  # argparse would exit; a bad value is the caller's ConfigError
            raise ConfigError(message.replace("argument --", "").replace("/--", "/"))

    return ConfigParser(types)


def load_config(cls: type[TrainConfigBase], path: str | Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """``cls``'s arguments and its TRL config, from a YAML mapping (a file, or a shipped config's name;
    optional) and ``key=value`` overrides."""
    import yaml

    data: dict[str, Any] = {}
    if path is not None:
        path = find_config(path)
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
    trainer_cls = cls.trainer_config_class()
    parser = _parser((cls, trainer_cls))
    valid = {f.name for c in (cls, trainer_cls) for f in dataclasses.fields(c)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} for {cls.__name__}; valid keys are the fields of "
            f"{cls.__name__} and of TRL's {trainer_cls.__mro__[1].__name__}"
        )
    parser.set_defaults_with_config(**data)
    try:
        project, trainer = parser.parse_args_into_dataclasses(args=[])
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from None
    project.check(trainer)
    return RunConfig(project, trainer)


def dump_config(config: RunConfig, path: str | Path) -> Path:
    import yaml

    from vla_r1_model.files import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
    return path
