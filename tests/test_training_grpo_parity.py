"""Issue 15.2: the GRPO loss is the reference run's (verl). Read from the BUILT trainer.

Reference: RFT_training/train_utils/run_vla_r1_3b.sh of the VLA-R1 release and the verl defaults it
relies on (actor.yaml, dp_actor.py, core_algos.py of the vendored verl).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from PIL import Image  # noqa: E402

from training.config import load_config  # noqa: E402
from training.data import VLARecord, write_sharegpt  # noqa: E402

GRPO_YAML = Path(__file__).resolve().parent.parent / "training" / "configs" / "grpo.yaml"


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("grpo_parity")
    (root / "images").mkdir()
    records = []
    for i in range(4):
        Image.new("RGB", (56, 56), (30 * i, 60, 90)).save(root / "images" / f"{i}.png")
        records.append(
            VLARecord(
                f"a{i}",
                "affordance",
                f"images/{i}.png",
                "pick up the cup " + "very " * (40 * i),
                {"x": 0.5, "y": 0.4, "width": 0.2, "height": 0.1},
                reasoning="Task parsing: pick.",
            )
        )
    return (
        write_sharegpt(records, root / "train.json", source_dir=root),
        write_sharegpt(records[:2], root / "val.json", source_dir=root),
    )


@pytest.fixture(scope="module")
def trainer(tiny_checkpoint, data_files, tmp_path_factory):
    from training.grpo import GRPORunConfig, build_grpo_trainer

    train, val = data_files
    config = load_config(
        GRPORunConfig,
        GRPO_YAML,
        [
            f"model={tiny_checkpoint}",
            f"train_file={train}",
            f"val_file={val}",
            f"output_dir={tmp_path_factory.mktemp('out')}",
            "report_to=none",
            "max_pixels=3136",
        ],
    )
    built, _ = build_grpo_trainer(config)
    return built


def test_the_built_trainer_has_the_reference_settings(trainer):
    args = trainer.args
    reference = {  # setting: (effective value in the built trainer, the reference run's value)
        "lr 3e-5": (args.learning_rate, 3e-5),
        "constant schedule": (
            args.lr_scheduler_type.value if hasattr(args.lr_scheduler_type, "value") else args.lr_scheduler_type,
            "constant",
        ),
        "no warm-up": (args.get_warmup_steps(1000), 0),
        "AdamW weight decay 0.01": (args.weight_decay, 0.01),
        "AdamW betas": ((args.adam_beta1, args.adam_beta2), (0.9, 0.999)),
        "grad clip 1.0": (args.max_grad_norm, 1.0),
        "5 rollouts": (trainer.num_generations, 5),
        "rollout temperature 1.0": (trainer.temperature, 1.0),
        "top_p 1.0": (trainer.top_p, 1.0),
        "response 2048 tokens": (trainer.max_completion_length, 2048),
        "KL coefficient 0.01": (trainer.beta, 0.01),
        "KL without importance factor": (args.use_bias_correction_kl, False),
        "KL clamp ±10": (args.kl_clamp, 10.0),
        "no entropy bonus": (args.entropy_coef, 0.0),
        "clip 0.2": ((trainer.epsilon_low, trainer.epsilon_high), (0.2, 0.2)),
        "dual-clip c = 3": (args.delta, 3.0),
        "advantage epsilon 1e-6": (args.advantage_epsilon, 1e-6),
        "group-normalized advantages": (trainer.scale_rewards, "group"),
        "token-mean per micro-batch": (trainer.loss_type, "bnpo"),
        "one update per rollout": (args.num_iterations, 1),
        "no vLLM importance-sampling correction": (args.vllm_importance_sampling_correction, False),
        "greedy validation": ((args.greedy_eval, trainer.num_generations_eval), (True, 1)),
        "micro-batch 10 per device": (args.per_device_train_batch_size, 10),
        "640 rollouts per optimizer step on 8 GPUs": (10 * 8 * args.gradient_accumulation_steps, 640),
        "2560 rollouts per generation on 8 GPUs": (10 * 8 * args.steps_per_generation, 2560),
        "validation every 5 generation steps (4 optimizer steps each)": (args.eval_steps, 5 * 4),
        "checkpoint every 10 generation steps": (args.save_steps, 10 * 4),
        "50 epochs": (args.num_train_epochs, 50),
    }
    wrong = {name: got for name, (got, want) in reference.items() if got != want}
    assert not wrong, f"differs from the reference run: {wrong}"

    optimizer = trainer.create_optimizer()
    assert "AdamW" in type(optimizer).__name__ or "adamw" in str(args.optim).lower()
    decayed = {id(p) for group in optimizer.param_groups if group["weight_decay"] == 0.01 for p in group["params"]}
    assert all(id(p) in decayed for p in trainer.model.parameters() if p.requires_grad)  # norms and biases too
    reward_names = [getattr(f, "__name__", "") for f in trainer.reward_funcs]
    assert reward_names == ["vla_r1_reward"] and trainer.reward_weights.tolist() == [1.0]


def test_prompts_longer_than_the_limit_are_dropped(tiny_checkpoint, data_files, trainer):
    from training.data import prompt_token_count
    from training.grpo import drop_long_prompts

    processor = trainer.processing_class
    dataset = trainer.train_dataset
    row = dataset[3]
    text = processor.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
    exact = len(processor(text=[text], images=row["images"], return_tensors="pt")["input_ids"][0])
    assert prompt_token_count(processor, row["prompt"], row["images"]) == exact
    counts = [prompt_token_count(processor, r["prompt"], r["images"]) for r in dataset]
    limit = sorted(counts)[1]
    kept = drop_long_prompts(dataset, processor, limit, "train")
    assert len(kept) == sum(c <= limit for c in counts) == 2


def verl_low_var_kl(logprob, ref_logprob):
    """verl core_algos.kl_penalty(..., "low_var_kl")."""
    kl = torch.clamp(ref_logprob - logprob, min=-20, max=20)
    return torch.clamp(torch.exp(kl) - kl - 1, min=-10, max=10)


def test_kl_term_equals_verl_low_var_kl_in_value_and_gradient(trainer, monkeypatch):
    from trl import GRPOTrainer

    logps = torch.tensor([[-0.5, -3.0, -20.0, -0.1, -9.0]], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([[-0.4, -0.1, -1.0, -14.0, -9.5]], dtype=torch.float64)
    monkeypatch.setattr(GRPOTrainer, "_get_per_token_logps_and_entropies", lambda self, *a, **k: (logps, None, None))
    inputs = {"ref_per_token_logps": ref}
    trainer._kl_inputs = inputs
    trainer._get_per_token_logps_and_entropies(None)
    clamped_ref = inputs["ref_per_token_logps"]
    trl_k3 = torch.exp(clamped_ref - logps) - (clamped_ref - logps) - 1  # TRL's expression, untouched
    expected = verl_low_var_kl(logps, ref)
    assert torch.allclose(trl_k3, expected, atol=1e-9)
    assert float(expected.max()) == 10.0  # the clamp is active in this example
    (grad,) = torch.autograd.grad(trl_k3.sum(), logps)
    logps2 = logps.detach().clone().requires_grad_(True)
    (expected_grad,) = torch.autograd.grad(verl_low_var_kl(logps2, ref).sum(), logps2)
    assert torch.allclose(grad, expected_grad, atol=1e-9)


def test_advantages_are_verl_grpo_outcome_advantages():
    from training.trainers import reference_advantages

    rewards = torch.tensor([[0.5], [0.5], [0.5 + 2e-5], [1.0], [0.0], [0.2], [0.9], [0.9], [0.9], [float("nan")]])
    got = reference_advantages(rewards, torch.ones(1), 5, 1e-6)
    scores = rewards[:, 0]
    for g in range(2):
        group = scores[5 * g : 5 * g + 5]
        valid = group[~torch.isnan(group)]
        want = (group - valid.mean()) / (torch.std(valid) + 1e-6)  # verl: torch.std (unbiased) + epsilon
        assert torch.allclose(got[5 * g : 5 * g + 5], torch.nan_to_num(want, nan=0.0), atol=1e-5)
    # the near-tied first group keeps a full-size signal (TRL's 1e-4 would shrink it ~10x)
    assert float(got[:5].abs().max()) > 1.0


def test_validation_decodes_greedily_and_training_samples(trainer, monkeypatch):
    from trl import GRPOTrainer

    seen = []
    monkeypatch.setattr(
        GRPOTrainer, "_generate_single_turn", lambda self, *a, **k: seen.append(self.generation_config.do_sample)
    )
    trainer.model.eval()
    trainer._generate_single_turn(None, None, None, 1)
    trainer.model.train()
    trainer._generate_single_turn(None, None, None, 5)
    assert seen == [False, True]
    assert trainer.generation_config.do_sample and math.isclose(trainer.generation_config.temperature, 1.0)


def test_validation_runs_before_training_and_every_n_generation_steps(tiny_checkpoint, data_files, tmp_path):
    from transformers import TrainerCallback

    from training.grpo import GRPORunConfig, run_grpo
    from training.rewards import completion_text

    train, val = data_files
    evaluated_at = []

    class Record(TrainerCallback):
        def on_evaluate(self, args, state, control, **kwargs):
            evaluated_at.append(state.global_step)

    config = load_config(
        GRPORunConfig,
        GRPO_YAML,
        [
            f"model={tiny_checkpoint}",
            f"train_file={train}",
            f"val_file={val}",
            f"output_dir={tmp_path}",
            "report_to=none",
            "max_pixels=3136",
            "max_steps=2",
            "per_device_train_batch_size=2",
            "gradient_accumulation_steps=1",
            "steps_per_generation=1",
            "num_generations=2",
            "max_completion_length=6",
            "eval_every_generations=1",
            "save_every_generations=100",
        ],
    )
    metrics = run_grpo(
        config,
        reward_funcs=[lambda prompts, completions, **kw: [len(completion_text(c)) for c in completions]],
        callbacks=[Record()],
    )
    assert evaluated_at == [0, 1, 2]  # before the first step (verl val_before_train), then every generation step
    assert "eval_before_train_reward" in metrics or any(k.startswith("eval_before_train") for k in metrics)
