"""Resume restores the checkpoint's weights (full, LoRA, GRPO) and training continues exactly.

Issue 15.1: transformers 5 saves checkpoints with the hub's parameter names and the Trainer's
resume path loaded them with a non-strict ``load_state_dict`` under the current names, so every
key missed and a resumed full fine-tuning run silently went on from the starting weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from PIL import Image  # noqa: E402

from training.config import load_config  # noqa: E402
from training.data import VLARecord, write_sharegpt  # noqa: E402


@pytest.fixture(scope="module")
def cot_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resume_cot")
    (root / "images").mkdir()
    records = []
    for i in range(4):
        Image.new("RGB", (56, 56), (60 * i, 80, 150)).save(root / "images" / f"{i}.png")
        records.append(
            VLARecord(
                f"a{i}",
                "affordance",
                f"images/{i}.png",
                f"pick up the cup {i}",
                {"x": 0.5, "y": 0.4, "width": 0.2, "height": 0.1},
                reasoning="Task parsing: pick up the cup. Scene understanding: the cup is centred.",
            )
        )
    return write_sharegpt(records, root / "data" / "cot.json", source_dir=root)


def sft_overrides(tiny_checkpoint, cot_file, out, steps, *extra):
    return [
        f"model={tiny_checkpoint}",
        f"train_file={cot_file}",
        f"output_dir={out}",
        f"max_steps={steps}",
        "per_device_train_batch_size=2",
        "learning_rate=1e-3",
        "logging_steps=1",
        "save_steps=2",
        "max_pixels=3136",
        "report_to=none",
        "lr_scheduler_type=constant",
        *extra,
    ]


def trained_state(out: Path) -> dict:
    from safetensors.torch import load_file

    name = "adapter_model.safetensors" if (out / "adapter_model.safetensors").is_file() else "model.safetensors"
    return load_file(str(out / name))


def assert_same_weights(a: dict, b: dict, atol=0.0):
    assert set(a) == set(b)
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst <= atol, f"weights differ by up to {worst}"


def model_matches_checkpoint(model, checkpoint: Path) -> bool:
    from training.checkpoints import read_checkpoint_state_dict, to_model_names

    if (checkpoint / "adapter_model.safetensors").is_file():
        saved = trained_state(checkpoint)
        own = {k.replace(".default", ""): v for k, v in model.state_dict().items() if "lora_" in k}
        return bool(saved) and all(torch.equal(own[k], v) for k, v in saved.items())
    saved = to_model_names(model, read_checkpoint_state_dict(checkpoint))
    own = model.state_dict()
    return set(saved) <= set(own) and all(torch.equal(own[k], v) for k, v in saved.items())


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_sft_resume_restores_the_checkpoint_and_continues_exactly(tiny_checkpoint, cot_file, tmp_path, finetune):
    from training.sft import SFTRunConfig, build_sft_trainer, run_sft

    extra = ("finetune=lora", "lora_r=8", "lora_alpha=16", "lora_dropout=0.0") if finetune == "lora" else ()

    def config(out, steps):
        return load_config(SFTRunConfig, None, sft_overrides(tiny_checkpoint, cot_file, out, steps, *extra))

    run_sft(config(tmp_path / "straight", 3))
    run_sft(config(tmp_path / "resumed", 2))
    checkpoint = tmp_path / "resumed" / "checkpoint-2"

    trainer, _ = build_sft_trainer(config(tmp_path / "resumed", 3))
    assert not model_matches_checkpoint(trainer.model, checkpoint)  # starts from the base weights
    trainer._load_from_checkpoint(str(checkpoint))
    assert model_matches_checkpoint(trainer.model, checkpoint)
    del trainer

    resumed = run_sft(config(tmp_path / "resumed", 3))
    assert resumed["global_step"] == 3
    assert_same_weights(trained_state(tmp_path / "straight"), trained_state(tmp_path / "resumed"), atol=1e-6)


def test_grpo_resume_restores_the_checkpoint_and_continues_exactly(tiny_checkpoint, cot_file, tmp_path):
    from training.grpo import GRPORunConfig, build_grpo_trainer, run_grpo
    from training.rewards import completion_text

    def length_reward(prompts, completions, **kwargs):
        return [len(completion_text(c)) / 100 for c in completions]

    def config(out, steps):
        return load_config(
            GRPORunConfig,
            None,
            sft_overrides(
                tiny_checkpoint,
                cot_file,
                out,
                steps,
                "num_generations=2",
                "max_completion_length=8",
                "gradient_accumulation_steps=1",
            ),
        )

    run_grpo(config(tmp_path / "straight", 3), reward_funcs=[length_reward])
    run_grpo(config(tmp_path / "resumed", 2), reward_funcs=[length_reward])
    checkpoint = tmp_path / "resumed" / "checkpoint-2"
    trainer, _ = build_grpo_trainer(config(tmp_path / "resumed", 3), reward_funcs=[length_reward])
    trainer._load_from_checkpoint(str(checkpoint))
    assert model_matches_checkpoint(trainer.model, checkpoint)
    del trainer
    run_grpo(config(tmp_path / "resumed", 3), reward_funcs=[length_reward])
    assert_same_weights(trained_state(tmp_path / "straight"), trained_state(tmp_path / "resumed"), atol=1e-6)


def test_a_checkpoint_that_does_not_fit_is_refused(tiny_checkpoint, tmp_path):
    from safetensors.torch import save_file

    from training.checkpoints import CheckpointError, load_checkpoint_weights
    from vla_r1_model.loading import load_model

    model = load_model(str(tiny_checkpoint), device="cpu")
    save_file(
        {"model.embed_tokens.weight": model.state_dict()["model.language_model.embed_tokens.weight"].clone()},
        str(tmp_path / "model.safetensors"),
    )
    with pytest.raises(CheckpointError, match="not in the file"):
        load_checkpoint_weights(model, tmp_path)
