"""The accelerate configs parse, name real layer classes, and the launch entry point exists."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parent.parent / "training" / "accelerate"


@pytest.mark.parametrize("name, kind", [("fsdp", "FSDP"), ("deepspeed_zero3", "DEEPSPEED"), ("multi_gpu", "MULTI_GPU")])
def test_accelerate_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert config.distributed_type.value == kind and config.num_processes == 8 and config.mixed_precision == "bf16"
    if kind == "FSDP":
        import transformers.models.qwen2_5_vl.modeling_qwen2_5_vl as qwen

        wrapped = config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"].split(",")
        assert all(hasattr(qwen, cls) for cls in wrapped)
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
        assert config.fsdp_config["fsdp_cpu_ram_efficient_loading"]  # rank 0 reads the weights, the others get meta
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 3 and config.deepspeed_config["zero3_save_16bit_model"]
        assert config.deepspeed_config["zero3_init_flag"]  # parameters sharded while from_pretrained loads them


def test_launch_module_runs_the_cli():
    """`accelerate launch -m vla_r1_cli train ...` needs the package to run main() (its __main__)."""
    import runpy
    import sys

    argv = sys.argv
    sys.argv = ["vla_r1_cli", "train", "grpo", "--print-config", "train_file=x.json"]
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_module("vla_r1_cli", run_name="__main__")
    finally:
        sys.argv = argv
    assert exit_info.value.code == 0
