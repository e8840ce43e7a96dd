"""`vla-r1 train convert|sft|grpo|export` and `vla-r1 eval`; configs; the evaluation table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from training.config import ConfigError, load_config
from training.data import VLARecord, write_sharegpt
from training.evaluate import evaluate, format_table
from training.grpo import GRPORunConfig
from training.sft import SFTRunConfig
from vla_r1_cli.main import main
from vla_r1_model.backends.base import GenerationResult


def records_with_images(tmp_path, count=4):
    (tmp_path / "images").mkdir(exist_ok=True)
    records = []
    for i in range(count):
        Image.new("RGB", (56, 56), (60 * i, 30, 90)).save(tmp_path / "images" / f"{i}.png")
        if i % 2 == 0:
            records.append(
                VLARecord(
                    f"a{i}",
                    "affordance",
                    f"images/{i}.png",
                    f"open drawer {i}",
                    {"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2},
                    reasoning="look",
                )
            )
        else:
            records.append(
                VLARecord(
                    f"t{i}",
                    "trajectory",
                    f"images/{i}.png",
                    f"reach mug {i}",
                    [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]],
                    reasoning="move",
                )
            )
    return records


# ----------------------------------------------------------------------------- configs
def test_config_yaml_overrides_and_validation(tmp_path):
    config = load_config(
        GRPORunConfig,
        "training/configs/grpo.yaml",
        ["train_file=x.json", "learning_rate=1e-6", "report_to=[tensorboard,wandb]", "val_file=null"],
    )
    # reference defaults (docs/training.md) and the overrides, with YAML strings turned into numbers
    assert (config.num_generations, config.beta, config.epsilon, config.entropy_coef, config.temperature) == (
        5,
        0.01,
        0.2,
        0.0,
        1.0,
    )
    assert (
        config.max_completion_length == 2048
        and config.learning_rate == 1e-6
        and config.report_to == ["tensorboard", "wandb"]
    )
    per_step = config.per_device_train_batch_size * 8 * config.gradient_accumulation_steps
    per_generation = config.per_device_train_batch_size * 8 * config.steps_per_generation
    assert (per_step, per_generation) == (128 * 5, 512 * 5)  # 8 processes, as the file says
    sft = load_config(SFTRunConfig, "training/configs/sft.yaml", ["finetune=qlora", "max_steps=3"])
    assert sft.finetune == "qlora" and sft.max_steps == 3 and sft.learning_rate == 1e-5 and sft.completion_only_loss
    for bad, message in (
        (["finetune=half"], "finetune"),
        (["learning_rate=abc"], "learning_rate"),
        (["lern_rate=1"], "unknown key"),
        (["num_generations=1"], "generations"),
        (["rewards=[nope]"], "rewards"),
        (["per_device_train_batch_size=0"], "per_device"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_config(GRPORunConfig, "training/configs/grpo.yaml", ["train_file=x", *bad])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(SFTRunConfig, None, ["train_file"])


def test_cli_print_config_and_usage_errors(tmp_path, capsys):
    assert main(["train", "sft", "--print-config", "train_file=d.json", "lora_r=4"]) == 0
    printed = capsys.readouterr().out
    assert "lora_r: 4" in printed and "train_file: d.json" in printed
    assert main(["train", "sft", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert main(["train", "grpo", "--print-config", "bogus=1"]) == 2
    assert "unknown key" in capsys.readouterr().err
    assert main(["train", "export", "--checkpoint", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2


# ----------------------------------------------------------------------------- convert
def test_cli_convert_sharerobot_samples(testdata, tmp_path, capsys):
    out = tmp_path / "records.jsonl"
    report = tmp_path / "report.json"
    code = main(
        [
            "train",
            "convert",
            "--data",
            str(testdata / "sharerobot" / "sharerobot_samples.json"),
            "--out",
            str(out),
            "--format",
            "records",
            "--report",
            str(report),
            "--image-template",
            "{dataset}/{id}.jpg",
            "--skip-image-check",
        ]
    )  # annotations only: no images here
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["task"] for r in lines] == ["affordance", "trajectory"]
    assert lines[0]["image"].endswith("bridge/2486.jpg")
    assert json.loads(report.read_text())["rejected"] == 0
    # without --skip-image-check a record whose image is missing is rejected with the reason
    assert (
        main(
            [
                "train",
                "convert",
                "--data",
                str(testdata / "sharerobot" / "sharerobot_samples.json"),
                "--out",
                str(out),
                "--format",
                "records",
                "--image-template",
                "{dataset}/{id}.jpg",
            ]
        )
        == 2
    )
    assert "image not found" in capsys.readouterr().err


def test_cli_convert_reports_bad_records_and_writes_hf_splits(tmp_path, capsys):
    records = records_with_images(tmp_path, 6)
    source = write_sharegpt(records, tmp_path / "cot.json")
    items = json.loads(source.read_text())
    items.append(
        {"image": "images/0.png", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "x"}]}
    )
    source.write_text(json.dumps(items))
    out = tmp_path / "hf"
    assert (
        main(["train", "convert", "--data", str(source), "--out", str(out), "--format", "hf", "--val-fraction", "0.34"])
        == 0
    )
    captured = capsys.readouterr()
    assert "1 rejected" in captured.err and "cannot tell the task" in captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["written"] == {"train": 4, "validation": 2}
    from datasets import load_from_disk

    dataset = load_from_disk(str(out))
    assert dataset["validation"][0]["images"][0].size == (56, 56)
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert main(["train", "convert", "--data", str(empty), "--out", str(tmp_path / "x.json")]) == 2


# ----------------------------------------------------------------------------- evaluation
class ScriptedBackend:
    """Answers each instruction with a scripted text (the Policy parses it like a model's)."""

    name = "scripted"

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def generate(self, image, prompt, settings, on_text=None, cancel=None):
        text = next(v for k, v in self.answers.items() if prompt.startswith(k))
        return GenerationResult(text, 10, "eos", 0.0, 0.0, 0.0)


def test_evaluate_table_and_parse_failures(tmp_path):
    from vla_r1_model.policy import Policy

    records = records_with_images(tmp_path, 4) + [
        VLARecord("a9", "affordance", "images/0.png", "grab towel", {"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}),
        VLARecord("t9", "trajectory", "images/1.png", "push cup", [[0.0, 0.0], [0.5, 0.0]]),
    ]
    answers = {
        # IoU 100 and 33.3
        "open drawer 0": '<think>a</think> <output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}</output>',
        "open drawer 2": '<think>a</think> <output>{"x": 0.6, "y": 0.5, "width": 0.2, "height": 0.2}</output>',
        "grab towel": "I do not know",  # parse failure: IoU 0
        "reach mug 1": "<think>m</think> <output>[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]</output>",  # exact
        "reach mug 3": "<think>m</think> <output>[[0.1, 0.2], [0.2, 0.3], [0.3, 0.4]]</output>",  # 100 off everywhere
        "push cup": "<output>[[0.0, 0.0],",  # parse failure: no distances
    }
    report = evaluate(Policy(ScriptedBackend(answers)), records, base_dir=tmp_path, progress=False)
    table, parsed = report["table"], report["table_parsed"]
    assert table["IoU"] == pytest.approx((100 + 100 / 3 + 0) / 3) and parsed["IoU"] == pytest.approx(
        (100 + 100 / 3) / 2
    )
    # all samples: the failed trajectory counts as the grid's diagonal (1000·√2) in DFD, HD and RMSE alike
    worst = 1000 * 2**0.5
    for column in ("DFD", "HD", "RMSE", "Avg"):
        assert table[column] == pytest.approx((0 + 100 + worst) / 3) and parsed[column] == pytest.approx(50.0)
    assert report["protocol"]["failure_values"] == {
        "IoU": 0.0,
        "DFD": pytest.approx(worst),
        "HD": pytest.approx(worst),
        "RMSE": pytest.approx(worst),
    }
    assert report["decoding"]["do_sample"] is False and report["decoding"]["max_new_tokens"] == 1024
    assert report["parse_failures"] == 2 and report["parse_failure_rate"] == pytest.approx(2 / 6)
    assert report["parse_failure_rate_by_task"] == {
        "affordance": pytest.approx(1 / 3),
        "trajectory": pytest.approx(1 / 3),
    }
    assert report["paper_vla_r1_3b"]["in_domain"]["IoU"] == 36.51
    assert report["per_sample"][0]["reward"] == pytest.approx(1.0)
    text = format_table(report)
    assert "| this run, all samples | 44.44 | 504.74 | 504.74 | 504.74 | 504.74 |" in text
    assert "| this run, parsed only | 66.67 | 50.00 | 50.00 | 50.00 | 50.00 |" in text
    assert "| paper, in-domain | 36.51 | 106.20 | 97.90 | 71.12 | 91.74 |" in text


def test_cli_eval_on_tiny_checkpoint(tiny_checkpoint, tmp_path, capsys):
    records = records_with_images(tmp_path, 2)
    data = write_sharegpt(records, tmp_path / "val.json")
    out = tmp_path / "report.json"
    code = main(
        [
            "eval",
            "--model",
            str(tiny_checkpoint),
            "--data",
            str(data),
            "--out",
            str(out),
            "--max-new-tokens",
            "6",
            "--no-progress",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["table"]) == {"IoU", "DFD", "HD", "RMSE", "Avg"}
    assert report["samples"] == 2 and len(report["per_sample"]) == 2
    # random weights never answer: every sample fails and counts with the protocol's failure values
    assert report["parse_failure_rate"] == 1.0 and report["table"]["IoU"] == 0.0
    assert report["table"]["DFD"] == pytest.approx(1000 * 2**0.5) and report["table_parsed"]["DFD"] is None
    assert report["answer_source"]["kind"] == "transformers" and report["answer_source"]["model"] == str(
        tiny_checkpoint
    )
    assert report["decoding"]["max_new_tokens"] == 6 and report["protocol"]["version"] == 2
    assert "| this run, all samples |" in capsys.readouterr().out
    assert (
        main(["eval", "--model", str(tiny_checkpoint), "--data", str(tmp_path / "missing.json"), "--out", str(out)])
        == 2
    )


def test_cli_sft_lora_then_export(tiny_checkpoint, tmp_path, capsys):
    records = records_with_images(tmp_path, 2)
    data = write_sharegpt(records, tmp_path / "train.json")
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "sft",
            f"model={tiny_checkpoint}",
            f"train_file={data}",
            f"output_dir={run}",
            "max_steps=1",
            "per_device_train_batch_size=2",
            "finetune=lora",
            "lora_r=4",
            "lora_alpha=8",
            "report_to=none",
            "max_pixels=3136",
        ]
    )
    assert code == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["global_step"] == 1 and (run / "adapter_model.safetensors").is_file()
    assert main(["train", "export", "--checkpoint", str(run), "--out", str(tmp_path / "merged")]) == 0
    assert (tmp_path / "merged" / "model.safetensors").is_file() and (tmp_path / "merged" / "tokenizer.json").is_file()


# ----------------------------------------------------------------------------- bad input (issue 14, training data)
def test_convert_refuses_ids_that_leave_the_image_folder(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (64, 48)).save(tmp_path / "images" / "1.jpg")
    (tmp_path / "secret.jpg").write_bytes(b"not an image for training")
    meta = {"original_width": 64, "original_height": 48, "original_dataset": "x"}
    box = {"x": 1, "y": 1, "width": 10, "height": 10}
    data = tmp_path / "images" / "sharerobot.json"
    data.write_text(
        json.dumps(
            [
                {"id": "1.jpg", "meta_data": meta, "instruction": "pick", "affordance": box},
                {"id": "../secret.jpg", "meta_data": meta, "instruction": "pick", "affordance": box},
                {"id": "/etc/hostname", "meta_data": meta, "instruction": "pick", "affordance": box},
            ]
        )
    )
    report = tmp_path / "report.json"
    assert (
        main(
            [
                "train",
                "convert",
                "--data",
                str(data),
                "--task",
                "affordance",
                "--out",
                str(tmp_path / "out.jsonl"),
                "--format",
                "records",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in written] == ["sharerobot-affordance-1.jpg"]
    reasons = [b["reason"] for b in json.loads(report.read_text())["bad"]]
    assert len(reasons) == 2 and all("leaves the image folder" in r for r in reasons)


def test_convert_rejects_records_whose_image_is_missing(tmp_path, capsys):
    records = records_with_images(tmp_path, 2)
    (tmp_path / "images" / "1.png").unlink()
    source = write_sharegpt(records, tmp_path / "cot.json")
    report = tmp_path / "report.json"
    assert (
        main(["train", "convert", "--data", str(source), "--out", str(tmp_path / "o.jsonl"), "--report", str(report)])
        == 0
    )
    assert json.loads(report.read_text())["bad"][0]["reason"].startswith("image not found")
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("limit", ["-1", "0", "x"])
def test_eval_limit_must_select_something(tmp_path, limit, capsys):
    records = records_with_images(tmp_path, 2)
    data = write_sharegpt(records, tmp_path / "val.json")
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--answer", "x", "--data", str(data), "--out", str(tmp_path / "r.json"), "--limit", limit])
    assert exit_info.value.code == 2 and "--limit" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_one_bad_jsonl_line_is_one_rejected_record_at_its_line(tmp_path, capsys):
    records = records_with_images(tmp_path, 3)
    source = write_sharegpt(records, tmp_path / "val.jsonl")
    lines = source.read_text().splitlines()
    source.write_text("\n".join([lines[0], "", '{"id": "broken", "conversations": [', lines[1], lines[2]]) + "\n")
    out = tmp_path / "eval.json"
    answer = '<think>a</think> <output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}</output>'
    assert main(["eval", "--answer", answer, "--data", str(source), "--out", str(out), "--no-progress"]) == 0
    report = json.loads(out.read_text())
    assert report["samples"] == 3 and report["rejected_records"] == 1
    assert "val.jsonl line 3: not valid JSON" in capsys.readouterr().err  # the real line (line 2 is empty)


def test_eval_json_names_the_real_answer_source(tmp_path, capsys):
    records = records_with_images(tmp_path, 2)
    data = write_sharegpt(records, tmp_path / "val.json")
    out = tmp_path / "eval.json"
    out.write_text("earlier result")
    assert (
        main(
            [
                "eval",
                "--answer",
                "<output>[[0.1, 0.1], [0.2, 0.2]]</output>",
                "--data",
                str(data),
                "--out",
                str(out),
                "--no-progress",
                "--sample",
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["answer_source"] == {"kind": "fixed_answer", "answer": "<output>[[0.1, 0.1], [0.2, 0.2]]</output>"}
    assert report["model"] is None  # not the hub model: no model produced these answers
    assert report["decoding"]["do_sample"] is True and report["decoding"]["temperature"] == 0.7
    assert report["protocol"]["resampling"].startswith("when point counts differ")
    # an output path that cannot be written is refused before any work, and nothing earlier is touched
    assert main(["eval", "--answer", "x", "--data", str(data), "--out", str(tmp_path), "--no-progress"]) == 2
    assert json.loads(out.read_text())["answer_source"]["kind"] == "fixed_answer"


# ----------------------------------------------------------------------------- packaging (issue 15.7)
def test_configs_are_found_from_any_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no training/ folder here
    assert main(["train", "grpo", "--print-config", "train_file=x.json"]) == 0
    printed = capsys.readouterr().out
    assert "kl_clamp: 10.0" in printed and "delta: 3.0" in printed  # the shipped grpo.yaml, not class defaults
    assert main(["train", "sft", "--config", "sft", "--print-config", "train_file=x.json"]) == 0
    assert "max_length: 4096" in capsys.readouterr().out
    assert main(["train", "sft", "--config", "nope.yaml", "--print-config"]) == 2
    assert "shipped configs" in capsys.readouterr().err
    assert main(["train", "configs", "fsdp"]) == 0
    fsdp = Path(capsys.readouterr().out.strip())
    assert fsdp.is_file() and fsdp.parent.name == "accelerate"


def test_configs_are_package_data():
    import tomllib

    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["training"]
    shipped = {p.relative_to(root / "training").as_posix() for p in (root / "training").glob("*/*.yaml")}
    assert shipped and all(any(Path(f).match(g) for g in globs) for f in shipped)
    extras = config["project"]["optional-dependencies"]
    assert any(d.startswith("vllm") for d in extras["vllm"]) and any(
        d.startswith("deepspeed") for d in extras["deepspeed"]
    )
    make_setup = re.search(r'-e "\.\[([^]]*)\]"', (root / "Makefile").read_text()).group(1).split(",")
    assert "train" in make_setup and "vllm" not in make_setup and "deepspeed" not in make_setup


def test_configs_are_trls_own_classes_parsed_by_trls_parser():
    """Issue 15.7: no hand-written mirror of TRL's fields: any SFTConfig/GRPOConfig field is accepted
    and typed by TRL's parser, and what reaches the trainer is TRL's config object itself."""
    from trl import GRPOConfig, SFTConfig

    sft = load_config(
        SFTRunConfig,
        "sft",
        [
            "train_file=x.json",
            "optim=adafactor",
            "warmup_steps=0.1",
            "lr_scheduler_kwargs={min_lr: 1.0e-7}",
            "max_steps=100",
        ],
    )
    assert isinstance(sft.trainer, SFTConfig) and sft.trainer.optim.value == "adafactor"
    assert sft.trainer.get_warmup_steps(100) == 10  # a warm-up fraction is TRL's warmup_steps < 1, not a step count
    assert sft.trainer.lr_scheduler_kwargs == {"min_lr": 1e-7}
    grpo = load_config(
        GRPORunConfig,
        "grpo",
        ["train_file=x.json", "vllm_max_model_length=8192", "num_generations=4", "per_device_train_batch_size=8"],
    )
    assert isinstance(grpo.trainer, GRPOConfig) and grpo.trainer.vllm_max_model_length == 8192
    assert grpo.num_generations == 4 and grpo.finetune == "full"  # one object reads both
    with pytest.raises(ConfigError, match="invalid int value"):
        load_config(SFTRunConfig, "sft", ["train_file=x.json", "max_steps=ten"])
