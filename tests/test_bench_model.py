"""The model benchmark's bookkeeping (not its speed: speed is measured by `vla-r1 bench`, not asserted)."""

import json

from vla_r1_cli.bench.model import gpu_bandwidth_bytes_s, weight_bytes_per_token
from vla_r1_cli.main import main


def test_bench_model_compares_modes_side_by_side(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "model",
                "--model",
                str(tiny_checkpoint),
                "--quantization",
                "none",
                "nf4",
                "nf4+vision",
                "--new-tokens",
                "6",
                "--repeats",
                "1",
                "--image-size",
                "64x48",
                "--bandwidth-gb-s",
                "100",
                "--no-answers",
                "--sweep-max-pixels",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    none, nf4, nf4_vision = result["modes"]
    assert (none["mode"], nf4["mode"], nf4_vision["mode"]) == ("none", "nf4", "nf4+vision")
    assert none["answers"] is None and none["image_budgets"] is None
    assert none["model_memory_gb"] > nf4["model_memory_gb"] > nf4_vision["model_memory_gb"]
    assert (
        nf4_vision["weight_bytes_per_token"] == nf4["weight_bytes_per_token"]
    )  # decode does not read the vision tower
    assert none["new_tokens"] == nf4["new_tokens"] == 6  # EOS ignored
    assert nf4["weight_bytes_per_token"] < none["weight_bytes_per_token"] / 2  # packed 4-bit layers; lm_head stays fp32
    assert none["bandwidth_floor_tokens_per_s"] == round(100e9 / none["weight_bytes_per_token"], 2)
    assert none["decode_speed_vs_none"] == 1.0 and none["time_to_first_token_ms"] > 0


def test_weight_bytes_skip_vision_and_embeddings(tiny_checkpoint):
    from vla_r1_model.loading import load_model

    model = load_model(str(tiny_checkpoint))
    lm_and_head = sum(
        p.numel() * 4 for n, p in model.named_parameters() if "visual" not in n and "embed_tokens" not in n
    )
    assert weight_bytes_per_token(model) == lm_and_head


def test_known_gpu_bandwidths():
    assert gpu_bandwidth_bytes_s("NVIDIA H200") == 4.8e12
    assert gpu_bandwidth_bytes_s("Some CPU") is None


def test_bench_times_whole_answers_and_image_budgets(tiny_checkpoint, tmp_path):
    from vla_r1_cli.bench.answers import OUTPUT_BLOCK

    out, tables = tmp_path / "bench.json", tmp_path / "bench.md"
    assert (
        main(
            [
                "bench",
                "model",
                "--model",
                str(tiny_checkpoint),
                "--quantization",
                "none",
                "--new-tokens",
                "3",
                "--repeats",
                "1",
                "--image-size",
                "320x240",
                "--reasoning-tokens",
                "8",
                "24",
                "--sweep-max-pixels",
                "6272",
                "--json",
                str(out),
                "--markdown",
                str(tables),
            ]
        )
        == 0
    )
    mode = json.loads(out.read_text())["modes"][0]
    answers = {a["scenario"]: a for a in mode["answers"]}
    assert list(answers) == ["no_think", "think_8", "think_24", "think_24_no_early_stop"]
    from vla_r1_model.loading import load_processor

    tokenizer = load_processor(str(tiny_checkpoint)).tokenizer
    assert answers["no_think"]["generated_tokens"] == len(
        tokenizer(OUTPUT_BLOCK, add_special_tokens=False)["input_ids"]
    )
    assert answers["think_24"]["generated_tokens"] - answers["think_8"]["generated_tokens"] == 16  # reasoning is exact
    assert all(a["stop_reason"] == "output_closed" for a in mode["answers"] if a["early_stop"])
    late = answers["think_24_no_early_stop"]  # without the stop criterion the answer ends one EOS later
    assert (late["stop_reason"], late["generated_tokens"]) == ("eos", answers["think_24"]["generated_tokens"] + 1)
    default, budget = mode["image_budgets"]
    assert default["max_pixels"] is None and budget["max_pixels"] == 6272
    assert budget["image_tokens"] < default["image_tokens"] and budget["prompt_tokens"] < default["prompt_tokens"]
    text = tables.read_text()
    assert "| think_24_no_early_stop |" in text and "| checkpoint default |" in text and "| none |" in text
    assert "Fastest mode that fits, by model memory (no GPU: a lower bound)" in text


def test_bench_rejects_bad_answer_settings(tiny_checkpoint, capsys):
    assert main(["bench", "model", "--model", str(tiny_checkpoint), "--reasoning-tokens", "0"]) == 2
    assert "reasoning lengths must be >= 1" in capsys.readouterr().err
    assert main(["bench", "model", "--model", str(tiny_checkpoint), "--sweep-max-pixels", "10"]) == 2
    assert "max_pixels must be at least 784" in capsys.readouterr().err


def test_weight_bytes_count_a_tied_lm_head(tiny_checkpoint):
    """Qwen2.5-VL-3B ties lm_head to the embedding: the head is still read in full every token."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vla_r1_model.loading import load_model

    untied = load_model(str(tiny_checkpoint))
    config = untied.config
    config.tie_word_embeddings = config.text_config.tie_word_embeddings = True
    tied = Qwen2_5_VLForConditionalGeneration._from_config(config)
    assert tied.lm_head.weight is tied.get_input_embeddings().weight
    assert weight_bytes_per_token(tied) == weight_bytes_per_token(untied)  # same shapes, head counted once


def test_bench_compares_direct_preprocessing_with_the_processor(tiny_checkpoint, tmp_path):
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                "model",
                "--model",
                str(tiny_checkpoint),
                "--quantization",
                "none",
                "--new-tokens",
                "2",
                "--repeats",
                "1",
                "--no-answers",
                "--sweep-max-pixels",
                "2000",
                "--json",
                str(out),
                "--markdown",
                str(tmp_path / "t.md"),
            ]
        )
        == 0
    )
    mode = json.loads(out.read_text())["modes"][0]
    assert mode["answers"] is None and [b["max_pixels"] for b in mode["image_budgets"]] == [None, 2000]
    direct_ms, processor_ms = mode["preprocess_direct_vs_processor_ms"]
    assert direct_ms > 0 and processor_ms > 0
    assert "preprocess ms direct / processor" in (tmp_path / "t.md").read_text()


def test_fastest_mode_that_fits_each_memory_budget():
    from vla_r1_cli.bench.model import fastest_mode_by_memory

    def mode(name, rate, peak):
        return {"mode": name, "decode_tokens_per_s": rate, "peak_gpu_allocated_gb": peak, "model_memory_gb": peak - 0.2}

    modes = [mode("none", 300.0, 8.1), mode("nf4", 120.0, 3.6), mode("int8", 90.0, 5.0), mode("nf4+vision", 110.0, 2.6)]
    assert fastest_mode_by_memory(modes, (2, 3, 4, 6, 8, 12)) == {
        "2": None,
        "3": "nf4+vision",
        "4": "nf4",
        "6": "nf4",
        "8": "nf4",
        "12": "none",
    }
