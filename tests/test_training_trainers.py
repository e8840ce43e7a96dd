"""2-step SFT and GRPO runs on the tiny checkpoint: parameters change, checkpoints load for inference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from PIL import Image  # noqa: E402

from training.config import load_config  # noqa: E402
from training.data import VLARecord, write_sharegpt  # noqa: E402


@pytest.fixture(scope="module")
def cot_file(tmp_path_factory) -> Path:
    """Four tiny (56x56) VLA-CoT examples, two per task, images relative to the data file."""
    root = tmp_path_factory.mktemp("cot")
    (root / "images").mkdir()
    records = []
    for i in range(4):
        Image.new("RGB", (56, 56), (50 * i, 90, 160)).save(root / "images" / f"{i}.png")
        if i % 2 == 0:
            records.append(
                VLARecord(
                    f"a{i}",
                    "affordance",
                    f"images/{i}.png",
                    f"pick up the cup {i}",
                    {"x": 0.5, "y": 0.4, "width": 0.2, "height": 0.1},
                    reasoning="1. Task parsing: pick.",
                )
            )
        else:
            records.append(
                VLARecord(
                    f"t{i}",
                    "trajectory",
                    f"images/{i}.png",
                    f"reach the bowl {i}",
                    [[0.1, 0.1], [0.3, 0.2], [0.6, 0.6]],
                    reasoning="1. Task parsing: reach.",
                )
            )
    return write_sharegpt(records, root / "data" / "cot.json", source_dir=root)


def overrides(tiny_checkpoint, cot_file, out, *extra):
    return [
        f"model={tiny_checkpoint}",
        f"train_file={cot_file}",
        f"output_dir={out}",
        "max_steps=2",
        "per_device_train_batch_size=2",
        "learning_rate=1e-3",
        "logging_steps=1",
        "save_steps=2",
        "max_pixels=3136",
        *extra,
    ]


def base_state(tiny_checkpoint):
    from vla_r1_model.loading import load_model

    return {k: v.clone() for k, v in load_model(str(tiny_checkpoint), device="cpu").state_dict().items()}


def changed_fraction(before: dict, after: dict, prefix: str = "") -> float:
    keys = [k for k in before if k.startswith(prefix) and k in after]
    assert keys, f"no parameters under {prefix!r}"
    return sum(not torch.equal(before[k], after[k].to(before[k].dtype)) for k in keys) / len(keys)


def assert_loads_for_inference(model_dir: Path, image_path: Path):
    from vla_r1_model.backends.base import GenerationSettings
    from vla_r1_model.loading import load_model, load_processor
    from vla_r1_model.policy import Policy, PolicyConfig

    assert load_processor(str(model_dir)).tokenizer.chat_template
    load_model(str(model_dir), device="cpu")
    policy = Policy.from_pretrained(
        str(model_dir), PolicyConfig(generation=GenerationSettings(max_new_tokens=4)), device="cpu"
    )
    output = policy.predict(Image.open(image_path), "pick up the cup", "affordance")
    assert isinstance(output.raw_text, str)  # random weights: text, not a valid answer


def test_sft_full_two_steps_changes_parameters_and_resumes(tiny_checkpoint, cot_file, tmp_path):
    from training.sft import SFTRunConfig, build_sft_trainer, run_sft

    out = tmp_path / "sft"
    config = load_config(SFTRunConfig, None, overrides(tiny_checkpoint, cot_file, out))
    before = base_state(tiny_checkpoint)

    # the loss covers the assistant answer only
    trainer, processor = build_sft_trainer(config)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    labelled = processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] != -100])
    assert "<output>" in labelled and "so, the answer is" in labelled
    assert "Please output" not in labelled and "<|image_pad|>" not in labelled
    del trainer

    metrics = run_sft(config)
    assert metrics["global_step"] == 2 and len(metrics["losses"]) == 2
    assert all(0 < loss < 20 for loss in metrics["losses"])
    from vla_r1_model.loading import load_model

    after = load_model(str(out), device="cpu").state_dict()
    assert changed_fraction(before, after, "model.language_model") > 0.5
    assert changed_fraction(before, after, "model.visual") > 0.5  # full fine-tuning trains the vision tower too
    assert list(out.glob("runs/*/events.out.tfevents.*")), "no TensorBoard log"
    assert (out / "checkpoint-2" / "trainer_state.json").is_file()
    assert_loads_for_inference(out, cot_file.parent.parent / "images" / "0.png")

    # resume: continues from checkpoint-2 to step 3 instead of starting over
    from transformers import TrainerCallback

    class CountSteps(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            CountSteps.steps += 1

    resumed = run_sft(
        load_config(SFTRunConfig, None, overrides(tiny_checkpoint, cot_file, out, "max_steps=3")),
        callbacks=[CountSteps()],
    )
    assert resumed["global_step"] == 3 and CountSteps.steps == 1
    assert resumed["losses"][:2] == pytest.approx(metrics["losses"])  # the history came back with the checkpoint


def test_sft_lora_then_export_merges_adapters(tiny_checkpoint, cot_file, tmp_path):
    from training.export import export_checkpoint
    from training.sft import SFTRunConfig, run_sft

    out = tmp_path / "lora"
    config = load_config(
        SFTRunConfig,
        None,
        overrides(
            tiny_checkpoint,
            cot_file,
            out,
            "finetune=lora",
            "lora_r=8",
            "lora_alpha=16",
            "report_to=none",
            "learning_rate=5e-2",
        ),
    )
    metrics = run_sft(config)
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    before = base_state(tiny_checkpoint)
    assert metrics["trainable_parameters"] < 0.1 * sum(v.numel() for v in before.values())

    merged = export_checkpoint(out, tmp_path / "merged")
    from vla_r1_model.loading import load_model

    after = load_model(str(merged), device="cpu").state_dict()
    assert set(after) == set(before)  # a plain checkpoint: no lora_ keys left
    assert changed_fraction(before, after, "model.language_model.layers.0.self_attn.q_proj.weight") == 1.0
    assert changed_fraction(before, after, "model.visual") == 0.0  # LoRA only in the language model
    assert_loads_for_inference(merged, cot_file.parent.parent / "images" / "1.png")
    # the exported processor is the one the adapters were trained with (max_pixels=3136), not the base's
    from vla_r1_model.loading import load_processor

    assert load_processor(str(tiny_checkpoint)).image_processor.size["longest_edge"] != 3136
    assert load_processor(str(merged)).image_processor.size["longest_edge"] == 3136


def test_sft_qlora_two_steps(tiny_checkpoint, cot_file, tmp_path):
    pytest.importorskip("bitsandbytes")
    from training.sft import SFTRunConfig, run_sft

    out = tmp_path / "qlora"
    metrics = run_sft(
        load_config(
            SFTRunConfig,
            None,
            overrides(tiny_checkpoint, cot_file, out, "finetune=qlora", "lora_r=8", "lora_alpha=16", "report_to=none"),
        )
    )
    assert metrics["global_step"] == 2
    from safetensors.torch import load_file

    adapters = load_file(str(out / "adapter_model.safetensors"))
    lora_b = [v for k, v in adapters.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # B starts at zero: non-zero means it trained


def test_grpo_two_steps_changes_parameters(tiny_checkpoint, cot_file, tmp_path):
    from training.grpo import GRPORunConfig, run_grpo
    from training.rewards import completion_text, vla_r1_reward

    calls = []

    def length_reward(prompts, completions, **kwargs):
        """Random weights never write a valid answer (reward 0 for all): a shaped reward gives advantages."""
        calls.append(kwargs["ground_truth"])
        return [len(completion_text(c)) / 100 for c in completions]

    out = tmp_path / "grpo"
    config = load_config(
        GRPORunConfig,
        "training/configs/grpo.yaml",
        overrides(
            tiny_checkpoint,
            cot_file,
            out,
            "num_generations=2",
            "max_completion_length=12",
            "gradient_accumulation_steps=1",
            "steps_per_generation=null",
            "num_train_epochs=1",
        ),
    )
    assert (config.beta, config.epsilon, config.temperature, config.num_generations) == (0.01, 0.2, 1.0, 2)
    before = base_state(tiny_checkpoint)
    metrics = run_grpo(config, reward_funcs=[vla_r1_reward, length_reward])
    assert metrics["global_step"] == 2
    assert calls and all("<output>" in gt for gt in calls[0])  # the ground truth column reaches the rewards
    from vla_r1_model.loading import load_model

    after = load_model(str(out), device="cpu").state_dict()
    assert changed_fraction(before, after, "model.language_model") > 0.5
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    logged = state["log_history"][0]
    assert "rewards/vla_r1_reward/mean" in logged and "vla_r1/format" in logged and "kl" in logged
    assert_loads_for_inference(out, cot_file.parent.parent / "images" / "2.png")
